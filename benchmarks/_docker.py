"""What the Docker benchmarks share: the test image, and a check that the engine has it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from typing import Final

__all__ = ["IMAGE", "engine_ready"]

IMAGE: Final = "clusterkit/busybox:latest"
"""The image ``scripts/services.sh start`` builds on each engine."""


def engine_ready(name: str, engine: str) -> bool:
    """True when the docker command line is there and ``engine`` has ``IMAGE``; else say why on stderr."""
    if shutil.which("docker") is None:
        print(f"{name}: the docker command line is needed for the baseline", file=sys.stderr)
        return False
    found = subprocess.run(["docker", "-H", engine, "image", "inspect", IMAGE], capture_output=True, text=True)
    if found.returncode != 0:
        print(f"{name}: {IMAGE} is not on {engine} (scripts/services.sh start builds it)", file=sys.stderr)
        print(found.stderr.strip(), file=sys.stderr)
        return False
    return True
