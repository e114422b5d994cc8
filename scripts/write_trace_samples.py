"""Write small samples of the Alibaba 2018 and Google 2011 cluster traces, in their exact column layouts.

No trace can be downloaded here, so clusterkit ships samples drawn by this script (seeded,
so the files are the same every run) to test its readers on and to simulate in examples:

    python scripts/write_trace_samples.py [FOLDER]    # default: tests/data/traces

Each sample starts with a few rows written by hand whose workload events the reader tests
know exactly; the rest is drawn at random in the value ranges the traces' schemas give.
"""

from __future__ import annotations

import csv
import gzip
import io
import random
import sys
from pathlib import Path

SEED = 2018


def _csv(rows: list[list[object]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


def alibaba(folder: Path, rng: random.Random) -> None:
    """machine_meta.csv, container_meta.csv and batch_task.csv of Alibaba's cluster-trace-v2018."""
    folder.mkdir(parents=True, exist_ok=True)
    machines: list[list[object]] = [
        ["m_1", 0, 1, "a", 96, 100, "USING"],
        ["m_2", 0, 2, "b", 64, 50, "USING"],
        ["m_1", 3600, 1, "a", 96, 100, "IDLE"],  # a later row of m_1: not replayed
    ]
    for index in range(3, 21):
        machines.append([f"m_{index}", 0, rng.randint(1, 4), rng.choice("abcd"), 96, 100, "USING"])
    (folder / "machine_meta.csv").write_text(_csv(machines))
    containers: list[list[object]] = [
        ["c_1", "m_1", 100, "app_1", "started", 400, 400, 1.56],
        ["c_2", "m_2", 50, "app_1", "started", 400, 400, 1.56],
        ["c_1", "m_1", 200, "app_1", "allocated", 400, 400, 1.56],  # the same container again
    ]
    for index in range(3, 41):
        app = f"app_{rng.randint(2, 6)}"
        containers.append([f"c_{index}", f"m_{rng.randint(1, 20)}", rng.randint(0, 3600), app, "started",
                           rng.choice((100, 200, 400)), 400, round(rng.uniform(0.5, 3.0), 2)])  # fmt: skip
    (folder / "container_meta.csv").write_text(_csv(containers))
    tasks: list[list[object]] = [
        ["M1", 3, "j_1", 1, "Terminated", 1000, 1060, 50, 0.39],
        ["R2_1", 1, "j_1", 1, "Terminated", 1060, 1200, 100, 0.2],
        ["M1", 2, "j_2", 1, "Failed", 1100, 1150, 50, 0.39],  # not Terminated: skipped
        ["M1", 1, "j_3", 1, "Terminated", 1200, 1300, "", ""],  # no plan: skipped
    ]
    for index in range(4, 200):
        start = rng.randint(1, 7200)
        tasks.append([f"M{rng.randint(1, 5)}", rng.randint(1, 20), f"j_{index}", rng.randint(1, 12),
                      rng.choices(("Terminated", "Failed", "Running"), (8, 1, 1))[0], start,
                      start + rng.randint(5, 1800), rng.choice((50, 100, 200, 400)),
                      round(rng.uniform(0.05, 2.0), 2)])  # fmt: skip
    (folder / "batch_task.csv").write_text(_csv(tasks))


def _gzip(path: Path, text: str) -> None:
    """Gzip ``text`` to ``path`` without a timestamp, so the bytes repeat run after run."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as packed:
        packed.write(text.encode())


def google(folder: Path, rng: random.Random) -> None:
    """machine_events and task_events part files of Google's clusterdata-2011-2."""
    machines: list[list[object]] = [
        [0, 5, 0, "p1", 0.5, 0.2493],
        [0, 6, 0, "p1", 1, 1],
        [1_200_000_000, 6, 1, "", "", ""],  # removed 600 s into the trace
        [1_300_000_000, 5, 2, "p1", 0.5, 0.5],  # an update: not replayed
    ]
    for machine in range(7, 30):
        machines.append([0, machine, 0, rng.choice(("p1", "p2")), rng.choice((0.25, 0.5, 1)),
                         rng.choice((0.1241, 0.2493, 0.4995, 0.749))])  # fmt: skip
    _gzip(folder / "machine_events" / "part-00000-of-00001.csv.gz", _csv(machines))
    events: list[list[object]] = [
        [600_000_000, "", 100, 0, "", 0, "u1", 2, 9, 0.0625, 0.0311, 0.0004, 0],
        [601_000_000, "", 100, 0, 5, 1, "u1", 2, 9, 0.0625, 0.0311, 0.0004, 0],
        [661_000_000, "", 100, 0, 5, 4, "u1", 2, 9, 0.0625, 0.0311, 0.0004, 0],
        [700_000_000, "", 101, 0, "", 0, "u2", 0, 0, 0.125, 0.0622, 0.0004, 0],  # never finishes: left out
    ]
    for job in range(200, 240):
        for index in range(rng.randint(1, 5)):
            submit = rng.randint(600, 7800) * 1_000_000
            cpu, memory = rng.choice((0.0125, 0.025, 0.0625, 0.125)), rng.choice((0.0078, 0.0155, 0.0311, 0.0622))
            start = submit + rng.randint(0, 30) * 1_000_000
            common = ["u3", rng.randint(0, 3), rng.randint(0, 11), cpu, memory, 0.0004, 0]
            events.append([submit, "", job, index, "", 0, *common])
            events.append([start, "", job, index, rng.randint(7, 29), 1, *common])
            if rng.random() < 0.9:
                events.append([start + rng.randint(10, 3600) * 1_000_000, "", job, index, "", 4, *common])
    events.sort(key=lambda row: int(str(row[0])))
    _gzip(folder / "task_events" / "part-00000-of-00001.csv.gz", _csv(events))


def main(argv: list[str]) -> None:
    """Write both samples under the folder given (tests/data/traces by default)."""
    root = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent.parent / "tests" / "data" / "traces"
    rng = random.Random(SEED)
    alibaba(root / "alibaba-2018", rng)
    google(root / "google-2011", rng)
    print(f"trace samples written under {root}")


if __name__ == "__main__":
    main(sys.argv)
