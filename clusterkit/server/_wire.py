"""The AWS JSON 1.1 wire: botocore's ECS model checks what comes in and shapes what goes out.

Input is walked strictly along the operation's input shape (``check_input``): an unknown
member, a missing required one, a value of the wrong JSON type (never coerced: ``"3"`` is no
integer, ``true`` no number) or a string outside its enum is refused with the code the model
lists for the operation (``InvalidParameterException``, else ``ClientException``). Output is
walked along the output shape (``shape_output``): members the model does not have and nulls
are left out, timestamps are seconds since the epoch.
"""

from __future__ import annotations

import datetime
import functools
from collections.abc import Mapping
from typing import Any, Final

from clusterkit.errors import ClusterkitError, ConflictError, NotFoundError, StoreError, ValidationError

__all__ = ["TARGET_PREFIX", "ApiError", "check_input", "error_for", "operation_errors", "service_model", "shape_output"]

TARGET_PREFIX: Final = "AmazonEC2ContainerServiceV20141113"
"""What ``X-Amz-Target`` starts with: ``AmazonEC2ContainerServiceV20141113.RunTask``."""

_NOT_FOUND: Final = {
    "cluster": ("ClusterNotFoundException", "Cluster not found."),
    "service": ("ServiceNotFoundException", "Service not found."),
    "taskDefinition": ("ClientException", "Unable to describe task definition."),
}
"""An unknown name in these fields is answered as ECS answers it; any other is a bad parameter."""


class ApiError(ClusterkitError):
    """An ECS error answer: ``code`` (the model's exception name), ``message``, HTTP ``status``."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


@functools.cache
def service_model() -> Any:
    """The ECS service model botocore ships (``service-2``), loaded once."""
    try:
        from botocore.loaders import Loader
        from botocore.model import ServiceModel
    except ImportError:  # pragma: no cover - the server extra brings botocore
        raise ClusterkitError("clusterkit.server needs botocore: pip install 'clusterkit[server]'") from None
    return ServiceModel(Loader().load_service_model("ecs", "service-2"), service_name="ecs")


@functools.cache
def operation_errors(operation: str) -> frozenset[str]:
    """The exception codes the model lists for ``operation``."""
    return frozenset(shape.name for shape in service_model().operation_model(operation).error_shapes)


def bad_parameter(operation: str, message: str) -> ApiError:
    """A refused parameter: ``InvalidParameterException`` where the model lists it, else ``ClientException``."""
    invalid = "InvalidParameterException"
    return ApiError(invalid if invalid in operation_errors(operation) else "ClientException", message)


def error_for(operation: str, error: ClusterkitError) -> ApiError:
    """The ECS answer to a ClusterkitError raised while serving ``operation``."""
    if isinstance(error, NotFoundError):
        code, message = _NOT_FOUND.get(error.field, ("InvalidParameterException", ""))
        if code == "InvalidParameterException":
            return bad_parameter(operation, f"The referenced {error.field} was not found: {error}")
        return ApiError(code, message)
    if isinstance(error, ConflictError | StoreError):
        return ApiError("ServerException", str(error), 500)
    return bad_parameter(operation, str(error))


def _scalar_problem(value: Any, kind: str) -> str | None:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    fits = {
        "string": isinstance(value, str),
        "blob": isinstance(value, str),
        "boolean": isinstance(value, bool),
        "integer": type(value) is int,
        "long": type(value) is int,
        "double": number,
        "float": number,
        "timestamp": number or isinstance(value, str),
    }.get(kind, True)
    return None if fits else f"must be of type {kind}"


def _check(value: Any, shape: Any, path: str) -> Any:
    """``value`` along ``shape`` with nulls dropped; ValidationError naming the path otherwise."""
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, Mapping):
            raise ValidationError(path, value, f"must be an object ({shape.name})")
        for key in value:
            if key not in shape.members:
                raise ValidationError(f"{path}.{key}" if path else key, value[key], f"is not a field of {shape.name}")
        checked = {
            key: _check(item, shape.members[key], f"{path}.{key}" if path else key)
            for key, item in value.items()
            if item is not None
        }
        for name in shape.required_members:
            if name not in checked:
                raise ValidationError(f"{path}.{name}" if path else name, None, "is required")
        return checked
    if kind == "list":
        if not isinstance(value, list):
            raise ValidationError(path, value, "must be a list")
        return [_check(item, shape.member, f"{path}[{index}]") for index, item in enumerate(value)]
    if kind == "map":
        if not isinstance(value, Mapping):
            raise ValidationError(path, value, "must be an object (map)")
        return {key: _check(item, shape.value, f"{path}[{key}]") for key, item in value.items()}
    problem = _scalar_problem(value, kind)
    if problem is None and kind == "string" and shape.enum and value not in shape.enum:
        problem = f"must be one of {list(shape.enum)}"
    if problem is not None:
        raise ValidationError(path, value, problem)
    return value


def check_input(operation: str, body: Any) -> dict[str, Any]:
    """The request ``body`` of ``operation``, checked against its input shape (nulls dropped)."""
    shape = service_model().operation_model(operation).input_shape
    try:
        checked: dict[str, Any] = _check(body, shape, "")
    except ValidationError as error:
        raise bad_parameter(operation, str(error)) from None
    return checked


def shape_output(value: Any, shape: Any) -> Any:
    """``value`` as output shape ``shape`` has it: unknown members and nulls left out,
    timestamps as seconds since the epoch.
    """
    kind = shape.type_name
    if kind == "structure":
        return {
            key: shape_output(item, shape.members[key])
            for key, item in value.items()
            if item is not None and key in shape.members
        }
    if kind == "list":
        return [shape_output(item, shape.member) for item in value]
    if kind == "map":
        return {key: shape_output(item, shape.value) for key, item in value.items()}
    if kind == "timestamp" and isinstance(value, datetime.datetime):
        return value.timestamp()
    return value
