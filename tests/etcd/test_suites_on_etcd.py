"""The state, placement and service suites, run again with every state on the real etcd cluster.

``CLUSTERKIT_TEST_STORE=etcd`` makes each ClusterState a test builds without a store use an
EtcdStore on a fresh prefix (see ``tests/conftest.py``), so every behaviour those suites
check in memory is checked through etcd too.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SUITES = (
    "tests/test_state_commit.py",
    "tests/test_state_api.py",
    "tests/test_state_events.py",
    "tests/test_state_accounting.py",
    "tests/test_state_concurrency.py",
    "tests/test_task_lifecycle.py",
    "tests/test_persist.py",
    "tests/test_placement_api.py",
    "tests/test_placement_concurrency.py",
    "tests/test_placement_sample.py",
    "tests/test_placement_balance.py",
    "tests/test_placement_oracle.py",
    "tests/test_services_api.py",
)


@pytest.mark.slow
@pytest.mark.etcd_alone  # the suites count etcd's revisions as cluster versions: no other writer meanwhile
def test_state_placement_and_service_suites_pass_on_etcd(etcd: tuple[str, ...]) -> None:
    env = {**os.environ, "CLUSTERKIT_TEST_STORE": "etcd", "CLUSTERKIT_ETCD_ENDPOINTS": ",".join(etcd)}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *SUITES],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    summary = run.stdout.strip().splitlines()[-1] if run.stdout.strip() else run.stderr[-2000:]
    print(f"\non etcd: {summary}")
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    passed = re.search(r"(\d+) passed", summary)
    assert passed is not None and int(passed.group(1)) > 300, summary
