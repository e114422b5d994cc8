"""memory_footprint: resident memory of a ClusterState holding 1M tasks on 10k instances.

Each figure is measured in a fresh child process (``sys.executable``), so nothing else
this process allocated is counted:

* ``clusterkit`` — RSS (psutil) after importing clusterkit, after registering 10,000
  instances (16384 CPU units, 65536 MiB) and one task definition, and after placing
  1,000,000 tasks by commits of 1,000 PlaceTask (as in describe_latency). Nothing but
  the state keeps the tasks. ``value`` = the whole growth from the import on, in MiB.
* ``dict`` (the baseline) — the same 1,000,000 Task objects (same fields, same shared
  charge, ids from ``new_id()``) kept in a plain ``dict`` of id → Task: the least any
  store of these tasks needs. ``ratio`` = clusterkit / dict.

RSS is read after ``gc.collect()``; the peak (``ru_maxrss``) shows the build's transient use.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from benchmarks import _report

NAME: Final = "memory_footprint"
DESCRIPTION: Final = "RSS growth (MiB) of 1M tasks on 10k instances, in a fresh process (target <= 512; baseline: dict)"
TARGET: Final = "<= 512"


def _rss() -> int:
    gc.collect()
    return _report.rss_bytes()


def _peak() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def _full_collection_seconds() -> float:
    """The pause of one full ``gc.collect()`` with everything built still alive (best of 3)."""
    return min(_report.timed(gc.collect) for _ in range(3))


def child_clusterkit(tasks: int, instances: int) -> dict[str, Any]:
    """In the child: build the cluster, reading RSS at each stage."""
    start_rss = _rss()
    import clusterkit  # noqa: F401  (the import's own memory is not the state's)
    from benchmarks._cluster import definition, fill, new_state

    imported = _rss()
    started = time.perf_counter()
    state, ids, registered = new_state(instances, [definition("app")])
    with_instances = _rss()
    with _report.GcTimer() as gc_time:
        fill(state, registered, ids, tasks, keep_ids=False)
    built = time.perf_counter() - started
    full = _rss()
    assert state.snapshot().task_count == tasks
    return {
        "start": start_rss,
        "imported": imported,
        "instances": with_instances,
        "full": full,
        "peak": _peak(),
        "seconds": built,
        "gc_seconds": gc_time.total,
        "gc_full_pause": _full_collection_seconds(),
    }


def child_dict(tasks: int, instances: int) -> dict[str, Any]:
    """In the child: the baseline, the same Task objects in a plain dict."""
    import clusterkit
    from benchmarks._cluster import definition, instance_ids

    imported = _rss()
    definition_ = definition("app")
    key, charge = f"{definition_.family}:1", definition_.charge
    ids = instance_ids(instances)
    new_id = clusterkit.state.new_id
    started = time.perf_counter()
    table: dict[str, clusterkit.Task] = {}
    for start in range(0, tasks, 1000):
        now = time.time()
        for k in range(start, min(start + 1000, tasks)):
            task = clusterkit.Task(
                id=new_id(),
                task_definition=key,
                container_instance_id=ids[k % len(ids)],
                charge=charge,
                created_at=now,
            )
            table[task.id] = task
    built = time.perf_counter() - started
    full = _rss()
    assert len(table) == tasks
    return {
        "imported": imported,
        "full": full,
        "peak": _peak(),
        "seconds": built,
        "gc_full_pause": _full_collection_seconds(),
    }


def _run_child(kind: str, tasks: int, instances: int) -> dict[str, Any]:
    root = str(Path(__file__).resolve().parent.parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    command = [
        sys.executable,
        "-m",
        "benchmarks.memory_footprint",
        "--child",
        kind,
        "--tasks",
        str(tasks),
        "--instances",
        str(instances),
    ]
    done = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{kind} child failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m benchmarks {NAME}", description=DESCRIPTION)
    parser.add_argument("--quick", action="store_true", help="100,000 tasks on 1,000 instances (target scaled)")
    parser.add_argument("--tasks", type=int, default=None, help="tasks (default 1,000,000)")
    parser.add_argument("--instances", type=int, default=None, help="instances (default 10,000)")
    parser.add_argument("--child", choices=("clusterkit", "dict"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    tasks = args.tasks or (100_000 if args.quick else 1_000_000)
    instances = args.instances or (1_000 if args.quick else 10_000)

    if args.child is not None:  # inside the fresh process: measure and print one JSON line
        measured = child_clusterkit(tasks, instances) if args.child == "clusterkit" else child_dict(tasks, instances)
        print(json.dumps(measured), flush=True)
        return 0

    print(f"{NAME}: {tasks:,} tasks on {instances:,} instances, each figure in a fresh process")
    ck = _run_child("clusterkit", tasks, instances)
    base = _run_child("dict", tasks, instances)
    mib = _report.MIB
    total = (ck["full"] - ck["imported"]) / mib
    task_part = ck["full"] - ck["instances"]
    baseline = (base["full"] - base["imported"]) / mib

    _report.heading("clusterkit ClusterState (RSS after gc.collect())")
    _report.line("interpreter alone", ck["start"] / mib, "MiB")
    _report.line("+ import clusterkit", (ck["imported"] - ck["start"]) / mib, "MiB")
    _report.line(f"+ {instances:,} instances and 1 task definition", (ck["instances"] - ck["imported"]) / mib, "MiB")
    _report.line(f"+ {tasks:,} tasks", task_part / mib, "MiB", f"{task_part / tasks:,.0f} bytes/task")
    _report.line("growth from import (value)", total, "MiB", f"{(ck['full'] - ck['imported']) / tasks:,.0f} B/task")
    _report.line("peak RSS of the child (ru_maxrss)", ck["peak"] / mib, "MiB")
    _report.line("build time", ck["seconds"], "s", f"{tasks / ck['seconds']:,.0f} tasks/s incl. instances")
    _report.line("  of which in the cyclic GC", ck["gc_seconds"], "s")
    _report.line("one full gc.collect() with the state alive", ck["gc_full_pause"] * 1000, "ms")

    _report.heading("baseline: the same Task objects in a plain dict")
    _report.line(
        f"{tasks:,} tasks in dict[id, Task]",
        baseline,
        "MiB",
        f"{(base['full'] - base['imported']) / tasks:,.0f} bytes/task",
    )
    _report.line("one full gc.collect() with the dict alive", base["gc_full_pause"] * 1000, "ms")
    _report.line("clusterkit tasks only / dict", task_part / (base["full"] - base["imported"]))
    _report.line(
        "clusterkit overhead over the dict, per task", (task_part - (base["full"] - base["imported"])) / tasks, "bytes"
    )

    target = TARGET
    if tasks != 1_000_000:  # the target is for 1M tasks; scale it so --quick still means something
        target = f"<= {512 * tasks / 1_000_000:g}"
        print(f"\n  (target scaled to {tasks:,} tasks: {target} MiB)")
    _report.finish(NAME, total, "MiB", target, baseline=baseline, ratio=total / baseline)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
