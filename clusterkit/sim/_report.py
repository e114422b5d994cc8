"""Compare policies on one workload and write the report a person reads at a glance.

``compare(workload, policies)`` runs each policy on the same events and seed;
``write_report(runs, folder)`` writes four plots as PNG (utilisation over time, instances
in use, the pending queue, the CDF of the batch tasks' wait), ``report.md`` (a table of the
headline figures side by side, and the plots), ``report.html`` (the same with the plots
embedded, one file to send around) and ``metrics.json`` (every figure of every run).
Plots need matplotlib (the ``sim`` extra).
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from clusterkit.errors import ValidationError
from clusterkit.sim._metrics import RunMetrics
from clusterkit.sim._run import SchedulingPolicy, simulate
from clusterkit.sim._workload import WorkloadEvent

__all__ = ["PLOTS", "compare", "summary_table", "write_report"]

PLOTS: tuple[tuple[str, str], ...] = (
    ("utilisation.png", "CPU and memory allocated / registered over time"),
    ("instances.png", "Instances in use over time"),
    ("pending.png", "Batch tasks waiting over time"),
    ("wait_cdf.png", "CDF of the batch tasks' wait for a placement"),
)
"""The report's plots: file name and caption."""


def compare(
    workload: Sequence[WorkloadEvent],
    policies: Sequence[SchedulingPolicy],
    *,
    seed: int = 0,
    until: float | None = None,
    progress: Callable[[str, float], None] | None = None,
) -> list[RunMetrics]:
    """Run every policy on ``workload`` with ``seed``; ``progress(policy name, simulated seconds)``."""
    names = [policy.name for policy in policies]
    if len(set(names)) != len(names):
        raise ValidationError("policies", names, "each policy needs a name of its own")
    runs = []
    for policy in policies:
        report = None if progress is None else (lambda now, name=policy.name: progress(name, now))
        runs.append(simulate(workload, policy, seed=seed, until=until, progress=report))
    return runs


def summary_table(runs: Sequence[RunMetrics]) -> tuple[list[str], list[list[str]]]:
    """The headline figures side by side: a header (``figure``, then each policy) and one row per figure, as text."""
    summaries = [run.summary() for run in runs]
    header = ["figure", *(str(summary.pop("policy")) for summary in summaries)]
    rows = [[name, *(_show(summary[name]) for summary in summaries)] for name in summaries[0]]
    return header, rows


def _show(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1e5 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _plots(runs: Sequence[RunMetrics], folder: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def figure(name: str, title: str, ylabel: str, draw: Callable[[Any], None], xlabel: str = "time (s)") -> None:
        fig, axes = plt.subplots(figsize=(8, 4), dpi=100)
        draw(axes)
        axes.set_title(title)
        axes.set_xlabel(xlabel)
        axes.set_ylabel(ylabel)
        axes.grid(alpha=0.3)
        axes.legend(loc="best", fontsize="small")
        fig.tight_layout()
        fig.savefig(folder / name, metadata={"Software": None})
        plt.close(fig)

    def utilisation(axes: Any) -> None:
        for run in runs:
            times = [sample.time for sample in run.samples]
            (line,) = axes.plot(times, [s.cpu_utilisation for s in run.samples], label=f"{run.policy} CPU")
            axes.plot(times, [s.memory_utilisation for s in run.samples], "--", color=line.get_color(),
                      label=f"{run.policy} memory")  # fmt: skip
        axes.set_ylim(0, 1.05)

    def series(attribute: str) -> Callable[[Any], None]:
        def draw(axes: Any) -> None:
            for run in runs:
                axes.step([s.time for s in run.samples], [getattr(s, attribute) for s in run.samples], where="post",
                          label=run.policy)  # fmt: skip

        return draw

    def cdf(axes: Any) -> None:
        for run in runs:
            if run.wait_cdf:
                axes.plot(run.wait_cdf, [step / 100 for step in range(101)], label=run.policy)
        axes.set_ylim(0, 1.02)

    captions = dict(PLOTS)
    figure("utilisation.png", captions["utilisation.png"], "fraction", utilisation)
    figure("instances.png", captions["instances.png"], "instances", series("instances_in_use"))
    figure("pending.png", captions["pending.png"], "tasks", series("pending_tasks"))
    figure("wait_cdf.png", captions["wait_cdf.png"], "fraction of tasks", cdf, xlabel="wait (s)")


def _figure(path: Path, caption: str) -> str:
    """A figure with the PNG at ``path`` embedded as a data URL."""
    data = base64.b64encode(path.read_bytes()).decode()
    text = html.escape(caption)
    return f'<figure><img alt="{text}" src="data:image/png;base64,{data}"><figcaption>{text}</figcaption></figure>'


def write_report(runs: Sequence[RunMetrics], folder: str | Path, *, title: str = "clusterkit simulation") -> Path:
    """Write plots, ``report.md``, ``report.html`` and ``metrics.json`` into ``folder``; returns the HTML's path."""
    if not runs:
        raise ValidationError("runs", runs, "give at least one run to report")
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    _plots(runs, out)
    header, rows = summary_table(runs)
    (out / "metrics.json").write_text(json.dumps([json.loads(run.to_json()) for run in runs], indent=1) + "\n")
    markdown = [f"# {title}", "", f"Seed {runs[0].seed}; simulated {runs[0].duration:,.0f} s.", ""]
    markdown.append("| " + " | ".join(header) + " |")
    markdown.append("|" + "---|" * len(header))
    markdown.extend("| " + " | ".join(row) + " |" for row in rows)
    markdown.append("")
    for name, caption in PLOTS:
        markdown.extend([f"![{caption}]({name})", ""])
    (out / "report.md").write_text("\n".join(markdown))
    cells = "".join(f"<th>{html.escape(cell)}</th>" for cell in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>" for row in rows)
    figures = "".join(_figure(out / name, caption) for name, caption in PLOTS)
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; margin-bottom: 2em; }}
th, td {{ border: 1px solid #bbb; padding: 0.3em 0.8em; text-align: right; }}
th:first-child, td:first-child {{ text-align: left; }}
figure {{ display: inline-block; margin: 0 1em 1em 0; }}
img {{ max-width: 100%; }}
</style></head>
<body><h1>{html.escape(title)}</h1>
<p>Seed {runs[0].seed}; simulated {runs[0].duration:,.0f} s.</p>
<table><thead><tr>{cells}</tr></thead><tbody>{body}</tbody></table>
{figures}
</body></html>
"""
    path = out / "report.html"
    path.write_text(page)
    return path
