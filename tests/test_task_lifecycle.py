"""The task lifecycle: which status moves check_transition allows, and Task field validation."""

from __future__ import annotations

import copy
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from clusterkit import IllegalTransitionError, PortBinding, Resources, Task, ValidationError
from clusterkit.model import DESIRED_STATUSES, STOP_CODES, TASK_LIFECYCLE, check_transition

EXPECTED_LIFECYCLE = (
    "PROVISIONING",
    "PENDING",
    "ACTIVATING",
    "RUNNING",
    "DEACTIVATING",
    "STOPPING",
    "DEPROVISIONING",
    "STOPPED",
)


def make_task(**fields: Any) -> Task:
    fields.setdefault("id", "0f1e2d3c4b5a69788796a5b4c3d2e1f0")
    fields.setdefault("task_definition", "web:3")
    fields.setdefault("container_instance_id", "ci-1")
    fields.setdefault("charge", Resources(cpu=256, memory=512))
    return Task(**fields)


def test_lifecycle_order_is_the_ecs_one() -> None:
    assert TASK_LIFECYCLE == EXPECTED_LIFECYCLE
    assert DESIRED_STATUSES == ("PENDING", "RUNNING", "STOPPED")


@given(st.sampled_from(EXPECTED_LIFECYCLE), st.sampled_from(EXPECTED_LIFECYCLE))
def test_last_status_moves_forward_or_stays(current: str, new: str) -> None:
    task = make_task(last_status=current)
    legal = EXPECTED_LIFECYCLE.index(new) >= EXPECTED_LIFECYCLE.index(current)
    if legal:
        check_transition(task, new, None)
    else:
        with pytest.raises(IllegalTransitionError) as error:
            check_transition(task, new, None)
        assert isinstance(error.value, ValidationError)
        assert error.value.field == "lastStatus"
        assert error.value.value == new
        assert current in str(error.value)
        assert task.id in str(error.value)


@given(st.sampled_from(DESIRED_STATUSES), st.sampled_from(DESIRED_STATUSES))
def test_desired_status_moves_forward_or_stays(current: str, new: str) -> None:
    order = ("PENDING", "RUNNING", "STOPPED")
    task = make_task(desired_status=current)
    if order.index(new) >= order.index(current):
        check_transition(task, None, new)
    else:
        with pytest.raises(IllegalTransitionError) as error:
            check_transition(task, None, new)
        assert error.value.field == "desiredStatus"
        assert error.value.value == new


@given(
    st.sampled_from(EXPECTED_LIFECYCLE),
    st.sampled_from(DESIRED_STATUSES),
    st.one_of(st.none(), st.sampled_from(EXPECTED_LIFECYCLE)),
    st.one_of(st.none(), st.sampled_from(DESIRED_STATUSES)),
)
def test_combined_transition_is_legal_iff_both_moves_are(
    last: str, desired: str, new_last: str | None, new_desired: str | None
) -> None:
    task = make_task(last_status=last, desired_status=desired)
    last_ok = new_last is None or EXPECTED_LIFECYCLE.index(new_last) >= EXPECTED_LIFECYCLE.index(last)
    desired_ok = new_desired is None or DESIRED_STATUSES.index(new_desired) >= DESIRED_STATUSES.index(desired)
    if last_ok and desired_ok:
        check_transition(task, new_last, new_desired)
    else:
        with pytest.raises(IllegalTransitionError) as error:
            check_transition(task, new_last, new_desired)
        assert error.value.field == ("lastStatus" if not last_ok else "desiredStatus")


def test_stopped_is_final() -> None:
    stopped = make_task(last_status="STOPPED", desired_status="STOPPED")
    check_transition(stopped, "STOPPED", "STOPPED")
    for status in EXPECTED_LIFECYCLE[:-1]:
        with pytest.raises(IllegalTransitionError):
            check_transition(stopped, status, None)
    for desired in ("PENDING", "RUNNING"):
        with pytest.raises(IllegalTransitionError):
            check_transition(stopped, None, desired)


def test_states_may_be_skipped() -> None:
    check_transition(make_task(last_status="PROVISIONING"), "STOPPED", "STOPPED")
    check_transition(make_task(last_status="PENDING"), "RUNNING", None)


@pytest.mark.parametrize(
    ("last", "desired", "field", "value"),
    [
        ("BOOTING", None, "lastStatus", "BOOTING"),
        ("running", None, "lastStatus", "running"),
        (None, "ACTIVATING", "desiredStatus", "ACTIVATING"),
        (None, "stopped", "desiredStatus", "stopped"),
    ],
)
def test_unknown_statuses_are_validation_errors(last: str | None, desired: str | None, field: str, value: str) -> None:
    with pytest.raises(ValidationError) as error:
        check_transition(make_task(), last, desired)
    assert not isinstance(error.value, IllegalTransitionError)
    assert error.value.field == field
    assert error.value.value == value


# --- Task field validation ----------------------------------------------------------------


def test_defaults_and_derived_properties() -> None:
    task = make_task(task_definition="my-family:12", group="service:api")
    assert task.last_status == "PENDING"
    assert task.desired_status == "RUNNING"
    assert task.version == 1
    assert task.family == "my-family"
    assert task.service_name == "api"
    assert not task.is_stopped
    assert make_task(group="family:web").service_name is None
    assert make_task(last_status="STOPPED").is_stopped


@pytest.mark.parametrize(
    ("fields", "field", "value"),
    [
        ({"stop_code": "Crashed"}, "stopCode", "Crashed"),
        ({"stop_code": "userinitiated"}, "stopCode", "userinitiated"),
        ({"version": 0}, "version", 0),
        ({"version": -3}, "version", -3),
        ({"version": True}, "version", True),
        ({"version": 1.0}, "version", 1.0),
        ({"id": "cluster/abc"}, "taskId", "cluster/abc"),
        ({"id": ""}, "taskId", ""),
        ({"id": "x" * 256}, "taskId", "x" * 256),
        ({"task_definition": ""}, "taskDefinition", ""),
        ({"last_status": "BOOTING"}, "lastStatus", "BOOTING"),
        ({"desired_status": "ACTIVATING"}, "desiredStatus", "ACTIVATING"),
        ({"health_status": "OK"}, "healthStatus", "OK"),
        ({"started_by": ""}, "startedBy", ""),
        ({"started_by": "x" * 129}, "startedBy", "x" * 129),
        ({"stopped_reason": "x" * 1025}, "stoppedReason", "x" * 1025),
        ({"group": "g" * 256}, "group", "g" * 256),
    ],
)
def test_invalid_task_fields(fields: dict[str, Any], field: str, value: object) -> None:
    with pytest.raises(ValidationError) as error:
        make_task(**fields)
    assert error.value.field == field
    assert error.value.value == value
    assert str(error.value).startswith(f"{field}=")


@pytest.mark.parametrize("code", STOP_CODES)
def test_every_ecs_stop_code_is_accepted(code: str) -> None:
    task = make_task(last_status="STOPPED", desired_status="STOPPED", stop_code=code, stopped_reason="")
    assert task.stop_code == code


def test_valid_full_task() -> None:
    task = make_task(
        last_status="RUNNING",
        health_status="HEALTHY",
        started_by="ecs-svc/1234",
        host_ports=(PortBinding("web", 80, 49153),),
        version=7,
        created_at=10.0,
        started_at=12.5,
    )
    assert task.host_ports[0].host_port == 49153
    assert attrs.evolve(task, version=8).version == 8
    with pytest.raises(ValidationError):
        attrs.evolve(task, version=0)


@given(st.from_regex(r"[A-Za-z0-9_-]{1,20}", fullmatch=True), st.integers(1, 10_000))
def test_family_follows_the_task_definition_and_is_not_a_field(family: str, revision: int) -> None:
    task = make_task(task_definition=f"{family}:{revision}")
    assert task.family == family
    assert task.family is make_task(task_definition=f"{family}:{revision}").family  # worked out once
    assert attrs.evolve(task, task_definition="api:1").family == "api"
    assert Task(**attrs.asdict(task, recurse=False)) == task  # not a field: a dict of fields round-trips
    assert copy.deepcopy(task).family == family
