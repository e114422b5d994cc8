"""The ECS facade of ClusterState: task definitions, instances, tasks, lists and describes."""

from __future__ import annotations

import base64
import itertools
import json
import math
import random
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clusterkit import ClusterState, NotFoundError, PlaceTask, Snapshot, StaleVersionError, Task, ValidationError
from clusterkit.state import new_id, state_violations


def definition(family: str, *, cpu: int = 64, memory: int = 64, **container: Any) -> dict[str, Any]:
    return {
        "family": family,
        "containerDefinitions": [{"name": "app", "image": "img", "cpu": cpu, "memory": memory, **container}],
    }


def frozen(snap: Snapshot) -> dict[str, Any]:
    """What a snapshot holds, for before/after comparisons."""
    return {
        "version": snap.version,
        "tasks": {t.id: t for t in snap.tasks()},
        "instances": {i.id: i for i in snap.instances()},
        "definitions": {d.key: (d, d.status) for d in snap.task_definitions()},
    }


def all_pages(call: Any, max_results: int = 100, first_token: str | None = None, **filters: Any) -> list[list[str]]:
    pages: list[list[str]] = []
    token = first_token
    while True:
        page = call(max_results=max_results, next_token=token, **filters)
        assert len(page.items) <= max_results
        pages.append(list(page.items))
        token = page.next_token
        if token is None:
            return pages
        assert len(page.items) == max_results, "only the last page may be short"


def flat(call: Any, max_results: int = 100, first_token: str | None = None, **filters: Any) -> list[str]:
    return [item for page in all_pages(call, max_results, first_token, **filters) for item in page]


@pytest.fixture
def state() -> ClusterState:
    return ClusterState("api")


# -- task definitions -----------------------------------------------------------------------


def test_register_task_definition_increments_revision_per_family(state: ClusterState) -> None:
    revisions = [state.register_task_definition(definition("web")).revision for _ in range(3)]
    assert revisions == [1, 2, 3]
    assert state.register_task_definition(definition("db")).revision == 1
    assert state.register_task_definition(definition("web")).revision == 4
    snap = state.snapshot()
    assert snap.last_revision("web") == 4
    assert snap.last_revision("db") == 1
    assert snap.last_revision("none") == 0
    registered = state.register_task_definition(definition("db"))
    assert registered.key == "db:2"
    assert registered.status == "ACTIVE"
    assert state.describe_task_definition("db:2") == registered


def test_register_task_definition_accepts_json_text_and_model(state: ClusterState) -> None:
    from clusterkit import load_task_definition

    text = json.dumps(definition("web"))
    assert state.register_task_definition(text).key == "web:1"
    assert state.register_task_definition(load_task_definition(text)).key == "web:2"


def test_describe_task_definition_by_family_revision_and_arn(state: ClusterState) -> None:
    for cpu in (10, 20, 30):
        state.register_task_definition(definition("web", cpu=cpu))
    assert state.describe_task_definition("web").revision == 3
    assert state.describe_task_definition("web").container_definitions[0].cpu == 30
    assert state.describe_task_definition("web:2").container_definitions[0].cpu == 20
    arn = state.arns.task_definition("web:1")
    assert arn.endswith(":task-definition/web:1")
    assert state.describe_task_definition(arn).revision == 1
    state.deregister_task_definition("web:3")
    assert state.describe_task_definition("web").revision == 2, "the family means its latest ACTIVE revision"
    assert state.describe_task_definition("web:3").status == "INACTIVE"
    state.deregister_task_definition(state.arns.task_definition("web:2"))
    state.deregister_task_definition("web:1")
    with pytest.raises(NotFoundError):
        state.describe_task_definition("web")
    for missing in ("web:4", "nope", "nope:1", state.arns.task_definition("web:9")):
        with pytest.raises(NotFoundError):
            state.describe_task_definition(missing)


def test_deregister_task_definition_then_start_task_raises(state: ClusterState) -> None:
    state.register_container_instance("i1", cpu=1024, memory=1024)
    state.register_task_definition(definition("web"))
    state.register_task_definition(definition("web"))
    result = state.deregister_task_definition("web:2")
    assert result.status == "INACTIVE" and result.key == "web:2"
    version = state.version
    again = state.deregister_task_definition("web:2")  # idempotent
    assert again.status == "INACTIVE"
    assert state.version == version
    before = frozen(state.snapshot())
    with pytest.raises(ValidationError) as caught:
        state.start_task("web:2", ["i1"])
    assert caught.value.field == "taskDefinition"
    assert frozen(state.snapshot()) == before
    started = state.start_task("web", ["i1"])  # the family falls back to web:1
    assert [t.task_definition for t in started.tasks] == ["web:1"]
    with pytest.raises(ValidationError):
        state.deregister_task_definition("web")  # a family alone is not enough
    with pytest.raises(NotFoundError):
        state.deregister_task_definition("web:7")


def test_list_task_definitions_and_families_against_oracle(state: ClusterState) -> None:
    rng = random.Random(2)
    families = ["api", "api-v2", "apiary", "batch", "b", "web", "worker"]
    registered: list[tuple[str, int]] = []
    for _ in range(60):
        family = rng.choice(families)
        registered.append((family, state.register_task_definition(definition(family)).revision))
    inactive = set(rng.sample(registered, 20))
    for family, revision in inactive:
        state.deregister_task_definition(f"{family}:{revision}")
    status_of = {key: "INACTIVE" if key in inactive else "ACTIVE" for key in registered}
    arn = state.arns.task_definition
    for prefix, status, page in itertools.product(
        [None, "", "api", "b", "w", "zzz"], ["ACTIVE", "INACTIVE"], [1, 3, 100]
    ):
        expected = [
            arn(f"{f}:{r}") for f, r in sorted(registered) if status_of[(f, r)] == status and f.startswith(prefix or "")
        ]
        got = flat(state.list_task_definitions, page, family_prefix=prefix, status=status)
        assert got == expected, (prefix, status, page)
    for prefix, status, page in itertools.product([None, "api", "b", "q"], ["ACTIVE", "INACTIVE", "ALL"], [1, 2, 100]):
        expected_families = sorted(
            {
                f
                for f, r in registered
                if (status == "ALL" or status_of[(f, r)] == status) and f.startswith(prefix or "")
            }
        )
        got = flat(state.list_task_definition_families, page, family_prefix=prefix, status=status)
        assert got == expected_families, (prefix, status, page)
    assert (
        state.list_task_definitions().items
        == tuple(arn(f"{f}:{r}") for f, r in sorted(registered) if status_of[(f, r)] == "ACTIVE")[:100]
    )


# -- list_tasks -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def populated() -> tuple[ClusterState, list[Task]]:
    """Tasks over 4 instances, 3 families, 2 services, 2 starters, in every desired status."""
    rng = random.Random(42)
    cluster = ClusterState("lists")
    instances = [f"i{n}" for n in range(4)]
    for instance_id in instances:
        cluster.register_container_instance(instance_id, cpu=100_000, memory=100_000)
    for family in ("a", "b", "c"):
        cluster.register_task_definition(definition(family))
    for _ in range(150):
        group = rng.choice([None, "service:s1", "service:s2", "service:s1x", "custom"])
        started_by = rng.choice([None, "x", "y"])
        cluster.start_task(rng.choice("abc"), [rng.choice(instances)], group=group, started_by=started_by)
    snap = cluster.snapshot()
    tasks = sorted(snap.tasks(), key=lambda t: t.id)
    for task in rng.sample(tasks, 50):
        cluster.stop_task(task.id)  # desired STOPPED, still holding resources
    for task in rng.sample(tasks, 30):
        current = cluster.snapshot().task(task.id)
        cluster.submit_task_state_change(task.id, version=current.version, status="STOPPED")
    for task in rng.sample(tasks, 30):
        current = cluster.snapshot().task(task.id)
        if not current.is_stopped:
            cluster.submit_task_state_change(task.id, version=current.version, status="RUNNING")
    assert state_violations(cluster.snapshot()) == []
    return cluster, sorted(cluster.snapshot().tasks(), key=lambda t: t.id)


FILTERS = list(
    itertools.product([None, "i0", "i3", "i9"], [None, "a", "c"], [None, "s1", "s2", "custom"], [None, "x", "y"])
)


@pytest.mark.parametrize("desired", ["RUNNING", "STOPPED", "PENDING"])
def test_list_tasks_filters_against_brute_force(populated: tuple[ClusterState, list[Task]], desired: str) -> None:
    cluster, tasks = populated
    arn = cluster.arns.task
    seen_nonempty = 0
    for instance, family, service, started_by in FILTERS:
        expected = [
            arn(t.id)
            for t in tasks
            if t.desired_status == desired
            and (instance is None or t.container_instance_id == instance)
            and (family is None or t.family == family)
            and (service is None or t.group == f"service:{service}")
            and (started_by is None or t.started_by == started_by)
        ]
        seen_nonempty += bool(expected)
        filters = {"container_instance": instance, "family": family, "service_name": service, "started_by": started_by}
        for page_size in (4, 100):
            got = flat(cluster.list_tasks, page_size, desired_status=desired, **filters)
            assert got == expected, (desired, filters, page_size)
    if desired != "PENDING":
        assert seen_nonempty > 50, "the oracle must exercise non-empty answers"


def test_list_tasks_defaults_to_running_and_accepts_instance_arns(populated: tuple[ClusterState, list[Task]]) -> None:
    cluster, tasks = populated
    running = [cluster.arns.task(t.id) for t in tasks if t.desired_status == "RUNNING"]
    assert flat(cluster.list_tasks) == running
    on_i1 = [
        cluster.arns.task(t.id) for t in tasks if t.desired_status == "RUNNING" and t.container_instance_id == "i1"
    ]
    assert flat(cluster.list_tasks, container_instance=cluster.arns.container_instance("i1")) == on_i1
    assert len(cluster.list_tasks(max_results=100).items) == min(100, len(running))


def run_tasks(count: int, families: str = "a") -> ClusterState:
    cluster = ClusterState("pages")
    cluster.register_container_instance("big", cpu=10**7, memory=10**7)
    keys = {f: cluster.register_task_definition(definition(f, cpu=1, memory=6)) for f in families}
    changes = [
        PlaceTask(
            Task(new_id(), keys[families[n % len(families)]].key, "big", keys[families[n % len(families)]].charge)
        )
        for n in range(count)
    ]
    assert cluster.commit(changes).ok
    return cluster


@settings(max_examples=60)
@given(count=st.integers(0, 260), page_size=st.integers(1, 100))
def test_pagination_returns_every_task_exactly_once(count: int, page_size: int) -> None:
    cluster = run_tasks(count, "ab")
    everything = sorted(cluster.arns.task(t.id) for t in cluster.snapshot().tasks())
    pages = all_pages(cluster.list_tasks, page_size)
    assert len(pages) == max(1, math.ceil(count / page_size))
    got = [item for page in pages for item in page]
    assert got == everything
    assert len(set(got)) == count
    only_b = [
        cluster.arns.task(t.id) for t in sorted(cluster.snapshot().tasks(), key=lambda t: t.id) if t.family == "b"
    ]
    assert flat(cluster.list_tasks, page_size, family="b") == only_b


@pytest.mark.parametrize("page_size", [1, 3, 64, 100])
def test_pagination_over_a_thousand_tasks(page_size: int) -> None:
    cluster = run_tasks(1000)
    pages = all_pages(cluster.list_tasks, page_size)
    got = [item for page in pages for item in page]
    assert len(got) == 1000 == len(set(got))
    assert got == sorted(cluster.arns.task(t.id) for t in cluster.snapshot().tasks())
    assert len(pages) == math.ceil(1000 / page_size)


def test_pages_keep_working_while_the_state_changes() -> None:
    cluster = run_tasks(30)
    first = cluster.list_tasks(max_results=10)
    assert first.next_token is not None
    later = [cluster.start_task("a", ["big"]).tasks[0].id for _ in range(5)]  # newer ids sort last
    cluster.register_container_instance("late", cpu=10, memory=10)
    rest = flat(cluster.list_tasks, 10, first.next_token)
    assert not set(first.items) & set(rest)
    assert len(rest) == 25
    assert rest[-5:] == [cluster.arns.task(task_id) for task_id in later]
    assert list(first.items) + rest == flat(cluster.list_tasks)


def test_next_token_from_another_query_is_rejected(populated: tuple[ClusterState, list[Task]]) -> None:
    cluster, _ = populated
    token_a = cluster.list_tasks(family="a", max_results=1).next_token
    token_all = cluster.list_tasks(max_results=1).next_token
    token_stopped = cluster.list_tasks(desired_status="STOPPED", max_results=1).next_token
    assert token_a and token_all and token_stopped
    cluster.register_task_definition(definition("a"))
    cluster.register_task_definition(definition("a"))
    token_defs = cluster.list_task_definitions(max_results=1).next_token
    token_instances = cluster.list_container_instances(max_results=1).next_token
    assert token_defs and token_instances
    cases: list[tuple[Callable[..., object], dict[str, Any]]] = [
        (cluster.list_tasks, {"family": "b", "next_token": token_a}),
        (cluster.list_tasks, {"next_token": token_a}),
        (cluster.list_tasks, {"family": "a", "next_token": token_all}),
        (cluster.list_tasks, {"next_token": token_stopped}),
        (cluster.list_tasks, {"next_token": token_defs}),
        (cluster.list_tasks, {"next_token": token_instances}),
        (cluster.list_container_instances, {"next_token": token_all}),
        (cluster.list_container_instances, {"status": "DRAINING", "next_token": token_instances}),
        (cluster.list_task_definitions, {"next_token": token_all}),
        (cluster.list_task_definitions, {"family_prefix": "b", "next_token": token_defs}),
        (cluster.list_task_definition_families, {"next_token": token_defs}),
    ]
    for call, kwargs in cases:
        with pytest.raises(ValidationError) as caught:
            call(**kwargs)
        assert caught.value.field == "nextToken"
    # the right query takes it
    assert cluster.list_tasks(family="a", next_token=token_a).items


GARBAGE_CLUSTER = run_tasks(5)


@settings(max_examples=100)
@given(
    garbage=st.one_of(st.text(max_size=40), st.binary(max_size=30).map(lambda b: base64.urlsafe_b64encode(b).decode()))
)
def test_garbage_next_token_is_rejected(garbage: str) -> None:
    cluster = GARBAGE_CLUSTER
    with pytest.raises(ValidationError) as caught:
        cluster.list_tasks(next_token=garbage)
    assert caught.value.field == "nextToken"


def forge(fingerprint: int, key: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps([fingerprint, key]).encode()).decode().rstrip("=")


@pytest.mark.parametrize("key", [5, {"a": 1}, [1, 2], 1.5])
def test_tampered_next_token_with_a_valid_fingerprint_is_rejected(key: Any) -> None:
    """A token whose checksum matches but whose position is of the wrong type is still not a token
    this API issued: a ValidationError, not a TypeError from deep inside the index."""
    cluster = run_tasks(5)
    issued = cluster.list_tasks(max_results=1).next_token
    assert issued is not None
    raw = json.loads(base64.urlsafe_b64decode(issued + "=" * (-len(issued) % 4)))
    # the forging is sound: the issued position, re-encoded, is taken as the real token
    assert cluster.list_tasks(next_token=forge(raw[0], raw[1])) == cluster.list_tasks(next_token=issued)
    with pytest.raises(ValidationError) as caught:
        cluster.list_tasks(next_token=forge(raw[0], key))
    assert caught.value.field == "nextToken"


@pytest.mark.parametrize("bad", [0, 101, -1, 1000, True, 5.0, "10", None])
def test_max_results_out_of_range(bad: Any) -> None:
    cluster = GARBAGE_CLUSTER
    calls: list[Callable[..., object]] = [
        cluster.list_tasks,
        cluster.list_container_instances,
        cluster.list_task_definitions,
        cluster.list_task_definition_families,
    ]
    for call in calls:
        with pytest.raises(ValidationError) as caught:
            call(max_results=bad)
        assert caught.value.field == "maxResults"
    for good in (1, 100):
        for call in calls:
            call(max_results=good)


# -- describes ------------------------------------------------------------------------------


def test_describe_tasks_limits_and_missing(populated: tuple[ClusterState, list[Task]]) -> None:
    cluster, tasks = populated
    ids = [t.id for t in tasks]
    with pytest.raises(ValidationError) as caught:
        cluster.describe_tasks(ids[:101])
    assert caught.value.field == "tasks"
    with pytest.raises(ValidationError):
        cluster.describe_tasks([])
    assert len(cluster.describe_tasks(ids[:100]).items) == 100
    query = [ids[0], "ghost", cluster.arns.task(ids[1]), cluster.arns.task("ghost2")]
    described = cluster.describe_tasks(query)
    assert [t.id for t in described.items] == [ids[0], ids[1]]
    assert [(f.arn, f.reason) for f in described.failures] == [
        (cluster.arns.task("ghost"), "MISSING"),
        (cluster.arns.task("ghost2"), "MISSING"),
    ]
    snap = cluster.snapshot()
    assert described.items[0] == snap.task(ids[0])


def test_describe_container_instances_limits_and_missing(state: ClusterState) -> None:
    ids = [f"i{n:03d}" for n in range(101)]
    for instance_id in ids:
        state.register_container_instance(instance_id, cpu=1, memory=1)
    with pytest.raises(ValidationError) as caught:
        state.describe_container_instances(ids)
    assert caught.value.field == "containerInstances"
    assert [i.id for i in state.describe_container_instances(ids[:100]).items] == ids[:100]
    described = state.describe_container_instances(["i000", "nope", state.arns.container_instance("i005")])
    assert [i.id for i in described.items] == ["i000", "i005"]
    assert [(f.arn, f.reason) for f in described.failures] == [(state.arns.container_instance("nope"), "MISSING")]


# -- container instances --------------------------------------------------------------------


def test_list_container_instances_status_filter(state: ClusterState) -> None:
    rng = random.Random(9)
    ids = [new_id() for _ in range(40)]
    rng.shuffle(ids)
    for instance_id in ids:
        state.register_container_instance(instance_id, cpu=10, memory=10)
    draining = set(rng.sample(ids, 12))
    inactive = set(rng.sample(sorted(set(ids) - draining), 9))
    state.update_container_instances_state(sorted(draining), "DRAINING")
    for instance_id in inactive:
        state.deregister_container_instance(instance_id)
    status = {i: "DRAINING" if i in draining else "INACTIVE" if i in inactive else "ACTIVE" for i in ids}
    arn = state.arns.container_instance
    for page in (1, 2, 5, 100):
        for wanted in ("ACTIVE", "DRAINING", "INACTIVE"):
            expected = [arn(i) for i in sorted(ids) if status[i] == wanted]
            assert flat(state.list_container_instances, page, status=wanted) == expected
        default = [arn(i) for i in sorted(ids) if status[i] != "INACTIVE"]
        assert flat(state.list_container_instances, page) == default, "default: ACTIVE and DRAINING, in id order"


def test_update_container_instances_state_draining_blocks_start_task(state: ClusterState) -> None:
    state.register_container_instance("i1", cpu=1024, memory=1024)
    state.register_container_instance("i2", cpu=1024, memory=1024)
    state.register_task_definition(definition("web"))
    described = state.update_container_instances_state(["i1", "ghost"], "DRAINING")
    assert [(i.id, i.status) for i in described.items] == [("i1", "DRAINING")]
    assert [f.arn for f in described.failures] == [state.arns.container_instance("ghost")]
    result = state.start_task("web", ["i1", "i2"])
    assert [t.container_instance_id for t in result.tasks] == ["i2"]
    assert [(f.arn, f.reason) for f in result.failures] == [(state.arns.container_instance("i1"), "INACTIVE")]
    assert state.snapshot().instance("i1").remaining.cpu == 1024
    state.update_container_instances_state([state.arns.container_instance("i1")], "ACTIVE")
    assert [t.container_instance_id for t in state.start_task("web", ["i1"]).tasks] == ["i1"]


def test_put_and_delete_attributes(state: ClusterState) -> None:
    state.register_container_instance("i1", cpu=1, memory=1, attributes={"ecs.availability-zone": "z1"})
    start = state.snapshot().instance("i1")
    assert start.attribute("ecs.os-type") == "linux"
    updated = state.put_attributes("i1", {"stack": "prod", "flag": None, "ecs.availability-zone": "z2"})
    assert updated.attribute("stack") == "prod"
    assert updated.has_attribute("flag") and updated.attribute("flag") is None
    assert updated.attribute("ecs.availability-zone") == "z2"
    assert updated.version == start.version + 1
    same = state.put_attributes(state.arns.container_instance("i1"), {"stack": "prod"})
    assert same.version == updated.version, "putting what is there changes nothing"
    removed = state.delete_attributes("i1", ["stack", "not-there"])
    assert not removed.has_attribute("stack")
    assert removed.has_attribute("flag")
    assert removed.version == updated.version + 1
    with pytest.raises(NotFoundError):
        state.put_attributes("ghost", {"a": "b"})
    with pytest.raises(NotFoundError):
        state.delete_attributes("ghost", ["a"])


def test_deregister_instance_without_force_while_tasks_run(state: ClusterState) -> None:
    state.register_container_instance("i1", cpu=1024, memory=1024)
    state.register_task_definition(definition("web", portMappings=[{"containerPort": 80, "hostPort": 8080}]))
    started = state.start_task("web", ["i1"])
    task = started.tasks[0]
    state.submit_task_state_change(task.id, version=1, status="RUNNING")
    before = frozen(state.snapshot())
    with pytest.raises(ValidationError) as caught:
        state.deregister_container_instance("i1")
    assert caught.value.field == "force"
    assert frozen(state.snapshot()) == before
    # a task that is only desired STOPPED still holds its resources: still refused
    state.stop_task(task.id)
    with pytest.raises(ValidationError):
        state.deregister_container_instance("i1")
    forced = state.deregister_container_instance("i1", force=True)
    assert forced.status == "INACTIVE"
    assert forced.remaining == forced.registered
    assert forced.running_tasks_count == forced.pending_tasks_count == 0
    assert forced.agent_connected is False
    stopped = state.snapshot().task(task.id)
    assert stopped.last_status == "STOPPED" and stopped.desired_status == "STOPPED"
    assert stopped.stopped_at is not None
    assert stopped.version > task.version
    assert state.list_tasks().items == ()
    assert state.list_tasks(desired_status="STOPPED").items == (state.arns.task(task.id),)
    assert state_violations(state.snapshot()) == []


def test_deregister_idle_instance_and_register_it_again(state: ClusterState) -> None:
    state.register_container_instance("i1", cpu=1024, memory=1024)
    state.register_task_definition(definition("web"))
    task = state.start_task("web", ["i1"]).tasks[0]
    state.submit_task_state_change(task.id, version=1, status="STOPPED")
    gone = state.deregister_container_instance("i1")
    assert gone.status == "INACTIVE"
    back = state.register_container_instance("i1", cpu=2048, memory=1024)
    assert back.status == "ACTIVE" and back.version > gone.version
    assert back.remaining.cpu == 2048
    assert len(state.start_task("web", ["i1"]).tasks) == 1
    with pytest.raises(ValidationError) as caught:
        state.register_container_instance("i1", cpu=1, memory=1)
    assert caught.value.field == "containerInstanceId"


# -- tasks ----------------------------------------------------------------------------------


def test_start_task_fields(state: ClusterState) -> None:
    state.register_container_instance("i1", cpu=1024, memory=1024)
    state.register_container_instance("i2", cpu=1024, memory=1024)
    state.register_task_definition(definition("web", portMappings=[{"containerPort": 80}]))
    state.register_task_definition({**definition("vpc", portMappings=[{"containerPort": 80}]), "networkMode": "awsvpc"})
    result = state.start_task("web", ["i1", "i2", "ghost"], group="service:front", started_by="me")
    assert [t.container_instance_id for t in result.tasks] == ["i1", "i2"]
    assert [(f.arn, f.reason) for f in result.failures] == [(state.arns.container_instance("ghost"), "MISSING")]
    for task in result.tasks:
        assert task.last_status == "PENDING" and task.desired_status == "RUNNING"
        assert task.group == "service:front" and task.service_name == "front"
        assert task.started_by == "me"
        assert task.version == 1
        assert [b.host_port for b in task.host_ports] == [49153]
        assert state.snapshot().task(task.id).task_definition == "web:1"
    plain = state.start_task("web", ["i1"])
    assert plain.tasks[0].group == "family:web"
    assert [b.host_port for b in plain.tasks[0].host_ports] == [49154], "the next free dynamic port"
    vpc = state.start_task("vpc", ["i1"]).tasks[0]
    assert vpc.last_status == "PROVISIONING"
    assert state.snapshot().instance("i1").pending_tasks_count == 3


def test_stop_task_then_stopped_report_frees_resources(state: ClusterState) -> None:
    state.register_container_instance("i1", cpu=1024, memory=1024)
    state.register_task_definition(definition("web", cpu=1024))
    task = state.start_task("web", ["i1"]).tasks[0]
    running = state.submit_task_state_change(task.id, version=task.version, status="RUNNING")
    assert running.version == 2 and running.started_at is not None
    assert state.snapshot().instance("i1").running_tasks_count == 1
    stopping = state.stop_task(task.id, reason="scale in")
    assert stopping.desired_status == "STOPPED" and stopping.last_status == "RUNNING"
    assert stopping.stop_code == "UserInitiated" and stopping.stopped_reason == "scale in"
    assert stopping.version == 3
    assert state.snapshot().instance("i1").remaining.cpu == 0, "resources are held until STOPPED"
    assert state.start_task("web", ["i1"]).failures[0].reason == "RESOURCE:CPU"
    version = state.version
    assert state.stop_task(task.id).version == 3, "stopping twice changes nothing"
    assert state.version == version
    stopped = state.submit_task_state_change(task.id, version=3, status="STOPPED")
    assert stopped.last_status == "STOPPED" and stopped.stopped_at is not None
    instance = state.snapshot().instance("i1")
    assert instance.remaining == instance.registered
    assert instance.running_tasks_count == 0
    assert len(state.start_task("web", ["i1"]).tasks) == 1


def test_stale_submit_task_state_change(state: ClusterState) -> None:
    state.register_container_instance("i1", cpu=1024, memory=1024)
    state.register_task_definition(definition("web"))
    task = state.start_task("web", ["i1"]).tasks[0]
    state.submit_task_state_change(task.id, version=1, status="RUNNING")
    state.submit_task_state_change(task.id, version=2, health_status="HEALTHY")
    before = frozen(state.snapshot())
    for stale in (1, 2):
        with pytest.raises(StaleVersionError) as caught:
            state.submit_task_state_change(task.id, version=stale, status="STOPPED")
        assert caught.value.current == 3
        assert caught.value.field == "version"
        assert frozen(state.snapshot()) == before
    with pytest.raises(NotFoundError):
        state.submit_task_state_change("ghost", version=1, status="RUNNING")
    with pytest.raises(NotFoundError):
        state.stop_task("ghost")
    assert state.submit_task_state_change(task.id, version=3, status="STOPPED").version == 4


def test_dynamic_ports_skip_reserved_and_taken_ports() -> None:
    from clusterkit.placement import PortRange

    cluster = ClusterState("ports", dynamic_ports=PortRange(51677, 51681))
    cluster.register_container_instance("i1", cpu=4096, memory=4096)  # 51678 and 51679 are reserved
    cluster.register_task_definition(definition("two", portMappings=[{"containerPort": 80}, {"containerPort": 81}]))
    first = cluster.start_task("two", ["i1"]).tasks[0]
    assert sorted(b.host_port for b in first.host_ports) == [51677, 51680]
    second = cluster.start_task("two", ["i1"])
    assert second.tasks == ()
    assert [f.reason for f in second.failures] == ["RESOURCE:PORTS"], "only 51681 is left"
    cluster.submit_task_state_change(first.id, version=1, status="STOPPED")
    again = cluster.start_task("two", ["i1"]).tasks[0]
    assert sorted(b.host_port for b in again.host_ports) == [51677, 51680], "a STOPPED task gives its ports back"


def test_list_tasks_is_in_creation_order(state: ClusterState) -> None:
    state.register_container_instance("i1", cpu=10_000, memory=10_000)
    state.register_container_instance("i2", cpu=10_000, memory=10_000)
    state.register_task_definition(definition("web"))
    started = [state.start_task("web", [instance]).tasks[0].id for instance in ["i2", "i1"] * 30]
    assert flat(state.list_tasks, 7) == [state.arns.task(task_id) for task_id in started]
