"""Shared helpers for the benchmarks: timing, percentiles, RSS and the report format.

Every benchmark prints readable lines first and, as the very last line of stdout, one JSON
object with exactly the keys ``name``, ``value``, ``unit``, ``target``, ``baseline`` and
``ratio`` (see :func:`finish`). ``target`` is a string such as ``">= 50000"`` or
``"<= 1.5"``: the comparison ``value`` must pass.
"""

from __future__ import annotations

import gc
import importlib
import json
import math
import re
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Final

__all__ = [
    "MIB",
    "GcTimer",
    "finish",
    "gc_paused",
    "heading",
    "line",
    "meets",
    "percentile",
    "rss_bytes",
    "summary_ns",
    "timed",
]

MIB: Final = 1024 * 1024
_TARGET: Final = re.compile(r"\s*(<=|>=|<|>)\s*([-+0-9.eE]+)\s*")


def percentile(samples: Sequence[float], pct: float) -> float:
    """The ``pct``-th percentile (0..100) of ``samples``, linearly interpolated."""
    if not samples:
        raise ValueError("percentile of no samples")
    ordered = sorted(samples)
    rank = (len(ordered) - 1) * pct / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary_ns(samples_ns: Sequence[float]) -> dict[str, float]:
    """p50, p90, p99 and max of latency samples given in nanoseconds, in microseconds."""
    return {
        "p50": percentile(samples_ns, 50) / 1000,
        "p90": percentile(samples_ns, 90) / 1000,
        "p99": percentile(samples_ns, 99) / 1000,
        "max": max(samples_ns) / 1000,
    }


def timed(function: Callable[[], object]) -> float:
    """Seconds one call of ``function`` takes (perf_counter)."""
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


@contextmanager
def gc_paused() -> Iterator[None]:
    """Collect, then keep the cyclic GC off for the measurement window."""
    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class GcTimer:
    """Time the cyclic GC spends, by generation, while in the ``with`` block (gc.callbacks)."""

    def __init__(self) -> None:
        self.seconds = [0.0, 0.0, 0.0]
        self.collections = [0, 0, 0]
        self._started = 0.0

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            generation = info["generation"]
            self.seconds[generation] += time.perf_counter() - self._started
            self.collections[generation] += 1

    def __enter__(self) -> GcTimer:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._callback)

    @property
    def total(self) -> float:
        """Seconds in all generations."""
        return sum(self.seconds)

    def describe(self) -> str:
        """``2.1 s (gen2: 1.9 s in 12 collections)``."""
        return f"{self.total:.1f} s in GC (full collections: {self.seconds[2]:.1f} s, {self.collections[2]} of them)"


def rss_bytes() -> int:
    """This process's resident set size (psutil)."""
    psutil: Any = importlib.import_module("psutil")  # psutil ships no type hints
    rss: int = psutil.Process().memory_info().rss
    return rss


def heading(text: str) -> None:
    """Print a section heading."""
    print(f"\n== {text}", flush=True)


def line(label: str, value: object, unit: str = "", note: str = "") -> None:
    """Print one aligned report line: ``label ...... value unit  (note)``."""
    shown = f"{value:,.2f}" if isinstance(value, float) else (f"{value:,}" if isinstance(value, int) else str(value))
    text = f"  {label:<52} {shown:>14} {unit}".rstrip()
    if note:
        text += f"  ({note})"
    print(text, flush=True)


def meets(value: float, target: str) -> bool:
    """True when ``value`` passes ``target`` (``">= 50000"``, ``"<= 1.5"`` …)."""
    match = _TARGET.fullmatch(target)
    if match is None:
        raise ValueError(f"target {target!r} is not of the form '>= NUMBER' or '<= NUMBER'")
    operator, bound = match.group(1), float(match.group(2))
    return {
        "<=": value <= bound,
        ">=": value >= bound,
        "<": value < bound,
        ">": value > bound,
    }[operator]


def _rounded(value: float | None) -> float | None:
    if value is None:
        return None
    if value == 0 or not math.isfinite(value):
        return value
    digits = max(0, 4 - math.floor(math.log10(abs(value))))
    return round(value, digits)


def finish(
    name: str,
    value: float,
    unit: str,
    target: str,
    baseline: float | None = None,
    ratio: float | None = None,
) -> dict[str, Any]:
    """Print the verdict line, then the result JSON as the very last line of stdout.

    ``baseline`` is the same figure for the comparison implementation, measured in the
    same run; ``ratio`` is ``value`` relative to it (each benchmark says which way).
    """
    verdict = "PASS" if meets(value, target) else "FAIL"
    extra = ""
    if baseline is not None:
        extra += f", baseline {_rounded(baseline)} {unit}"
    if ratio is not None:
        extra += f", ratio {_rounded(ratio)}"
    print(f"\nRESULT {name}: {_rounded(value)} {unit} (target {target}: {verdict}{extra})")
    result: dict[str, Any] = {
        "name": name,
        "value": _rounded(value),
        "unit": unit,
        "target": target,
        "baseline": _rounded(baseline),
        "ratio": _rounded(ratio),
    }
    sys.stdout.flush()
    print(json.dumps(result), flush=True)
    return result
