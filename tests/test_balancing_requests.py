"""ALBRequestCountPerTarget from the load balancer's request counters, and a service scaling on it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from clusterkit.autoscaling import (
    ALB_REQUEST_COUNT_PER_TARGET,
    CPU_UTILIZATION,
    FedMetrics,
    ServiceAutoscaler,
    TargetTrackingPolicy,
)
from clusterkit.balancing import RequestCountSource
from tests.test_balancing import GROUP, Setup, steady


@pytest.fixture
def setup() -> Iterator[Setup]:
    made = Setup()
    steady(made)
    yield made
    made.cluster.close()


def rate(source: RequestCountSource, setup: Setup, now: float) -> float | None:
    return source.sample(setup.state.snapshot(), "web", ALB_REQUEST_COUNT_PER_TARGET, now)


def test_requests_per_minute_per_target_in_service(setup: Setup) -> None:
    source = RequestCountSource(setup.lb, [GROUP])
    first, second = sorted(setup.servers())
    assert rate(source, setup, 1000.0) is None  # no earlier counters to compare with
    setup.lb.serve("web", first, 90)
    setup.lb.serve("web", second, 30)
    assert rate(source, setup, 1030.0) == pytest.approx(120 * 2 / 2)  # 120 in 30 s: 240/min over 2 targets
    setup.lb.set_health("web", second, up=False)  # out of service: the requests spread over one target
    setup.lb.serve("web", first, 60)
    assert rate(source, setup, 1090.0) == pytest.approx(60.0)
    assert source.sample(setup.state.snapshot(), "web", CPU_UTILIZATION, 1100.0) is None  # not its metric
    assert source.sample(setup.state.snapshot(), "nope", ALB_REQUEST_COUNT_PER_TARGET, 1100.0) is None


def test_a_restarted_load_balancer_counts_from_zero_and_an_unreachable_one_has_no_data(setup: Setup) -> None:
    source = RequestCountSource(setup.lb, [GROUP])
    first, _ = sorted(setup.servers())
    setup.lb.serve("web", first, 500)
    rate(source, setup, 0.0)
    setup.lb.down = True
    assert rate(source, setup, 60.0) is None
    setup.lb.down = False
    setup.lb.restart()
    steady(setup)  # the controller adds the servers again: their counters start at 0
    new_first = sorted(setup.servers())[0]
    setup.lb.serve("web", new_first, 30)
    # its counter went back (500 → 30): counted from zero; 30 requests over the 120 s since the last answer
    assert rate(source, setup, 120.0) == pytest.approx(30 * 60 / 120 / 2)


def test_a_service_scales_out_on_requests_per_target(setup: Setup) -> None:
    source = RequestCountSource(setup.lb, [GROUP])
    scaler = ServiceAutoscaler(
        setup.state, FedMetrics(), sources={ALB_REQUEST_COUNT_PER_TARGET: source},
        clock=setup.cluster.clock, sample_interval=10.0,
    )  # fmt: skip
    scaler.register_scalable_target("web", min_capacity=1, max_capacity=10)
    scaler.put_scaling_policy("web", TargetTrackingPolicy("rpt", ALB_REQUEST_COUNT_PER_TARGET, 100.0))
    for _ in range(4 * 6 + 1):  # four minutes of 10 s samples, 600 requests a minute
        for name in setup.servers():
            setup.lb.serve("web", name, 50)  # 2 targets × 50 per 10 s = 600/min: 300 per target
        scaler.step()
        setup.tick(10)
        setup.heal_all()
    activities = scaler.describe_scaling_activities("web")
    assert [(a.old, a.new) for a in activities] == [(2, 6)]  # ⌈2 · 300 / 100⌉
    assert "triggered policy rpt" in activities[0].cause
