"""Resources arithmetic: algebraic laws, fit checks against an oracle, and validation."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

import clusterkit
from clusterkit import Resources, ValidationError

SCALAR_NAMES = ("GPU", "FPGA", "NEURON")

# Scalar amounts are whole numbers or quarters: exact in binary floating point, so the
# algebraic laws hold exactly and equality comparisons are meaningful.
amounts = st.one_of(st.integers(0, 16), st.integers(0, 64).map(lambda quarters: quarters / 4))
port_sets = st.frozensets(st.integers(1, 65535), max_size=5)
# Small port numbers make collisions between two drawn values likely.
crowded_port_sets = st.frozensets(st.integers(1, 12), max_size=4)


@st.composite
def resources(draw: st.DrawFn, ports: st.SearchStrategy[frozenset[int]] = port_sets) -> Resources:
    return Resources(
        cpu=draw(st.integers(0, 8192)),
        memory=draw(st.integers(0, 32768)),
        ports=draw(ports),
        ports_udp=draw(ports),
        scalars=draw(st.dictionaries(st.sampled_from(SCALAR_NAMES), amounts, max_size=3)),
    )


def crowded() -> st.SearchStrategy[Resources]:
    return resources(crowded_port_sets)


def oracle_shortfalls(demand: Resources, capacity: Resources) -> set[str]:
    """Every reason the demand does not fit, computed componentwise from the public fields."""
    reasons = set()
    if demand.cpu > capacity.cpu:
        reasons.add("CPU")
    if demand.memory > capacity.memory:
        reasons.add("MEMORY")
    if demand.ports & capacity.ports:
        reasons.add("PORTS")
    if demand.ports_udp & capacity.ports_udp:
        reasons.add("PORTS_UDP")
    capacity_scalars = dict(capacity.scalars)
    for name, amount in demand.scalars:
        if amount > capacity_scalars.get(name, 0):
            reasons.add(name)
    return reasons


# --- algebra of + and - -------------------------------------------------------------


@given(resources(), resources())
def test_addition_is_commutative(a: Resources, b: Resources) -> None:
    assert a + b == b + a
    assert hash(a + b) == hash(b + a)


@given(resources(), resources(), resources())
def test_addition_is_associative(a: Resources, b: Resources, c: Resources) -> None:
    assert (a + b) + c == a + (b + c)


@given(resources())
def test_empty_resources_is_the_identity(a: Resources) -> None:
    assert a + Resources() == a
    assert Resources() + a == a
    assert a - Resources() == a


@given(resources(), resources())
def test_addition_sums_amounts_and_unites_ports(a: Resources, b: Resources) -> None:
    total = a + b
    assert total.cpu == a.cpu + b.cpu
    assert total.memory == a.memory + b.memory
    assert total.ports == a.ports | b.ports
    assert total.ports_udp == a.ports_udp | b.ports_udp
    for name in SCALAR_NAMES:
        assert total.scalar(name) == a.scalar(name) + b.scalar(name)


@given(crowded(), crowded())
def test_subtraction_undoes_addition_when_ports_are_disjoint(a: Resources, b: Resources) -> None:
    disjoint = a.ports.isdisjoint(b.ports) and a.ports_udp.isdisjoint(b.ports_udp)
    if disjoint:
        assert (a + b) - b == a
    else:
        # A shared port is removed by the subtraction, so a is not recovered.
        assert ((a + b) - b).ports == a.ports - b.ports
        assert ((a + b) - b).ports_udp == a.ports_udp - b.ports_udp
        assert (a + b) - b != a


@given(resources(), resources())
def test_subtraction_raises_exactly_when_an_amount_would_go_negative(a: Resources, b: Resources) -> None:
    negative = b.cpu > a.cpu or b.memory > a.memory or any(amount > a.scalar(name) for name, amount in b.scalars)
    if negative:
        with pytest.raises(ValidationError):
            a - b
    else:
        difference = a - b
        assert difference.cpu == a.cpu - b.cpu
        assert difference.memory == a.memory - b.memory
        assert difference.ports == a.ports - b.ports
        for name in SCALAR_NAMES:
            assert difference.scalar(name) == a.scalar(name) - b.scalar(name)


def test_subtraction_error_names_the_component() -> None:
    with pytest.raises(ValidationError) as cpu_error:
        Resources(cpu=100) - Resources(cpu=101)
    assert cpu_error.value.field == "cpu"
    assert cpu_error.value.value == 101
    with pytest.raises(ValidationError) as memory_error:
        Resources(cpu=100, memory=10) - Resources(memory=11)
    assert memory_error.value.field == "memory"
    with pytest.raises(ValidationError) as gpu_error:
        Resources(scalars={"GPU": 1}) - Resources(scalars={"GPU": 2})
    assert "GPU" in gpu_error.value.field


@given(resources())
def test_zero_scalars_are_dropped_so_equal_values_compare_equal(a: Resources) -> None:
    padded = Resources(a.cpu, a.memory, a.ports, a.ports_udp, {**dict(a.scalars), "UNUSED": 0})
    assert padded == a
    assert hash(padded) == hash(a)
    assert padded.scalar("UNUSED") == 0


# --- fits / shortfall against the oracle ----------------------------------------------


@given(crowded(), crowded())
def test_shortfall_agrees_with_componentwise_oracle(demand: Resources, capacity: Resources) -> None:
    reasons = oracle_shortfalls(demand, capacity)
    shortfall = demand.shortfall(capacity)
    if reasons:
        assert shortfall in reasons
    else:
        assert shortfall is None
    assert demand.fits(capacity) == (not reasons)


@given(crowded(), crowded())
def test_allocate_raises_exactly_when_there_is_a_shortfall(capacity: Resources, charge: Resources) -> None:
    reason = charge.shortfall(capacity)
    if reason is None:
        left = capacity.allocate(charge)
        assert left.cpu == capacity.cpu - charge.cpu
        assert left.memory == capacity.memory - charge.memory
        assert left.ports == capacity.ports | charge.ports
        assert left.ports_udp == capacity.ports_udp | charge.ports_udp
        for name in SCALAR_NAMES:
            assert left.scalar(name) == capacity.scalar(name) - charge.scalar(name)
    else:
        with pytest.raises(ValidationError) as error:
            capacity.allocate(charge)
        assert error.value.field == f"resources.{reason}"
        assert isinstance(error.value, ValueError)


@st.composite
def capacity_and_fitting_charge(draw: st.DrawFn) -> tuple[Resources, Resources]:
    slack = draw(crowded())
    charge = draw(crowded())
    capacity = Resources(
        cpu=slack.cpu + charge.cpu,
        memory=slack.memory + charge.memory,
        ports=slack.ports - charge.ports,
        ports_udp=slack.ports_udp - charge.ports_udp,
        scalars=dict((slack + Resources(scalars=charge.scalars)).scalars),
    )
    return capacity, charge


@given(capacity_and_fitting_charge())
def test_allocate_then_release_is_identity(pair: tuple[Resources, Resources]) -> None:
    capacity, charge = pair
    assert charge.fits(capacity)
    allocated = capacity.allocate(charge)
    assert allocated.release(charge) == capacity
    # Placing the same static ports twice must not fit.
    if charge.ports or charge.ports_udp:
        assert not charge.fits(allocated)


@given(capacity_and_fitting_charge())
def test_allocate_then_release_is_identity_for_many_charges(pair: tuple[Resources, Resources]) -> None:
    capacity, charge = pair
    half = Resources(cpu=charge.cpu // 2, memory=charge.memory // 2)
    rest = Resources(
        cpu=charge.cpu - half.cpu,
        memory=charge.memory - half.memory,
        ports=charge.ports,
        ports_udp=charge.ports_udp,
        scalars=charge.scalars,
    )
    assert capacity.allocate(half).allocate(rest).release(rest).release(half) == capacity
    assert capacity.allocate(half).allocate(rest) == capacity.allocate(charge)


# --- scalars such as GPU behave like cpu ------------------------------------------------


def test_scalar_shortfall_names_the_scalar() -> None:
    capacity = Resources(cpu=4096, memory=8192, scalars={"GPU": 1})
    assert Resources(cpu=1024, scalars={"GPU": 1}).shortfall(capacity) is None
    assert Resources(cpu=1024, scalars={"GPU": 2}).shortfall(capacity) == "GPU"
    assert Resources(scalars={"FPGA": 1}).shortfall(capacity) == "FPGA"
    assert Resources(cpu=4097).shortfall(capacity) == "CPU"
    assert Resources(memory=8193).shortfall(capacity) == "MEMORY"
    assert Resources(ports=[80]).shortfall(Resources(ports=[80, 443])) == "PORTS"
    assert Resources(ports_udp=[53]).shortfall(Resources(ports=[53], ports_udp=[53])) == "PORTS_UDP"
    assert Resources(ports=[53]).shortfall(Resources(ports_udp=[53])) is None


def test_scalar_allocation_and_release() -> None:
    capacity = Resources(cpu=2048, memory=4096, scalars={"GPU": 4})
    charge = Resources(cpu=512, memory=1024, scalars={"GPU": 3})
    left = capacity.allocate(charge)
    assert left.scalar("GPU") == 1
    assert left.scalar_map == {"GPU": 1}
    assert not charge.fits(left)
    assert charge.shortfall(left) == "GPU"
    with pytest.raises(ValidationError) as error:
        left.allocate(charge)
    assert error.value.field == "resources.GPU"
    emptied = left.allocate(Resources(scalars={"GPU": 1}))
    assert emptied.scalar("GPU") == 0
    assert emptied.scalars == ()
    assert emptied.release(Resources(scalars={"GPU": 1})).release(charge) == capacity


def test_scalar_map_and_lookup() -> None:
    value = Resources(scalars={"GPU": 2, "FPGA": 0.5})
    assert value.scalar("GPU") == 2
    assert value.scalar("FPGA") == 0.5
    assert value.scalar("NEURON") == 0
    assert value.scalar_map == {"GPU": 2, "FPGA": 0.5}
    value.scalar_map["GPU"] = 99  # a new dict each time: the value stays unchanged
    assert value.scalar("GPU") == 2


def test_is_empty() -> None:
    assert Resources().is_empty
    assert Resources(scalars={"GPU": 0}).is_empty
    assert not Resources(cpu=1).is_empty
    assert not Resources(memory=1).is_empty
    assert not Resources(ports=[80]).is_empty
    assert not Resources(ports_udp=[53]).is_empty
    assert not Resources(scalars={"GPU": 1}).is_empty


def test_repr_shows_non_empty_parts() -> None:
    text = repr(Resources(cpu=256, memory=512, ports=[443, 80], scalars={"GPU": 1}))
    assert text == "Resources(cpu=256, memory=512, ports=[80, 443], scalars={'GPU': 1})"


# --- validation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field", "value"),
    [
        ({"cpu": -1}, "cpu", -1),
        ({"cpu": True}, "cpu", True),
        ({"cpu": 1.5}, "cpu", 1.5),
        ({"cpu": "256"}, "cpu", "256"),
        ({"memory": -512}, "memory", -512),
        ({"memory": False}, "memory", False),
        ({"ports": [0]}, "ports", 0),
        ({"ports": [70000]}, "ports", 70000),
        ({"ports": [True]}, "ports", True),
        ({"ports": [80, -80]}, "ports", -80),
        ({"ports_udp": [0]}, "ports_udp", 0),
        ({"ports_udp": [65536]}, "ports_udp", 65536),
        ({"scalars": {"GPU": -1}}, "scalars['GPU']", -1),
        ({"scalars": {"GPU": True}}, "scalars['GPU']", True),
        ({"scalars": {"GPU": "1"}}, "scalars['GPU']", "1"),
        ({"scalars": {"": 1}}, "scalars['']", 1),
    ],
)
def test_invalid_resources_raise_validation_error_naming_the_field(
    kwargs: dict[str, object], field: str, value: object
) -> None:
    with pytest.raises(clusterkit.ValidationError) as error:
        Resources(**kwargs)  # type: ignore[arg-type]
    assert isinstance(error.value, ValueError)
    assert error.value.field == field
    assert error.value.value == value
    assert type(error.value.value) is type(value)
    assert field in str(error.value)
    assert repr(value) in str(error.value)


@pytest.mark.parametrize("port", [1, 22, 65535])
def test_boundary_ports_are_valid(port: int) -> None:
    assert Resources(ports=[port], ports_udp=[port]).ports == frozenset({port})


def test_nan_scalar_is_rejected() -> None:
    # "All amounts are non-negative": NaN is not a non-negative number, and a NaN
    # demand would fit every capacity (every comparison with NaN is false).
    with pytest.raises(ValidationError) as error:
        Resources(scalars={"GPU": math.nan})
    assert error.value.field == "scalars['GPU']"


def test_scalar_names_are_unique() -> None:
    # The iterable form may name a resource twice; the value must not end up holding two
    # different amounts for one name (scalar() and scalar_map would disagree).
    try:
        value = Resources(scalars=[("GPU", 1), ("GPU", 2)])
    except ValidationError as error:
        assert "GPU" in error.field
        return
    names = [name for name, _ in value.scalars]
    assert len(names) == len(set(names))
    assert value.scalar("GPU") == value.scalar_map["GPU"]


def test_resources_are_immutable() -> None:
    value = Resources(cpu=1)
    with pytest.raises(AttributeError):
        value.cpu = 2  # type: ignore[misc]
