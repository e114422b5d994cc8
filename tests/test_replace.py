"""The unvalidated copiers the commit path uses: ``replace`` and ``replacer``."""

from __future__ import annotations

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from clusterkit import ContainerInstance, Resources, Task
from clusterkit.model import replace, replacer

INSTANCE = ContainerInstance("i-1", Resources(1024, 2048), Resources(1024, 2048), attributes={"zone": "a"})


@given(st.integers(0, 1024), st.integers(1, 10**6), st.integers(0, 10**6))
def test_replacer_equals_replace_and_evolve(cpu: int, version: int, pending: int) -> None:
    charged = replacer(ContainerInstance, "remaining", "version", "pending_tasks_count")
    remaining = Resources(cpu, 2048)
    made = charged(INSTANCE, remaining, version, pending)
    assert made == replace(INSTANCE, remaining=remaining, version=version, pending_tasks_count=pending)
    assert made == attrs.evolve(INSTANCE, remaining=remaining, version=version, pending_tasks_count=pending)
    assert INSTANCE.remaining == Resources(1024, 2048) and INSTANCE.version == 1  # the original is untouched


def test_replacer_keeps_fields_that_are_not_arguments() -> None:
    task = Task("t-1", "web:3", "i-1", Resources(1, 2))
    stamped = replacer(Task, "created_at")(task, 5.0)
    assert stamped.created_at == 5.0 and stamped.family == "web"
    assert attrs.evolve(stamped, created_at=0.0) == task


def test_replacer_refuses_unknown_fields() -> None:
    with pytest.raises(TypeError, match="no fields"):
        replacer(Task, "colour")
