"""Write clusterkit/model/_ecs_shapes.py: the ECS API shapes of task definitions, as data.

clusterkit checks task definition JSON against ECS's own API model (field names, types,
enums, required members) without depending on botocore at run time: this script copies the
shapes it needs out of botocore's ECS service model into a plain Python module. Run it after
upgrading botocore (a dev dependency) to pick up new ECS fields:

    python scripts/gen_ecs_shapes.py          # rewrite the module
    python scripts/gen_ecs_shapes.py --check  # exit 1 if the module differs from botocore's model

Only the shapes reachable from RegisterTaskDefinition's input and DescribeTaskDefinition's
output are copied, and of each only what the checks use: its type, a structure's members and
required members, a list's member, a map's key and value, a string's enum.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import botocore
import botocore.session
from botocore.model import ListShape, MapShape, Shape, StringShape, StructureShape

ROOTS = ("RegisterTaskDefinitionRequest", "TaskDefinition", "DescribeTaskDefinitionResponse")
TARGET = Path(__file__).resolve().parent.parent / "clusterkit" / "model" / "_ecs_shapes.py"

HEADER = '''"""ECS API shapes of task definitions, copied from the ECS service model (generated).

Do not edit: ``python scripts/gen_ecs_shapes.py`` writes this module from botocore {version}'s
ECS model (API version {api_version}), starting from these shapes:
{roots}.

Each shape is a dict with its ``type`` (structure, list, map, string, integer, long,
boolean, double, float, timestamp) and: for a structure, ``members`` (name → shape name)
and ``required``; for a list, ``member``; for a map, ``key`` and ``value``; for a string with
a fixed set of values, ``enum``.
"""

from typing import Any, Final

API_VERSION: Final = "{api_version}"
"""The ECS API version the shapes come from."""
BOTOCORE_VERSION: Final = "{version}"
"""The botocore release whose ECS model they were copied from."""

SHAPES: Final[dict[str, dict[str, Any]]] = '''


def _copy(shape: Shape, into: dict[str, dict[str, Any]]) -> None:
    if shape.name in into:
        return
    entry: dict[str, Any] = {"type": shape.type_name}
    into[shape.name] = entry
    children: list[Shape] = []
    if isinstance(shape, StructureShape):
        entry["members"] = {name: member.name for name, member in shape.members.items()}
        entry["required"] = list(shape.required_members)
        children = list(shape.members.values())
    elif isinstance(shape, ListShape):
        entry["member"] = shape.member.name
        children = [shape.member]
    elif isinstance(shape, MapShape):
        entry["key"] = shape.key.name
        entry["value"] = shape.value.name
        children = [shape.key, shape.value]
    elif isinstance(shape, StringShape) and shape.enum:
        entry["enum"] = list(shape.enum)
    for child in children:
        _copy(child, into)


def collect() -> dict[str, dict[str, Any]]:
    """The shapes, from the installed botocore's ECS model, by name."""
    model = botocore.session.get_session().get_service_model("ecs")
    shapes: dict[str, dict[str, Any]] = {}
    for root in ROOTS:
        _copy(model.shape_for(root), shapes)
    return shapes


def render() -> str:
    """The module's text, from the installed botocore's ECS model."""
    model = botocore.session.get_session().get_service_model("ecs")
    shapes = collect()
    header = HEADER.format(
        version=botocore.__version__, api_version=model.api_version, roots=",\n".join(f"``{r}``" for r in ROOTS)
    )
    body = json.dumps(dict(sorted(shapes.items())), indent=4)
    formatted = subprocess.run(  # the repository's own style: ruff is a dev dependency
        [sys.executable, "-m", "ruff", "format", "--stdin-filename", str(TARGET), "-"],
        input=header + body + "\n",
        capture_output=True,
        text=True,
        check=True,
    )
    return formatted.stdout


def main() -> int:
    """Write the module, or with ``--check`` say whether it is current."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 when the module is out of date")
    args = parser.parse_args()
    text = render()
    if args.check:
        current = TARGET.read_text(encoding="utf-8") if TARGET.exists() else ""
        # The header names the botocore version; compare the shapes themselves.
        same = current.split("SHAPES:", 1)[-1] == text.split("SHAPES:", 1)[-1]
        print(f"{TARGET} is {'current' if same else 'out of date: run scripts/gen_ecs_shapes.py'}")
        return 0 if same else 1
    TARGET.write_text(text, encoding="utf-8")
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
