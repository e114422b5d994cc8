"""Resource accounting under random ECS calls: a hypothesis state machine over the facade.

After every step: no invariant of the state is broken, an independent recount of every
instance's remaining resources agrees, versions only went up, and stale reports changed nothing.
"""

from __future__ import annotations

from typing import Any

import attrs
import pytest
from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from clusterkit import (
    ClusterState,
    NotFoundError,
    Resources,
    Snapshot,
    StaleVersionError,
    UpdateInstance,
    ValidationError,
)
from clusterkit.model import TASK_LIFECYCLE
from clusterkit.placement import PortRange
from clusterkit.state import state_violations

DYNAMIC = PortRange(50000, 50004)  # five ports: dynamic tasks run out quickly


@attrs.frozen
class Template:
    """A task definition and, independently of clusterkit, what one of its tasks holds."""

    cpu: int
    memory: int
    static_tcp: frozenset[int] = frozenset()
    static_udp: frozenset[int] = frozenset()
    dynamic_tcp: int = 0
    dynamic_udp: int = 0
    gpu: int = 0
    network_mode: str = "bridge"

    def json(self, family: str) -> dict[str, Any]:
        mappings: list[dict[str, Any]] = []
        container_port = 1000
        for port in sorted(self.static_tcp):
            if self.network_mode == "host":
                mappings.append({"containerPort": port})
            else:
                mappings.append({"containerPort": (container_port := container_port + 1), "hostPort": port})
        for port in sorted(self.static_udp):
            mappings.append(
                {"containerPort": (container_port := container_port + 1), "hostPort": port, "protocol": "udp"}
            )
        for _ in range(self.dynamic_tcp):
            mappings.append({"containerPort": (container_port := container_port + 1)})
        for _ in range(self.dynamic_udp):
            mappings.append({"containerPort": (container_port := container_port + 1), "hostPort": 0, "protocol": "udp"})
        container: dict[str, Any] = {"name": "app", "image": "img", "cpu": self.cpu, "portMappings": mappings}
        # charge the soft reservation: a hard limit above it must not count
        container.update(memory=self.memory + 512, memoryReservation=self.memory)
        if self.gpu:
            container["resourceRequirements"] = [{"type": "GPU", "value": str(self.gpu)}]
        return {"family": family, "networkMode": self.network_mode, "containerDefinitions": [container]}


TEMPLATES = {
    "plain": Template(256, 256),
    "tcp": Template(128, 128, static_tcp=frozenset({8080})),
    "udp": Template(128, 128, static_udp=frozenset({5353})),
    "both": Template(64, 64, static_tcp=frozenset({8081}), static_udp=frozenset({8081})),
    "dynamic": Template(64, 64, dynamic_tcp=2, dynamic_udp=1),
    "gpu": Template(128, 128, gpu=1),
    "host": Template(64, 64, static_tcp=frozenset({9090}), network_mode="host"),
    "big": Template(1024, 1536),
    "reserved": Template(64, 64, static_tcp=frozenset({22})),
}


def predict(snap: Snapshot, template: Template, instance_id: str) -> str | None:
    """The failure reason start_task must give for one instance (None: it is placed)."""
    try:
        instance = snap.instance(instance_id)
    except NotFoundError:
        return "MISSING"
    left = instance.remaining
    free_tcp = [p for p in range(DYNAMIC.first, DYNAMIC.last + 1) if p not in left.ports | template.static_tcp]
    free_udp = [p for p in range(DYNAMIC.first, DYNAMIC.last + 1) if p not in left.ports_udp | template.static_udp]
    if len(free_tcp) < template.dynamic_tcp or len(free_udp) < template.dynamic_udp:
        return "RESOURCE:PORTS"
    if instance.status != "ACTIVE":
        return "INACTIVE"
    if not instance.agent_connected:
        return "AGENT"
    if template.cpu > left.cpu:
        return "RESOURCE:CPU"
    if template.memory > left.memory:
        return "RESOURCE:MEMORY"
    if (template.static_tcp | set(free_tcp[: template.dynamic_tcp])) & left.ports:
        return "RESOURCE:PORTS"
    if (template.static_udp | set(free_udp[: template.dynamic_udp])) & left.ports_udp:
        return "RESOURCE:PORTS"
    if template.gpu > left.scalar("GPU"):
        return "RESOURCE:GPU"
    return None


def recount(snap: Snapshot) -> list[str]:
    """Remaining = registered − Σ charges of the tasks not STOPPED, recounted from scratch."""
    problems = []
    for instance in snap.instances():
        holding = [t for t in snap.tasks() if t.container_instance_id == instance.id and t.last_status != "STOPPED"]
        if instance.status == "INACTIVE":
            if holding:
                problems.append(f"{instance.id} is INACTIVE with {len(holding)} live tasks")
            continue
        registered = instance.registered
        cpu = registered.cpu - sum(t.charge.cpu for t in holding)
        memory = registered.memory - sum(t.charge.memory for t in holding)
        gpu = registered.scalar("GPU") - sum(t.charge.scalar("GPU") for t in holding)
        tcp = [p for t in holding for p in t.charge.ports]
        udp = [p for t in holding for p in t.charge.ports_udp]
        if min(cpu, memory, gpu) < 0:
            problems.append(f"{instance.id} is overcommitted")
        if len(set(tcp)) != len(tcp) or set(tcp) & registered.ports or len(set(udp)) != len(udp):
            problems.append(f"{instance.id} has a port charged twice")
        expected = Resources(cpu, memory, registered.ports | set(tcp), registered.ports_udp | set(udp), {"GPU": gpu})
        if instance.remaining != expected:
            problems.append(f"{instance.id} remaining {instance.remaining!r} != {expected!r}")
        pending = sum(1 for t in holding if t.last_status in ("PROVISIONING", "PENDING", "ACTIVATING"))
        running = sum(1 for t in holding if t.last_status == "RUNNING")
        if (instance.pending_tasks_count, instance.running_tasks_count) != (pending, running):
            problems.append(f"{instance.id} counts are off")
        for task in holding:
            if task.host_ports:
                bound = {(b.host_port, b.protocol) for b in task.host_ports}
                charged = {(p, "tcp") for p in task.charge.ports} | {(p, "udp") for p in task.charge.ports_udp}
                if bound != charged:
                    problems.append(f"task {task.id} binds {bound} but is charged {charged}")
    return problems


def record(snap: Snapshot) -> dict[str, Any]:
    return {
        "version": snap.version,
        "tasks": {t.id: t for t in snap.tasks()},
        "instances": {i.id: i for i in snap.instances()},
        "definitions": {d.key: d.status for d in snap.task_definitions()},
    }


class Accounting(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.state = ClusterState("acct", dynamic_ports=DYNAMIC)
        self.instances: list[str] = []
        self.families: dict[str, str] = {}  # task definition key -> template name
        self.counter = 0
        self.last = record(self.state.snapshot())

    @initialize(
        sizes=st.lists(st.tuples(st.sampled_from([256, 1024, 2048]), st.integers(0, 2)), min_size=1, max_size=3),
        names=st.lists(st.sampled_from(sorted(TEMPLATES)), min_size=1, max_size=3),
    )
    def seed(self, sizes: list[tuple[int, int]], names: list[str]) -> None:
        for cpu, gpus in sizes:
            self.register_instance(cpu, cpu * 2, gpus)
        for name in names:
            self.register_task_definition(name)

    # -- instances ---------------------------------------------------------------------------

    @rule(
        cpu=st.sampled_from([256, 1024, 2048]),
        memory=st.sampled_from([256, 1024, 4096]),
        gpus=st.integers(0, 2),
    )
    def register_instance(self, cpu: int, memory: int, gpus: int) -> None:
        self.counter += 1
        instance_id = f"i{self.counter}"
        instance = self.state.register_container_instance(
            instance_id, cpu=cpu, memory=memory, scalars={"GPU": gpus} if gpus else None
        )
        assert instance.remaining == instance.registered
        assert instance.version == 1 and instance.status == "ACTIVE"
        self.instances.append(instance_id)

    @precondition(lambda self: self.instances)
    @rule(data=st.data(), cpu=st.sampled_from([512, 2048]))
    def register_again(self, data: st.DataObject, cpu: int) -> None:
        instance_id = data.draw(st.sampled_from(self.instances))
        old = self.state.snapshot().instance(instance_id)
        if old.status == "INACTIVE":
            again = self.state.register_container_instance(instance_id, cpu=cpu, memory=1024)
            assert again.status == "ACTIVE" and again.version > old.version
            assert again.remaining == again.registered
        else:
            self.expect_no_change(
                lambda: self.state.register_container_instance(instance_id, cpu=cpu, memory=1024), ValidationError
            )

    @precondition(lambda self: self.instances)
    @rule(data=st.data(), force=st.booleans())
    def deregister_instance(self, data: st.DataObject, force: bool) -> None:
        instance_id = data.draw(st.sampled_from(self.instances))
        snap = self.state.snapshot()
        holding = [t.id for t in snap.tasks_on(instance_id)]
        if snap.instance(instance_id).status != "INACTIVE" and holding and not force:
            self.expect_no_change(lambda: self.state.deregister_container_instance(instance_id), ValidationError)
            return
        gone = self.state.deregister_container_instance(instance_id, force=force)
        assert gone.status == "INACTIVE"
        after = self.state.snapshot()
        for task_id in holding:
            assert after.task(task_id).last_status == "STOPPED"
        assert list(after.tasks_on(instance_id)) == []

    @precondition(lambda self: self.instances)
    @rule(data=st.data(), status=st.sampled_from(["ACTIVE", "DRAINING"]))
    def set_status(self, data: st.DataObject, status: str) -> None:
        instance_id = data.draw(st.sampled_from(self.instances))
        before = self.state.snapshot().instance(instance_id)
        described = self.state.update_container_instances_state([instance_id], status)  # type: ignore[arg-type]
        if before.status == "INACTIVE":
            assert described.items == () and len(described.failures) == 1
            assert self.state.snapshot().instance(instance_id) == before
        else:
            assert [i.status for i in described.items] == [status]

    @precondition(lambda self: self.instances)
    @rule(data=st.data(), connected=st.booleans())
    def set_agent(self, data: st.DataObject, connected: bool) -> None:
        instance_id = data.draw(st.sampled_from(self.instances))
        before = self.state.snapshot().instance(instance_id)
        result = self.state.commit([UpdateInstance(instance_id, agent_connected=connected)])
        after = self.state.snapshot().instance(instance_id)
        if before.status == "INACTIVE":
            assert [r.reason for r in result.rejected] == ["INACTIVE"]
            assert after == before
        else:
            assert after.agent_connected is connected

    # -- task definitions --------------------------------------------------------------------

    @rule(name=st.sampled_from(sorted(TEMPLATES)))
    def register_task_definition(self, name: str) -> None:
        before = self.state.snapshot().last_revision(name)
        registered = self.state.register_task_definition(TEMPLATES[name].json(name))
        assert registered.revision == before + 1
        assert registered.status == "ACTIVE"
        self.families[registered.key] = name

    @precondition(lambda self: self.families)
    @rule(data=st.data())
    def deregister_task_definition(self, data: st.DataObject) -> None:
        key = data.draw(st.sampled_from(sorted(self.families)))
        self.state.deregister_task_definition(key)
        assert self.state.snapshot().task_definition(key).status == "INACTIVE"
        if self.instances:
            self.expect_no_change(lambda: self.state.start_task(key, self.instances[:1]), ValidationError)

    # -- tasks -------------------------------------------------------------------------------

    # placing tasks is what this machine is about: three rules lead to it, so it is drawn often
    @precondition(lambda self: self.families and self.instances)
    @rule(data=st.data(), ghost=st.booleans())
    def start_task(self, data: st.DataObject, ghost: bool) -> None:
        self._start(data, ghost)

    @precondition(lambda self: self.families and self.instances)
    @rule(data=st.data())
    def start_more_tasks(self, data: st.DataObject) -> None:
        self._start(data, False)

    @precondition(lambda self: self.families and self.instances)
    @rule(data=st.data())
    def start_even_more_tasks(self, data: st.DataObject) -> None:
        self._start(data, False)

    def _start(self, data: st.DataObject, ghost: bool) -> None:
        snap = self.state.snapshot()
        active = sorted(k for k in self.families if snap.task_definition(k).status == "ACTIVE")
        if not active:
            return
        key = data.draw(st.sampled_from(active))
        chosen = data.draw(st.lists(st.sampled_from(self.instances), min_size=1, max_size=3, unique=True))
        if ghost:
            chosen.append("ghost")
        template = TEMPLATES[self.families[key]]
        expected = {instance_id: predict(snap, template, instance_id) for instance_id in chosen}
        result = self.state.start_task(key, chosen, started_by="machine")
        for reason in expected.values():
            event(f"start_task: {reason or 'placed'}")
        event(f"tasks placed in this run: {min(self.state.snapshot().task_count, 10)}+")
        placed = {t.container_instance_id: t for t in result.tasks}
        assert set(placed) == {i for i, reason in expected.items() if reason is None}
        failures = {f.arn.rsplit("/", 1)[-1]: f.reason for f in result.failures}
        assert failures == {i: reason for i, reason in expected.items() if reason is not None}
        for task in result.tasks:
            assert task.charge.cpu == template.cpu and task.charge.memory == template.memory
            assert task.charge.scalar("GPU") == template.gpu
            assert task.started_by == "machine" and task.version == 1
            dynamic = [b for b in task.host_ports if b.host_port in range(DYNAMIC.first, DYNAMIC.last + 1)]
            assert len(dynamic) == template.dynamic_tcp + template.dynamic_udp

    def live_tasks(self) -> list[str]:
        return sorted(t.id for t in self.state.snapshot().tasks() if not t.is_stopped)

    def some_tasks(self) -> list[str]:
        return sorted(t.id for t in self.state.snapshot().tasks())

    @precondition(lambda self: self.state.snapshot().task_count)
    @rule(data=st.data())
    def stop_task(self, data: st.DataObject) -> None:
        task_id = data.draw(st.sampled_from(self.some_tasks()))
        before = self.state.snapshot().task(task_id)
        instance_before = self.state.snapshot().instance(before.container_instance_id)
        after = self.state.stop_task(task_id)
        assert after.desired_status == "STOPPED"
        assert after.last_status == before.last_status
        assert after.version == before.version + (before.desired_status != "STOPPED")
        assert self.state.snapshot().instance(before.container_instance_id).remaining == instance_before.remaining

    @precondition(lambda self: any(not t.is_stopped for t in self.state.snapshot().tasks()))
    @rule(data=st.data(), health=st.sampled_from([None, "HEALTHY", "UNHEALTHY"]))
    def report_forward(self, data: st.DataObject, health: str | None) -> None:
        self._report(data, health)

    @precondition(lambda self: any(not t.is_stopped for t in self.state.snapshot().tasks()))
    @rule(data=st.data())
    def report_more(self, data: st.DataObject) -> None:
        self._report(data, None)

    def _report(self, data: st.DataObject, health: str | None) -> None:
        task_id = data.draw(st.sampled_from(self.live_tasks()))
        before = self.state.snapshot().task(task_id)
        target = data.draw(st.sampled_from(TASK_LIFECYCLE[TASK_LIFECYCLE.index(before.last_status) :]))
        stop_code = data.draw(st.sampled_from([None, "EssentialContainerExited"])) if target == "STOPPED" else None
        after = self.state.submit_task_state_change(
            task_id,
            version=before.version,
            status=target,
            health_status=health,  # type: ignore[arg-type]
            stop_code=stop_code,  # type: ignore[arg-type]
        )
        assert after.last_status == target
        changed = target != before.last_status or (health is not None and health != before.health_status)
        assert after.version == before.version + changed
        if target == "STOPPED":
            assert after.desired_status == "STOPPED" and after.stopped_at is not None
            assert task_id not in {t.id for t in self.state.snapshot().tasks_on(before.container_instance_id)}

    @precondition(lambda self: any(t.version > 1 for t in self.state.snapshot().tasks()))
    @rule(data=st.data(), status=st.sampled_from([None, *TASK_LIFECYCLE]))
    def stale_report(self, data: st.DataObject, status: str | None) -> None:
        task_id = data.draw(st.sampled_from(sorted(t.id for t in self.state.snapshot().tasks() if t.version > 1)))
        current = self.state.snapshot().task(task_id).version
        seen = data.draw(st.integers(1, current - 1))
        error = self.expect_no_change(
            lambda: self.state.submit_task_state_change(
                task_id,
                version=seen,
                status=status,  # type: ignore[arg-type]
                health_status="HEALTHY",
            ),
            StaleVersionError,
        )
        assert error.current == current

    # -- checks ------------------------------------------------------------------------------

    def expect_no_change(self, call: Any, error: type[Exception]) -> Any:
        before = record(self.state.snapshot())
        with pytest.raises(error) as caught:
            call()
        assert record(self.state.snapshot()) == before, "a call that raised changed the state"
        return caught.value

    @invariant()
    def no_violations(self) -> None:
        snap = self.state.snapshot()
        assert state_violations(snap) == []
        assert recount(snap) == []

    @invariant()
    def versions_only_increase(self) -> None:
        now = record(self.state.snapshot())
        last = self.last
        assert now["version"] >= last["version"]
        changed = False
        for kind in ("tasks", "instances"):
            assert set(last[kind]) <= set(now[kind]), f"{kind} disappeared"
            for key, old in last[kind].items():
                new = now[kind][key]
                if new != old:
                    changed = True
                    assert new.version > old.version, f"{kind} {key} changed without a new version"
                else:
                    assert new.version == old.version
        for key, status in last["definitions"].items():
            assert now["definitions"][key] in (status, "INACTIVE")
        changed = changed or len(now["tasks"]) > len(last["tasks"]) or now["definitions"] != last["definitions"]
        changed = changed or len(now["instances"]) > len(last["instances"])
        if changed:
            assert now["version"] > last["version"], "the state changed without a new cluster version"
        self.last = now


TestAccounting = Accounting.TestCase
TestAccounting.settings = settings(max_examples=200, stateful_step_count=60)
