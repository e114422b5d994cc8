"""Invalid inputs for negative testing: fixed corpora and hypothesis strategies.

Each ``BadInput`` says what must happen when the input is given: which ``ClusterkitError``
subclass is raised and which field(s) it may name. ``BAD_TASK_DEFINITIONS`` go to
``register_task_definition`` (or ``load_task_definition``); ``BAD_REQUESTS`` are keyword
arguments of ``run_task`` (``PlacementRequest``'s ECS JSON form); ``BAD_INSTANCES`` are
keyword arguments of ``register_container_instance``, and ``BAD_RESOURCES`` of
``Resources``; ``invalid_status_reports(task)`` draws agent reports that must be refused for
a given task. Bad query expressions are in ``clusterkit.testing.expressions``.
"""

from __future__ import annotations

import copy
from typing import Any, Final

import attrs
from hypothesis import strategies as st

from clusterkit.errors import ClusterkitError, IllegalTransitionError, StaleVersionError, ValidationError
from clusterkit.model import TASK_LIFECYCLE, Task

__all__ = [
    "BAD_INSTANCES",
    "BAD_REQUESTS",
    "BAD_RESOURCES",
    "BAD_TASK_DEFINITIONS",
    "BadInput",
    "invalid_instances",
    "invalid_requests",
    "invalid_resources",
    "invalid_status_reports",
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
    _td("unknown-field", _with_container(portBindings=[{"containerPort": 80}]), f"{CD0}.portBindings"),
    _td("family-null", _taskdef(family=None), "family"),
    _td(
        "mount-unknown-volume",
        _with_container(mountPoints=[{"sourceVolume": "ghost", "containerPath": "/data"}]),
        f"{CD0}.mountPoints[0].sourceVolume",
    ),
    _td("link-unknown-container", _with_container(links=["ghost:db"]), f"{CD0}.links[0]"),
    _td(
        "log-driver-enum",
        _with_container(logConfiguration={"logDriver": "cloudwatch"}),
        f"{CD0}.logConfiguration.logDriver",
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


def _in(name: str, fields: str | tuple[str, ...], **kwargs: Any) -> BadInput:
    return BadInput(name, {"cpu": 1024, "memory": 1024, **kwargs}, ValidationError, _tuple(fields))


def _tuple(fields: str | tuple[str, ...]) -> tuple[str, ...]:
    return fields if isinstance(fields, tuple) else (fields,)


BAD_INSTANCES: Final[tuple[BadInput, ...]] = (
    _in("id-int", "containerInstanceId", instance_id=5),
    _in("id-empty", "containerInstanceId", instance_id=""),
    _in("id-slash", "containerInstanceId", instance_id="a/b"),
    _in("id-long", "containerInstanceId", instance_id="x" * 256),
    _in("cpu-negative", "cpu", cpu=-1),
    _in("cpu-str", "cpu", cpu="1024"),
    _in("memory-bool", "memory", memory=True),
    _in("memory-float", "memory", memory=1.5),
    _in("port-zero", "ports", reserved_ports=[0]),
    _in("port-high", "ports", reserved_ports=[65536]),
    _in("port-str", "ports", reserved_ports=["22"]),
    _in("udp-port-negative", "ports_udp", reserved_udp_ports=[-5]),
    _in("scalar-negative", "scalars['GPU']", scalars={"GPU": -1}),
    _in("scalar-bool", "scalars['GPU']", scalars={"GPU": True}),
    _in("scalars-not-mapping", ("scalars", "resources"), scalars=5),
    _in("reserved-ports-not-list", ("ports", "reservedPorts"), reserved_ports=22),
    _in("attributes-not-mapping", "attributes", attributes=5),
    _in("attribute-name-long", "attributes.name", attributes={"n" * 129: "v"}),
    _in("attribute-value-int", "attributes['n'].value", attributes={"n": 5}),
    _in("agent-version-empty", "agentVersion", agent_version=""),
    _in("ec2-id-int", ("ec2InstanceId", "ec2_instance_id"), ec2_instance_id=5),
)
"""Keyword arguments of ``register_container_instance`` that it must refuse."""


def _rs(name: str, field: str, **kwargs: Any) -> BadInput:
    return BadInput(name, kwargs, ValidationError, (field,))


BAD_RESOURCES: Final[tuple[BadInput, ...]] = (
    _rs("cpu-negative", "cpu", cpu=-1),
    _rs("cpu-float", "cpu", cpu=0.5),
    _rs("memory-str", "memory", memory="1"),
    _rs("memory-bool", "memory", memory=False),
    _rs("port-zero", "ports", ports=[0]),
    _rs("port-too-high", "ports", ports=[65536]),
    _rs("udp-port-str", "ports_udp", ports_udp=["53"]),
    _rs("scalar-nan", "scalars['GPU']", scalars={"GPU": float("nan")}),
    _rs("scalar-negative", "scalars['GPU']", scalars={"GPU": -2}),
    _rs("scalar-infinite", "scalars['GPU']", scalars={"GPU": float("inf")}),
)
"""Keyword arguments of ``Resources`` that it must refuse."""

_INSTANCE_BREAKS: Final[tuple[tuple[str, Any, str | tuple[str, ...]], ...]] = (
    ("cpu", -1, "cpu"),
    ("memory", "lots", "memory"),
    ("reserved_ports", [70_000], "ports"),
    ("scalars", {"GPU": -1}, "scalars['GPU']"),
    ("attributes", {"zone": 3}, "attributes['zone'].value"),
)


@st.composite
def invalid_instances(draw: st.DrawFn) -> BadInput:
    """``register_container_instance`` arguments it must refuse.

    A corpus entry, or valid drawn arguments broken in one field.
    """
    if draw(st.booleans()):
        return draw(st.sampled_from(BAD_INSTANCES))
    kwargs: dict[str, Any] = {
        "cpu": draw(st.integers(1, 65_536)),
        "memory": draw(st.integers(1, 262_144)),
        "scalars": draw(st.dictionaries(st.just("GPU"), st.integers(1, 8), max_size=1)),
        "attributes": draw(st.dictionaries(st.sampled_from(["zone", "tier"]), st.sampled_from(["a", "b"]), max_size=2)),
    }
    name, value, fields = draw(st.sampled_from(_INSTANCE_BREAKS))
    kwargs[name] = value
    return BadInput(f"broken-{name}", kwargs, ValidationError, _tuple(fields))


def invalid_resources() -> st.SearchStrategy[BadInput]:
    """``Resources`` keyword arguments that it must refuse (a corpus entry, or a negative amount)."""
    negative = st.builds(
        lambda field, amount: _rs(f"negative-{field}", field, **{field: amount}),
        st.sampled_from(["cpu", "memory"]),
        st.integers(max_value=-1),
    )
    return st.one_of(st.sampled_from(BAD_RESOURCES), negative)


def invalid_status_reports(task: Task) -> st.SearchStrategy[BadInput]:
    """Keyword arguments of ``submit_task_state_change`` for ``task`` that must be refused.

    ``task`` should be RUNNING, as the state holds it now: the reports are unknown statuses,
    health or stop codes, versions older than the task's or not numbers, a move back to
    PENDING, and reasons that are too long.
    """
    current = {"version": task.version}
    bad_field = st.one_of(
        st.text(min_size=1, max_size=8)
        .filter(lambda s: s not in TASK_LIFECYCLE)
        .map(
            lambda status: BadInput("status-unknown", {**current, "status": status}, ValidationError, ("lastStatus",))
        ),
        st.sampled_from(["OK", "GREEN", "healthy"]).map(
            lambda health: BadInput(
                "health-unknown", {**current, "health_status": health}, ValidationError, ("healthStatus",)
            )
        ),
        st.sampled_from(["Oops", "Crashed", ""]).map(
            lambda code: BadInput(
                "stop-code-unknown", {**current, "status": "STOPPED", "stop_code": code}, ValidationError, ("stopCode",)
            )
        ),
        st.sampled_from(["2", 2.0, None]).map(
            lambda version: BadInput(
                "version-not-int", {"version": version, "status": "STOPPED"}, ValidationError, ("version",)
            )
        ),
        st.integers(1025, 4096).map(
            lambda size: BadInput(
                "reason-too-long",
                {**current, "status": "STOPPED", "reason": "r" * size},
                ValidationError,
                ("stoppedReason",),
            )
        ),
    )
    stale = st.integers(1, max(1, task.version - 1)).map(
        lambda version: BadInput(
            "version-stale", {"version": version, "status": "STOPPED"}, StaleVersionError, ("version",)
        )
    )
    backwards = st.just(
        BadInput("back-to-pending", {**current, "status": "PENDING"}, IllegalTransitionError, ("lastStatus",))
    )
    return st.one_of(bad_field, *([stale] if task.version > 1 else []), backwards)
