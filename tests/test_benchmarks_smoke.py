"""Every benchmark still runs (``--quick``) and ends with its one-line JSON report.

The figures themselves are not asserted here: performance lives in ``benchmarks/``.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import BENCHMARKS
from tests.conftest import claimed_backend, claimed_etcd, etcd_available, require_service

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(BENCHMARKS))
def test_benchmark_runs_and_reports(name: str) -> None:
    if name in ("docker_launch", "heal_latency", "lb_sync"):
        engine = shutil.which("docker") and subprocess.run(["docker", "info"], capture_output=True).returncode == 0
        require_service(bool(engine), "a Docker engine and the docker command line (scripts/services.sh start)")
    with (
        claimed_backend("bench") if name == "lb_sync" else contextlib.nullcontext(),  # lb_sync's backend
        claimed_etcd() if name.startswith("etcd_") else contextlib.nullcontext(),
    ):
        if name.startswith("etcd_"):  # once held: a copy holding etcd alone may have members stopped
            require_service(etcd_available(), "the etcd cluster (scripts/services.sh start)")
        done = subprocess.run(
            [sys.executable, "-m", "benchmarks", name, "--quick"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    assert len(lines) > 1, "a benchmark prints a readable report before its JSON line"
    report = json.loads(lines[-1])
    assert set(report) == {"name", "value", "unit", "target", "baseline", "ratio"}
    assert report["name"] == name
    assert isinstance(report["value"], (int, float))


def test_an_etcd_benchmark_without_etcd_fails_clearly() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "etcd_placement", "--quick", "--endpoints", "http://127.0.0.1:1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert "no healthy etcd member at http://127.0.0.1:1" in done.stderr
