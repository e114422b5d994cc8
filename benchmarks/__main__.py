"""``python -m benchmarks NAME [options]`` runs one benchmark; ``--list`` names them all."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

from benchmarks import BENCHMARKS

USAGE = "usage: python -m benchmarks --list | NAME [--quick] [options]  (NAME --help for its options)"


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(USAGE)
        print("benchmarks: " + ", ".join(BENCHMARKS))
        return 0 if args else 2
    if args[0] == "--list":
        width = max(map(len, BENCHMARKS)) + 2
        for listed, path in BENCHMARKS.items():
            description = getattr(importlib.import_module(path), "DESCRIPTION", "")
            print(f"{listed:<{width}}{description}")
        return 0
    name, rest = args[0], args[1:]
    module_name = BENCHMARKS.get(name)
    if module_name is None:
        print(f"unknown benchmark {name!r}; one of: {', '.join(BENCHMARKS)}", file=sys.stderr)
        return 2
    module = importlib.import_module(module_name)
    status: int = module.main(rest)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
