"""Load balancing in memory: target groups kept in step with service tasks, draining before
stops, LB health in service health, and rebuilds after restarts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clusterkit.balancing import (
    HealthCheckSettings,
    InMemoryLoadBalancer,
    LoadBalancerController,
    LoadBalancerError,
    Server,
    TargetGroup,
    parse_show_stat,
    target_state,
)
from clusterkit.errors import ValidationError
from clusterkit.executor import TaskObservation
from clusterkit.model import TargetHealth
from clusterkit.state import PutService, PutServiceStatus, decode_task, encode_task
from clusterkit.testing import FakeCluster

ARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123456789abcdef"
GROUP = TargetGroup(ARN, "web", interval=1.0, healthy_threshold=2, unhealthy_threshold=2, deregistration_delay=30.0)
BREAKER = {"deploymentCircuitBreaker": {"enable": True, "rollback": False}}
LB = [{"targetGroupArn": ARN, "containerName": "app", "containerPort": 80}]


def web(image: str = "web") -> dict[str, Any]:
    app = {"name": "app", "image": image, "memory": 32, "portMappings": [{"containerPort": 80, "hostPort": 0}]}
    return {"family": "web", "containerDefinitions": [app]}


class Setup:
    """A FakeCluster, an in-memory load balancer with backend ``web``, and the controller."""

    def __init__(self, count: int = 2, grace: int = 0) -> None:
        self.cluster = FakeCluster(instances=2)
        self.state = self.cluster.state
        self.lb = InMemoryLoadBalancer(("web",))
        self.controller = LoadBalancerController(self.state, self.lb, [GROUP])
        self.state.register_task_definition(web())
        self.state.create_service(
            "web",
            "web:1",
            desired_count=count,
            load_balancers=LB,
            deployment_configuration=BREAKER,
            health_check_grace_period_seconds=grace,
        )

    def tick(self, seconds: float = 1.0) -> None:
        self.cluster.tick(0)
        self.controller.step()
        self.cluster.tick(seconds)

    def servers(self) -> dict[str, Server]:
        return dict(self.lb.servers("web"))

    def heal_all(self) -> None:
        """Every server's checks pass."""
        for name in self.servers():
            self.lb.set_health("web", name, up=True)

    def tasks(self) -> list[Any]:
        return self.cluster.service_tasks("web")

    def events(self) -> list[str]:
        return [event.message for event in self.state.snapshot().service("web").events]


@pytest.fixture
def setup() -> Iterator[Setup]:
    made = Setup()
    yield made
    made.cluster.close()


def steady(setup: Setup) -> None:
    for _ in range(3):
        setup.tick()
        setup.heal_all()
    setup.tick()


# -- the model and the API --------------------------------------------------------------------


def test_load_balancers_must_name_a_container_and_its_port(setup: Setup) -> None:
    before = setup.state.snapshot().version
    with pytest.raises(ValidationError) as missing:
        setup.state.create_service(
            "other", "web:1", desired_count=1, load_balancers=[{**LB[0], "containerName": "nope"}]
        )
    assert missing.value.field == "loadBalancers[0].containerName"
    with pytest.raises(ValidationError) as port:
        setup.state.create_service("other", "web:1", desired_count=1, load_balancers=[{**LB[0], "containerPort": 81}])
    assert port.value.field == "loadBalancers[0].containerPort" and port.value.value == 81
    with pytest.raises(ValidationError) as classic:
        setup.state.create_service("other", "web:1", desired_count=1, load_balancers=[{"loadBalancerName": "x"}])
    assert classic.value.field == "loadBalancers[0].loadBalancerName"
    assert setup.state.snapshot().version == before  # nothing committed


def test_an_update_to_a_definition_without_the_port_is_refused(setup: Setup) -> None:
    bare = web()
    bare["containerDefinitions"][0]["portMappings"] = [{"containerPort": 8080}]
    setup.state.register_task_definition(bare)
    with pytest.raises(ValidationError) as error:
        setup.state.update_service("web", task_definition="web:2")
    assert error.value.field == "loadBalancers[0].containerPort"
    assert setup.state.snapshot().service("web").task_definition == "web:1"


def test_describe_and_the_save_file_keep_load_balancers_and_target_health(setup: Setup) -> None:
    described = setup.state.describe_services(["web"]).to_ecs()["services"][0]
    assert described["loadBalancers"] == LB
    steady(setup)
    task = setup.tasks()[0]
    assert task.target_health == (TargetHealth(ARN, "healthy"),)
    arns = setup.state.snapshot().arns
    assert decode_task(encode_task(task, arns)) == task


# -- the lifecycle ------------------------------------------------------------------------------


def test_running_tasks_are_registered_and_become_healthy_through_the_lb(setup: Setup) -> None:
    setup.tick()
    setup.tick()
    tasks = setup.tasks()
    servers = setup.servers()
    assert sorted(servers) == sorted(t.id for t in tasks if t.last_status == "RUNNING") and len(servers) == 2
    for task in tasks:
        port = task.host_ports[0].host_port
        assert (servers[task.id].address, servers[task.id].port) == ("127.0.0.1", port)
        assert task.target_health == (TargetHealth(ARN, "initial"),)
    assert f"(service web) registered 2 targets in (target-group {ARN})" in setup.events()
    setup.cluster.run(60)  # no LB health yet: without a container check the 40 s do not make it healthy
    assert setup.state.snapshot().service("web").healthy_seen == frozenset()
    steady(setup)
    service = setup.state.snapshot().service("web")
    assert service.healthy_seen == {t.id for t in setup.tasks()}
    assert service.deployments[0].rollout_state == "COMPLETED"


def test_a_stopped_task_is_drained_then_deregistered_before_its_containers_stop(setup: Setup) -> None:
    steady(setup)
    setup.state.update_service("web", desired_count=1)
    setup.tick()
    leaving = [t for t in setup.tasks() if t.desired_status == "STOPPED"]
    assert len(leaving) == 1
    task = leaving[0]
    assert task.last_status == "DEACTIVATING"
    setup.lb.set_sessions("web", task.id, 3)
    setup.tick()
    assert setup.servers()[task.id].admin == "drain"
    assert setup.state.snapshot().task(task.id).target_health == (TargetHealth(ARN, "draining"),)
    assert "(service web) has begun draining connections on 1 tasks." in setup.events()
    for _ in range(5):
        setup.tick()
    assert setup.cluster.executor_of(task).inspect(task.id).last_status == "RUNNING"  # agent leaves it alone
    assert setup.state.snapshot().task(task.id).last_status == "DEACTIVATING"
    setup.lb.set_sessions("web", task.id, 0)  # in-flight requests done: deregistered at once
    setup.tick()
    assert task.id not in setup.servers()
    setup.tick()
    assert setup.state.snapshot().task(task.id).last_status == "STOPPED"
    assert f"(service web) deregistered 1 targets in (target-group {ARN})" in setup.events()


def test_the_deregistration_delay_bounds_draining(setup: Setup) -> None:
    steady(setup)
    setup.state.update_service("web", desired_count=1)
    setup.tick()
    task = next(t for t in setup.tasks() if t.desired_status == "STOPPED")
    setup.lb.set_sessions("web", task.id, 5)
    setup.tick(10)
    assert setup.servers()[task.id].admin == "drain"
    setup.tick(10)
    assert task.id in setup.servers()
    outcome = setup.controller.step()
    assert outcome.wake_at == task_stopping_at(setup, task.id) + GROUP.deregistration_delay
    setup.tick(15)  # 30 s after the stop: deregistered with sessions left
    setup.tick()
    assert task.id not in setup.servers()
    assert setup.state.snapshot().task(task.id).last_status == "STOPPED"


def task_stopping_at(setup: Setup, task_id: str) -> float:
    stopping_at = setup.state.snapshot().task(task_id).stopping_at
    assert stopping_at is not None
    return stopping_at


def test_a_task_that_dies_on_its_own_is_simply_removed(setup: Setup) -> None:
    steady(setup)
    task = setup.tasks()[0]
    setup.cluster.crash(task)
    setup.tick()
    setup.tick()
    assert task.id not in setup.servers()
    assert setup.state.snapshot().task(task.id).last_status == "STOPPED"


def test_lb_unhealthy_tasks_are_replaced_and_count_toward_the_breaker() -> None:
    setup = Setup(count=2, grace=5)
    try:
        steady(setup)
        victim = setup.tasks()[0]
        setup.lb.set_health("web", victim.id, up=False)
        setup.tick()
        assert setup.state.snapshot().task(victim.id).target_health == (TargetHealth(ARN, "unhealthy"),)
        setup.tick()
        assert setup.state.snapshot().task(victim.id).desired_status == "RUNNING"  # within its grace period
        for _ in range(6):
            setup.tick()
            for task in setup.tasks():
                if task.id != victim.id and task.id in setup.servers():
                    setup.lb.set_health("web", task.id, up=True)
        stopped = setup.state.snapshot().task(victim.id)
        assert stopped.desired_status == "STOPPED"
        assert stopped.stopped_reason == f"Task failed ELB health checks in (target-group {ARN})"
        for _ in range(4):
            setup.tick()
        assert setup.state.snapshot().task(victim.id).last_status == "STOPPED"
        assert len([t for t in setup.tasks() if t.desired_status == "RUNNING"]) == 2
        # a newly placed task of the same deployment that fails its LB checks counts too
        service = setup.state.snapshot().service("web")
        assert service.deployments[0].rollout_state == "COMPLETED"  # completed deployments count nothing
    finally:
        setup.cluster.close()


def test_lb_unhealthy_tasks_of_a_new_deployment_trip_the_breaker() -> None:
    setup = Setup(count=2)
    try:
        steady(setup)
        setup.state.register_task_definition(web("web-2"))
        setup.state.update_service("web", task_definition="web:2")
        for _ in range(40):
            setup.tick()
            for task in setup.tasks():
                if task.task_definition == "web:2" and task.id in setup.servers():
                    setup.lb.set_health("web", task.id, up=False)  # checks fail at once
                elif task.id in setup.servers():
                    setup.lb.set_health("web", task.id, up=True)
        primary = setup.state.snapshot().service("web").deployments[0]
        assert primary.rollout_state == "FAILED"
        assert any("deployment failed" in m for m in setup.events())
    finally:
        setup.cluster.close()


def test_a_restarted_load_balancer_or_controller_is_rebuilt_from_the_state(setup: Setup) -> None:
    steady(setup)
    running = {t.id for t in setup.tasks()}
    setup.lb.restart()
    setup.lb.add("web", "leftover", "127.0.0.1", 1, GROUP_CHECK)
    fresh = LoadBalancerController(setup.state, setup.lb, [GROUP])
    fresh.step()
    assert set(setup.servers()) == running  # re-added; what no task accounts for is deleted
    assert all(t.desired_status == "RUNNING" for t in setup.tasks())  # re-registering replaces nothing


GROUP_CHECK = HealthCheckSettings(GROUP.interval, GROUP.healthy_threshold, GROUP.unhealthy_threshold)


def test_nothing_is_deregistered_or_stopped_while_the_load_balancer_is_unreachable(setup: Setup) -> None:
    steady(setup)
    setup.state.update_service("web", desired_count=1)
    setup.lb.down = True
    for _ in range(5):
        setup.tick(60)
    leaving = [t for t in setup.tasks() if t.desired_status == "STOPPED"]
    assert len(leaving) == 1 and leaving[0].last_status == "DEACTIVATING"
    setup.lb.down = False
    for _ in range(3):
        setup.tick()
    assert setup.state.snapshot().task(leaving[0].id).last_status == "STOPPED"


def test_target_state_maps_the_load_balancer_to_elb_states() -> None:
    server = Server("t", "127.0.0.1", 80)
    assert target_state(server, None, 0.0, GROUP, 1.0) == "initial"
    assert target_state(Server("t", "a", 1, up=True), "initial", 0.0, GROUP, 1.0) == "healthy"
    failing = Server("t", "a", 1, check="failing")
    assert target_state(failing, "initial", 0.0, GROUP, 1.0) == "initial"  # still settling
    assert target_state(failing, "initial", 0.0, GROUP, GROUP.settle_time) == "unhealthy"
    assert target_state(Server("t", "a", 1), "healthy", 0.0, GROUP, 1.0) == "unhealthy"
    assert target_state(Server("t", "a", 1, admin="drain"), "healthy", 0.0, GROUP, 1.0) == "draining"


def test_target_groups_are_validated() -> None:
    with pytest.raises(ValidationError) as error:
        TargetGroup(ARN, "web backend")
    assert error.value.field == "backend"
    with pytest.raises(ValidationError):
        TargetGroup(ARN, "web", deregistration_delay=-1)
    assert TargetGroup(ARN, "web").deregistration_delay == 300.0


def test_show_stat_parsing() -> None:
    header = "# pxname,svname,qcur,qmax,scur,status,type,check_status,addr"
    text = "\n".join(
        [
            header,
            "tests2,FRONTEND,,,0,OPEN,0,,",
            "tests2,a,0,0,2,UP 1/2,2,L7OK,127.0.0.2:32768",
            "tests2,b,0,0,0,DOWN 1/2,2,* L4CON,127.0.0.3:32769",
            "tests2,c,0,0,1,DRAIN,2,L7OK,127.0.0.3:32770",
            "tests2,d,0,0,0,MAINT,2,INI,127.0.0.3:32771",
            "tests2,BACKEND,0,0,3,UP,1,,",
            "other,x,0,0,0,UP,2,L7OK,127.0.0.1:1",
        ]
    )
    servers = parse_show_stat(text, "tests2")
    assert sorted(servers) == ["a", "b", "c", "d"]
    assert servers["a"] == Server("a", "127.0.0.2", 32768, "ready", True, "passing", 2)
    assert servers["b"] == Server("b", "127.0.0.3", 32769, "ready", False, "failing", 0)
    assert servers["c"].admin == "drain" and servers["c"].up and servers["c"].sessions == 1
    assert servers["d"].admin == "maint" and servers["d"].check == "init"
    with pytest.raises(LoadBalancerError):
        parse_show_stat("Unknown command", "tests2")


# -- the invariant, over random histories ------------------------------------------------------

OPS = st.lists(
    st.one_of(
        st.tuples(st.just("scale"), st.integers(0, 4)),
        st.tuples(st.just("health"), st.integers(0, 7), st.booleans()),
        st.tuples(st.just("sessions"), st.integers(0, 7), st.integers(0, 3)),
        st.tuples(st.just("crash"), st.integers(0, 7)),
        st.tuples(st.just("lb_down"), st.booleans()),
        st.tuples(st.just("lb_restart")),
        st.tuples(st.just("controller_pause"), st.booleans()),
        st.tuples(st.just("deploy")),
        st.tuples(st.just("wait"), st.sampled_from([1.0, 5.0, 40.0])),
    ),
    max_size=25,
)


@settings(deadline=None)
@given(ops=OPS)
def test_a_task_is_never_stopped_while_it_is_registered(ops: list[tuple[Any, ...]]) -> None:
    setup = Setup(count=2)
    violations: list[str] = []
    for executor in setup.cluster.executors.values():
        original = executor.stop

        def guarded(
            task_id: str, *, timeout: float = 30.0, _original: Callable[..., TaskObservation] = original
        ) -> TaskObservation:
            if not setup.lb.down and task_id in setup.lb.servers("web"):
                violations.append(task_id)
            return _original(task_id, timeout=timeout)

        executor.stop = guarded  # type: ignore[method-assign]
    paused = False
    revision = 1
    try:
        for op in ops:
            servers = sorted(setup.lb.servers("web")) if not setup.lb.down else []
            kind = op[0]
            if kind == "scale":
                setup.state.update_service("web", desired_count=op[1])
            elif kind == "health" and servers:
                setup.lb.set_health("web", servers[op[1] % len(servers)], up=op[2])
            elif kind == "sessions" and servers:
                setup.lb.set_sessions("web", servers[op[1] % len(servers)], op[2])
            elif kind == "crash":
                running = [t for t in setup.tasks() if t.last_status in ("RUNNING", "DEACTIVATING")]
                if running:
                    setup.cluster.crash(running[op[1] % len(running)])
            elif kind == "lb_down":
                setup.lb.down = op[1]
            elif kind == "lb_restart":
                setup.lb.restart()
            elif kind == "controller_pause":
                paused = op[1]
            elif kind == "deploy":
                revision += 1
                setup.state.register_task_definition(web(f"web-{revision}"))
                setup.state.update_service("web", task_definition=f"web:{revision}")
            elif kind == "wait":
                setup.cluster.tick(op[1])
            setup.cluster.tick(0)
            if not paused:
                setup.controller.step()
            setup.cluster.tick(1)
        assert violations == []  # the agent never stopped a task its load balancer still held
        setup.lb.down = False
        for _ in range(40):  # left alone (sessions end), everything settles
            for name in setup.lb.servers("web"):
                setup.lb.set_sessions("web", name, 0)
            setup.tick(10)
        assert violations == []
        snapshot = setup.state.snapshot()
        assert all(t.last_status not in ("DEACTIVATING", "STOPPING") for t in setup.tasks())
        running_ids = {t.id for t in setup.tasks() if t.last_status == "RUNNING"}
        assert set(setup.lb.servers("web")) == running_ids  # level-triggered: the LB matches the state
        for task in setup.tasks():
            if task.last_status == "RUNNING":
                assert [e.target_group_arn for e in snapshot.task(task.id).target_health] == [ARN]
    finally:
        setup.cluster.close()


def test_describe_output_with_load_balancers_and_a_deactivating_task_is_ecs_shaped(setup: Setup) -> None:
    from tests.ecs_api import assert_output

    steady(setup)
    setup.state.update_service("web", desired_count=1)
    setup.lb.set_sessions("web", setup.tasks()[0].id, 1)
    setup.lb.set_sessions("web", setup.tasks()[1].id, 1)
    setup.tick()
    described = setup.state.describe_services(["web"]).to_ecs()
    assert_output(described, "DescribeServicesResponse")
    assert described["services"][0]["loadBalancers"] == LB
    leaving = next(t for t in setup.tasks() if t.desired_status == "STOPPED")
    document = encode_task(setup.state.snapshot().task(leaving.id), setup.state.snapshot().arns)
    assert_output(document["task"], "Task")  # the target health is kept beside ECS's Task, not in it
    assert document["task"]["lastStatus"] == "DEACTIVATING"
    assert document["targetHealth"] == [{"targetGroupArn": ARN, "state": "draining"}]


@given(
    admin=st.sampled_from(["ready", "drain", "maint"]),
    up=st.booleans(),
    check=st.sampled_from(["init", "passing", "failing"]),
    previous=st.sampled_from([None, "initial", "healthy", "unhealthy", "draining"]),
    elapsed=st.floats(0, 100),
)
def test_target_state_is_healthy_only_when_the_load_balancer_sends_traffic(
    admin: Any, up: bool, check: Any, previous: Any, elapsed: float
) -> None:
    server = Server("t", "127.0.0.1", 80, admin=admin, up=up, check=check)
    state = target_state(server, previous, 0.0, GROUP, elapsed)
    assert (state == "healthy") == (admin == "ready" and up)
    assert (state == "draining") == (admin == "drain")
    if state == "unhealthy":  # only a target found healthy or unhealthy before, or failing past its settle time
        assert previous in ("healthy", "unhealthy") or (check == "failing" and elapsed >= GROUP.settle_time)


def test_a_commit_refused_because_the_service_moved_is_planned_again(setup: Setup) -> None:
    setup.cluster.tick(0)
    setup.cluster.tick(0)  # two tasks RUNNING, not registered yet
    original = setup.state.commit
    raced: list[int] = []

    def racing(changes: Any, *, atomic: bool = False, client_token: Any = None) -> Any:
        if not raced and any(isinstance(c, PutServiceStatus) for c in changes):
            service = setup.state.snapshot().service("web")
            raced.append(original([PutService(service, service.version)]).version)  # another writer got there first
        return original(changes, atomic=atomic, client_token=client_token)

    setup.state.commit = racing  # type: ignore[method-assign]
    outcome = setup.controller.step()
    assert raced and outcome.conflicts == 1 and outcome.committed == 2
    assert [call[0] for call in setup.lb.calls] == ["add", "add"]  # the calls were not made twice
    events = setup.events()
    assert events.count(f"(service web) registered 2 targets in (target-group {ARN})") == 1
