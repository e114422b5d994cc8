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
