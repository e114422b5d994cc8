"""The ``clusterkit`` command end to end: the installed console script, real files, a real browser."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import matplotlib.image
import pytest

from clusterkit.api import ClusterState
from tests.conftest import require_service

ROOT = Path(__file__).resolve().parent.parent
TRACES = ROOT / "tests" / "data" / "traces"


def clusterkit(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the console script (the one pip installed next to this interpreter)."""
    script = Path(sys.executable).with_name("clusterkit")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "clusterkit.cli"]
    return subprocess.run([*command, *args], capture_output=True, text=True, cwd=cwd, timeout=600)


@pytest.mark.parametrize(
    "command", [(), ("simulate",), ("workload",), ("workload", "generate"), ("workload", "convert"),
                ("workload", "check"), ("inspect",)]
)  # fmt: skip
def test_every_command_has_help(command: tuple[str, ...]) -> None:
    result = clusterkit(*command, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Usage: clusterkit")


def test_simulate_a_trace_sample_writes_plots_and_a_report_a_browser_shows(tmp_path: Path) -> None:
    out = tmp_path / "report"
    result = clusterkit("simulate", str(TRACES / "alibaba-2018"), "--policy", "binpack", "--policy", "spread",
                        "--out", str(out), "--until", "4000")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Simulation summary" in result.stdout and "binpack" in result.stdout and "spread" in result.stdout
    for name in ("utilisation.png", "instances.png", "pending.png", "wait_cdf.png"):
        pixels = matplotlib.image.imread(out / name)
        assert pixels.shape[0] >= 300 and pixels.shape[1] >= 600, name
        assert pixels.std() > 0.05, f"{name} is blank"
    metrics = json.loads((out / "metrics.json").read_text())
    assert [run["policy"] for run in metrics] == ["binpack", "spread"]
    assert all(run["placed"] > 0 for run in metrics)
    markdown = (out / "report.md").read_text()
    assert "| figure | binpack | spread |" in markdown and "![" in markdown
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 4

    browser = shutil.which("chromium")
    require_service(browser is not None, "Debian's chromium (a headless browser)")
    assert browser is not None
    shot = tmp_path / "shot.png"
    subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1000,1400",
         f"--screenshot={shot}", (out / "report.html").as_uri()],
        capture_output=True, timeout=120, check=True,
    )  # fmt: skip
    pixels = matplotlib.image.imread(shot)
    assert pixels.shape[:2] == (1400, 1000)
    lower = pixels[700:, :, :3]  # where the plots are, below the table
    assert lower.std() > 0.05, "the report's plots do not show in the browser"
    colourful = (abs(lower[:, :, 0] - lower[:, :, 2]) > 0.2).mean()  # the plot lines: not grey
    assert colourful > 0.0005


def test_simulate_a_custom_scheduler_from_the_users_own_module(tmp_path: Path) -> None:
    (tmp_path / "myscheduler.py").write_text(
        "from clusterkit import BaseScheduler\n"
        "class FirstFit(BaseScheduler):\n"
        "    '''Takes the first instance that fits.'''\n"
    )
    workload = tmp_path / "w.jsonl"
    assert clusterkit("workload", "generate", str(workload), "--duration", "120", "--instances", "4").returncode == 0
    result = clusterkit("simulate", str(workload), "--policy", "myscheduler:FirstFit", "--out", "out", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "out" / "metrics.json").read_text())[0]["policy"] == "FirstFit"


def test_a_bad_workload_line_exits_2_naming_the_line_and_field(tmp_path: Path) -> None:
    workload = tmp_path / "bad.jsonl"
    workload.write_text(
        '{"at": 0, "type": "instance_join", "instance": "a", "cpu": 1024, "memory": 2048}\n'
        '{"at": 1, "type": "batch_task", "cpu": 1, "memory": "lots", "duration": 3}\n'
    )
    for command in (("simulate", str(workload), "--out", str(tmp_path / "o")), ("workload", "check", str(workload))):
        result = clusterkit(*command)
        assert result.returncode == 2
        assert "workload line 2, field 'memory': must be a whole number" in result.stderr
    assert not (tmp_path / "o" / "report.html").exists()


def test_an_unknown_policy_and_an_unwritable_folder_are_clear_errors(tmp_path: Path) -> None:
    workload = tmp_path / "w.jsonl"
    clusterkit("workload", "generate", str(workload), "--duration", "60", "--instances", "2")
    result = clusterkit("simulate", str(workload), "--policy", "no_such_module:Nope")
    assert result.returncode == 2 and "policy='no_such_module:Nope': cannot be imported" in result.stderr
    result = clusterkit("simulate", str(workload), "--policy", "bestfit")
    assert result.returncode == 2 and "give a built-in policy" in result.stderr
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = clusterkit("simulate", str(workload), "--out", str(blocker / "report"))
    assert result.returncode == 1 and "cannot write to the output folder" in result.stderr


def test_workload_convert_and_check(tmp_path: Path) -> None:
    out = tmp_path / "google.jsonl"
    result = clusterkit("workload", "convert", str(TRACES / "google-2011"), str(out), "--format", "google-2011")
    assert result.returncode == 0, result.stderr
    check = clusterkit("workload", "check", str(out))
    assert check.returncode == 0
    assert "instance_join: 25" in check.stdout and "instance_leave: 1" in check.stdout


def test_inspect_a_save_file(tmp_path: Path) -> None:
    state = ClusterState("inspected")
    state.register_container_instance("host-1", cpu=2048, memory=4096)
    container = {"name": "a", "image": "b", "memory": 64}
    state.register_task_definition({"family": "web", "containerDefinitions": [container]})
    state.create_service("web", "web:1", desired_count=2)
    state.run_task("web:1", count=1)
    state.save(tmp_path / "state.json")
    result = clusterkit("inspect", str(tmp_path / "state.json"))
    assert result.returncode == 0, result.stderr
    assert "host-1" in result.stdout and "1984/2048" not in result.stdout  # no CPU asked: all 2048 free
    assert "2048/2048" in result.stdout and "4032/4096" in result.stdout
    assert "web:1" in result.stdout and "Services" in result.stdout
    broken = tmp_path / "broken.json"
    broken.write_text("{}")
    assert clusterkit("inspect", str(broken)).returncode == 2


@pytest.mark.parametrize(
    ("source", "words"),
    [
        ("class Broken(:\n    pass\n", "cannot be imported: SyntaxError"),
        ("class Needy:\n    def __init__(self, size):\n        pass\n    def place(self, s, r):\n        pass\n",
         "cannot be built without arguments: TypeError"),
        ("raise RuntimeError('boom at import')\n", "cannot be imported: RuntimeError: boom at import"),
    ],
)  # fmt: skip
def test_a_policy_module_that_cannot_be_imported_or_built_is_one_line_and_exit_2(
    tmp_path: Path, source: str, words: str
) -> None:
    workload = tmp_path / "w.jsonl"
    clusterkit("workload", "generate", str(workload), "--duration", "60", "--instances", "2")
    (tmp_path / "userpolicy.py").write_text(source)
    name = source.split("class ", 1)[1].split(":")[0].split("(")[0] if "class" in source else "Anything"
    result = clusterkit("simulate", str(workload), "--policy", f"userpolicy:{name}", "--out", "o", cwd=tmp_path)
    assert result.returncode == 2
    assert words in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_simulate_without_the_sim_extra_fails_at_once_with_one_line(tmp_path: Path) -> None:
    workload = tmp_path / "w.jsonl"
    clusterkit("workload", "generate", str(workload), "--duration", "60", "--instances", "2")
    hide = "import sys; sys.modules['matplotlib'] = None; from clusterkit.cli import main; main()"
    result = subprocess.run(
        [sys.executable, "-c", hide, "simulate", str(workload), "--out", str(tmp_path / "o")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.strip() == "Error: clusterkit simulate needs the sim extra: pip install 'clusterkit[sim]'"
    assert not (tmp_path / "o").exists()


def test_inspect_orders_rows_prints_whole_ids_when_piped_and_speaks_json(tmp_path: Path) -> None:
    state = ClusterState("ordered")
    long_id = "i-" + "0123456789abcdef" * 4
    for name in ["i-c", long_id, "i-a", "i-b"]:
        state.register_container_instance(name, cpu=1024, memory=1024)
    state.register_task_definition(
        {"family": "web", "containerDefinitions": [{"name": "a", "image": "b", "memory": 8}]}
    )
    state.run_task("web", count=5)
    state.create_service("zeta", "web", desired_count=0)
    state.create_service("alpha", "web", desired_count=0)
    state.save(tmp_path / "state.json")
    result = clusterkit("inspect", str(tmp_path / "state.json"))
    assert result.returncode == 0, result.stderr
    assert long_id in result.stdout  # piped: not cut to the terminal's width
    order = [line.split("│")[1].strip() for line in result.stdout.splitlines() if line.startswith("│ i-")]
    assert order == sorted(order) == sorted(["i-a", "i-b", "i-c", long_id])
    document = json.loads(clusterkit("inspect", str(tmp_path / "state.json"), "--json").stdout)
    described = [i["containerInstanceArn"].rsplit("/", 1)[1] for i in document["containerInstances"]]
    assert described == sorted(["i-a", "i-b", "i-c", long_id])
    task_ids = [task["taskArn"].rsplit("/", 1)[1] for task in document["tasks"]]
    assert task_ids == sorted(task_ids) and len(task_ids) == 5
    assert [service["serviceName"] for service in document["services"]] == ["alpha", "zeta"]
    assert document["cluster"] == "ordered" and document["version"] == state.version


def test_workload_generate_labels_instances_and_gives_shapes_a_family(tmp_path: Path) -> None:
    workload = tmp_path / "w.jsonl"
    result = clusterkit(
        "workload", "generate", str(workload), "--duration", "300", "--instances", "4", "--arrival-rate", "1",
        "--shape", "256:512:1:etl", "--shape", "512:1024", "--attribute", "tier=gold,std", "--attribute", "rack=r1",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in workload.read_text().splitlines()]
    joins = [e for e in events if e["type"] == "instance_join"]
    assert [e["attributes"] for e in joins] == [{"tier": t, "rack": "r1"} for t in ("gold", "std", "gold", "std")]
    batch = [e for e in events if e["type"] == "batch_task"]
    assert {(e["cpu"], e.get("family")) for e in batch} == {(256, "etl"), (512, None)}
    for option, text in (("--shape", "256"), ("--shape", "a:b"), ("--attribute", "tier"), ("--attribute", "tier=")):
        bad = clusterkit("workload", "generate", str(tmp_path / "x.jsonl"), option, text)
        assert bad.returncode == 2 and f"{option}={text!r}" in bad.stderr and "Traceback" not in bad.stderr
