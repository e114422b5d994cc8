"""The public face of clusterkit: __all__, docstrings, py.typed, and the error tree."""

from __future__ import annotations

import ast
import importlib
import inspect
import sys
import typing
from pathlib import Path

import pytest

import clusterkit
from clusterkit import errors


def test_all_is_sorted_and_unique() -> None:
    names = list(clusterkit.__all__)
    assert names == sorted(names)
    assert len(names) == len(set(names))


@pytest.mark.parametrize("name", clusterkit.__all__)
def test_every_name_in_all_exists(name: str) -> None:
    assert hasattr(clusterkit, name)


def test_star_import_gives_exactly_all() -> None:
    namespace: dict[str, object] = {}
    exec("from clusterkit import *", namespace)
    namespace.pop("__builtins__")
    assert set(namespace) == set(clusterkit.__all__)


def _own_doc(obj: object) -> str | None:
    if inspect.isclass(obj):
        return obj.__dict__.get("__doc__")  # a class's own docstring, not an inherited one
    return getattr(obj, "__doc__", None)


@pytest.mark.parametrize("name", clusterkit.__all__)
def test_every_public_name_has_a_docstring(name: str) -> None:
    obj = getattr(clusterkit, name)
    if inspect.isclass(obj) or inspect.isfunction(obj):
        doc = _own_doc(obj)
        assert doc and doc.strip(), f"clusterkit.{name} has no docstring"
    elif typing.get_origin(obj) is typing.Union:
        # A type alias cannot carry a docstring; each of its members must.
        for member in typing.get_args(obj):
            doc = _own_doc(member)
            assert doc and doc.strip(), f"{member.__name__} (in clusterkit.{name}) has no docstring"
    else:
        # Constants: their type is a documented clusterkit class or a builtin collection.
        assert isinstance(obj, (frozenset, tuple)) or _own_doc(type(obj))


@pytest.mark.parametrize("name", [n for n in clusterkit.__all__ if inspect.isclass(getattr(clusterkit, n))])
def test_public_methods_have_docstrings(name: str) -> None:
    cls = getattr(clusterkit, name)
    missing = []
    for attribute, member in vars(cls).items():
        if attribute.startswith("_"):
            continue
        target = member.fget if isinstance(member, property) else getattr(member, "__func__", member)
        if (inspect.isfunction(target) or isinstance(member, property)) and not (target.__doc__ or "").strip():
            missing.append(attribute)
    assert not missing, f"{name} has undocumented public members: {missing}"


@pytest.mark.parametrize(
    "module",
    [
        "clusterkit",
        "clusterkit.errors",
        "clusterkit.ecs_json",
        "clusterkit.model",
        "clusterkit.model._resources",
        "clusterkit.model._taskdef",
        "clusterkit.model._task",
        "clusterkit.model._instance",
        "clusterkit.model._service",
    ],
)
def test_modules_have_docstrings_and_consistent_all(module: str) -> None:
    imported = importlib.import_module(module)
    assert (imported.__doc__ or "").strip()
    exported = getattr(imported, "__all__", [])
    for name in exported:
        assert hasattr(imported, name), f"{module}.__all__ names missing {name}"


def test_py_typed_marker_exists() -> None:
    package = Path(clusterkit.__file__).parent
    assert (package / "py.typed").is_file()


def test_version() -> None:
    assert clusterkit.__version__ == "0.1.0"


# --- every face: private modules behind it, an exact __all__, one meaning per name ----------

PACKAGE_ROOT = Path(clusterkit.__file__).resolve().parent

PUBLIC_SUBMODULES = {
    "clusterkit.testing.strategies": "hypothesis strategies, used qualified as hypothesis.strategies is",
    "clusterkit.model.ecs_schema": "the ECS JSON schema tables, a namespace of constants",
    "clusterkit.executor.docker": "needs the docker extra, so the executor face cannot import it",
}
"""The only public modules inside a package, each a namespace by design."""


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


PACKAGE_FACES = sorted(_module_name(path) for path in PACKAGE_ROOT.rglob("__init__.py"))
"""clusterkit and each of its subpackages."""

TOP_MODULES = sorted(_module_name(path) for path in PACKAGE_ROOT.glob("*.py") if not path.name.startswith("_"))
"""The top-level modules (clusterkit.errors, clusterkit.ecs_json, ...): each its own face."""

ALL_FACES = [*PACKAGE_FACES, *TOP_MODULES, *PUBLIC_SUBMODULES]


def _bound_by_source(module: str) -> set[str]:
    """The public names a face's own source binds at module level: imports, definitions, assignments."""
    path = Path(importlib.import_module(module).__file__ or "")
    names: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ImportFrom) and node.module != "__future__":
            names.update(alias.asname or alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.asname or alias.name.partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(target.id for target in targets if isinstance(target, ast.Name))
    return {name for name in names if not name.startswith("_")}


def test_every_module_inside_a_package_is_private_but_the_allowed_namespaces() -> None:
    public = [
        name
        for path in sorted(PACKAGE_ROOT.rglob("*.py"))
        if path.parent != PACKAGE_ROOT and path.name != "__init__.py"
        for name in [_module_name(path)]
        if not path.stem.startswith("_") and name not in PUBLIC_SUBMODULES
    ]
    assert public == [], "make them private (_name.py) behind their package's face"
    for name in PUBLIC_SUBMODULES:
        assert importlib.util.find_spec(name) is not None, name


@pytest.mark.parametrize("face", PACKAGE_FACES)
def test_a_package_face_exports_exactly_its_public_names(face: str) -> None:
    module = importlib.import_module(face)
    assert (module.__doc__ or "").strip(), f"{face} has no docstring"
    exported = list(module.__all__)
    assert exported == sorted(exported), f"{face}.__all__ is not sorted"
    assert len(exported) == len(set(exported)), f"{face}.__all__ has duplicates"
    assert [name for name in exported if not hasattr(module, name)] == []
    assert sorted(_bound_by_source(face) - set(exported)) == [], f"{face} binds public names not in __all__"


@pytest.mark.parametrize("face", [*TOP_MODULES, *PUBLIC_SUBMODULES])
def test_a_module_face_exports_names_that_resolve(face: str) -> None:
    module = importlib.import_module(face)
    exported = list(module.__all__)
    assert len(exported) == len(set(exported))
    assert [name for name in exported if not hasattr(module, name)] == []


def test_no_public_name_means_two_things() -> None:
    homes: dict[str, list[tuple[str, object]]] = {}
    for face in ALL_FACES:
        module = importlib.import_module(face)
        for name in module.__all__:
            homes.setdefault(name, []).append((face, getattr(module, name)))
    twofold = {
        name: [face for face, _ in found] for name, found in homes.items() if len({id(obj) for _, obj in found}) > 1
    }
    assert twofold == {}


def test_the_top_level_shadows_no_standard_module() -> None:
    assert sorted(set(clusterkit.__all__) & set(sys.stdlib_module_names)) == []


def test_the_top_level_reaches_each_namespace() -> None:
    for part in ("api", "autoscaling", "balancing", "ecs_json", "errors", "executor", "model", "placement",
                 "query", "services", "state"):  # fmt: skip
        assert getattr(clusterkit, part) is importlib.import_module(f"clusterkit.{part}")


def test_a_package_attribute_named_like_a_module_is_the_public_name() -> None:
    # clusterkit.services.reconcile and clusterkit.autoscaling.decide are the functions; their
    # modules are private, so the attribute has one meaning whatever was imported first.
    from clusterkit.autoscaling import decide
    from clusterkit.services import reconcile

    importlib.import_module("clusterkit.services._reconcile")
    importlib.import_module("clusterkit.autoscaling._decide")
    assert inspect.isfunction(reconcile) and clusterkit.services.reconcile is reconcile
    assert inspect.isfunction(decide) and clusterkit.autoscaling.decide is decide


def _face_names() -> list[tuple[str, str]]:
    return [(face, name) for face in PACKAGE_FACES for name in
            importlib.import_module(face).__all__]  # fmt: skip


@pytest.mark.parametrize(("face", "name"), _face_names())
def test_every_name_a_face_exports_has_a_docstring(face: str, name: str) -> None:
    obj = getattr(importlib.import_module(face), name)
    if inspect.ismodule(obj):
        assert (obj.__doc__ or "").strip(), f"{face}.{name} has no docstring"
    elif inspect.isclass(obj) or inspect.isfunction(obj):
        assert (_own_doc(obj) or "").strip(), f"{face}.{name} has no docstring"


# --- the error tree -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("child", "parent"),
    [
        (clusterkit.ValidationError, ValueError),
        (clusterkit.ValidationError, clusterkit.ClusterkitError),
        (clusterkit.NotFoundError, LookupError),
        (clusterkit.NotFoundError, clusterkit.ClusterkitError),
        (clusterkit.ConflictError, clusterkit.ClusterkitError),
        (clusterkit.StaleVersionError, clusterkit.ConflictError),
        (clusterkit.QuerySyntaxError, clusterkit.ValidationError),
        (clusterkit.QuerySyntaxError, ValueError),
        (clusterkit.IllegalTransitionError, clusterkit.ValidationError),
        (clusterkit.SubscriptionOverflow, clusterkit.ClusterkitError),
        (clusterkit.StoreError, clusterkit.ClusterkitError),
        (clusterkit.ArgumentError, clusterkit.ValidationError),
        (clusterkit.ArgumentError, TypeError),
        (clusterkit.ArgumentError, ValueError),
        (clusterkit.WaiterError, clusterkit.ClusterkitError),
        (clusterkit.CommitOutcomeUnknown, clusterkit.StoreError),
        (clusterkit.ClusterkitError, Exception),
    ],
)
def test_error_tree(child: type, parent: type) -> None:
    assert issubclass(child, parent)


@pytest.mark.parametrize(
    ("error", "not_a"),
    [
        (clusterkit.NotFoundError, ValueError),
        (clusterkit.ConflictError, ValueError),
        (clusterkit.StaleVersionError, clusterkit.ValidationError),
        (clusterkit.ValidationError, LookupError),
        (clusterkit.StoreError, clusterkit.ConflictError),
        (clusterkit.CommitOutcomeUnknown, clusterkit.ConflictError),
        (clusterkit.ClusterkitError, ValueError),
    ],
)
def test_error_tree_has_no_extra_edges(error: type, not_a: type) -> None:
    assert not issubclass(error, not_a)


def test_every_error_is_exported() -> None:
    for name in errors.__all__:
        assert getattr(clusterkit, name) is getattr(errors, name)
        assert issubclass(getattr(errors, name), clusterkit.ClusterkitError)


def test_validation_error_names_field_and_value() -> None:
    error = clusterkit.ValidationError("containerDefinitions[0].memory", 4, "must be at least 6")
    assert (error.field, error.value, error.problem) == ("containerDefinitions[0].memory", 4, "must be at least 6")
    assert str(error) == "containerDefinitions[0].memory=4: must be at least 6"
    nested = clusterkit.ValidationError("memory", 4, "too small").within("containerDefinitions[0]")
    assert nested.field == "containerDefinitions[0].memory"
    assert str(nested) == "containerDefinitions[0].memory=4: too small"
    indexed = clusterkit.ValidationError("[2].hostPort", 0, "bad").within("portMappings")
    assert indexed.field == "portMappings[2].hostPort"
    assert clusterkit.ValidationError("", None, "bad").within("family").field == "family"


def test_within_keeps_the_subclass() -> None:
    error = clusterkit.IllegalTransitionError("lastStatus", "PENDING", "never moves back").within("tasks[0]")
    assert type(error) is clusterkit.IllegalTransitionError
    assert error.field == "tasks[0].lastStatus"


def test_long_values_are_truncated_in_messages() -> None:
    error = clusterkit.ValidationError("image", "x" * 500, "too long")
    message = str(error)
    assert len(message) < 200
    assert "..." in message
    assert error.value == "x" * 500


def test_other_error_messages() -> None:
    missing = clusterkit.NotFoundError("taskDefinition", "web:9")
    assert (missing.field, missing.value) == ("taskDefinition", "web:9")
    assert str(missing) == "taskDefinition='web:9': not found"
    stale = clusterkit.StaleVersionError("version", 3, current=5)
    assert stale.current == 5
    assert "5" in str(stale)
    query = clusterkit.QuerySyntaxError("attribute:x ==", 14, "a value")
    assert (query.field, query.value, query.position) == ("expression", "attribute:x ==", 14)
    overflow = clusterkit.SubscriptionOverflow(last_version=41, capacity=1000)
    assert (overflow.last_version, overflow.capacity) == (41, 1000)
    assert "41" in str(overflow)
    resynced = clusterkit.SubscriptionOverflow(last_version=41, capacity=1000, reason="etcd compacted its history")
    assert resynced.reason == "etcd compacted its history" and overflow.reason is None
    assert "compacted" in str(resynced) and "capacity" not in str(resynced)
    unknown = clusterkit.CommitOutcomeUnknown("0123abc", "timed out after 5s")
    assert (unknown.commit_id, unknown.reason) == ("0123abc", "timed out after 5s")
    assert "0123abc" in str(unknown) and "timed out after 5s" in str(unknown)


def test_the_reliable_commit_names_are_on_their_faces() -> None:
    from clusterkit import state

    for name in ("CLIENT_TOKEN_TTL", "ClientToken", "ResolvingStore", "TokenClaim", "fingerprint", "token_holder"):
        assert name in state.__all__, name
    assert "CommitOutcomeUnknown" in clusterkit.__all__ and "CommitOutcomeUnknown" in errors.__all__
    assert isinstance(state.CLIENT_TOKEN_TTL, float) and state.CLIENT_TOKEN_TTL > 0
    for call in (clusterkit.ClusterState.run_task, clusterkit.ClusterState.create_service):
        assert inspect.signature(call).parameters["client_token"].default is None
    assert "commit_id" in inspect.signature(clusterkit.ClusterState.resolve).parameters


def test_the_server_face_and_that_nothing_below_loads_it() -> None:
    import subprocess

    import clusterkit.server

    assert {"EcsApplication", "Clusters", "cluster_loops", "serve_threaded"} <= set(clusterkit.server.__all__)
    assert issubclass(clusterkit.server.ApiError, clusterkit.ClusterkitError)
    # botocore (the server extra) is read only when an EcsApplication is made, and nothing in
    # the package below the server imports it.
    probe = "import sys, clusterkit, clusterkit.cli, clusterkit.server; print(sorted({'botocore'} & set(sys.modules)))"
    shown = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=PACKAGE_ROOT.parent
    )
    assert shown.stdout.strip() == "[]"
    loaded = "import sys, clusterkit; print('clusterkit.server' in sys.modules)"
    assert (
        subprocess.run([sys.executable, "-c", loaded], capture_output=True, text=True, check=True).stdout.strip()
        == "False"
    )
