"""Workloads: the JSON Lines format, its JSON Schema, the generator and the public-trace readers."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from clusterkit.ecs_json import load_task_definition
from clusterkit.errors import ValidationError
from clusterkit.sim import (
    BatchTask,
    CreateService,
    InstanceJoin,
    InstanceLeave,
    Load,
    RegisterDefinition,
    Shape,
    WorkloadError,
    WorkloadEvent,
    WorkloadSpec,
    dump_event,
    generate_workload,
    parse_event,
    read_alibaba_2018,
    read_google_2011,
    read_workload,
    workload_schema,
    write_workload,
)

ROOT = Path(__file__).resolve().parent.parent
TRACES = ROOT / "tests" / "data" / "traces"
VALIDATOR = jsonschema.Draft202012Validator(workload_schema())

specs = st.builds(
    WorkloadSpec,
    seed=st.integers(0, 2**32),
    duration=st.floats(60, 7200),
    instances=st.integers(0, 12),
    arrival_rate=st.floats(0, 0.2),
    diurnal_amplitude=st.floats(0, 1),
    diurnal_period=st.floats(600, 86400),
    shapes=st.lists(
        st.builds(Shape, st.integers(0, 4096), st.integers(1, 8192), st.floats(0.1, 5),
                  st.none() | st.sampled_from(["etl", "report"])),
        min_size=1, max_size=4,
    ).map(tuple),
    instance_attributes=st.lists(
        st.tuples(st.sampled_from(["tier", "rack"]), st.lists(st.sampled_from(["a", "b", "gold"]), min_size=1,
                                                              max_size=3)),
        max_size=2, unique_by=lambda pair: pair[0],
    ),
    services=st.integers(0, 3),
    crash_rate=st.floats(0, 2),
    instance_failure_rate=st.floats(0, 1),
    repair_time=st.floats(10, 3600),
)  # fmt: skip


def test_the_shipped_schema_is_the_one_the_event_declarations_give() -> None:
    shipped = json.loads((ROOT / "docs" / "workload.schema.json").read_text())
    assert shipped == workload_schema(), "regenerate docs/workload.schema.json from clusterkit.sim.workload_schema()"
    jsonschema.Draft202012Validator.check_schema(shipped)


@given(specs)
def test_generated_workloads_round_trip_and_match_the_schema(spec: WorkloadSpec) -> None:
    events = generate_workload(spec)
    buffer = io.StringIO()
    assert write_workload(events, buffer) == len(events)
    lines = buffer.getvalue().splitlines()
    for line in lines:
        VALIDATOR.validate(json.loads(line))
    assert list(read_workload(lines)) == events
    assert [event.at for event in events] == sorted(event.at for event in events)
    assert all(
        0 <= event.at < spec.duration or isinstance(event, InstanceJoin | RegisterDefinition | CreateService)
        for event in events
    )


@given(specs)
def test_the_generator_is_deterministic_and_only_removes_instances_that_are_there(spec: WorkloadSpec) -> None:
    events = generate_workload(spec)
    assert generate_workload(spec) == events
    present: set[str] = set()
    for event in events:
        if isinstance(event, InstanceJoin):
            assert event.instance not in present
            present.add(event.instance)
        elif isinstance(event, InstanceLeave):
            assert event.instance in present
            present.remove(event.instance)
    for event in events:
        if isinstance(event, BatchTask):
            assert any((event.cpu, event.memory, event.family) == (s.cpu, s.memory, s.family) for s in spec.shapes)


def test_instances_are_labelled_in_turn_and_keep_their_zone_and_labels_when_they_come_back() -> None:
    spec = WorkloadSpec(
        seed=2, duration=7200, instances=6, instance_attributes=[("tier", ["gold", "std", "std"])],
        instance_failure_rate=2, repair_time=60, arrival_rate=0,
    )  # fmt: skip
    joins = [event for event in generate_workload(spec) if isinstance(event, InstanceJoin)]
    first = {event.instance: (event.zone, dict(event.attributes)) for event in joins[:6]}
    assert [first[f"i-{i}"][1]["tier"] for i in range(6)] == ["gold", "std", "std"] * 2
    assert [first[f"i-{i}"][0] for i in range(6)] == ["zone-a", "zone-b", "zone-c"] * 2
    returned = joins[6:]
    assert returned, "some instance failed and came back"
    labels = {(zone, attributes["tier"]) for zone, attributes in first.values()}
    assert all((event.zone, event.attributes["tier"]) in labels for event in returned)
    with pytest.raises(ValidationError, match="instance_attributes"):
        WorkloadSpec(instance_attributes=[("tier", [])])


def test_arrivals_follow_the_rate_and_the_daily_curve() -> None:
    spec = WorkloadSpec(seed=3, duration=86400, instances=0, arrival_rate=0.05, diurnal_amplitude=0.8)
    arrivals = [event.at for event in generate_workload(spec) if isinstance(event, BatchTask)]
    assert 0.9 * 4320 < len(arrivals) < 1.1 * 4320  # 0.05/s over a day
    day = sum(1 for at in arrivals if at < 43200)  # sin > 0: the busy half
    assert day > 2.5 * (len(arrivals) - day)  # (1 + 2·0.8/π) / (1 − 2·0.8/π) ≈ 3.1


def test_service_load_follows_the_curve_around_its_demand() -> None:
    spec = WorkloadSpec(
        seed=1, duration=86400, services=1, service_demand=1000, diurnal_amplitude=0.5, load_interval=3600
    )
    loads = [event for event in generate_workload(spec) if isinstance(event, Load)]
    assert len(loads) == 24
    assert loads[0].demand == 1000 and max(e.demand for e in loads) == pytest.approx(1500, rel=0.01)
    assert min(e.demand for e in loads) == pytest.approx(500, rel=0.01)


GOOD_DEFINITION = {"family": "web", "containerDefinitions": [{"name": "app", "image": "web", "memory": 64}]}

BAD_LINES: list[tuple[str, str]] = [
    ('{"at": 0, "type": "instance_join", "instance": "i-1", "cpu": 0, "memory": 10}', "cpu"),
    ('{"at": 0, "type": "instance_join", "instance": "i-1", "cpu": 1.5, "memory": 10}', "cpu"),
    ('{"at": 0, "type": "instance_join", "instance": "", "cpu": 1, "memory": 10}', "instance"),
    ('{"at": 0, "type": "instance_join", "cpu": 1, "memory": 10}', "instance"),
    ('{"at": 0, "type": "instance_join", "instance": "i", "cpu": 1, "memory": 9, "attributes": {"a": 1}}',
     "attributes"),
    ('{"at": 0, "type": "instance_join", "instance": "i", "cpu": 1, "memory": 9, "colour": "red"}', "colour"),
    ('{"at": -1, "type": "instance_leave", "instance": "i-1"}', "at"),
    ('{"at": "soon", "type": "instance_leave", "instance": "i-1"}', "at"),
    ('{"at": 0, "type": "teleport"}', "type"),
    ('{"at": 0}', "type"),
    ('[1, 2]', ""),
    ('{"at": 0, "type": "batch_task", "cpu": 1, "memory": 1, "duration": 0}', "duration"),
    ('{"at": 0, "type": "batch_task", "cpu": 1, "memory": 1, "duration": 5, "count": true}', "count"),
    ('{"at": 0, "type": "create_service", "service": "s", "taskDefinition": "t", "schedulingStrategy": "ALL"}',
     "schedulingStrategy"),
    ('{"at": 0, "type": "update_service", "service": "s"}', "desiredCount"),
    ('{"at": 0, "type": "load", "service": "s", "demand": -3}', "demand"),
    ('{"at": 0, "type": "unhealthy", "service": "s", "duration": 5, "count": 0}', "count"),
    ('{"at": 0, "type": "register_task_definition", "definition": {"family": "x", "containerDefinitions": [{}]}}',
     "definition.containerDefinitions[0].name"),
    ('{"at": 0, "type": "instance_leave", "instance": "i-1"', ""),
]  # fmt: skip


@pytest.mark.parametrize(("line", "field"), BAD_LINES)
def test_a_bad_line_names_its_line_number_and_field(line: str, field: str) -> None:
    good = '{"at": 0, "type": "instance_leave", "instance": "i-0"}'
    with pytest.raises(WorkloadError) as caught:
        list(read_workload([good, "", line]))
    assert caught.value.line == 3
    assert caught.value.field == field
    assert str(caught.value).startswith(f"workload line 3, field {field!r}: ")
    assert isinstance(caught.value, ValidationError)


def test_the_schema_refuses_what_the_reader_refuses() -> None:
    for line, _ in BAD_LINES:
        try:
            raw = json.loads(line)
        except json.JSONDecodeError:
            continue
        if "definition" in raw:  # the schema leaves task definitions to ECS's own rules
            continue
        assert not VALIDATOR.is_valid(raw), line


def test_time_never_goes_back() -> None:
    lines = [
        '{"at": 5, "type": "instance_leave", "instance": "a"}',
        '{"at": 4, "type": "instance_leave", "instance": "b"}',
    ]
    with pytest.raises(WorkloadError, match="line 2, field 'at': goes back in time"):
        list(read_workload(lines))


def test_a_file_round_trips(tmp_path: Path) -> None:
    events: list[WorkloadEvent] = [
        InstanceJoin(0.0, "i-1", 2048, 4096, zone="a", attributes={"kind": "big"}),
        RegisterDefinition(0.0, GOOD_DEFINITION),
        CreateService(1.0, "web", "web:1", 2),
        BatchTask(2.5, 256, 512, 30.0, count=4, job="j"),
        InstanceLeave(9.0, "i-1"),
    ]
    path = tmp_path / "w.jsonl"
    write_workload(events, path)
    assert list(read_workload(path)) == events
    assert dump_event(events[3]) == {
        "at": 2.5,
        "type": "batch_task",
        "cpu": 256,
        "memory": 512,
        "duration": 30.0,
        "count": 4,
        "job": "j",
    }
    assert dump_event(events[2]) == {
        "at": 1.0,
        "type": "create_service",
        "service": "web",
        "taskDefinition": "web:1",
        "desiredCount": 2,
    }


def test_parse_event_takes_decoded_objects() -> None:
    assert parse_event({"at": 1, "type": "load", "service": "web", "demand": 5}) == Load(1.0, "web", 5.0)


# -- the public traces ---------------------------------------------------------------------------


def test_the_samples_are_what_the_script_writes(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "write_trace_samples.py"), str(tmp_path)],
        check=True,
        capture_output=True,
    )
    for path in TRACES.rglob("*.csv*"):
        assert (tmp_path / path.relative_to(TRACES)).read_bytes() == path.read_bytes(), path


def test_alibaba_2018_sample() -> None:
    events = read_alibaba_2018(TRACES / "alibaba-2018")
    joins = [e for e in events if isinstance(e, InstanceJoin)]
    assert len(joins) == 20  # m_1 .. m_20, the second row of m_1 not replayed
    assert joins[0] == InstanceJoin(0.0, "m_1", 96 * 1024, 524288, zone="fd-1")
    assert joins[1] == InstanceJoin(0.0, "m_2", 64 * 1024, 262144, zone="fd-2")
    services = {e.service: e for e in events if isinstance(e, CreateService)}
    assert services["app_1"] == CreateService(50.0, "app_1", "app_1", 2)  # c_1 and c_2; c_1's second row counts once
    definition = next(e for e in events if isinstance(e, RegisterDefinition) and e.definition["family"] == "app_1")
    container = load_task_definition(definition.definition).container_definitions[0]
    assert (container.cpu, container.memory) == (4096, round(0.0156 * 524288))
    batch = [e for e in events if isinstance(e, BatchTask)]
    assert [e for e in batch if e.job == "j_1"] == [
        BatchTask(1000.0, 512, round(0.0039 * 524288), 60.0, count=3, job="j_1"),
        BatchTask(1060.0, 1024, round(0.002 * 524288), 140.0, count=1, job="j_1"),
    ]
    assert not any(e.job in ("j_2", "j_3") for e in batch)
    rows = (TRACES / "alibaba-2018" / "batch_task.csv").read_text().splitlines()
    assert len(batch) == sum(1 for row in rows if ",Terminated," in row and not row.endswith(",,"))


def test_google_2011_sample() -> None:
    events = read_google_2011(TRACES / "google-2011")
    assert events[0] == InstanceJoin(0.0, "m-5", 16384, round(0.2493 * 131072))
    assert InstanceJoin(0.0, "m-6", 32768, 131072) in events
    assert InstanceLeave(600.0, "m-6") in events
    batch = [e for e in events if isinstance(e, BatchTask)]
    assert [e for e in batch if e.job == "100"] == [BatchTask(0.0, 2048, round(0.0311 * 131072), 60.0, job="100")]
    assert not any(e.job == "101" for e in batch)  # never finished
    assert all(e.duration >= 10 for e in batch if e.job != "100")


def test_a_malformed_trace_row_names_the_file_row_and_column(tmp_path: Path) -> None:
    folder = tmp_path / "alibaba"
    folder.mkdir()
    (folder / "machine_meta.csv").write_text("m_1,0,1,a,96,100,USING\nm_2,0,1,a,many,100,USING\n")
    (folder / "batch_task.csv").write_text("")
    with pytest.raises(WorkloadError) as caught:
        read_alibaba_2018(folder)
    assert (caught.value.line, caught.value.field, caught.value.value) == (2, "machine_meta.csv:cpu_num", "many")
    (folder / "machine_meta.csv").write_text("m_1,0,1,a,96,100\n")
    with pytest.raises(WorkloadError, match="machine_meta row has 7 columns"):
        read_alibaba_2018(folder)
    with pytest.raises(WorkloadError, match=r"no machine_events\.csv"):
        read_google_2011(folder)


def test_trace_workloads_are_valid_workload_files(tmp_path: Path) -> None:
    for events in (read_alibaba_2018(TRACES / "alibaba-2018"), read_google_2011(TRACES / "google-2011")):
        path = tmp_path / "w.jsonl"
        write_workload(events, path)
        assert list(read_workload(path)) == events
        for line in path.read_text().splitlines():
            VALIDATOR.validate(json.loads(line))


def _spec_kwargs() -> dict[str, Any]:
    return {"diurnal_amplitude": 1.5}


def test_a_bad_spec_names_its_field() -> None:
    with pytest.raises(ValidationError, match="diurnal_amplitude"):
        WorkloadSpec(**_spec_kwargs())
    with pytest.raises(ValidationError, match="weight"):
        Shape(1, 1, 0)
