"""Every ```python block of the docs runs, and prints what the ```text block after it shows.

Blocks run in order, one namespace per page, in a scratch directory. Code that needs a real
service (a Docker engine) is fenced ```py instead: shown, not run here; the examples it
comes from run in CI. Ids (32 hex digits) and
page tokens are masked, since they differ per run. ``--8<-- "path"`` includes a repository file,
as the docs site does.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]
FENCE = re.compile(r"^```([^\n]*)\n(.*?)^```[ \t]*$", re.S | re.M)
SNIPPET = re.compile(r'^--8<-- "([^"]+)"$', re.M)
MASKS = ((re.compile(r"\b[0-9a-f]{32}\b"), "<id>"), (re.compile(r"next_token='[A-Za-z0-9_-]+'"), "next_token='<t>'"))


def _normal(text: str) -> str:
    for pattern, replacement in MASKS:
        text = pattern.sub(replacement, text)
    return "\n".join(line.rstrip() for line in text.strip("\n").splitlines())


@pytest.mark.parametrize("page", PAGES, ids=[page.name for page in PAGES])
def test_page_examples_run_and_print_what_the_page_shows(
    page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = page.read_text(encoding="utf-8")
    fences = list(FENCE.finditer(source))
    namespace: dict[str, object] = {"__name__": "__docs__"}
    monkeypatch.chdir(tmp_path)
    problems = []
    for index, fence in enumerate(fences):
        if not fence.group(1).strip().startswith("python"):
            continue
        code = SNIPPET.sub(lambda match: (ROOT / match.group(1)).read_text(encoding="utf-8"), fence.group(2))
        line = source[: fence.start()].count("\n") + 1
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            exec(compile(code, f"{page.name}:{line}", "exec"), namespace)  # the docs' own examples
        following = fences[index + 1] if index + 1 < len(fences) else None
        shown = (
            following is not None
            and following.group(1).strip().startswith("text")
            and not source[fence.end() : following.start()].strip()
        )
        if shown and following is not None and _normal(following.group(2)) != _normal(printed.getvalue()):
            problems.append(f"{page.name}:{line} prints\n{printed.getvalue()}\ninstead of\n{following.group(2)}")
    assert not problems, "\n\n".join(problems)
    assert os.getcwd() == str(tmp_path)
