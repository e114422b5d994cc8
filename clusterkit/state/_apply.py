"""The commit engine: check each change against the newest state, then write new roots.

Phase one (``Pending``) reads the current roots through an overlay of the changes
accepted so far in this commit, and decides for each change: accept (the overlay takes
its effect), reject (a reason, as data) or raise (the change is malformed). Nothing is
written in phase one, so an error or an all-or-nothing abort leaves the state untouched.
Phase two (``write``) builds new roots that share everything unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, Final

import attrs
import immutables

from clusterkit.errors import ValidationError
from clusterkit.model import (
    INSTANCE_DEREGISTERED_REASON,
    PENDING_STATUSES,
    STOP_CODES,
    ContainerInstance,
    Service,
    ServiceSpec,
    ServiceStatus,
    Task,
    TaskDefinition,
    check_attribute,
    check_choice,
    check_target_health,
    check_text,
    check_transition,
    compose,
    needs_observing,
    observe,
    replace,
    replacer,
    split,
)
from clusterkit.state._changes import (
    Change,
    DeregisterInstance,
    DeregisterTaskDefinition,
    PlaceTask,
    PutService,
    PutServiceSpec,
    PutServiceStatus,
    RegisterInstance,
    RegisterTaskDefinition,
    Rejection,
    StopTask,
    TaskStateChange,
    UpdateInstance,
)
from clusterkit.state._derived import edit_nested
from clusterkit.state._events import ContainerInstanceChanged, Event, ServiceChanged, TaskDefinitionChanged
from clusterkit.state._events import TaskChanged as TaskEvent
from clusterkit.state._ptree import Owner, PSortedSet
from clusterkit.state._snapshot import AttributeIndex, Roots
from clusterkit.state._tokens import ClientToken

__all__ = ["Pending", "write"]

_START_STATUSES: Final = frozenset({"PROVISIONING", "PENDING"})


def _count_key(status: str) -> str | None:
    if status in PENDING_STATUSES:
        return "pending_tasks_count"
    if status == "RUNNING":
        return "running_tasks_count"
    return None


def _resource_reason(shortfall: str) -> str:
    return "RESOURCE:PORTS" if shortfall == "PORTS_UDP" else f"RESOURCE:{shortfall}"


_charged: Final = replacer(ContainerInstance, "remaining", "version", "pending_tasks_count")
"""An instance with a new task's charge taken: ``(instance, remaining, version, pending count)``."""
_created: Final = replacer(Task, "created_at")
"""A task with its creation time: ``(task, created_at)``."""


class Pending:
    """The effects of the changes accepted so far in one commit, over the current roots."""

    __slots__ = (
        "events",
        "family_revisions",
        "instances",
        "now",
        "roots",
        "service_specs",
        "service_statuses",
        "task_definitions",
        "tasks",
        "tokens",
        "version",
    )

    def __init__(self, roots: Roots, now: float) -> None:
        self.roots = roots
        self.now = now
        self.version = roots.version + 1
        self.tasks: dict[str, Task] = {}
        self.instances: dict[str, ContainerInstance] = {}
        self.task_definitions: dict[str, TaskDefinition] = {}
        self.family_revisions: dict[str, int] = {}
        self.service_specs: dict[str, ServiceSpec] = {}
        self.service_statuses: dict[str, ServiceStatus] = {}
        self.tokens: dict[str, ClientToken | None] = {}  # None: drop the (expired) token
        self.events: list[Event] = []

    # -- reads through the overlay ------------------------------------------------------

    def task(self, task_id: str) -> Task | None:
        found = self.tasks.get(task_id)
        return found if found is not None else self.roots.tasks.get(task_id)

    def instance(self, instance_id: str) -> ContainerInstance | None:
        found = self.instances.get(instance_id)
        return found if found is not None else self.roots.instances.get(instance_id)

    def task_definition(self, key: str) -> TaskDefinition | None:
        found = self.task_definitions.get(key)
        return found if found is not None else self.roots.task_definitions.get(key)

    def service_spec(self, name: str) -> ServiceSpec | None:
        found = self.service_specs.get(name)
        return found if found is not None else self.roots.service_specs.get(name)

    def service_status(self, name: str) -> ServiceStatus | None:
        found = self.service_statuses.get(name)
        return found if found is not None else self.roots.service_statuses.get(name)

    def service(self, name: str) -> Service | None:
        """The service's spec and status as stored, composed (not observed: see ``Snapshot.service``)."""
        spec = self.service_spec(name)
        if spec is None:
            return None
        return compose(spec, self.service_status(name) or ServiceStatus(name))

    def tasks_on(self, instance_id: str) -> Iterator[Task]:
        """Tasks holding resources on ``instance_id``, including ones placed in this commit."""
        seen: set[str] = set()
        for task in self.tasks.values():
            if task.container_instance_id == instance_id:
                seen.add(task.id)
                if not task.is_stopped:
                    yield task
        for desired in ("PENDING", "RUNNING", "STOPPED"):
            bucket = self.roots.task_index.get(("instance", instance_id, desired))
            for task_id in bucket or ():
                if task_id not in seen:
                    task = self.roots.tasks[task_id]
                    if not task.is_stopped:
                        yield task

    # -- writes to the overlay ----------------------------------------------------------

    def _put_task(self, task: Task) -> None:
        self.tasks[task.id] = task
        self.events.append(TaskEvent(self.version, task))

    def _put_instance(self, instance: ContainerInstance) -> None:
        self.instances[instance.id] = instance
        self.events.append(ContainerInstanceChanged(self.version, instance))

    def _put_task_definition(self, definition: TaskDefinition) -> None:
        self.task_definitions[definition.key] = definition
        self.events.append(TaskDefinitionChanged(self.version, definition))

    def _put_service_spec(self, spec: ServiceSpec) -> None:
        self.service_specs[spec.name] = spec
        self.events.append(ServiceChanged(self.version, self._view(spec, self.service_status(spec.name))))

    def _put_service_status(self, status: ServiceStatus) -> None:
        self.service_statuses[status.name] = status
        spec = self.service_spec(status.name)
        if spec is not None:  # (a store's replica may take a status before its spec, in one revision)
            self.events.append(ServiceChanged(self.version, self._view(spec, status)))

    def _view(self, spec: ServiceSpec, status: ServiceStatus | None) -> Service:
        """The service as ``Snapshot.service`` will show it once this commit is in: observed."""
        status = status or ServiceStatus(spec.name)
        if not needs_observing(spec, status):
            return compose(spec, status)
        holding: dict[str, int] = {}
        for task in self._service_tasks_holding(spec.name, status.tracked_tasks):
            if task.desired_status != "STOPPED":
                holding[task.started_by or ""] = holding.get(task.started_by or "", 0) + 1
        return compose(spec, observe(spec, status, holding))

    def _service_tasks_holding(self, name: str, tracked: frozenset[str]) -> Iterator[Task]:
        """The service's tasks not STOPPED (desired RUNNING, or tracked), this commit's included."""
        ids = set(self.roots.task_index.get(("service", name, "RUNNING")) or ()) | tracked
        group = f"service:{name}"
        ids.update(task.id for task in self.tasks.values() if task.group == group)
        for task_id in sorted(ids):
            task = self.task(task_id)
            if task is not None and not task.is_stopped and (task_id in tracked or task.desired_status == "RUNNING"):
                yield task

    # -- the changes --------------------------------------------------------------------

    def apply(self, change: Change) -> Rejection | None:
        """Take ``change`` into the overlay, or say why not. Raises on malformed changes."""
        handler = _HANDLERS.get(type(change))
        if handler is None:
            raise ValidationError("change", change, "is not a clusterkit change")
        return handler(self, change)

    def _place(self, change: PlaceTask) -> Rejection | None:
        task = change.task
        if not isinstance(task, Task):
            raise ValidationError("task", task, "must be a Task")
        if task.last_status not in _START_STATUSES or task.desired_status != "RUNNING" or task.version != 1:
            raise ValidationError(
                "task.lastStatus",
                task.last_status,
                "a new task starts PROVISIONING or PENDING, desired RUNNING, version 1",
            )
        if task.id in self.tasks or task.id in self.roots.tasks:
            return Rejection(change, "DUPLICATE", f"task {task.id} exists already")
        definition = self.task_definition(task.task_definition)
        if definition is None:
            return Rejection(change, "MISSING", f"task definition {task.task_definition} is not registered")
        if definition.status != "ACTIVE":
            return Rejection(change, "INACTIVE", f"task definition {task.task_definition} is INACTIVE")
        _check_charge(task, definition)
        instance = self.instance(task.container_instance_id)
        if instance is None:
            return Rejection(change, "MISSING", f"container instance {task.container_instance_id} is not registered")
        if instance.status != "ACTIVE":
            return Rejection(change, "INACTIVE", f"container instance {instance.id} is {instance.status}")
        if not instance.agent_connected:
            return Rejection(change, "AGENT", f"the agent of container instance {instance.id} is not connected")
        expected = change.expected_instance_version
        if expected is not None:  # compared with the version before this commit's own changes
            before = self.roots.instances.get(instance.id)
            if before is None or expected != before.version:
                found = None if before is None else before.version
                return Rejection(
                    change, "STALE_VERSION", f"container instance {instance.id} was at version {found}, not {expected}"
                )
        charge, remaining = task.charge, instance.remaining
        shortfall = charge.shortfall(remaining)
        if shortfall is not None:
            return Rejection(change, _resource_reason(shortfall), f"{charge!r} does not fit {remaining!r}")
        # a new task is PROVISIONING or PENDING: it counts as pending on its instance
        pending_count = instance.pending_tasks_count + 1
        self._put_instance(_charged(instance, remaining._take(charge), instance.version + 1, pending_count))
        self._put_task(task if task.created_at else _created(task, self.now))
        return None

    def _stop(self, change: StopTask) -> Rejection | None:
        task = self.task(change.task_id)
        if task is None:
            return Rejection(change, "MISSING", f"task {change.task_id} does not exist")
        if change.reason is not None and (not isinstance(change.reason, str) or len(change.reason) > 1024):
            raise ValidationError("reason", change.reason, "must be a string of at most 1024 characters")
        check_transition(task, None, "STOPPED")
        if task.desired_status == "STOPPED":
            return None
        updates: dict[str, object] = {}
        if task.last_status == "RUNNING" and self._balanced(task):
            # its targets are drained and deregistered first: the agent leaves a DEACTIVATING task alone
            updates["last_status"] = "DEACTIVATING"
            self._move_counts(task, "DEACTIVATING")
        self._put_task(
            replace(
                task,
                desired_status="STOPPED",
                stop_code=task.stop_code or change.stop_code,
                stopped_reason=task.stopped_reason or change.reason or "Task stopped by user",
                stopping_at=self.now,
                version=task.version + 1,
                **updates,
            )
        )
        return None

    def _balanced(self, task: Task) -> bool:
        """True when the task's service registers its tasks in target groups."""
        name = task.service_name
        service = self.service(name) if name is not None else None
        return service is not None and bool(service.load_balancers)

    def _report(self, change: TaskStateChange) -> Rejection | None:
        task = self.task(change.task_id)
        if task is None:
            return Rejection(change, "MISSING", f"task {change.task_id} does not exist")
        if type(change.version) is not int or change.version > task.version:
            raise ValidationError(
                "version", change.version, f"task {task.id} has never had this version (it is at {task.version})"
            )
        if change.version < task.version:
            return Rejection(
                change, "STALE_VERSION", f"task {task.id} is at version {task.version}, the report saw {change.version}"
            )
        check_transition(task, change.last_status, None)
        if change.health_status is not None and change.health_status not in ("UNKNOWN", "HEALTHY", "UNHEALTHY"):
            raise ValidationError("healthStatus", change.health_status, "must be UNKNOWN, HEALTHY or UNHEALTHY")
        if change.stop_code is not None:
            check_choice("stopCode", change.stop_code, STOP_CODES)
            if change.last_status != "STOPPED":
                raise ValidationError("stopCode", change.stop_code, "is only reported with lastStatus STOPPED")
        if change.stopped_reason is not None:
            check_text("stoppedReason", change.stopped_reason, max_length=1024, empty=True)
        if change.target_health is not None:
            check_target_health(change.target_health)
        last = change.last_status or task.last_status
        health = change.health_status or task.health_status
        targets = change.target_health if change.target_health is not None else task.target_health
        if last == task.last_status and health == task.health_status and targets == task.target_health:
            return None
        updates: dict[str, object] = {
            "last_status": last,
            "health_status": health,
            "target_health": targets,
            "version": task.version + 1,
        }
        if last == "RUNNING" and task.started_at is None:
            updates["started_at"] = self.now
        if last == "STOPPED":
            updates.update(
                desired_status="STOPPED",
                stopped_at=self.now,
                stopping_at=task.stopping_at or self.now,
                stop_code=task.stop_code or change.stop_code,
                stopped_reason=task.stopped_reason or change.stopped_reason,
            )
        self._move_counts(task, last)
        self._put_task(replace(task, **updates))
        return None

    def _move_counts(self, task: Task, last: str) -> None:
        before, after = _count_key(task.last_status), _count_key(last)
        releasing = last == "STOPPED" and not task.is_stopped
        if before == after and not releasing:
            return
        instance = self.instance(task.container_instance_id)
        if instance is None:
            return
        updates: dict[str, object] = {"version": instance.version + 1}
        if before is not None:
            updates[before] = getattr(instance, before) - 1
        if after is not None:
            updates[after] = updates.get(after, getattr(instance, after)) + 1  # type: ignore[operator]
        if releasing and instance.status != "INACTIVE":
            updates["remaining"] = instance.remaining.release(task.charge)
        self._put_instance(replace(instance, **updates))

    def _register_instance(self, change: RegisterInstance) -> Rejection | None:
        instance = change.instance
        if not isinstance(instance, ContainerInstance):
            raise ValidationError("instance", instance, "must be a ContainerInstance")
        existing = self.instance(instance.id)
        if existing is not None and existing.status != "INACTIVE":
            return Rejection(change, "DUPLICATE", f"container instance {instance.id} is registered already")
        self._put_instance(
            replace(
                instance,
                remaining=instance.registered,
                running_tasks_count=0,
                pending_tasks_count=0,
                registered_at=instance.registered_at or self.now,
                version=existing.version + 1 if existing is not None else 1,
            )
        )
        return None

    def _deregister_instance(self, change: DeregisterInstance) -> Rejection | None:
        instance = self.instance(change.instance_id)
        if instance is None:
            return Rejection(change, "MISSING", f"container instance {change.instance_id} does not exist")
        if instance.status == "INACTIVE":
            return None
        holding = list(self.tasks_on(instance.id))
        if holding and not change.force:
            raise ValidationError(
                "force",
                change.force,
                f"container instance {instance.id} still has {len(holding)} tasks; stop them or force",
            )
        for task in holding:
            self._put_task(
                replace(
                    task,
                    last_status="STOPPED",
                    desired_status="STOPPED",
                    stopped_reason=task.stopped_reason or INSTANCE_DEREGISTERED_REASON,
                    stopping_at=task.stopping_at or self.now,
                    stopped_at=self.now,
                    version=task.version + 1,
                )
            )
        self._put_instance(
            replace(
                instance,
                status="INACTIVE",
                agent_connected=False,
                remaining=instance.registered,
                running_tasks_count=0,
                pending_tasks_count=0,
                version=instance.version + 1,
            )
        )
        return None

    def _update_instance(self, change: UpdateInstance) -> Rejection | None:
        instance = self.instance(change.instance_id)
        if instance is None:
            return Rejection(change, "MISSING", f"container instance {change.instance_id} does not exist")
        if change.status is not None and change.status not in ("ACTIVE", "DRAINING"):
            raise ValidationError(
                "status", change.status, "must be ACTIVE or DRAINING (deregister to make it INACTIVE)"
            )
        if change.agent_connected is not None and not isinstance(change.agent_connected, bool):
            raise ValidationError("agentConnected", change.agent_connected, "must be true or false")
        if change.agent_version is not None and (not isinstance(change.agent_version, str) or not change.agent_version):
            raise ValidationError("agentVersion", change.agent_version, "must be a non-empty string")
        for name, value in change.attributes.items():
            check_attribute(name, value)
        if not isinstance(change.heartbeat, bool):
            raise ValidationError("heartbeat", change.heartbeat, "must be true or false")
        if instance.status == "INACTIVE":
            return Rejection(change, "INACTIVE", f"container instance {instance.id} is deregistered")
        if change.expected_version is not None and change.expected_version != instance.version:
            return Rejection(
                change, "STALE_VERSION", f"container instance {instance.id} is at version {instance.version}"
            )
        attributes = dict(instance.attributes)
        attributes.update(change.attributes)
        for name in change.remove_attributes:
            attributes.pop(name, None)
        updated = replace(
            instance,
            status=change.status or instance.status,
            agent_connected=instance.agent_connected if change.agent_connected is None else change.agent_connected,
            agent_version=change.agent_version or instance.agent_version,
            attributes=tuple(sorted(attributes.items())),
            last_heartbeat_at=self.now if change.heartbeat else instance.last_heartbeat_at,
        )
        if updated != instance:
            self._put_instance(replace(updated, version=instance.version + 1))
        return None

    def _register_task_definition(self, change: RegisterTaskDefinition) -> Rejection | None:
        definition = change.task_definition
        if not isinstance(definition, TaskDefinition):
            raise ValidationError("taskDefinition", definition, "must be a TaskDefinition")
        family = definition.family
        last = self.family_revisions.get(family, self.roots.family_revisions.get(family, 0))
        self.family_revisions[family] = last + 1
        self._put_task_definition(replace(definition, revision=last + 1, status="ACTIVE"))
        return None

    def _deregister_task_definition(self, change: DeregisterTaskDefinition) -> Rejection | None:
        definition = self.task_definition(change.key)
        if definition is None:
            return Rejection(change, "MISSING", f"task definition {change.key} does not exist")
        if definition.status != "INACTIVE":
            self._put_task_definition(replace(definition, status="INACTIVE"))
        return None

    def _spec_refused(self, change: Change, spec: ServiceSpec, expected: int) -> Rejection | None:
        """Why a spec write at ``expected`` (0: create) cannot be taken, or None."""
        if not isinstance(spec, ServiceSpec):
            raise ValidationError("spec", spec, "must be a ServiceSpec")
        if type(expected) is not int or expected < 0:
            raise ValidationError("expectedVersion", expected, "must be a version (0 to create)")
        existing = self.service_spec(spec.name)
        if expected == 0:
            status = self.service_status(spec.name)
            if existing is not None and not (status is not None and status.inactive):
                return Rejection(change, "DUPLICATE", f"service {spec.name} exists already")
        elif existing is None:
            return Rejection(change, "MISSING", f"service {spec.name} does not exist")
        elif existing.version != expected:
            return Rejection(
                change, "STALE_VERSION", f"service {spec.name} is at version {existing.version}, not {expected}"
            )
        if self.task_definition(spec.task_definition) is None:
            return Rejection(change, "MISSING", f"task definition {spec.task_definition} is not registered")
        return None

    def _status_refused(self, change: Change, status: ServiceStatus, expected: int) -> Rejection | None:
        """Why a status write at ``expected`` cannot be taken, or None."""
        if not isinstance(status, ServiceStatus):
            raise ValidationError("status", status, "must be a ServiceStatus")
        if type(expected) is not int or expected < 1:
            raise ValidationError("expectedVersion", expected, "must be the status version written over")
        existing = self.service_status(status.name)
        if existing is None or self.service_spec(status.name) is None:
            return Rejection(change, "MISSING", f"service {status.name} does not exist")
        if existing.version != expected:
            return Rejection(
                change,
                "STALE_VERSION",
                f"service {status.name}'s status is at version {existing.version}, not {expected}",
            )
        for deployment in status.deployments:
            if deployment.status != "INACTIVE" and self.task_definition(deployment.task_definition) is None:
                return Rejection(change, "MISSING", f"task definition {deployment.task_definition} is not registered")
        return None

    def _next_spec(self, spec: ServiceSpec, expected: int, *, generation: int | None = None) -> None:
        """Store ``spec`` over the one at ``expected`` (0: a new service, with an empty status):
        next version, written now; the next generation unless ``generation`` is given.
        """
        existing = self.service_spec(spec.name)
        version = 1 if existing is None else existing.version + 1
        if generation is None:
            if expected == 0 or existing is None:
                generation = deployment_generation = 1
            else:
                generation = existing.generation + 1
                asked = spec.deployment_generation > existing.deployment_generation
                deployment_generation = generation if asked else existing.deployment_generation
        else:
            deployment_generation = min(spec.deployment_generation, generation)
        created = self.now if expected == 0 else spec.created_at
        self._put_service_spec(
            attrs.evolve(
                spec,
                version=version,
                generation=generation,
                deployment_generation=deployment_generation,
                created_at=created,
                updated_at=self.now,
            )
        )
        if expected == 0:
            old = self.service_status(spec.name)
            self._put_service_status(ServiceStatus(spec.name, version=1 if old is None else old.version + 1))

    def _put_spec(self, change: PutServiceSpec) -> Rejection | None:
        refused = self._spec_refused(change, change.spec, change.expected_version)
        if refused is not None:
            return refused
        self._next_spec(change.spec, change.expected_version)
        return None

    def _put_status(self, change: PutServiceStatus) -> Rejection | None:
        refused = self._status_refused(change, change.status, change.expected_version)
        if refused is not None:
            return refused
        self._put_service_status(attrs.evolve(change.status, version=change.expected_version + 1))
        return None

    def _put_service_record(self, change: PutService) -> Rejection | None:
        service = change.service
        if not isinstance(service, Service):
            raise ValidationError("service", service, "must be a Service")
        spec, status = split(service)
        expected = change.expected_version
        refused = self._spec_refused(change, spec, expected)
        if refused is not None:
            return refused
        old = self.service_status(service.name)
        if expected and old is not None:
            refused = self._status_refused(change, status, service.status_version)
            if refused is not None:
                return refused
        self._next_spec(spec, expected, generation=spec.generation)
        written = self.service_status(service.name)
        version = 1 if written is None else written.version + (0 if expected == 0 else 1)
        self._put_service_status(attrs.evolve(status, version=version))
        return None


def _check_charge(task: Task, definition: TaskDefinition) -> None:
    """A task must hold at least its definition's charge: amounts equal, static ports included."""
    expected = definition.charge
    charge = task.charge
    if charge is expected:
        return
    dynamic_tcp, dynamic_udp = definition.dynamic_ports
    if (
        charge.cpu != expected.cpu
        or charge.memory != expected.memory
        or charge.scalars != expected.scalars
        or not expected.ports <= charge.ports
        or not expected.ports_udp <= charge.ports_udp
        or len(charge.ports) != len(expected.ports) + dynamic_tcp
        or len(charge.ports_udp) != len(expected.ports_udp) + dynamic_udp
    ):
        raise ValidationError("task.charge", charge, f"does not match task definition {definition.key} ({expected!r})")


_HANDLERS: Final[dict[type, Callable[[Pending, Any], Rejection | None]]] = {
    PlaceTask: Pending._place,
    StopTask: Pending._stop,
    TaskStateChange: Pending._report,
    RegisterInstance: Pending._register_instance,
    DeregisterInstance: Pending._deregister_instance,
    UpdateInstance: Pending._update_instance,
    RegisterTaskDefinition: Pending._register_task_definition,
    DeregisterTaskDefinition: Pending._deregister_task_definition,
    PutService: Pending._put_service_record,
    PutServiceSpec: Pending._put_spec,
    PutServiceStatus: Pending._put_status,
}


class _MapEdit:
    """Edits to a persistent map, with the mutation made only once something changes."""

    __slots__ = ("base", "mutation")

    def __init__(self, base: immutables.Map[Any, Any]) -> None:
        self.base = base
        self.mutation: immutables.MapMutation[Any, Any] | None = None

    def get(self, key: Any) -> Any:
        return (self.base if self.mutation is None else self.mutation).get(key)

    def set(self, key: Any, value: Any) -> None:
        if self.mutation is None:
            self.mutation = self.base.mutate()
        self.mutation[key] = value

    def delete(self, key: Any) -> None:
        if self.mutation is None:
            self.mutation = self.base.mutate()
        del self.mutation[key]

    def finish(self) -> immutables.Map[Any, Any]:
        return self.base if self.mutation is None else self.mutation.finish()

    def index_add(self, key: Any, item: Any, owner: Owner) -> None:
        bucket = self.get(key)
        updated = (PSortedSet() if bucket is None else bucket).add(item, owner)
        if updated is not bucket:
            self.set(key, updated)

    def index_discard(self, key: Any, item: Any, owner: Owner) -> None:
        bucket = self.get(key)
        if bucket is None:
            return
        updated = bucket.discard(item, owner)
        if not len(updated):
            self.delete(key)
        elif updated is not bucket:
            self.set(key, updated)


def write(roots: Roots, pending: Pending, owner: Owner) -> Roots:
    """New roots with ``pending``'s effects; nodes owned by ``owner`` may change in place.

    The records and the small instance and definition indexes change here; the task list
    index and the placement indexes only log what changed (``LazyIndex.advance``) and are
    folded in lazily.
    """
    tasks = roots.tasks
    if pending.tasks:
        tasks = _put_all(tasks, pending.tasks)
    instances, instance_index, attribute_index = roots.instances, roots.instance_index, roots.attribute_index
    if pending.instances:
        instances = _put_all(instances, pending.instances)
        instance_index = _statuses(instance_index, roots.instances, pending.instances.values(), owner)
        attribute_index = _attributes(attribute_index, roots.instances, pending.instances.values(), owner)
    definitions, definition_index = roots.task_definitions, roots.task_definition_index
    family_revisions = roots.family_revisions
    if pending.task_definitions:
        definitions = _put_all(definitions, pending.task_definitions)
        for definition in pending.task_definitions.values():
            definition_index = definition_index.add((definition.family, definition.revision), owner)
        family_revisions = _put_all(family_revisions, pending.family_revisions)
    specs, statuses, service_names = roots.service_specs, roots.service_statuses, roots.service_names
    services = roots.services
    if pending.service_specs:
        for name in pending.service_specs:
            if name not in specs:
                service_names = service_names.add(name, owner)
        specs = _put_all(specs, pending.service_specs)
    if pending.service_statuses:
        statuses = _put_all(statuses, pending.service_statuses)
    if pending.service_specs or pending.service_statuses:
        composed: dict[str, Service] = {}
        for name in {*pending.service_specs, *pending.service_statuses}:
            spec = specs.get(name)
            if spec is not None:
                composed[name] = compose(spec, statuses.get(name) or ServiceStatus(name))
        services = _put_all(services, composed)
    tokens = roots.tokens
    if pending.tokens:
        mutation = tokens.mutate()
        for token, record in pending.tokens.items():
            if record is None:
                mutation.pop(token, None)
            else:
                mutation[token] = record
        tokens = mutation.finish()
    built_on, version, written = roots.version, pending.version, pending.tasks.values()
    records = (tasks, instances)
    return Roots(
        version,
        tasks,
        instances,
        definitions,
        family_revisions,
        instance_index,
        definition_index,
        roots.list_log.advance(built_on, version, roots.tasks, written, pending.instances, records, owner),
        roots.placement_log.advance(built_on, version, roots.tasks, written, pending.instances, records, owner),
        specs,
        statuses,
        services,
        service_names,
        attribute_index,
        tokens,
    )


def _put_all(records: immutables.Map[str, Any], written: dict[str, Any]) -> immutables.Map[str, Any]:
    """``records`` with every key of ``written`` set to its value there."""
    if len(written) == 1:
        for key, value in written.items():
            return records.set(key, value)
    edit = records.mutate()
    edit.update(written)
    return edit.finish()


def _attributes(
    index: AttributeIndex,
    before: immutables.Map[str, ContainerInstance],
    written: Iterable[ContainerInstance],
    owner: Owner,
) -> AttributeIndex:
    """The attribute index with each written instance under its new attributes (none when INACTIVE).

    The common write (resources moved) keeps the very same attributes tuple: one identity
    test. Moves are grouped by bucket, so registering many instances fills each bucket once.
    """
    moves: dict[str, dict[str | None, tuple[list[str], list[str]]]] = {}
    for instance in written:
        previous = before.get(instance.id)
        old = previous.attributes if previous is not None and previous.status != "INACTIVE" else ()
        new = instance.attributes if instance.status != "INACTIVE" else ()
        if old is new or old == new:
            continue
        for pairs, side in ((old, 1), (new, 0)):
            other = new if side else old
            for pair in pairs:
                if pair not in other:
                    name, value = pair
                    moves.setdefault(name, {}).setdefault(value, ([], []))[side].append(instance.id)
    if not moves:
        return index

    def moved(bucket: PSortedSet | None, change: tuple[list[str], list[str]]) -> PSortedSet | None:
        adds, discards = change
        bucket = bucket or PSortedSet()
        for instance_id in discards:
            bucket = bucket.discard(instance_id, owner)
        adds.sort()
        bucket = bucket.update(adds, owner)
        return bucket if len(bucket) else None

    return edit_nested(index, moves, moved)


def _statuses(
    index: immutables.Map[str, PSortedSet],
    before: immutables.Map[str, ContainerInstance],
    written: Iterable[ContainerInstance],
    owner: Owner,
) -> immutables.Map[str, PSortedSet]:
    """The instance status index with each written instance under its new status."""
    edit: _MapEdit | None = None
    for instance in written:
        previous = before.get(instance.id)
        if previous is not None and previous.status == instance.status:
            continue  # the common case: nothing to move
        if edit is None:
            edit = _MapEdit(index)
        if previous is not None:
            edit.index_discard(previous.status, instance.id, owner)
        edit.index_add(instance.status, instance.id, owner)
    return index if edit is None else edit.finish()
