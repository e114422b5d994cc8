"""Invalid inputs for negative testing: fixed corpora and hypothesis strategies.

Each ``BadInput`` says what must happen when the input is given: which ``ClusterkitError``
subclass is raised and which field(s) it may name. ``BAD_TASK_DEFINITIONS`` go to
``register_task_definition`` (or ``load_task_definition``); ``BAD_REQUESTS`` are keyword
arguments of ``run_task`` (``PlacementRequest``'s ECS JSON form). Bad query expressions
are in ``clusterkit.testing.expressions``.
"""

from __future__ import annotations

import copy
from typing import Any, Final

import attrs
from hypothesis import strategies as st

from clusterkit.errors import ClusterkitError, ValidationError

__all__ = [
    "BAD_REQUESTS",
    "BAD_TASK_DEFINITIONS",
    "BadInput",
    "invalid_requests",
    "invalid_task_definitions",
]


@attrs.frozen(slots=True)
class BadInput:
    """An input that must be refused: ``error`` is raised, naming one of ``fields``, and nothing changes."""

    name: str
    value: Any = attrs.field(eq=False, hash=False)
    error: type[ClusterkitError] = ValidationError
    fields: tuple[str, ...] = ()


def _container(**fields: Any) -> dict[str, Any]:
    return {"name": "app", "image": "img", "memory": 64, **fields}


def _taskdef(**fields: Any) -> dict[str, Any]:
    return {"family": "bad", "containerDefinitions": [_container()], **fields}


def _with_container(**fields: Any) -> dict[str, Any]:
    return _taskdef(containerDefinitions=[_container(**fields)])


CD0 = "containerDefinitions[0]"


def _td(name: str, value: Any, field: str) -> BadInput:
    return BadInput(name, value, ValidationError, (field,))


BAD_TASK_DEFINITIONS: Final[tuple[BadInput, ...]] = (
    _td("not-json", "{nope", "taskDefinition"),
    _td("json-list", "[]", "taskDefinition"),
    _td("int", 5, "taskDefinition"),
    _td("none", None, "taskDefinition"),
    _td("family-missing", {"containerDefinitions": [_container()]}, "family"),
    _td("family-space", _taskdef(family="a b"), "family"),
    _td("no-containers", _taskdef(containerDefinitions=[]), "containerDefinitions"),
    _td(
        "11-containers",
        _taskdef(containerDefinitions=[_container(name=f"c{n}") for n in range(11)]),
        "containerDefinitions",
    ),
    _td(
        "container-names-twice",
        _taskdef(containerDefinitions=[_container(), _container()]),
        f"{CD0}.name",
    ),
    _td("no-memory", _taskdef(containerDefinitions=[{"name": "a", "image": "i"}]), f"{CD0}.memory"),
    _td("image-missing", _taskdef(containerDefinitions=[{"name": "a", "memory": 64}]), f"{CD0}.image"),
    _td("memory-str", _with_container(memory="lots"), f"{CD0}.memory"),
    _td("memory-tiny", _with_container(memory=5), f"{CD0}.memory"),
    _td("reservation-over-memory", _with_container(memory=64, memoryReservation=128), f"{CD0}.memoryReservation"),
    _td("essential-str", _with_container(essential="yes"), f"{CD0}.essential"),
    _td("none-essential", _with_container(essential=False), "containerDefinitions"),
    _td(
        "host-port-str",
        _with_container(portMappings=[{"containerPort": 80, "hostPort": "x"}]),
        f"{CD0}.portMappings[0].hostPort",
    ),
    _td(
        "container-port-zero",
        _with_container(portMappings=[{"containerPort": 0}]),
        f"{CD0}.portMappings[0].containerPort",
    ),
    _td(
        "protocol-sctp",
        _with_container(portMappings=[{"containerPort": 80, "protocol": "sctp"}]),
        f"{CD0}.portMappings[0].protocol",
    ),
    _td(
        "host-port-twice",
        _with_container(
            portMappings=[{"containerPort": 80, "hostPort": 8080}, {"containerPort": 81, "hostPort": 8080}]
        ),
        f"{CD0}.portMappings[1].hostPort",
    ),
    _td(
        "awsvpc-host-port",
        {**_with_container(portMappings=[{"containerPort": 80, "hostPort": 81}]), "networkMode": "awsvpc"},
        f"{CD0}.portMappings[0].hostPort",
    ),
    _td("network-mode", _taskdef(networkMode="weird"), "networkMode"),
    _td("cpu-words", _taskdef(cpu="lots"), "cpu"),
    _td(
        "gpu-zero",
        _with_container(resourceRequirements=[{"type": "GPU", "value": "0"}]),
        f"{CD0}.resourceRequirements[0].value",
    ),
    _td(
        "health-interval",
        _with_container(healthCheck={"command": ["CMD", "true"], "interval": 1}),
        f"{CD0}.healthCheck.interval",
    ),
    _td(
        "distinct-instance",
        _taskdef(placementConstraints=[{"type": "distinctInstance"}]),
        "placementConstraints[0].type",
    ),
    _td(
        "depends-on-unknown",
        _with_container(dependsOn=[{"containerName": "ghost"}]),
        f"{CD0}.dependsOn[0].containerName",
    ),
)
"""Task definitions (ECS JSON, or not even that) that registering must refuse."""


def _rq(name: str, field: str, **kwargs: Any) -> BadInput:
    return BadInput(name, kwargs, ValidationError, (field,))


_BINPACK: Final = {"type": "binpack", "field": "memory"}
BAD_REQUESTS: Final[tuple[BadInput, ...]] = (
    _rq("count-zero", "count", count=0),
    _rq("count-over-10000", "count", count=10_001),
    _rq("count-str", "count", count="1"),
    _rq("count-bool", "count", count=True),
    _rq("group-int", "group", group=5),
    _rq("started-by-empty", "startedBy", started_by=""),
    _rq("strategy-type-unknown", "placementStrategy[0].type", placement_strategy=[{"type": "pack"}]),
    _rq("binpack-disk", "placementStrategy[0].field", placement_strategy=[{"type": "binpack", "field": "disk"}]),
    _rq(
        "spread-empty-attribute",
        "placementStrategy[0].field",
        placement_strategy=[{"type": "spread", "field": "attribute:"}],
    ),
    _rq("random-with-field", "placementStrategy[0].field", placement_strategy=[{"type": "random", "field": "cpu"}]),
    _rq("strategy-not-a-list", "placementStrategy", placement_strategy=_BINPACK),
    _rq("six-strategies", "placementStrategy", placement_strategy=[_BINPACK] * 6),
    _rq("strategy-extra-key", "placementStrategy[0]", placement_strategy=[{**_BINPACK, "weight": 1}]),
    _rq("constraint-type-unknown", "placementConstraints[0].type", placement_constraints=[{"type": "sameZone"}]),
    _rq(
        "member-of-without-expression",
        "placementConstraints[0].expression",
        placement_constraints=[{"type": "memberOf"}],
    ),
    _rq(
        "distinct-with-expression",
        "placementConstraints[0].expression",
        placement_constraints=[{"type": "distinctInstance", "expression": "attribute:x exists"}],
    ),
    _rq("eleven-constraints", "placementConstraints", placement_constraints=[{"type": "distinctInstance"}] * 11),
)
"""Keyword arguments of ``run_task`` (for any registered task definition) that it must refuse."""

_MUTATIONS: Final[tuple[tuple[str | int, Any, str], ...]] = (
    ("family", "a b", "family"),
    ("networkMode", "weird", "networkMode"),
    ("cpu", "lots", "cpu"),
    ("containerDefinitions", [], "containerDefinitions"),
    (0, ("memory", 3), f"{CD0}.memory"),
    (0, ("cpu", -1), f"{CD0}.cpu"),
    (0, ("image", ""), f"{CD0}.image"),
    (0, ("essential", "yes"), f"{CD0}.essential"),
    (0, ("name", "has space"), f"{CD0}.name"),
)


@st.composite
def invalid_task_definitions(draw: st.DrawFn) -> BadInput:
    """A task definition that must be refused: a corpus entry, or a valid one broken in one field."""
    from clusterkit.testing.strategies import task_definition_json

    if draw(st.booleans()):
        return draw(st.sampled_from(BAD_TASK_DEFINITIONS))
    data = copy.deepcopy(draw(task_definition_json(constraints=False)))
    target, value, field = draw(st.sampled_from(_MUTATIONS))
    if isinstance(target, int):
        name, bad = value
        data["containerDefinitions"][target][name] = bad
        data["containerDefinitions"][target].pop("memoryReservation", None)
    else:
        data[target] = value
    return _td(f"mutated-{field}", data, field)


@st.composite
def invalid_requests(draw: st.DrawFn) -> BadInput:
    """``run_task`` keyword arguments that must be refused: a corpus entry or a count out of range."""
    if draw(st.booleans()):
        return draw(st.sampled_from(BAD_REQUESTS))
    count = draw(st.one_of(st.integers(max_value=0), st.integers(min_value=10_001)))
    return _rq("count-out-of-range", "count", count=count)
