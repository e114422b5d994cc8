"""The central log store: bounded, and every query agrees with filtering what it kept by hand."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clusterkit import ValidationError
from clusterkit.executor import LogLine
from clusterkit.logs import LogStore

lines = st.lists(
    st.builds(
        LogLine,
        task_id=st.sampled_from(["t1", "t2", "t3", "t4"]),
        container=st.sampled_from(["app", "sidecar"]),
        at=st.floats(0, 100, allow_nan=False),
        text=st.sampled_from(["GET /", "POST /login", "error: boom", "ready"]),
    ),
    max_size=60,
).map(lambda drawn: sorted(drawn, key=lambda line: line.at))


@given(lines, st.integers(1, 8), st.integers(1, 3))
def test_each_task_keeps_its_newest_lines_and_the_least_recent_task_goes_first(
    appended: list[LogLine], per_task: int, tasks: int
) -> None:
    store = LogStore(max_lines_per_task=per_task, max_tasks=tasks)
    store.append(appended)
    model: dict[str, list[LogLine]] = {}  # insertion order = least recently written first
    for line in appended:
        kept = model.pop(line.task_id, None)
        if kept is None and len(model) == tasks:
            del model[next(iter(model))]
        model[line.task_id] = [*(kept or []), line][-per_task:]
    assert store.tasks() == list(model)
    for task, kept in model.items():
        assert store.query(task_id=task) == kept
    assert len(store) + store.dropped == len(appended)


@given(
    lines,
    st.one_of(st.none(), st.sampled_from(["t1", "t2"])),
    st.one_of(st.none(), st.sampled_from(["app", "sidecar"])),
    st.one_of(st.none(), st.floats(0, 100)),
    st.one_of(st.none(), st.floats(0, 100)),
    st.one_of(st.none(), st.sampled_from(["error", "/"])),
    st.one_of(st.none(), st.integers(1, 5)),
)
def test_a_query_is_the_kept_lines_filtered_by_every_criterion(
    appended: list[LogLine],
    task_id: str | None,
    container: str | None,
    since: float | None,
    until: float | None,
    contains: str | None,
    limit: int | None,
) -> None:
    store = LogStore()
    store.append(appended)
    expected = [
        line
        for line in appended
        if (task_id is None or line.task_id == task_id)
        and (container is None or line.container == container)
        and (since is None or line.at >= since)
        and (until is None or line.at <= until)
        and (contains is None or contains in line.text)
    ]
    found = store.query(task_id=task_id, container=container, since=since, until=until, contains=contains, limit=limit)
    assert [line.at for line in found] == sorted(line.at for line in found)  # oldest first
    if limit is None:
        assert sorted(found, key=repr) == sorted(expected, key=repr)
    else:  # the newest ``limit`` of them
        assert len(found) == min(limit, len(expected))
        assert all(line in expected for line in found)
        left_out = [line for line in expected if line not in found]
        assert not found or all(line.at <= found[0].at for line in left_out)


def test_a_pattern_query_uses_regular_expressions() -> None:
    store = LogStore()
    store.append([LogLine("t", "app", 1.0, "GET /a 200"), LogLine("t", "app", 2.0, "GET /b 500")])
    assert [line.text for line in store.query(pattern=r" 5\d\d$")] == ["GET /b 500"]


@pytest.mark.parametrize(
    ("field", "call"),
    [
        ("pattern", lambda store: store.query(pattern="(")),
        ("limit", lambda store: store.query(limit=0)),
        ("max_tasks", lambda store: LogStore(max_tasks=0)),
        ("max_lines_per_task", lambda store: LogStore(max_lines_per_task=True)),
    ],
)
def test_bad_arguments_name_their_field(field: str, call: object) -> None:
    store = LogStore()
    with pytest.raises(ValidationError) as caught:
        call(store)  # type: ignore[operator]
    assert caught.value.field == field


def test_agents_of_several_hosts_can_share_one_store() -> None:
    store = LogStore(max_lines_per_task=100_000)

    def write(task: str) -> None:
        store.append(LogLine(task, "app", float(n), f"line {n}") for n in range(2_000))

    threads = [threading.Thread(target=write, args=(f"t{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(store) == 8_000 and store.dropped == 0
    assert [line.text for line in store.query(task_id="t3", limit=2)] == ["line 1998", "line 1999"]
