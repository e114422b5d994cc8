"""Bad inputs to the ECS facade: the right ClusterkitError, naming the field, and no change.

Each row: an id, the call, the error class and the field(s) the error may name. After the
call the saved state file must be byte-for-byte what it was before.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clusterkit import (
    ClusterkitError,
    ClusterState,
    IllegalTransitionError,
    NotFoundError,
    Resources,
    StaleVersionError,
    ValidationError,
)
from clusterkit.testing import (
    BAD_EXPRESSIONS,
    BAD_INSTANCES,
    BAD_REQUESTS,
    BAD_TASK_DEFINITIONS,
    BadInput,
    invalid_expressions,
    invalid_instances,
    invalid_requests,
    invalid_resources,
    invalid_status_reports,
    invalid_task_definitions,
)


@attrs.define
class Ctx:
    state: ClusterState
    running: str  # a RUNNING task at version 2
    stopped: str  # a STOPPED task


def taskdef(**fields: Any) -> dict[str, Any]:
    return {"family": "bad", "containerDefinitions": [{"name": "app", "image": "img", "memory": 64}], **fields}


V, N, S, T = ValidationError, NotFoundError, StaleVersionError, IllegalTransitionError

Call = Callable[[Ctx], Any]
CASES: list[tuple[str, Call, type[ClusterkitError], str | tuple[str, ...]]] = [
    # -- container instances (the rest are the kit's BAD_INSTANCES, below)
    (
        "instance-duplicate",
        lambda c: c.state.register_container_instance("i1", cpu=1, memory=1),
        V,
        "containerInstanceId",
    ),
    ("deregister-unknown", lambda c: c.state.deregister_container_instance("ghost"), N, "containerInstance"),
    ("deregister-with-tasks", lambda c: c.state.deregister_container_instance("i1"), V, "force"),
    (
        "deregister-force-not-bool",
        lambda c: c.state.deregister_container_instance("i1", force="no"),
        V,
        "force",
    ),
    ("drain-status-inactive", lambda c: c.state.update_container_instances_state(["i1"], "INACTIVE"), V, "status"),
    ("drain-status-lowercase", lambda c: c.state.update_container_instances_state(["i1"], "draining"), V, "status"),
    ("drain-ids-str", lambda c: c.state.update_container_instances_state("i1", "DRAINING"), V, "containerInstances"),
    ("drain-ids-empty", lambda c: c.state.update_container_instances_state([], "DRAINING"), V, "containerInstances"),
    (
        "drain-ids-101",
        lambda c: c.state.update_container_instances_state(["i1"] * 101, "DRAINING"),
        V,
        "containerInstances",
    ),
    ("drain-id-int", lambda c: c.state.update_container_instances_state([5], "DRAINING"), V, "containerInstances"),
    ("put-attributes-list", lambda c: c.state.put_attributes("i1", [("a", "b")]), V, "attributes"),
    ("put-attributes-name-int", lambda c: c.state.put_attributes("i1", {5: "x"}), V, "attributes.name"),
    ("put-attributes-value-empty", lambda c: c.state.put_attributes("i1", {"x": ""}), V, "attributes['x'].value"),
    ("put-attributes-unknown", lambda c: c.state.put_attributes("ghost", {"x": "y"}), N, "containerInstance"),
    ("delete-attributes-unknown", lambda c: c.state.delete_attributes("ghost", ["x"]), N, "containerInstance"),
    (
        "delete-attributes-bare-string",
        lambda c: c.state.delete_attributes("i1", "ecs.os-type"),
        V,
        ("names", "attributes", "attributeNames", "attributes.name"),
    ),
    (
        "delete-attributes-name-int",
        lambda c: c.state.delete_attributes("i1", [5]),
        V,
        ("names", "attributes", "attributeNames", "attributes.name"),
    ),
    # -- task definitions: the kit's corpus (BAD_TASK_DEFINITIONS) is added below
    ("describe-taskdef-unknown", lambda c: c.state.describe_task_definition("ghost"), N, "taskDefinition"),
    ("describe-taskdef-int", lambda c: c.state.describe_task_definition(5), V, "taskDefinition"),
    ("describe-taskdef-none", lambda c: c.state.describe_task_definition(None), V, "taskDefinition"),
    ("deregister-taskdef-family-only", lambda c: c.state.deregister_task_definition("web"), V, "taskDefinition"),
    ("deregister-taskdef-int", lambda c: c.state.deregister_task_definition(5), V, "taskDefinition"),
    ("deregister-taskdef-unknown", lambda c: c.state.deregister_task_definition("web:99"), N, "taskDefinition"),
    # -- tasks
    ("start-unknown-taskdef", lambda c: c.state.start_task("ghost", ["i1"]), N, "taskDefinition"),
    ("start-taskdef-int", lambda c: c.state.start_task(5, ["i1"]), V, "taskDefinition"),
    ("start-taskdef-none", lambda c: c.state.start_task(None, ["i1"]), V, "taskDefinition"),
    ("start-instances-str", lambda c: c.state.start_task("web", "i1"), V, "containerInstances"),
    ("start-instances-empty", lambda c: c.state.start_task("web", []), V, "containerInstances"),
    ("start-instances-11", lambda c: c.state.start_task("web", ["i1"] * 11), V, "containerInstances"),
    ("start-instance-empty-id", lambda c: c.state.start_task("web", [""]), V, "containerInstances"),
    ("start-group-int", lambda c: c.state.start_task("web", ["i1"], group=5), V, "group"),
    ("start-group-long", lambda c: c.state.start_task("web", ["i1"], group="g" * 256), V, "group"),
    ("start-started-by-empty", lambda c: c.state.start_task("web", ["i1"], started_by=""), V, "startedBy"),
    ("start-started-by-long", lambda c: c.state.start_task("web", ["i1"], started_by="s" * 129), V, "startedBy"),
    ("stop-unknown", lambda c: c.state.stop_task("ghost"), N, "task"),
    ("stop-unknown-arn", lambda c: c.state.stop_task(c.state.arns.task("ghost")), N, "task"),
    ("stop-reason-int", lambda c: c.state.stop_task(c.running, reason=5), V, "reason"),
    ("stop-reason-long", lambda c: c.state.stop_task(c.running, reason="r" * 1025), V, "reason"),
    ("report-unknown", lambda c: c.state.submit_task_state_change("ghost", version=1, status="RUNNING"), N, "task"),
    ("report-stale", lambda c: c.state.submit_task_state_change(c.running, version=1, status="STOPPED"), S, "version"),
    (
        "report-stale-zero",
        lambda c: c.state.submit_task_state_change(c.running, version=0, status="STOPPED"),
        S,
        "version",
    ),
    (
        "report-future-version",
        lambda c: c.state.submit_task_state_change(c.running, version=9, status="STOPPED"),
        V,
        "version",
    ),
    (
        "report-version-str",
        lambda c: c.state.submit_task_state_change(c.running, version="2", status="STOPPED"),
        V,
        "version",
    ),
    (
        "report-status-unknown",
        lambda c: c.state.submit_task_state_change(c.running, version=2, status="DONE"),
        V,
        "lastStatus",
    ),
    (
        "report-status-backwards",
        lambda c: c.state.submit_task_state_change(c.running, version=2, status="PENDING"),
        T,
        "lastStatus",
    ),
    (
        "report-stopped-task-running",
        lambda c: c.state.submit_task_state_change(c.stopped, version=2, status="RUNNING"),
        T,
        "lastStatus",
    ),
    (
        "report-health-unknown",
        lambda c: c.state.submit_task_state_change(c.running, version=2, health_status="OK"),
        V,
        "healthStatus",
    ),
    (
        "report-stop-code-without-stopped",
        lambda c: c.state.submit_task_state_change(c.running, version=2, status="STOPPING", stop_code="UserInitiated"),
        V,
        "stopCode",
    ),
    (
        "report-stop-code-unknown",
        lambda c: c.state.submit_task_state_change(c.running, version=2, status="STOPPED", stop_code="Oops"),
        V,
        "stopCode",
    ),
    (
        "report-reason-long",
        lambda c: c.state.submit_task_state_change(c.running, version=2, status="STOPPED", reason="r" * 1025),
        V,
        "stoppedReason",
    ),
    # -- lists and describes
    ("list-max-zero", lambda c: c.state.list_tasks(max_results=0), V, "maxResults"),
    ("list-max-101", lambda c: c.state.list_tasks(max_results=101), V, "maxResults"),
    ("list-max-str", lambda c: c.state.list_tasks(max_results="10"), V, "maxResults"),
    ("list-desired-unknown", lambda c: c.state.list_tasks(desired_status="DONE"), V, "desiredStatus"),
    ("list-family-int", lambda c: c.state.list_tasks(family=5), V, "family"),
    ("list-started-by-int", lambda c: c.state.list_tasks(started_by=5), V, "startedBy"),
    ("list-instance-int", lambda c: c.state.list_tasks(container_instance=5), V, ("containerInstance", "instance")),
    ("list-service-int", lambda c: c.state.list_tasks(service_name=5), V, ("serviceName", "service")),
    ("list-token-garbage", lambda c: c.state.list_tasks(next_token="%%%"), V, "nextToken"),
    ("list-token-empty", lambda c: c.state.list_tasks(next_token=""), V, "nextToken"),
    ("list-instances-status", lambda c: c.state.list_container_instances(status="GONE"), V, "status"),
    ("list-instances-max", lambda c: c.state.list_container_instances(max_results=101), V, "maxResults"),
    ("list-taskdefs-status-all", lambda c: c.state.list_task_definitions(status="ALL"), V, "status"),
    ("list-taskdefs-prefix-int", lambda c: c.state.list_task_definitions(family_prefix=5), V, "familyPrefix"),
    ("list-families-status", lambda c: c.state.list_task_definition_families(status="X"), V, "status"),
    ("describe-tasks-101", lambda c: c.state.describe_tasks(["t"] * 101), V, "tasks"),
    ("describe-tasks-empty", lambda c: c.state.describe_tasks([]), V, "tasks"),
    ("describe-tasks-str", lambda c: c.state.describe_tasks("abc"), V, "tasks"),
    ("describe-tasks-int-id", lambda c: c.state.describe_tasks([5]), V, "tasks"),
    ("describe-tasks-none", lambda c: c.state.describe_tasks(None), V, "tasks"),
    ("describe-instances-101", lambda c: c.state.describe_container_instances(["i"] * 101), V, "containerInstances"),
    ("describe-instances-none", lambda c: c.state.describe_container_instances(None), V, "containerInstances"),
    ("subscribe-capacity-zero", lambda c: c.state.subscribe(0), V, "capacity"),
]


def _register(value: Any) -> Call:
    return lambda c: c.state.register_task_definition(value)


def _run_task(kwargs: dict[str, Any]) -> Call:
    return lambda c: c.state.run_task("web", **kwargs)


def _register_instance(kwargs: dict[str, Any]) -> Call:
    return lambda c: c.state.register_container_instance(**kwargs)


def _report(kwargs: dict[str, Any]) -> Call:
    return lambda c: c.state.submit_task_state_change(c.running, **kwargs)


def _member_of(text: str) -> Call:
    return lambda c: c.state.run_task("web", placement_constraints=[{"type": "memberOf", "expression": text}])


CASES += [(f"taskdef-{bad.name}", _register(bad.value), bad.error, bad.fields) for bad in BAD_TASK_DEFINITIONS]
CASES += [(f"query-{bad.name}", _member_of(bad.value), bad.error, bad.fields) for bad in BAD_EXPRESSIONS]
CASES += [(f"run-task-{bad.name}", _run_task(bad.value), bad.error, bad.fields) for bad in BAD_REQUESTS]
CASES += [(f"instance-{bad.name}", _register_instance(bad.value), bad.error, bad.fields) for bad in BAD_INSTANCES]


def kind(case_id: str) -> str:
    """Which of the four kinds of bad input a row is."""
    if case_id.startswith("taskdef-"):
        return "task definitions"
    if case_id.startswith("query-"):
        return "query expressions"
    if case_id.startswith("report-"):
        return "status reports"
    return "API calls"


def test_the_table_is_big_enough() -> None:
    assert len({case[0] for case in CASES}) == len(CASES)
    assert {case[2] for case in CASES} >= {V, N, S, T}
    kinds = Counter(kind(case[0]) for case in CASES)
    print(f"bad inputs: {len(CASES)} distinct; " + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())))
    assert len(CASES) >= 60
    assert min(kinds.values()) >= 10 and len(kinds) == 4, kinds


@pytest.fixture
def ctx() -> Ctx:
    state = ClusterState("bad", clock=lambda: 1_700_000_000.0)
    state.register_container_instance("i1", cpu=4096, memory=4096, attributes={"e": "1", "c": "2", "s": "3"})
    state.register_task_definition(taskdef(family="web"))
    running, stopped = state.start_task("web", ["i1", "i1"]).tasks
    state.submit_task_state_change(running.id, version=1, status="RUNNING")
    state.submit_task_state_change(stopped.id, version=1, status="STOPPED")
    return Ctx(state, running.id, stopped.id)


def refused(ctx: Ctx, path: Path, call: Call, error: type[ClusterkitError], field: str | tuple[str, ...]) -> None:
    """``call`` raises ``error`` naming ``field`` (or one of them) and the saved state stays byte-identical."""
    before, after = path / "before.json", path / "after.json"
    ctx.state.save(before)
    version = ctx.state.version
    with pytest.raises(error) as caught:
        call(ctx)
    exc = caught.value
    fields = field if isinstance(field, tuple) else (field,)
    assert getattr(exc, "field", None) in fields, f"names {getattr(exc, 'field', None)!r}, expected one of {fields}"
    assert exc.field in str(exc)  # type: ignore[attr-defined]
    assert ctx.state.version == version
    ctx.state.save(after)
    assert after.read_bytes() == before.read_bytes(), "a call that raises leaves the state exactly as it was"


@pytest.mark.parametrize(("call", "error", "field"), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_bad_input(
    ctx: Ctx, tmp_path: Path, call: Call, error: type[ClusterkitError], field: str | tuple[str, ...]
) -> None:
    refused(ctx, tmp_path, call, error, field)


# -- and drawn by the testing kit: broken variants of valid inputs ---------------------------

DRAWN: list[tuple[str, Any, Callable[[BadInput], Call]]] = [
    ("task definitions", invalid_task_definitions(), lambda bad: _register(bad.value)),
    ("query expressions", invalid_expressions(), lambda bad: _member_of(bad.value)),
    ("run_task requests", invalid_requests(), lambda bad: _run_task(bad.value)),
    ("instance registrations", invalid_instances(), lambda bad: _register_instance(bad.value)),
    ("resources", invalid_resources(), lambda bad: lambda c: Resources(**bad.value)),
    ("status reports", None, lambda bad: _report(bad.value)),
]


@pytest.mark.parametrize(("strategy", "to_call"), [d[1:] for d in DRAWN], ids=[d[0] for d in DRAWN])
@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_drawn_bad_input(
    ctx: Ctx, tmp_path: Path, strategy: Any, to_call: Callable[[BadInput], Call], data: st.DataObject
) -> None:
    if strategy is None:  # reports are drawn against the running task as the state holds it
        strategy = invalid_status_reports(ctx.state.snapshot().task(ctx.running))
    bad: BadInput = data.draw(strategy)
    refused(ctx, tmp_path, to_call(bad), bad.error, bad.fields)
