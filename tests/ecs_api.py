"""ECS's own API model (botocore's data) for checking clusterkit's JSON against it.

botocore's ``ParamValidator`` checks input shapes (what a client sends); ECS's output shapes
(describe responses) have no validator, so ``output_problems`` walks a value along a
``botocore.model.Shape`` strictly: an unknown key in a structure, a missing required member,
a wrong type or a string outside its enum is a problem.
"""

from __future__ import annotations

import datetime
import functools
import math
from collections.abc import Mapping
from typing import Any

import botocore.session
from botocore.model import ListShape, MapShape, ServiceModel, Shape, StructureShape
from botocore.validate import ParamValidator

_INT_BOUNDS = {"integer": 2**31, "long": 2**63}


@functools.cache
def model() -> ServiceModel:
    """botocore's ECS service model."""
    return botocore.session.get_session().get_service_model("ecs")


@functools.cache
def examples() -> dict[str, list[dict[str, Any]]]:
    """The ECS model's examples (``examples-1.json``), by operation."""
    loader = botocore.session.get_session().get_component("data_loader")
    found: dict[str, list[dict[str, Any]]] = loader.load_service_model("ecs", "examples-1")["examples"]
    return found


def output_problems(value: Any, shape: str | Shape, path: str = "") -> list[str]:
    """Every way ``value`` differs from ECS output shape ``shape``; empty when it fits."""
    spec = model().shape_for(shape) if isinstance(shape, str) else shape
    where = path or spec.name
    if isinstance(spec, StructureShape):
        if not isinstance(value, Mapping):
            return [f"{where}: {value!r} is not an object ({spec.name})"]
        problems = [f"{where}: unknown key {key!r} for {spec.name}" for key in value if key not in spec.members]
        problems += [f"{where}: required {name!r} is missing" for name in spec.required_members if name not in value]
        for key, item in value.items():
            if key in spec.members:
                problems += output_problems(item, spec.members[key], f"{path}.{key}" if path else key)
        return problems
    if isinstance(spec, ListShape):
        if not isinstance(value, list):
            return [f"{where}: {value!r} is not a list"]
        return [p for index, item in enumerate(value) for p in output_problems(item, spec.member, f"{where}[{index}]")]
    if isinstance(spec, MapShape):
        if not isinstance(value, Mapping):
            return [f"{where}: {value!r} is not an object (map)"]
        problems = [f"{where}: key {key!r} is not a string" for key in value if not isinstance(key, str)]
        for key, item in value.items():
            problems += output_problems(item, spec.value, f"{where}[{key}]")
        return problems
    return _scalar_problems(value, spec, where)


def _scalar_problems(value: Any, spec: Shape, where: str) -> list[str]:
    kind = spec.type_name
    if kind == "string":
        if not isinstance(value, str):
            return [f"{where}: {value!r} is not a string"]
        enum = getattr(spec, "enum", None) or []
        return [f"{where}: {value!r} is not one of {enum}"] if enum and value not in enum else []
    if kind in _INT_BOUNDS:
        fits = type(value) is int and -_INT_BOUNDS[kind] <= value < _INT_BOUNDS[kind]
    elif kind == "boolean":
        fits = isinstance(value, bool)
    elif kind in ("double", "float"):
        fits = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    elif kind == "timestamp":
        fits = _is_timestamp(value)
    elif kind == "blob":
        fits = isinstance(value, (bytes, str))
    else:
        return [f"{where}: shape type {kind} is not handled"]
    return [] if fits else [f"{where}: {value!r} is not of type {kind}"]


def _is_timestamp(value: Any) -> bool:
    """ECS's JSON protocol returns timestamps as seconds since the epoch (an SDK, as datetimes)."""
    if isinstance(value, datetime.datetime):
        return True
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def assert_output(value: Any, shape: str) -> None:
    """Fail, listing the problems, unless ``value`` is ECS output of ``shape``."""
    problems = output_problems(value, shape)
    assert not problems, f"not ECS {shape}:\n" + "\n".join(problems)


def assert_input(params: Mapping[str, Any], operation: str) -> None:
    """Fail unless botocore's own validator accepts ``params`` for ECS ``operation``."""
    report = ParamValidator().validate(dict(params), model().operation_model(operation).input_shape)
    assert not report.has_errors(), report.generate_report()
