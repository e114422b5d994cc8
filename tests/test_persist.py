"""Saving a ClusterState to a file and restoring it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs
import pytest

from clusterkit import ClusterState, Snapshot, Tag, Task, TaskStateChange, UpdateInstance, ValidationError
from clusterkit.state import state_violations
from tests.ecs_api import assert_output, output_problems


def definition(family: str, *, cpu: int = 64, memory: int = 64, **container: Any) -> dict[str, Any]:
    return {
        "family": family,
        "containerDefinitions": [{"name": "app", "image": "img", "cpu": cpu, "memory": memory, **container}],
    }


def everything(snap: Snapshot) -> dict[str, Any]:
    roots = snap._roots
    return {
        "version": snap.version,
        "arns": snap.arns,
        "tasks": {t.id: t for t in snap.tasks()},
        "instances": {i.id: i for i in snap.instances()},
        "definitions": {d.key: (d, d.status, d.revision) for d in snap.task_definitions()},
        "revisions": dict(roots.family_revisions.items()),
        "task_index": {key: list(bucket) for key, bucket in roots.task_index.items()},
        "instance_index": {key: list(bucket) for key, bucket in roots.instance_index.items()},
        "definition_index": list(roots.task_definition_index),
        "lists": [snap.list_tasks(desired_status=s).items for s in ("PENDING", "RUNNING", "STOPPED")],
        "instance_lists": [snap.list_container_instances(status=s).items for s in ("ACTIVE", "DRAINING", "INACTIVE")],
        "families": snap.list_task_definition_families(status="ALL").items,
    }


def build() -> ClusterState:
    state = ClusterState("saved", region="eu-west-1", account="123456789012", clock=lambda: 1_700_000_000.5)
    state.register_container_instance(
        "i1", cpu=4096, memory=8192, scalars={"GPU": 4}, attributes={"ecs.availability-zone": "a", "flag": None}
    )
    state.register_container_instance("i2", cpu=2048, memory=4096, scalars={"FPGA": 1.5}, ec2_instance_id="i-0abc")
    state.register_container_instance("i3", cpu=1024, memory=1024, reserved_udp_ports=[161], agent_version="1.2.3")
    state.register_container_instance("i4", cpu=1024, memory=1024)
    state.register_task_definition(definition("web", portMappings=[{"containerPort": 80}]))
    state.register_task_definition(
        {
            **definition(
                "web",
                portMappings=[
                    {"containerPort": 80, "hostPort": 8080},
                    {"containerPort": 53, "hostPort": 0, "protocol": "udp"},
                ],
                logConfiguration={"logDriver": "json-file"},
            ),
            "executionRoleArn": "arn:aws:iam::123456789012:role/x",
            "tags": [{"key": "team", "value": "web"}, {"key": "tier"}],
        }
    )
    state.register_task_definition(definition("web"))
    state.register_task_definition(definition("gpu", resourceRequirements=[{"type": "GPU", "value": "2"}]))
    state.register_task_definition(definition("fpga", resourceRequirements=[{"type": "FPGA", "value": "0.5"}]))
    state.register_task_definition(
        {**definition("vpc", portMappings=[{"containerPort": 443}]), "networkMode": "awsvpc"}
    )
    state.register_task_definition(
        {**definition("hostnet", portMappings=[{"containerPort": 9000}]), "networkMode": "host"}
    )
    state.deregister_task_definition("web:3")
    tasks: list[Task] = []
    tasks += state.start_task("web:2", ["i1", "i2"], group="service:front", started_by="deployer").tasks
    tasks += state.start_task("web:1", ["i1", "i1", "i3"]).tasks
    tasks += state.start_task("gpu", ["i1", "i1"], started_by="ml").tasks
    tasks += state.start_task("fpga", ["i2"]).tasks
    tasks += state.start_task("vpc", ["i3"]).tasks
    tasks += state.start_task("hostnet", ["i2"]).tasks
    for task in tasks[:6]:
        state.submit_task_state_change(task.id, version=1, status="RUNNING")
    state.submit_task_state_change(tasks[0].id, version=2, health_status="HEALTHY")
    state.stop_task(tasks[1].id, reason="scale in")
    state.submit_task_state_change(
        tasks[2].id, version=2, status="STOPPED", stop_code="EssentialContainerExited", reason="exit 1"
    )
    state.commit([TaskStateChange(tasks[3].id, 2, "DEACTIVATING")])
    state.update_container_instances_state(["i2"], "DRAINING")
    state.commit([UpdateInstance("i3", agent_connected=False)])
    state.commit([UpdateInstance("i1", heartbeat=True)])
    state.deregister_container_instance("i4")
    assert state_violations(state.snapshot()) == []
    return state


@pytest.fixture
def saved(tmp_path: Path) -> tuple[ClusterState, Path]:
    state = build()
    path = tmp_path / "state.json"
    snapshot = state.save(path)
    assert snapshot.version == state.version
    return state, path


def test_restore_gives_an_equal_snapshot(saved: tuple[ClusterState, Path]) -> None:
    state, path = saved
    restored = ClusterState.restore(path, clock=state.clock)
    assert restored.version == state.version
    assert restored.cluster_name == "saved"
    assert restored.arns == state.arns
    before, after = everything(state.snapshot()), everything(restored.snapshot())
    assert after["tasks"] == before["tasks"]
    assert after["instances"] == before["instances"]
    assert after["definitions"] == before["definitions"]
    assert after == before
    assert state_violations(restored.snapshot()) == []


def test_saved_file_is_ecs_shaped_json(saved: tuple[ClusterState, Path]) -> None:
    state, path = saved
    data = json.loads(path.read_text())
    assert data["format"] == "clusterkit-state" and data["formatVersion"] == 4
    assert data["version"] == state.version
    assert data["cluster"] == {"name": "saved", "region": "eu-west-1", "account": "123456789012"}
    assert len(data["tasks"]) == state.snapshot().task_count
    assert len(data["containerInstances"]) == 4
    assert {t["task"]["taskArn"] for t in data["tasks"]} == {state.arns.task(t.id) for t in state.snapshot().tasks()}
    assert [p.name for p in path.parent.iterdir()] == [path.name], "no temporary file is left behind"
    # Each object is ECS's describe output; what clusterkit adds sits beside it, never inside.
    for described in data["taskDefinitions"]:
        if described["taskDefinition"]["family"] != "fpga":
            assert_output(described, "DescribeTaskDefinitionResponse")
        else:  # custom scalar resources are clusterkit's extension of ECS's resource types
            assert output_problems(described, "DescribeTaskDefinitionResponse") == [
                "taskDefinition.containerDefinitions[0].resourceRequirements[0].type: 'FPGA' is not one of "
                "['GPU', 'InferenceAccelerator', 'NeuronDevice']"
            ]
    for saved_instance in data["containerInstances"]:
        assert set(saved_instance) == {"containerInstance", "lastHeartbeatAt"}
        assert_output(saved_instance["containerInstance"], "ContainerInstance")
    heartbeats = {
        saved_instance["containerInstance"]["containerInstanceArn"].rsplit("/", 1)[1]: saved_instance["lastHeartbeatAt"]
        for saved_instance in data["containerInstances"]
    }
    assert heartbeats == {"i1": 1_700_000_000.5, "i2": None, "i3": None, "i4": None}
    for saved_task in data["tasks"]:
        assert set(saved_task) == {"task", "chargedResources"}
        assert_output(saved_task["task"], "Task")
    web2 = next(d for d in data["taskDefinitions"] if d["taskDefinition"]["revision"] == 2)
    assert web2["tags"] == [{"key": "team", "value": "web"}, {"key": "tier"}]
    assert "tags" not in web2["taskDefinition"]


def test_tags_survive_save_and_restore(saved: tuple[ClusterState, Path]) -> None:
    _, path = saved
    restored = ClusterState.restore(path)
    assert restored.describe_task_definition("web:2").tags == (Tag("team", "web"), Tag("tier"))
    assert restored.describe_task_definition("web:1").tags == ()


def as_version_1(data: dict[str, Any]) -> None:
    """The layout of format version 1: bare definitions (tags inside), charges inside the tasks."""
    data["formatVersion"] = 1
    data["taskDefinitions"] = [
        {**item["taskDefinition"], **({"tags": item["tags"]} if item["tags"] else {})}
        for item in data["taskDefinitions"]
    ]
    data["tasks"] = [{**item["task"], "chargedResources": item["chargedResources"]} for item in data["tasks"]]
    data["containerInstances"] = [item["containerInstance"] for item in data["containerInstances"]]


def as_version_2(data: dict[str, Any]) -> None:
    """The layout of format version 2: an instance is its bare describe output (no heartbeat)."""
    data["formatVersion"] = 2
    data["containerInstances"] = [item["containerInstance"] for item in data["containerInstances"]]


def test_a_version_1_file_still_restores(saved: tuple[ClusterState, Path]) -> None:
    state, path = saved
    restored = ClusterState.restore(edit(path, as_version_1))
    assert everything(restored.snapshot()) == unheard(everything(state.snapshot()))
    assert restored.describe_task_definition("web:2").tags == (Tag("team", "web"), Tag("tier"))


def test_a_version_2_file_still_restores_without_heartbeats(saved: tuple[ClusterState, Path]) -> None:
    state, path = saved
    restored = ClusterState.restore(edit(path, as_version_2))
    assert restored.snapshot().instance("i1").last_heartbeat_at is None
    assert everything(restored.snapshot()) == unheard(everything(state.snapshot()))


def unheard(saved: dict[str, Any]) -> dict[str, Any]:
    """What an older format keeps of ``everything``: the instances without their heartbeats."""
    instances = {key: attrs.evolve(i, last_heartbeat_at=None) for key, i in saved["instances"].items()}
    return {**saved, "instances": instances}


def test_save_twice_overwrites_and_restores_the_newer_state(saved: tuple[ClusterState, Path]) -> None:
    state, path = saved
    state.register_task_definition(definition("later"))
    state.save(path)
    restored = ClusterState.restore(path)
    assert restored.version == state.version
    assert restored.describe_task_definition("later").key == "later:1"
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_next_revision_continues_after_restore(saved: tuple[ClusterState, Path]) -> None:
    state, path = saved
    restored = ClusterState.restore(path)
    # web:3 is INACTIVE, the highest revision ever registered still counts
    assert restored.register_task_definition(definition("web")).revision == 4
    assert restored.register_task_definition(definition("gpu")).revision == 2
    assert restored.register_task_definition(definition("new")).revision == 1
    assert restored.describe_task_definition("web:2") == state.describe_task_definition("web:2")


def test_restore_then_keep_committing(saved: tuple[ClusterState, Path]) -> None:
    state, path = saved
    restored = ClusterState.restore(path)
    version = restored.version
    task = restored.start_task("web:1", ["i1"]).tasks[0]
    assert restored.version == version + 1
    restored.submit_task_state_change(task.id, version=1, status="RUNNING")
    for old in restored.snapshot().tasks():
        if not old.is_stopped:
            restored.submit_task_state_change(old.id, version=old.version, status="STOPPED")
    snap = restored.snapshot()
    assert state_violations(snap) == []
    for instance in snap.instances():
        assert instance.remaining == instance.registered
    restored.deregister_container_instance("i1")
    again = restored.register_container_instance("i4", cpu=1, memory=1)
    assert again.version == 3 and again.status == "ACTIVE", "registered, deregistered, registered again"
    assert state.version == version, "the original is untouched"
    # and the restored state saves and restores again
    second = path.with_name("second.json")
    restored.save(second)
    assert everything(ClusterState.restore(second).snapshot()) == everything(restored.snapshot())


def test_multi_container_task_restores_equal(tmp_path: Path) -> None:
    """Bindings of a task with several containers come back in the order they were made."""
    state = ClusterState("multi")
    state.register_container_instance("i1", cpu=1024, memory=1024)
    state.register_task_definition(
        {
            "family": "pair",
            "containerDefinitions": [
                {"name": "zeta", "image": "img", "memory": 64, "portMappings": [{"containerPort": 80}]},
                {"name": "alpha", "image": "img", "memory": 64, "portMappings": [{"containerPort": 81}]},
            ],
        }
    )
    task = state.start_task("pair", ["i1"]).tasks[0]
    state.save(tmp_path / "multi.json")
    restored = ClusterState.restore(tmp_path / "multi.json").snapshot().task(task.id)
    assert restored.host_ports == task.host_ports
    assert restored == task


# -- bad files ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "",
        "{",
        '{"format": "clusterkit-state", "formatVersion": 1, "version": ',
        "not json at all",
    ],
)
def test_corrupted_file(tmp_path: Path, text: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(ValidationError):
        ClusterState.restore(path)


def test_truncated_and_binary_files(saved: tuple[ClusterState, Path]) -> None:
    _, path = saved
    raw = path.read_bytes()
    for cut in (1, len(raw) // 3, len(raw) // 2, len(raw) - 1):
        path.write_bytes(raw[:cut])
        with pytest.raises(ValidationError):
            ClusterState.restore(path)
    path.write_bytes(b"\xff\xfe\x00garbage\x80\x81")
    with pytest.raises(ValidationError):
        ClusterState.restore(path)


def edit(path: Path, change: Any) -> Path:
    data = json.loads(path.read_text())
    change(data)
    target = path.with_name("edited.json")
    target.write_text(json.dumps(data))
    return target


def _set(key: str, value: Any) -> Any:
    return lambda data: data.__setitem__(key, value)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (_set("format", "something-else"), "format"),
        (lambda data: data.pop("format"), "format"),
        (_set("formatVersion", 5), "format"),
        (_set("formatVersion", 0), "format"),
        (_set("formatVersion", True), "format"),
        (_set("formatVersion", "1"), "format"),
        (_set("version", -1), "version"),
        (_set("version", "7"), "version"),
        (_set("version", None), "version"),
    ],
)
def test_wrong_format(saved: tuple[ClusterState, Path], change: Any, field: str) -> None:
    _, path = saved
    with pytest.raises(ValidationError) as caught:
        ClusterState.restore(edit(path, change))
    assert caught.value.field == field


@pytest.mark.parametrize("document", [[], 5, "text", None])
def test_not_an_object(tmp_path: Path, document: Any) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(document))
    with pytest.raises(ValidationError):
        ClusterState.restore(path)


@pytest.mark.parametrize(
    "change",
    [
        _set("cluster", "oops"),
        _set("cluster", {"name": "has space"}),
        _set("familyRevisions", [1, 2]),
        _set("familyRevisions", {"web": "3"}),
        _set("taskDefinitions", [5]),
        _set("taskDefinitions", [{"family": "x"}]),
        _set("containerInstances", [{"containerInstanceArn": "x"}]),
        lambda data: data["containerInstances"][0].__setitem__("lastHeartbeatAt", "noon"),
        _set("tasks", [{"taskArn": "x"}]),
        _set("tasks", [[]]),
        lambda data: data["tasks"][0].pop("chargedResources"),
        lambda data: data["tasks"][0].pop("task"),
        lambda data: data["tasks"][0].__setitem__("task", [1]),
        lambda data: data["taskDefinitions"][0].pop("taskDefinition"),
        lambda data: data["taskDefinitions"][0]["taskDefinition"].__setitem__("revision", 0),
    ],
    ids=[
        "cluster-not-object",
        "cluster-bad-name",
        "revisions-not-object",
        "revision-not-int",
        "definition-not-object",
        "definition-incomplete",
        "instance-incomplete",
        "heartbeat-not-a-time",
        "task-incomplete",
        "task-not-object",
        "task-without-charge",
        "charge-without-task",
        "task-not-an-object",
        "described-definition-without-definition",
        "definition-revision-zero",
    ],
)
def test_malformed_structure(saved: tuple[ClusterState, Path], change: Any) -> None:
    _, path = saved
    with pytest.raises(ValidationError):
        ClusterState.restore(edit(path, change))


def instance_json(data: dict[str, Any], instance_id: str) -> dict[str, Any]:
    return next(
        item["containerInstance"]
        for item in data["containerInstances"]
        if item["containerInstance"]["containerInstanceArn"].endswith("/" + instance_id)
    )


def resource(items: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next(item for item in items if item["name"] == name)


def wrong_remaining_cpu(data: dict[str, Any]) -> None:
    resource(instance_json(data, "i1")["remainingResources"], "CPU")["integerValue"] += 1


def wrong_remaining_ports(data: dict[str, Any]) -> None:
    ports = resource(instance_json(data, "i1")["remainingResources"], "PORTS")
    ports["stringSetValue"] = [p for p in ports["stringSetValue"] if p != "8080"]


def wrong_remaining_gpu(data: dict[str, Any]) -> None:
    remaining = instance_json(data, "i1")["remainingResources"]
    gpu = [item for item in remaining if item["name"] == "GPU"]
    assert all(item["integerValue"] == 0 for item in gpu), "both gpu tasks use all 4 GPUs"
    remaining[:] = [item for item in remaining if item["name"] != "GPU"]
    remaining.append({"name": "GPU", "type": "INTEGER", "integerValue": 2})


def wrong_running_count(data: dict[str, Any]) -> None:
    instance_json(data, "i1")["runningTasksCount"] += 1


def task_on_missing_instance(data: dict[str, Any]) -> None:
    task = data["tasks"][0]["task"]
    task["containerInstanceArn"] = task["containerInstanceArn"].rsplit("/", 1)[0] + "/ghost"


def inactive_instance_with_tasks(data: dict[str, Any]) -> None:
    instance_json(data, "i1")["status"] = "INACTIVE"


def revisions_behind_definitions(data: dict[str, Any]) -> None:
    data["familyRevisions"]["web"] = 1  # while web:2 and web:3 are stored


def revisions_missing(data: dict[str, Any]) -> None:
    data["familyRevisions"] = {}


@pytest.mark.parametrize(
    "change",
    [
        wrong_remaining_cpu,
        wrong_remaining_ports,
        wrong_remaining_gpu,
        wrong_running_count,
        task_on_missing_instance,
        inactive_instance_with_tasks,
    ],
)
def test_inconsistent_file(saved: tuple[ClusterState, Path], change: Any) -> None:
    _, path = saved
    with pytest.raises(ValidationError) as caught:
        ClusterState.restore(edit(path, change))
    assert caught.value.field == "path"
    assert "inconsistent" in str(caught.value)


@pytest.mark.parametrize("change", [revisions_behind_definitions, revisions_missing])
def test_revision_counter_behind_the_stored_definitions(saved: tuple[ClusterState, Path], change: Any) -> None:
    """A file whose familyRevisions is below a stored revision must be refused, or the counter
    repaired: a later register must never reuse a revision and replace a stored definition."""
    state, path = saved
    try:
        restored = ClusterState.restore(edit(path, change))
    except ValidationError:
        return  # rejected at restore: fine
    original = state.describe_task_definition("web:2")
    registered = restored.register_task_definition(definition("web", cpu=999))
    assert registered.revision == 4, f"register reused revision {registered.revision}"
    assert restored.describe_task_definition("web:2") == original
