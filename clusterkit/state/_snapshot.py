"""Snapshots: immutable views of a ClusterState at one version, with the ECS read API.

A snapshot never changes after it is taken, and reading it takes no lock: it holds the
roots of persistent maps (``immutables.Map``) and persistent sorted indexes that later
commits share but never modify. Lists are served from those indexes — a page costs
O(page + log n) — and describes are O(ids · log n).
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from itertools import islice
from typing import Any, Final, Generic, NamedTuple, Protocol, TypeVar

import attrs
import immutables

from clusterkit.ecs_json import dump_container_instance, dump_service, dump_task
from clusterkit.errors import NotFoundError, ValidationError
from clusterkit.model import (
    DESIRED_STATUSES,
    INSTANCE_STATUSES,
    PENDING_STATUSES,
    Arns,
    ContainerInstance,
    Service,
    ServiceSpec,
    ServiceStatus,
    Task,
    TaskDefinition,
    compose,
    needs_observing,
    observe,
)
from clusterkit.state._derived import (
    ListLog,
    PlacementIndexes,
    PlacementLog,
    TaskIndex,
    Usage,
    capacity_key,
    cpu_capacity_key,
    task_index_keys,
)
from clusterkit.state._ptree import PSortedSet
from clusterkit.state._tokens import ClientToken

__all__ = [
    "Described",
    "Failure",
    "InstanceFilter",
    "Page",
    "Snapshot",
    "Usage",
    "capacity_key",
    "cpu_capacity_key",
    "task_index_keys",
]

T = TypeVar("T")
_NO_COUNTS: Final[immutables.Map[str, int]] = immutables.Map()
MAX_DESCRIBE: Final = 100
MAX_PAGE: Final = 100
MAX_DESCRIBE_SERVICES: Final = 10
"""DescribeServices takes at most 10 names, as in ECS."""
TASK_INDEXES: Final = ("all", "instance", "family", "service", "startedBy")
"""Task index kinds: every task, and by container instance, family, service, startedBy."""


@attrs.frozen(slots=True)
class Page:
    """One page of a list call: ARNs (or names) and the token for the next page, if any.

    Iterating a page gives its items, ``len`` counts them; ``key`` is the list's name in
    ECS's response (``taskArns``, ``serviceArns`` …) and ``to_ecs()`` gives that response.
    """

    items: tuple[str, ...]
    next_token: str | None = None
    key: str = attrs.field(kw_only=True, eq=False)

    def __iter__(self) -> Iterator[str]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def to_ecs(self) -> dict[str, Any]:
        """ECS's response: ``{key: [...], "nextToken": ...}``, the token only when there is a next page."""
        answer: dict[str, Any] = {self.key: list(self.items)}
        if self.next_token is not None:
            answer["nextToken"] = self.next_token
        return answer


@attrs.frozen(slots=True)
class Failure:
    """An id a call could not answer, with ECS's reason (``MISSING``) and, sometimes, a detail."""

    arn: str
    reason: str = "MISSING"
    detail: str = ""

    def to_ecs(self) -> dict[str, str]:
        """ECS's ``Failure``: ``{"arn", "reason"}``, with ``"detail"`` when there is one."""
        answer = {"arn": self.arn, "reason": self.reason}
        if self.detail:
            answer["detail"] = self.detail
        return answer


@attrs.frozen(slots=True)
class Described(Generic[T]):
    """The answer of a describe call: the items found and a failure for each id that was not.

    ``key`` is the items' name in ECS's response (``tasks``, ``services`` …) and ``dump``
    turns one item into ECS JSON (with what it needs bound in: the ARNs, a snapshot's
    counts); ``to_ecs()`` gives the whole response.
    """

    items: tuple[T, ...]
    failures: tuple[Failure, ...] = ()
    key: str = attrs.field(kw_only=True, eq=False)
    dump: Callable[[T], dict[str, Any]] = attrs.field(kw_only=True, eq=False, repr=False)

    def to_ecs(self) -> dict[str, Any]:
        """ECS's response: ``{key: [item JSON...], "failures": [{"arn", "reason"}...]}``."""
        return {self.key: [self.dump(item) for item in self.items], "failures": [f.to_ecs() for f in self.failures]}


class InstanceFilter(Protocol):
    """A selection of container instances, for ``Snapshot.list_container_instances``.

    ``clusterkit.query.Expression`` is one; ``str()`` names the selection in page tokens,
    so a token only continues the listing it came from.
    """

    def matcher(self, snapshot: Snapshot) -> Callable[[ContainerInstance], bool]:
        """A test of one instance of ``snapshot``: True when it is selected."""
        ...


AttributeIndex = immutables.Map[str, immutables.Map[str | None, PSortedSet]]
"""Per attribute name, per value, the sorted ids of the live (not INACTIVE) instances with it."""
_NO_VALUES: Final[immutables.Map[str | None, PSortedSet]] = immutables.Map()


class Roots(NamedTuple):
    """Everything a snapshot reads; a commit builds new roots sharing the unchanged parts."""

    version: int
    tasks: immutables.Map[str, Task]
    instances: immutables.Map[str, ContainerInstance]
    task_definitions: immutables.Map[str, TaskDefinition]
    family_revisions: immutables.Map[str, int]
    instance_index: immutables.Map[str, PSortedSet]
    task_definition_index: PSortedSet
    list_log: ListLog
    """The task list index, folded lazily (see ``LazyIndex``): read it as ``task_index``."""
    placement_log: PlacementLog
    """The placement indexes, folded lazily: read them as ``placement``."""
    service_specs: immutables.Map[str, ServiceSpec]
    service_statuses: immutables.Map[str, ServiceStatus]
    services: immutables.Map[str, Service]
    """Each service's spec and status as stored, composed (built by the commit that wrote
    either): what readers see, unless the status has a newer spec to observe."""
    service_names: PSortedSet
    attribute_index: AttributeIndex = immutables.Map()
    """Per attribute name, per value, the sorted ids of the instances that are not INACTIVE
    and carry that attribute with that value; kept by every commit that writes instances."""
    tokens: immutables.Map[str, ClientToken] = immutables.Map()
    """The client tokens claimed (``clusterkit.state._tokens``), expired ones until they are dropped."""

    @property
    def task_index(self) -> TaskIndex:
        """The task list index at this version. O(1) once folded (see ``LazyIndex.at``)."""
        return self.list_log.at(self.version, (self.tasks, self.instances))

    @property
    def placement(self) -> PlacementIndexes:
        """The placement indexes at this version. O(1) once folded (see ``LazyIndex.at``)."""
        return self.placement_log.at(self.version, (self.tasks, self.instances))


def _encode_token(fingerprint: int, key: Any) -> str:
    raw = json.dumps([fingerprint, key], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_token(token: str, fingerprint: int) -> Any:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        found, key = json.loads(raw)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise ValidationError("nextToken", token, "is not a token this API issued") from None
    if found != fingerprint:
        raise ValidationError("nextToken", token, "belongs to a different query")
    return tuple(key) if isinstance(key, list) else key


def _has_shape(key: Any, shape: tuple[type, ...]) -> bool:
    parts = (key,) if len(shape) == 1 else key
    return (
        isinstance(parts, tuple)
        and len(parts) == len(shape)
        and all(type(part) is kind for part, kind in zip(parts, shape, strict=True))
    )


def _fingerprint(*parts: object) -> int:
    return zlib.crc32(repr(parts).encode())


def _check_max_results(max_results: int) -> None:
    if type(max_results) is not int or not 1 <= max_results <= MAX_PAGE:
        raise ValidationError("maxResults", max_results, f"must be an integer in 1..{MAX_PAGE}")


def paginate(
    keys_from: Callable[[Any], Iterator[Any]],
    keep: Callable[[Any], bool] | None,
    render: Callable[[Any], str],
    max_results: int,
    next_token: str | None,
    fingerprint: int,
    key: str,
    shape: tuple[type, ...] = (str,),
) -> Page:
    """One page from an ordered index: keys after the token's, filtered by ``keep``.

    ``key`` names the list in ECS's response (``taskArns`` …). ``shape`` is the type of the
    index's keys (one type, or one per tuple item): a token whose position has another shape
    is refused, even with a valid fingerprint.
    """
    _check_max_results(max_results)
    start = None if next_token is None else _decode_token(next_token, fingerprint)
    if start is not None and not _has_shape(start, shape):
        raise ValidationError("nextToken", next_token, "is not a token this API issued")
    keys: Iterable[Any] = keys_from(start)
    if keep is not None:
        keys = filter(keep, keys)
    chosen = list(islice(keys, max_results + 1))
    token = None
    if len(chosen) > max_results:
        chosen.pop()
        token = _encode_token(fingerprint, chosen[-1])
    return Page(tuple(render(item) for item in chosen), token, key=key)


def _ids_from(index: PSortedSet | None) -> Callable[[Any], Iterator[Any]]:
    def keys_from(start: Any) -> Iterator[Any]:
        if index is None:
            return iter(())
        return iter(index) if start is None else index.iter_from(start)

    return keys_from


class Snapshot:
    """An immutable view of the cluster at ``version``, with ECS-style reads.

    Methods that take ids accept bare ids or ARNs. Nothing here blocks or is blocked by
    commits.
    """

    __slots__ = ("_placement", "_roots", "_services", "_task_index", "arns")

    def __init__(self, roots: Roots, arns: Arns) -> None:
        self._roots = roots
        self.arns = arns
        self._placement: PlacementIndexes | None = None  # the derived indexes, once read
        self._task_index: TaskIndex | None = None
        self._services: _ServiceViews | None = None

    def _placement_indexes(self) -> PlacementIndexes:
        """The placement indexes at this version, folded on the first read and kept. O(1) after."""
        placement = self._placement
        if placement is None:
            placement = self._placement = self._roots.placement
        return placement

    def _list_index(self) -> TaskIndex:
        """The task list index at this version, folded on the first read and kept. O(1) after."""
        index = self._task_index
        if index is None:
            index = self._task_index = self._roots.task_index
        return index

    @property
    def version(self) -> int:
        """The cluster version this snapshot shows."""
        return self._roots.version

    @property
    def cluster_name(self) -> str:
        """The cluster's name."""
        return self.arns.cluster

    # -- single objects ------------------------------------------------------------------

    def task(self, task: str) -> Task:
        """The task with this id or ARN; NotFoundError when there is none. O(log n)."""
        return _found(self._roots.tasks, "task", task)

    def instance(self, instance: str) -> ContainerInstance:
        """The container instance with this id or ARN; NotFoundError when there is none."""
        return _found(self._roots.instances, "containerInstance", instance)

    def task_definition(self, reference: str) -> TaskDefinition:
        """A task definition by ``family`` (latest ACTIVE revision), ``family:revision`` or ARN."""
        if not isinstance(reference, str) or not reference:
            raise ValidationError("taskDefinition", reference, "give a family, family:revision or an ARN")
        key = Arns.last_part(reference)
        if ":" in key:
            found = self._roots.task_definitions.get(key)
            if found is None:
                raise NotFoundError("taskDefinition", reference)
            return found
        index = self._roots.task_definition_index
        latest: TaskDefinition | None = None
        for family, revision in index.iter_from((key, 0)):
            if family != key:
                break
            candidate = self._roots.task_definitions[f"{family}:{revision}"]
            if candidate.status == "ACTIVE":
                latest = candidate
        if latest is None:
            raise NotFoundError("taskDefinition", reference)
        return latest

    def service(self, service: str) -> Service:
        """The service with this name or ARN (INACTIVE ones too); NotFoundError when there is none."""
        if not isinstance(service, str) or not service:
            raise ValidationError("service", service, "give a service name or ARN")
        return _found(self.services_by_name, "service", service)

    def client_token(self, token: str) -> ClientToken | None:
        """The record of client token ``token`` (which call claimed it, what it created), or
        None when no call claimed it. An expired record may still be here until it is dropped:
        check ``ClientToken.expired``.
        """
        return self._roots.tokens.get(token)

    def service_spec(self, name: str) -> ServiceSpec:
        """The service's spec as stored (what users asked); NotFoundError when there is none."""
        return _found(self._roots.service_specs, "service", name)

    def service_status(self, name: str) -> ServiceStatus:
        """The service's status as stored (what the service scheduler committed last, before it
        observed a newer spec: ``observed_status`` for that); NotFoundError when there is none.
        """
        return _found(self._roots.service_statuses, "service", name)

    def observed_status(self, name: str) -> ServiceStatus:
        """The service's status having observed its spec (``clusterkit.model.observe``):
        what the service scheduler will commit for the spec, as ``service(name)`` shows it.
        """
        spec = self.service_spec(name)
        return self._observed(spec, self._roots.service_statuses.get(spec.name) or ServiceStatus(spec.name))

    def _observed(self, spec: ServiceSpec, status: ServiceStatus) -> ServiceStatus:
        if not needs_observing(spec, status):
            return status
        holding: dict[str, int] = {}
        for task in self._holding(spec.name, status.tracked_tasks):
            if task.desired_status != "STOPPED":
                holding[task.started_by or ""] = holding.get(task.started_by or "", 0) + 1
        return observe(spec, status, holding)

    def service_tasks(self, service: str, desired_status: str = "RUNNING") -> Iterator[Task]:
        """The tasks of a service (group ``service:NAME``) with this desired status, by id. O(k log n)."""
        bucket = self._list_index().get(("service", service, desired_status))
        tasks = self._roots.tasks
        return (tasks[task_id] for task_id in bucket or ())

    def service_tasks_holding(self, service: Service | ServiceStatus) -> Iterator[Task]:
        """The service's tasks that have not reached STOPPED: desired RUNNING or still stopping. O(k log n)."""
        return self._holding(service.name, service.tracked_tasks)

    def _holding(self, name: str, tracked_tasks: frozenset[str]) -> Iterator[Task]:
        tasks = self._roots.tasks
        seen: set[str] = set()
        for task in self.service_tasks(name):
            seen.add(task.id)
            if not task.is_stopped:
                yield task
        for task_id in tracked_tasks - seen:
            tracked = tasks.get(task_id)
            if tracked is not None and not tracked.is_stopped:
                yield tracked

    def service_counts(self, service: Service) -> dict[str, tuple[int, int]]:
        """Per deployment id, the service's (RUNNING, PENDING) tasks, as ECS's describe counts them."""
        counts: dict[str, list[int]] = {deployment.id: [0, 0] for deployment in service.deployments}
        for task in self.service_tasks_holding(service):
            slot = counts.setdefault(task.started_by or "", [0, 0])
            if task.last_status == "RUNNING":
                slot[0] += 1
            elif task.last_status in PENDING_STATUSES:
                slot[1] += 1
        return {key: (running, pending) for key, (running, pending) in counts.items()}

    def last_revision(self, family: str) -> int:
        """The highest revision ever registered in ``family`` (0 when none)."""
        return self._roots.family_revisions.get(family, 0)

    # -- read-only views by key ----------------------------------------------------------
    # For the layers above: O(1)-ish ``get``/``in``/``[]`` that answer None or KeyError rather
    # than raising NotFoundError, keyed by bare id (not ARN). Immutable, like the snapshot.

    @property
    def tasks_by_id(self) -> Mapping[str, Task]:
        """Every task (STOPPED ones too) by task id. ``get`` is O(log₃₂ n)."""
        return self._roots.tasks

    @property
    def instances_by_id(self) -> Mapping[str, ContainerInstance]:
        """Every container instance (INACTIVE ones too) by instance id. ``get`` is O(log₃₂ n)."""
        return self._roots.instances

    @property
    def task_definitions_by_key(self) -> Mapping[str, TaskDefinition]:
        """Every task definition (INACTIVE ones too) by ``family:revision``. ``get`` is O(log₃₂ n)."""
        return self._roots.task_definitions

    @property
    def services_by_name(self) -> Mapping[str, Service]:
        """Every service (INACTIVE ones too) by name, as ECS shows it: its spec composed with
        its observed status. ``get`` is O(log₃₂ n) (each view built once per snapshot).
        """
        views = self._services
        if views is None:
            views = self._services = _ServiceViews(self)
        return views

    # -- whole collections ---------------------------------------------------------------

    def instances(self) -> Iterator[ContainerInstance]:
        """Every container instance, INACTIVE ones too, in no particular order."""
        return iter(self._roots.instances.values())

    def tasks(self) -> Iterator[Task]:
        """Every task the state holds, STOPPED ones too, in no particular order."""
        return iter(self._roots.tasks.values())

    def task_definitions(self) -> Iterator[TaskDefinition]:
        """Every task definition, INACTIVE ones too, in no particular order."""
        return iter(self._roots.task_definitions.values())

    def services(self) -> Iterator[Service]:
        """Every service, INACTIVE ones too, by name."""
        services = self.services_by_name
        return (services[name] for name in self._roots.service_names)

    @property
    def task_count(self) -> int:
        """How many tasks the state holds."""
        return len(self._roots.tasks)

    @property
    def instance_count(self) -> int:
        """How many container instances the state holds."""
        return len(self._roots.instances)

    @property
    def capacity_index(self) -> PSortedSet:
        """Instances that accept tasks as ``(amount_class(cpu left), memory left, id)``, sorted.

        Schedulers read it to find the instance with the least memory left that still
        fits a demand without scanning the cluster. Commits only log what they change;
        the first read at a version folds those changes in, O(d log n) for d changed
        instances, and later reads are O(1).
        """
        return self._placement_indexes().by_memory

    @property
    def cpu_capacity_index(self) -> PSortedSet:
        """Instances that accept tasks as ``(amount_class(memory left), cpu left, id)``, sorted.

        The CPU twin of ``capacity_index``, for binpack on CPU; folded in the same way.
        """
        return self._placement_indexes().by_cpu

    def group_counts(self, group: str) -> immutables.Map[str, int]:
        """Per instance id, how many tasks of ``group`` hold resources there (not STOPPED).

        O(1) once the placement indexes are folded at this version (see ``capacity_index``).
        """
        counts = self._placement_indexes().group_counts.get(group)
        return counts if counts is not None else _NO_COUNTS

    def instance_ids_by_attribute(self, name: str) -> Mapping[str | None, PSortedSet]:
        """Per value of attribute ``name``, the sorted ids of the instances that are not INACTIVE
        and carry it with that value (None: carried without a value). O(1).

        Instances that lack the attribute are in no bucket: ``live_instance_count`` less the
        buckets' sizes says how many there are. Spread placement reads it to visit one
        attribute value's instances without scanning the cluster.
        """
        return self._roots.attribute_index.get(name, _NO_VALUES)

    @property
    def spread_starts(self) -> dict[Any, Any]:
        """A memo for spread placement, shared by every reader of this version's placement indexes.

        Per ``(attribute name, value, cpu, memory)``: ``(id, buckets)``, where ``buckets`` is
        what ``instance_ids_by_attribute(name)`` returned, and no instance of that value in
        it before ``id`` both accepts tasks and has that much CPU and memory left here. A
        reader may add what it found; a fold carries the memo to the next version only while
        every instance it moves just lost resources, and ``buckets`` must still be the
        attribute index's (it changes when an instance's attributes or status do). It only
        saves a walk over instances that are full: no answer depends on it.
        """
        return self._placement_indexes().starts

    @property
    def live_instance_count(self) -> int:
        """How many container instances are not INACTIVE (ACTIVE or DRAINING). O(1)."""
        index = self._roots.instance_index
        return sum(len(bucket) for status, bucket in index.items() if status != "INACTIVE")

    @property
    def usage(self) -> Usage:
        """What the busy ACTIVE instances use of their CPU and memory, cluster-wide.

        Kept with the placement indexes: O(1) once folded, never a scan of the instances.
        """
        return self._placement_indexes().usage

    def tasks_on(self, instance: str) -> Iterator[Task]:
        """The tasks on an instance that still hold resources (not STOPPED)."""
        instance_id = Arns.last_part(instance)
        for desired in DESIRED_STATUSES:
            bucket = self._list_index().get(("instance", instance_id, desired))
            if bucket is not None:
                for task_id in bucket:
                    task = self._roots.tasks[task_id]
                    if not task.is_stopped:
                        yield task

    # -- ECS list and describe -----------------------------------------------------------

    def dump_task(self, task: Task) -> dict[str, Any]:
        """ECS JSON of one task (``clusterkit.ecs_json.dump_task`` with this cluster's ARNs)."""
        return dump_task(task, self.arns)

    def dump_instance(self, instance: ContainerInstance) -> dict[str, Any]:
        """ECS JSON of one container instance, with this cluster's ARNs."""
        return dump_container_instance(instance, self.arns)

    def dump_service(self, service: Service) -> dict[str, Any]:
        """ECS JSON of one service as DescribeServices shows it: with its running and pending
        counts at this snapshot, per deployment too (``service_counts``).
        """
        return dump_service(service, self.arns, self.service_counts(service))

    def list_tasks(
        self,
        *,
        container_instance: str | None = None,
        family: str | None = None,
        service_name: str | None = None,
        started_by: str | None = None,
        desired_status: str = "RUNNING",
        max_results: int = MAX_PAGE,
        next_token: str | None = None,
    ) -> Page:
        """Task ARNs matching every filter given, in creation order, a page at a time.

        ``desired_status`` defaults to RUNNING as in ECS. The most selective filter picks
        the index (instance, service, family, startedBy); the rest filter that index.
        """
        if desired_status not in DESIRED_STATUSES:
            raise ValidationError("desiredStatus", desired_status, f"must be one of {list(DESIRED_STATUSES)}")
        instance_id = None if container_instance is None else Arns.last_part(container_instance)
        filters = {"instance": instance_id, "service": service_name, "family": family, "startedBy": started_by}
        for field, value in filters.items():
            if value is not None and not isinstance(value, str):
                raise ValidationError(field, value, "must be a string")
        chosen = next(((kind, value) for kind, value in filters.items() if value is not None), ("all", ""))
        rest = {kind: value for kind, value in filters.items() if value is not None and kind != chosen[0]}
        tasks = self._roots.tasks
        keep: Callable[[Any], bool] | None = None
        if rest:

            def keep(task_id: Any) -> bool:
                task = tasks[task_id]
                return all(
                    {
                        "instance": task.container_instance_id,
                        "service": task.service_name,
                        "family": task.family,
                        "startedBy": task.started_by,
                    }[kind]
                    == value
                    for kind, value in rest.items()
                )

        bucket = self._list_index().get((chosen[0], chosen[1], desired_status))
        fingerprint = _fingerprint("tasks", self.arns.cluster, sorted(filters.items(), key=str), desired_status)
        return paginate(_ids_from(bucket), keep, self.arns.task, max_results, next_token, fingerprint, "taskArns")

    def describe_tasks(self, tasks: Sequence[str]) -> Described[Task]:
        """Up to 100 tasks by id or ARN; each one not found is a failure ``MISSING``."""
        return self._describe("tasks", tasks, self._roots.tasks, self.arns.task, self.dump_task)

    def describe_services(self, services: Sequence[str]) -> Described[Service]:
        """Up to 10 services by name or ARN; unknown ones come back as failures (MISSING)."""
        return self._describe(
            "services", services, self.services_by_name, self.arns.service, self.dump_service, MAX_DESCRIBE_SERVICES
        )

    def list_services(
        self,
        *,
        scheduling_strategy: str | None = None,
        max_results: int = 10,
        next_token: str | None = None,
    ) -> Page:
        """ARNs of the ACTIVE services, by name, a page at a time (ECS ListServices).

        A service being deleted (DRAINING) or deleted (INACTIVE) is not listed, as in ECS;
        ``describe_services`` still shows it. ``max_results`` is 1..100, 10 by default as in ECS.
        """
        if scheduling_strategy is not None and scheduling_strategy not in ("REPLICA", "DAEMON"):
            raise ValidationError("schedulingStrategy", scheduling_strategy, "must be REPLICA or DAEMON")
        specs, statuses = self._roots.service_specs, self._roots.service_statuses

        def keep(name: Any) -> bool:
            spec, status = specs[name], statuses.get(name)
            inactive = status is not None and status.inactive
            return spec.status == "ACTIVE" and not inactive and scheduling_strategy in (None, spec.scheduling_strategy)

        fingerprint = _fingerprint("services", self.arns.cluster, scheduling_strategy)
        return paginate(
            _ids_from(self._roots.service_names),
            keep,
            self.arns.service,
            max_results,
            next_token,
            fingerprint,
            "serviceArns",
        )

    def describe_container_instances(self, container_instances: Sequence[str]) -> Described[ContainerInstance]:
        """Up to 100 container instances by id or ARN; those not found are failures ``MISSING``."""
        return self._describe(
            "containerInstances",
            container_instances,
            self._roots.instances,
            self.arns.container_instance,
            self.dump_instance,
        )

    def _describe(
        self,
        field: str,
        references: Sequence[str],
        table: Mapping[str, T],
        arn: Callable[[str], str],
        dump: Callable[[T], dict[str, Any]],
        limit: int = MAX_DESCRIBE,
    ) -> Described[T]:
        if not isinstance(references, Sequence) or isinstance(references, str) or not 1 <= len(references) <= limit:
            raise ValidationError(field, references, f"give a list of 1..{limit} ids or ARNs")
        found: list[T] = []
        failures: list[Failure] = []
        for reference in references:
            if not isinstance(reference, str):
                raise ValidationError(field, reference, "an id or ARN is a string")
            item = table.get(Arns.last_part(reference))
            if item is None:
                failures.append(Failure(reference if reference.startswith("arn:") else arn(reference)))
            else:
                found.append(item)
        return Described(tuple(found), tuple(failures), key=field, dump=dump)

    def list_container_instances(
        self,
        *,
        status: str | None = None,
        filter: InstanceFilter | None = None,  # the ECS parameter's name
        max_results: int = MAX_PAGE,
        next_token: str | None = None,
    ) -> Page:
        """Container instance ARNs, by id order; ``status`` filters (default: ACTIVE and DRAINING).

        ``filter`` selects instances: a parsed cluster query expression
        (``clusterkit.query.parse_expression("attribute:ecs.availability-zone == zone-a")``) or any
        ``InstanceFilter``. ``ClusterState.list_container_instances`` takes the text itself.
        Pages then scan the index for matches, so a selective filter costs more than a page.
        """
        if filter is not None and (isinstance(filter, str) or not callable(getattr(filter, "matcher", None))):
            raise ValidationError(
                "filter", filter, "give a parsed expression (clusterkit.parse_expression) or an InstanceFilter"
            )
        if status is not None and status not in INSTANCE_STATUSES:
            raise ValidationError("status", status, f"must be one of {list(INSTANCE_STATUSES)}")
        statuses = (status,) if status is not None else ("ACTIVE", "DRAINING")
        index = self._roots.instance_index

        def keys_from(start: Any) -> Iterator[Any]:
            streams = [
                ((status_name, key) for key in _ids_from(index.get(status_name))(start[1] if start else None))
                for status_name in statuses
            ]
            return _merge_sorted(streams, start)

        keep: Callable[[Any], bool] | None = None
        if filter is not None:
            matches = filter.matcher(self)
            instances = self._roots.instances

            def keep(key: Any) -> bool:
                return matches(instances[key[1]])

        fingerprint = _fingerprint("instances", self.arns.cluster, statuses, None if filter is None else str(filter))
        return paginate(
            keys_from,
            keep,
            lambda key: self.arns.container_instance(key[1]),
            max_results,
            next_token,
            fingerprint,
            "containerInstanceArns",
            (str, str),
        )

    def list_task_definitions(
        self,
        *,
        family_prefix: str | None = None,
        status: str = "ACTIVE",
        max_results: int = MAX_PAGE,
        next_token: str | None = None,
    ) -> Page:
        """Task definition ARNs ordered by family then revision, filtered by status and prefix."""
        self._check_definition_filters(family_prefix, status)
        definitions = self._roots.task_definitions
        prefix = family_prefix or ""

        def keep(key: Any) -> bool:
            return definitions[f"{key[0]}:{key[1]}"].status == status

        fingerprint = _fingerprint("taskdefs", prefix, status)
        return paginate(
            self._families_from(prefix),
            keep,
            lambda key: self.arns.task_definition(f"{key[0]}:{key[1]}"),
            max_results,
            next_token,
            fingerprint,
            "taskDefinitionArns",
            (str, int),
        )

    def list_task_definition_families(
        self,
        *,
        family_prefix: str | None = None,
        status: str = "ACTIVE",
        max_results: int = MAX_PAGE,
        next_token: str | None = None,
    ) -> Page:
        """Family names (with at least one definition of ``status``; ``ALL`` for any)."""
        self._check_definition_filters(family_prefix, status, allow_all=True)
        definitions = self._roots.task_definitions
        prefix = family_prefix or ""
        keys_from = self._families_from(prefix)

        def families_from(start: Any) -> Iterator[Any]:
            current, matched = None, False
            for family, revision in keys_from(None if start is None else (start, 1 << 62)):
                if family != current:
                    if matched:
                        yield current
                    current, matched = family, False
                if not matched:
                    matched = status == "ALL" or definitions[f"{family}:{revision}"].status == status
            if matched:
                yield current

        fingerprint = _fingerprint("families", prefix, status)
        return paginate(families_from, None, str, max_results, next_token, fingerprint, "families")

    def _families_from(self, prefix: str) -> Callable[[Any], Iterator[tuple[str, int]]]:
        index = self._roots.task_definition_index

        def keys_from(start: Any) -> Iterator[tuple[str, int]]:
            stream = index.iter_from((prefix, 0), inclusive=True) if start is None else index.iter_from(start)
            for key in stream:
                if not key[0].startswith(prefix):
                    return
                yield key

        return keys_from

    @staticmethod
    def _check_definition_filters(family_prefix: str | None, status: str, *, allow_all: bool = False) -> None:
        if family_prefix is not None and not isinstance(family_prefix, str):
            raise ValidationError("familyPrefix", family_prefix, "must be a string")
        allowed = ("ACTIVE", "INACTIVE", "ALL") if allow_all else ("ACTIVE", "INACTIVE")
        if status not in allowed:
            raise ValidationError("status", status, f"must be one of {list(allowed)}")

    def __repr__(self) -> str:
        return (
            f"<Snapshot {self.arns.cluster} version={self.version} instances={self.instance_count} "
            f"tasks={self.task_count}>"
        )


def _found(table: Mapping[str, T], field: str, reference: str) -> T:
    """The record ``reference`` (an id, name or ARN) names in ``table``; NotFoundError naming ``field`` if none."""
    found = table.get(Arns.last_part(reference))
    if found is None:
        raise NotFoundError(field, reference)
    return found


def _merge_sorted(streams: Sequence[Iterator[tuple[str, Any]]], start: Any) -> Iterator[tuple[str, Any]]:
    """Merge per-status streams of ``(status, id)`` into id order (a page spans statuses)."""
    import heapq

    merged = heapq.merge(*streams, key=lambda item: item[1])
    if start is None:
        return merged
    return (item for item in merged if (item[1], item[0]) > (start[1], start[0]))


class _ServiceViews(Mapping[str, Service]):
    """A snapshot's services as ECS shows them, built on first read and kept (the snapshot never changes)."""

    __slots__ = ("_built", "_snapshot")

    def __init__(self, snapshot: Snapshot) -> None:
        self._snapshot = snapshot
        self._built: dict[str, Service] = {}

    def get(self, name: str, default: Any = None) -> Any:
        roots = self._snapshot._roots
        stored: Service | None = roots.services.get(name)
        if stored is None:
            return default
        if stored.observed_generation >= stored.generation or stored.status == "INACTIVE":
            return stored  # the common case: nothing to observe, composed by the commit
        found = self._built.get(name)
        if found is None:
            spec = roots.service_specs[name]
            status = roots.service_statuses.get(name) or ServiceStatus(name)
            found = self._built[name] = compose(spec, self._snapshot._observed(spec, status))
        return found

    def __getitem__(self, name: str) -> Service:
        found: Service | None = self.get(name)
        if found is None:
            raise KeyError(name)
        return found

    def __contains__(self, name: object) -> bool:
        return name in self._snapshot._roots.service_specs

    def __iter__(self) -> Iterator[str]:
        return iter(self._snapshot._roots.service_specs)

    def __len__(self) -> int:
        return len(self._snapshot._roots.service_specs)
