"""A central, bounded store of container log lines, queryable by task, container, time and text.

Agents collect their containers' lines into one ``LogStore`` (it is thread-safe, so the
agents of several hosts can share it), the way the ECS agent ships logs to one place.
It is bounded twice: each task keeps its newest ``max_lines_per_task`` lines, and when
more than ``max_tasks`` tasks have lines, the task written to least recently is dropped.
``dropped`` counts the lines either bound discarded, so a reader knows when history is
missing.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict, deque
from collections.abc import Iterable

from clusterkit.errors import ValidationError
from clusterkit.executor import LogLine

__all__ = ["LogStore"]


class LogStore:
    """Log lines of many tasks, newest kept, oldest dropped first."""

    def __init__(self, *, max_lines_per_task: int = 10_000, max_tasks: int = 1_000) -> None:
        for field, value in (("max_lines_per_task", max_lines_per_task), ("max_tasks", max_tasks)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValidationError(field, value, "must be a positive integer")
        self.max_lines_per_task = max_lines_per_task
        self.max_tasks = max_tasks
        self.dropped = 0
        self._tasks: OrderedDict[str, deque[LogLine]] = OrderedDict()
        self._lock = threading.Lock()

    def append(self, lines: Iterable[LogLine]) -> None:
        """Add lines (each task's lines are expected oldest first)."""
        with self._lock:
            for line in lines:
                kept = self._tasks.get(line.task_id)
                if kept is None:
                    kept = self._tasks[line.task_id] = deque(maxlen=self.max_lines_per_task)
                    while len(self._tasks) > self.max_tasks:
                        _, evicted = self._tasks.popitem(last=False)
                        self.dropped += len(evicted)
                else:
                    self._tasks.move_to_end(line.task_id)
                if len(kept) == self.max_lines_per_task:
                    self.dropped += 1
                kept.append(line)

    def query(
        self,
        *,
        task_id: str | None = None,
        container: str | None = None,
        since: float | None = None,
        until: float | None = None,
        contains: str | None = None,
        pattern: str | None = None,
        limit: int | None = None,
    ) -> list[LogLine]:
        """Lines matching every filter given, oldest first; ``limit`` keeps the newest ones.

        ``since`` and ``until`` bound the collection time (inclusive, seconds since the
        epoch); ``contains`` is a plain substring, ``pattern`` a regular expression.
        """
        regex = None
        if pattern is not None:
            try:
                regex = re.compile(pattern)
            except re.error as error:
                raise ValidationError("pattern", pattern, f"is not a regular expression: {error}") from None
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
            raise ValidationError("limit", limit, "must be a positive integer")
        with self._lock:
            sources = list(self._tasks.values()) if task_id is None else [self._tasks.get(task_id, deque())]
            found = [
                line
                for lines in sources
                for line in lines
                if (container is None or line.container == container)
                and (since is None or line.at >= since)
                and (until is None or line.at <= until)
                and (contains is None or contains in line.text)
                and (regex is None or regex.search(line.text) is not None)
            ]
        if task_id is None:
            found.sort(key=lambda line: line.at)
        return found[-limit:] if limit is not None else found

    def tasks(self) -> list[str]:
        """The tasks that have lines, least recently written first."""
        with self._lock:
            return list(self._tasks)

    def __len__(self) -> int:
        with self._lock:
            return sum(len(lines) for lines in self._tasks.values())
