"""The ``clusterkit`` command: simulate policies on a workload, make workloads, inspect a cluster.

::

    clusterkit simulate WORKLOAD --policy binpack --policy spread --policy mypkg.module:MyScheduler --out report/
    clusterkit workload generate OUT.jsonl --seed 7 --duration 3600 --instances 50
    clusterkit workload convert TRACE_FOLDER OUT.jsonl --format alibaba-2018
    clusterkit workload check WORKLOAD
    clusterkit inspect STATE.json
    clusterkit inspect --etcd http://127.0.0.1:12379 --prefix /clusterkit/prod --cluster prod
    clusterkit serve --port 8080 --executor fake --instances 3 --scheduler mypkg.module:MyScheduler
    clusterkit agent --config /etc/clusterkit/agent.toml          # one per host (see _processes)
    clusterkit controller --config /etc/clusterkit/controller.toml  # two or three per cluster

Exit codes: 0 done; 1 a run-time failure (an output folder that cannot be written, a store
that does not answer); 2 bad input (a workload line, a policy that cannot be imported, a
bad option), with a message that names the line, field or value.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import click

from clusterkit.cli._processes import agent, controller
from clusterkit.errors import ClusterkitError, StoreError, ValidationError
from clusterkit.model import DEFAULT_STRATEGY, PlacementStrategy, binpack, random, spread
from clusterkit.placement import BaseScheduler
from clusterkit.sim import (
    RunMetrics,
    SchedulingPolicy,
    Shape,
    WorkloadError,
    WorkloadEvent,
    WorkloadSpec,
    generate_workload,
    read_alibaba_2018,
    read_google_2011,
    read_workload,
    write_workload,
)

__all__ = ["BUILT_IN_POLICIES", "BadInputExit", "load_policy", "load_workload", "main"]

_ZONE_SPREAD = spread("attribute:ecs.availability-zone")
BUILT_IN_POLICIES: dict[str, tuple[PlacementStrategy, ...]] = {
    "binpack": (binpack("memory"),),
    "binpack-cpu": (binpack("cpu"),),
    "spread": (_ZONE_SPREAD, spread("instanceId")),
    "random": (random(),),
    "ecs-default": DEFAULT_STRATEGY,
}
"""The policies ``--policy`` knows by name: clusterkit's BaseScheduler with these strategies."""

FORMATS = ("jsonl", "alibaba-2018", "google-2011")


def load_policy(text: str, *, schedulers: int = 1, decision_time: float = 0.0, seed: int = 0) -> SchedulingPolicy:
    """A policy from ``--policy``: a built-in name, or ``module:Name`` naming a Scheduler class,
    a function returning a Scheduler or SchedulingPolicy, or a SchedulingPolicy.

    Raises ValidationError (field ``policy``) when it cannot be found or is not one of those.
    """
    strategies = BUILT_IN_POLICIES.get(text)
    options: dict[str, Any] = {"schedulers": schedulers, "decision_time": decision_time}
    if strategies is not None:
        return SchedulingPolicy(text, BaseScheduler(seed=seed), strategies, **options)
    module_name, _, attribute = text.partition(":")
    if not module_name or not attribute:
        known = ", ".join(sorted(BUILT_IN_POLICIES))
        raise ValidationError("policy", text, f"give a built-in policy ({known}) or module:Name")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # as `python -m` does: the user's own modules import
    try:
        found: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError) as error:
        raise ValidationError("policy", text, f"cannot be imported: {error}") from None
    except Exception as error:  # the user's module failed while it was imported: a syntax error, ...
        raise ValidationError("policy", text, f"cannot be imported: {_one_line(error)}") from None
    if isinstance(found, SchedulingPolicy):
        return found
    try:
        made = found() if callable(found) else found
    except Exception as error:  # a class that needs arguments, a factory that fails
        raise ValidationError("policy", text, f"cannot be built without arguments: {_one_line(error)}") from None
    if isinstance(made, SchedulingPolicy):
        return made
    if not callable(getattr(made, "place", None)):
        raise ValidationError("policy", text, "is neither a SchedulingPolicy nor a Scheduler (an object with place())")
    return SchedulingPolicy(attribute, made, DEFAULT_STRATEGY, **options)


def _one_line(error: BaseException) -> str:
    """``Kind: message`` on one line (a SyntaxError names its file and line)."""
    if isinstance(error, SyntaxError):
        return f"SyntaxError: {error.msg} ({error.filename}, line {error.lineno})"
    return f"{type(error).__name__}: {error}".replace("\n", " ")


def load_workload(path: str | Path, format: str | None = None) -> list[WorkloadEvent]:
    """A workload from a JSON Lines file or a trace folder (``format`` guessed when None)."""
    source = Path(path)
    if format is None:
        if source.is_dir():
            format = "google-2011" if (source / "machine_events").exists() else "alibaba-2018"
        else:
            format = "jsonl"
    if format == "jsonl":
        return list(read_workload(source))
    if format == "alibaba-2018":
        return read_alibaba_2018(source)
    if format == "google-2011":
        return read_google_2011(source)
    raise ValidationError("format", format, f"must be one of {list(FORMATS)}")


class BadInputExit(click.ClickException):
    """Bad input (a workload line, a policy, a state file): exit code 2."""

    exit_code = 2


def _fail(error: ClusterkitError) -> click.ClickException:
    """Bad input: exit 2 with the error's own words."""
    return BadInputExit(str(error))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="clusterkit")
def main() -> None:
    """clusterkit: simulate scheduling policies, make workloads, inspect clusters, run agents and controllers."""


@main.command()
@click.argument("workload", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--policy",
    "policies",
    multiple=True,
    default=("binpack", "spread"),
    show_default=True,
    help="A built-in policy (binpack, binpack-cpu, spread, random, ecs-default) or module:Name; repeat it.",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=Path("report"),
    show_default=True,
    help="Folder for the report (created).",
)
@click.option(
    "--format",
    "workload_format",
    type=click.Choice(FORMATS),
    default=None,
    help="The workload's format (guessed: a file is jsonl, a folder a trace).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="The run's seed.")
@click.option("--until", type=float, default=None, help="Stop at this many simulated seconds.")
@click.option(
    "--schedulers",
    type=click.IntRange(1),
    default=1,
    show_default=True,
    help="Schedulers sharing the cluster, per policy.",
)
@click.option(
    "--decision-time",
    type=click.FloatRange(0),
    default=0.0,
    show_default=True,
    help="Simulated seconds between a scheduler's snapshot and its commit.",
)
def simulate(
    workload: Path,
    policies: Sequence[str],
    out: Path,
    workload_format: str | None,
    seed: int,
    until: float | None,
    schedulers: int,
    decision_time: float,
) -> None:
    """Run each policy on WORKLOAD in simulated time and write a report comparing them."""
    try:
        import matplotlib  # noqa: F401  (the report's plots: fail now, not after the runs)
    except ImportError:
        raise click.ClickException("clusterkit simulate needs the sim extra: pip install 'clusterkit[sim]'") from None
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from clusterkit.sim import compare, write_report

    console = Console()
    try:
        events = load_workload(workload, workload_format)
        chosen = [load_policy(text, schedulers=schedulers, decision_time=decision_time, seed=seed) for text in policies]
    except ClusterkitError as error:
        raise _fail(error) from None
    _check_writable(out)
    end = until if until is not None else max((event.at for event in events), default=0.0)
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[now]}"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        bars = {policy.name: progress.add_task(policy.name, total=max(end, 1.0), now="") for policy in chosen}

        def report(name: str, now: float) -> None:
            progress.update(bars[name], completed=min(now, end), now=f"{now:,.0f} s")

        try:
            runs = compare(events, chosen, seed=seed, until=until, progress=report)
        except ClusterkitError as error:
            raise _fail(error) from None
        for bar in bars.values():
            progress.update(bar, completed=max(end, 1.0))
    try:
        page = write_report(runs, out, title=f"clusterkit simulation of {workload.name}")
    except OSError as error:
        raise click.ClickException(f"cannot write the report to {out}: {error.strerror}") from None
    console.print(_summary_table(runs))
    console.print(f"report: {page}")


def _check_writable(out: Path) -> None:
    """Fail early (exit 1) when ``out`` cannot be created or written."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".clusterkit-write-check"
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        raise click.ClickException(f"cannot write to the output folder {out}: {error.strerror}") from None


def _summary_table(runs: Sequence[RunMetrics]) -> Any:
    from rich.table import Table

    from clusterkit.sim import summary_table

    header, rows = summary_table(runs)
    table = Table(title="Simulation summary")
    table.add_column(header[0])
    for policy in header[1:]:
        table.add_column(policy, justify="right")
    for row in rows:
        table.add_row(*row)
    return table


@main.group()
def workload() -> None:
    """Make, convert and check workload files."""


@workload.command()
@click.argument("out", type=click.Path(path_type=Path))
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--duration",
    type=click.FloatRange(min=0, min_open=True),
    default=3600.0,
    show_default=True,
    help="Seconds of arrivals.",
)
@click.option("--instances", type=click.IntRange(0), default=10, show_default=True)
@click.option("--instance-cpu", type=click.IntRange(1), default=4096, show_default=True, help="CPU units each.")
@click.option("--instance-memory", type=click.IntRange(1), default=16384, show_default=True, help="MiB each.")
@click.option(
    "--arrival-rate",
    type=click.FloatRange(0),
    default=0.5,
    show_default=True,
    help="Batch tasks per second, on average.",
)
@click.option(
    "--mean-duration",
    type=click.FloatRange(min=0, min_open=True),
    default=300.0,
    show_default=True,
    help="Mean seconds a batch task runs.",
)
@click.option(
    "--diurnal-amplitude",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    help="How much the daily curve swings the arrival rate and the services' load.",
)
@click.option("--services", type=click.IntRange(0), default=0, show_default=True)
@click.option(
    "--crash-rate", type=click.FloatRange(0), default=0.0, show_default=True, help="Crashes per service task-hour."
)
@click.option(
    "--instance-failure-rate",
    type=click.FloatRange(0),
    default=0.0,
    show_default=True,
    help="Failures per instance-hour.",
)
@click.option(
    "--shape",
    "shapes",
    multiple=True,
    metavar="CPU:MEMORY[:WEIGHT[:FAMILY]]",
    help="A batch task shape in the mixture, with its weight (1) and the family its tasks run as"
    " (batch-CPU-MEMORY); repeat for several. Default: 256:512:3, 512:1024:2, 1024:2048:1.",
)
@click.option(
    "--attribute",
    "attributes",
    multiple=True,
    metavar="NAME=V1,V2,...",
    help="Label the instances: instance i gets NAME = the (i mod n)th value; repeat for several.",
)
def generate(out: Path, shapes: tuple[str, ...], attributes: tuple[str, ...], **options: Any) -> None:
    """Write a synthetic workload to OUT (JSON Lines)."""
    try:
        if shapes:
            options["shapes"] = tuple(_shape(text) for text in shapes)
        options["instance_attributes"] = tuple(_attribute(text) for text in attributes)
        events = generate_workload(WorkloadSpec(**options))
    except ClusterkitError as error:
        raise _fail(error) from None
    _write(events, out)


def _shape(text: str) -> Shape:
    """``CPU:MEMORY[:WEIGHT[:FAMILY]]`` as a Shape; a ValidationError naming ``--shape`` otherwise."""
    parts = text.split(":")
    try:
        if not 2 <= len(parts) <= 4:
            raise ValueError
        cpu, memory = int(parts[0]), int(parts[1])
        weight = float(parts[2]) if len(parts) > 2 and parts[2] else 1.0
    except ValueError:
        raise ValidationError("--shape", text, "must be CPU:MEMORY[:WEIGHT[:FAMILY]], e.g. 512:1024:2:etl") from None
    family = parts[3] if len(parts) == 4 and parts[3] else None
    return Shape(cpu, memory, weight, family)


def _attribute(text: str) -> tuple[str, tuple[str, ...]]:
    """``NAME=V1,V2,...`` as a name and its values; a ValidationError naming ``--attribute`` otherwise."""
    name, equals, values = text.partition("=")
    if not name or not equals or not all(values.split(",")):
        raise ValidationError("--attribute", text, "must be NAME=V1,V2,..., e.g. tier=gold,std,std")
    return name, tuple(values.split(","))


@workload.command()
@click.argument("trace", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("out", type=click.Path(path_type=Path))
@click.option("--format", "trace_format", type=click.Choice(FORMATS[1:]), required=True)
def convert(trace: Path, out: Path, trace_format: str) -> None:
    """Turn a public trace folder into a workload file OUT."""
    try:
        events = load_workload(trace, trace_format)
    except ClusterkitError as error:
        raise _fail(error) from None
    _write(events, out)


def _write(events: Sequence[WorkloadEvent], out: Path) -> None:
    try:
        count = write_workload(events, out)
    except OSError as error:
        raise click.ClickException(f"cannot write {out}: {error.strerror}") from None
    click.echo(f"{count} events written to {out}")


@workload.command()
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--format", "workload_format", type=click.Choice(FORMATS), default=None)
def check(path: Path, workload_format: str | None) -> None:
    """Read a workload, report its first bad line (exit 2) or count its events by type."""
    try:
        events = load_workload(path, workload_format)
    except WorkloadError as error:
        raise _fail(error) from None
    counts: dict[str, int] = {}
    for event in events:
        counts[event.TYPE] = counts.get(event.TYPE, 0) + 1
    last = max((event.at for event in events), default=0.0)
    click.echo(f"{len(events)} events over {last:,.0f} s")
    for name, count in sorted(counts.items()):
        click.echo(f"  {name}: {count}")


@main.command()
@click.argument("state_file", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--etcd", "endpoints", multiple=True, help="An etcd member's client URL (repeat it for each).")
@click.option("--prefix", default=None, help="The cluster's etcd key prefix (default /clusterkit/CLUSTER).")
@click.option("--cluster", default="default", show_default=True, help="The cluster's name, with --etcd.")
@click.option("--json", "as_json", is_flag=True, help="Print ECS describe output as one JSON document instead.")
def inspect(state_file: Path | None, endpoints: Sequence[str], prefix: str | None, cluster: str, as_json: bool) -> None:
    """Show a cluster's instances, tasks and services as tables: from a save file or from etcd.

    Rows come in a stable order (instances and tasks by id, services by name); piped, ids
    are printed whole.
    """
    from rich.console import Console

    if (state_file is None) == (not endpoints):
        raise click.UsageError("give a STATE_FILE or --etcd URL, one of the two")
    with _opened(state_file, endpoints, prefix, cluster) as snapshot:
        if endpoints and _holds_nothing(snapshot):
            where = prefix or f"/clusterkit/{cluster}"
            raise BadInputExit(
                f"etcd prefix {where} holds no cluster (no instances, task definitions, tasks or services)"
            )
        if as_json:
            click.echo(json.dumps(_inspect_document(snapshot), indent=2, sort_keys=True))
            return
        console = Console() if sys.stdout.isatty() else Console(width=100_000)  # piped: never cut an id
        console.print(*_inspect_tables(snapshot))


def _holds_nothing(snapshot: Any) -> bool:
    return not (
        snapshot.instance_count
        or snapshot.task_count
        or any(True for _ in snapshot.task_definitions())
        or any(True for _ in snapshot.services())
    )


def _inspect_document(snapshot: Any) -> dict[str, Any]:
    """The cluster as ECS describe output: ``{cluster, version, containerInstances, tasks, services}``."""
    return {
        "cluster": snapshot.cluster_name,
        "version": snapshot.version,
        "containerInstances": [snapshot.dump_instance(i) for i in _by_id(snapshot.instances())],
        "tasks": [snapshot.dump_task(task) for task in _by_id(snapshot.tasks())],
        "services": [snapshot.dump_service(s) for s in snapshot.services()],
    }


def _by_id(records: Any) -> list[Any]:
    return sorted(records, key=lambda record: record.id)


@contextlib.contextmanager
def _opened(state_file: Path | None, endpoints: Sequence[str], prefix: str | None, cluster: str) -> Iterator[Any]:
    """The snapshot of a save file or of an etcd cluster; the etcd store is closed afterwards."""
    from clusterkit.api import ClusterState
    from clusterkit.state import EtcdStore

    store: EtcdStore | None = None
    try:
        if state_file is not None:
            snapshot = ClusterState.restore(state_file).snapshot()
        else:
            store = EtcdStore(list(endpoints), prefix=prefix or f"/clusterkit/{cluster}")
            snapshot = ClusterState(cluster, store=store).snapshot()
    except StoreError as error:
        raise click.ClickException(str(error)) from None
    except ClusterkitError as error:
        raise _fail(error) from None
    try:
        yield snapshot
    finally:
        if store is not None:
            store.close()


def _inspect_tables(snapshot: Any) -> Iterator[Any]:
    from rich.table import Table

    instances = Table(title=f"Container instances of {snapshot.cluster_name} (version {snapshot.version})")
    for column in ("id", "status", "agent", "CPU free/registered", "memory free/registered", "running", "pending"):
        instances.add_column(column)
    for instance in _by_id(snapshot.instances()):
        instances.add_row(
            instance.id, instance.status, "connected" if instance.agent_connected else "disconnected",
            f"{instance.remaining.cpu}/{instance.registered.cpu}",
            f"{instance.remaining.memory}/{instance.registered.memory}",
            str(instance.running_tasks_count), str(instance.pending_tasks_count),
        )  # fmt: skip
    yield instances
    tasks = Table(title="Tasks")
    for column in ("id", "task definition", "instance", "last", "desired", "health", "group"):
        tasks.add_column(column)
    for task in _by_id(snapshot.tasks()):
        tasks.add_row(task.id, task.task_definition, task.container_instance_id, task.last_status,
                      task.desired_status, task.health_status, task.group)  # fmt: skip
    yield tasks
    services = Table(title="Services")
    for column in ("name", "status", "strategy", "desired", "running", "pending", "deployments"):
        services.add_column(column)
    for service in snapshot.services():
        counts = snapshot.service_counts(service)
        running = sum(count[0] for count in counts.values())
        pending = sum(count[1] for count in counts.values())
        services.add_row(service.name, service.status, service.scheduling_strategy, str(service.desired_count),
                         str(running), str(pending), str(len(service.deployments)))  # fmt: skip
    yield services


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True, help="0: any free port.")
@click.option("--region", default="us-east-1", show_default=True, help="The region in the ARNs.")
@click.option("--account", default="000000000000", show_default=True, help="The account in the ARNs.")
@click.option(
    "--cluster", "clusters", multiple=True, default=("default",), show_default=True, help="A cluster to start with."
)
@click.option("--executor", type=click.Choice(["fake", "docker"]), default="fake", show_default=True)
@click.option(
    "--instances", type=click.IntRange(0), default=2, show_default=True, help="Fake hosts per cluster (fake executor)."
)
@click.option(
    "--host-ip", default="127.0.0.1", show_default=True, help="Where the docker executor publishes task ports."
)
@click.option("--instance-cpus", type=click.IntRange(1), default=4, show_default=True, help="CPUs of each fake host.")
@click.option("--instance-memory", type=click.IntRange(1), default=8192, show_default=True, help="MiB of each.")
@click.option("--scheduler", "scheduler_text", default=None, help="module:Name placing RunTask's and services' tasks.")
@click.option("--etcd", "endpoints", multiple=True, help="Keep the clusters in etcd: a member's URL (repeat it).")
@click.option("--prefix", default="/clusterkit-server", show_default=True, help="The etcd key prefix, with --etcd.")
@click.option(
    "--credentials",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="An AWS credentials file: every request must then be SigV4-signed with one of its keys.",
)
@click.option(
    "--interval", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True, help="Loop seconds."
)
@click.option(
    "--healthy-after",
    type=click.FloatRange(0),
    default=40.0,
    show_default=True,
    help="Seconds RUNNING before a task without a health check counts healthy (ECS: 40).",
)
def serve(
    clusters: Sequence[str], executor: str, scheduler_text: str | None, endpoints: Sequence[str], **options: Any
) -> None:
    """Serve the ECS API (boto3, the AWS CLI, Terraform) over clusters with a service scheduler
    and agents; ``--scheduler`` puts your scheduler behind RunTask and services.
    """
    import signal
    import threading

    from clusterkit.executor import Executor, FakeExecutor, HostInfo
    from clusterkit.server import Clusters, EcsApplication, cluster_loops, load_credentials, serve_threaded
    from clusterkit.services import ReconcileSettings

    def executors(cluster: str) -> list[Executor]:
        if executor == "docker":
            from clusterkit.executor.docker import DockerExecutor

            return [DockerExecutor(cluster=cluster, host_ip=options["host_ip"], pull_policy="prefer-cached")]
        host = HostInfo(cpus=options["instance_cpus"], memory_mib=options["instance_memory"])
        return [FakeExecutor(host=host) for _ in range(options["instances"])]

    try:
        placement = load_policy(scheduler_text).scheduler if scheduler_text is not None else None
        keys = load_credentials(options["credentials"]) if options["credentials"] is not None else None
        settings = ReconcileSettings(healthy_after=options["healthy_after"])
        hook = cluster_loops(executors, placement=placement, settings=settings, interval=options["interval"])
        where: dict[str, Any] = {"region": options["region"], "account": options["account"]}
        if endpoints:
            from clusterkit.state import EtcdStore

            prefix = options["prefix"].rstrip("/")
            where["store"] = lambda key: EtcdStore(list(endpoints), prefix=f"{prefix}/{key}")
        served = Clusters(**where, initial=clusters, on_create=hook, scheduler=placement)
    except StoreError as error:
        raise click.ClickException(str(error)) from None
    except ClusterkitError as error:
        raise _fail(error) from None
    try:
        server = serve_threaded(EcsApplication(served, credentials=keys), options["host"], options["port"])
    except OSError as error:
        served.close()
        raise click.ClickException(f"cannot listen on {options['host']}:{options['port']}: {error.strerror}") from None
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    if keys is None and not options["host"].startswith("127."):
        click.echo(f"warning: {options['host']} is not loopback and no --credentials: anyone can call", err=True)
    url = f"http://{options['host']}:{server.server_port}"
    click.echo(f"serving the ECS API on {url} (clusters: {', '.join(clusters)})")
    sys.stdout.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        served.close()


main.add_command(agent)
main.add_command(controller)
