"""Helpers for the tests that run ``clusterkit agent`` and ``clusterkit controller`` as processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ETCD_ENDPOINTS

ROOT = Path(__file__).resolve().parents[2]
METRICS_PORT = 19470
"""The port every process's /metrics listens on in these tests, each on a loopback address of its own."""


def spawn(command: str, log: Path, *args: str) -> subprocess.Popen[bytes]:
    """``python -m clusterkit.cli COMMAND ARGS`` from this checkout, on the test etcd, logging to ``log``."""
    environ = {
        **{key: value for key, value in os.environ.items() if not key.startswith("CLUSTERKIT_")},
        "CLUSTERKIT_ETCD_ENDPOINTS": ",".join(ETCD_ENDPOINTS),
        "PYTHONPATH": str(ROOT),
    }
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "clusterkit.cli", command, *args], cwd=ROOT, env=environ, stdout=out, stderr=out
        )


@contextmanager
def running(processes: list[subprocess.Popen[bytes]]) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Kill (SIGCONT first, for a stopped one) and reap every process in ``processes`` at the end."""
    try:
        yield processes
    finally:
        for process in processes:
            if process.poll() is None:
                os.kill(process.pid, signal.SIGCONT)
                process.kill()
            process.wait(timeout=30)


def scrape(host: str, port: int = METRICS_PORT, timeout: float = 2.0) -> dict[str, float]:
    """The samples of ``http://HOST:PORT/metrics`` by name (labels joined in: ``name{k=v}``);
    {} when it does not answer.
    """
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=timeout) as answer:
            text = answer.read().decode()
    except OSError:
        return {}
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f"{key}={value}" for key, value in sorted(sample.labels.items()))
            found[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return found


def wait_until(condition: Callable[[], bool], seconds: float, step: float = 0.02) -> float | None:
    """Poll ``condition``; the time (monotonic) it first held, or None after ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return time.monotonic()
        time.sleep(step)
    return None
