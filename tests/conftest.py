"""Shared test settings.

Hypothesis profiles: ``default`` for laptops, ``ci`` (chosen when CI=true) derandomized so a
CI run is repeatable, ``long`` for soak runs (``pytest --hypothesis-profile long``).

Tests that need a real service (Docker, the registry, etcd, HAProxy) skip on a laptop that
lacks it, but under CI=true a missing service is a failure: use ``require_service``.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

settings.register_profile("default", max_examples=100, deadline=None)
settings.register_profile(
    "ci", max_examples=200, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("long", max_examples=5000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci" if IN_CI else os.environ.get("HYPOTHESIS_PROFILE", "default"))


def require_service(available: bool, what: str) -> None:
    """Skip when ``what`` is not available — but fail under CI=true, where it must be."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"{what} is not available, and CI=true requires it", pytrace=False)
    pytest.skip(f"{what} is not available")
