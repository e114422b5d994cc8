"""Schedulers: pure functions from a snapshot and a request to a plan.

The built-in ``BaseScheduler`` runs the ECS placement order for each task, one stage a
module, as Nomad's stack chains its iterators:

- ``_feasible``: resources (cpu, memory, scalars, ports), then constraints and filters. Hard:
  an instance that fails is ``Rejected`` with a reason, lasting or not;
- ``_rank``: scorers and strategies. Soft: they rank the instances left;
- ``_sources``: the candidates, in the cheapest order that still finds the best;
- ``_select``: the place-one loop, which reads a source only as far as it must.

Users extend it in two ways:

- pass ``filters`` (``(instance, context) -> Rejected | reason | None``) and weighted
  ``scorers`` (``(instance, context) -> float in [0, 1]``), or
- subclass it and override ``BaseScheduler.check`` or ``BaseScheduler.score``.

Ranking: the weighted mean of the scorers comes first (higher is better), then each
strategy of the chain breaks the ties of the one before, then the instance id.
Nothing here does I/O or changes the snapshot; placing a task only changes the
scheduler's private view of what is left in this plan.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import attrs

from clusterkit.errors import ValidationError
from clusterkit.model import ContainerInstance, PlacementStrategy
from clusterkit.placement._context import PlacementContext
from clusterkit.placement._plan import Plan, Unplaced
from clusterkit.placement._ports import DEFAULT_DYNAMIC_PORTS, PortRange
from clusterkit.placement._request import PlacementRequest
from clusterkit.placement._select import Selection
from clusterkit.placement._sources import RandomSource
from clusterkit.placement._verdict import Rejected
from clusterkit.state import Snapshot

__all__ = [
    "BaseScheduler",
    "Candidate",
    "Explanation",
    "Filter",
    "PlacementContext",
    "Scheduler",
    "Scorer",
    "Weighted",
]


class Scheduler(Protocol):
    """Anything that turns a snapshot and a request into a plan, without side effects."""

    def place(self, snapshot: Snapshot, request: PlacementRequest) -> Plan:
        """Decide where each task of ``request`` goes."""
        ...


Filter = Callable[[ContainerInstance, PlacementContext], "Rejected | str | None"]
"""A hard rule: ``(instance, context) -> Rejected | reason | None``; None lets the instance through.

A plain reason string counts as a rejection that can change, unless it is a built-in reason
that lasts (see ``clusterkit.placement``).
"""
Scorer = Callable[[ContainerInstance, PlacementContext], float]
"""A soft preference: ``(instance, context) -> float in [0, 1]``, higher is better."""


@attrs.frozen(slots=True)
class Weighted:
    """A scorer with its weight in the weighted mean (Fenzo's fitness combination)."""

    scorer: Scorer
    weight: float = 1.0

    def __attrs_post_init__(self) -> None:
        if isinstance(self.weight, bool) or not isinstance(self.weight, (int, float)) or not self.weight > 0:
            raise ValidationError("weight", self.weight, "must be a positive number")


@attrs.frozen(slots=True)
class Candidate:
    """One instance in an explanation: its rank keys or the reason it was rejected."""

    instance_id: str
    reason: str | None = None
    score: float | None = None
    strategy_keys: tuple[float | int | str, ...] = ()


@attrs.frozen(slots=True)
class Explanation:
    """Why the next task of a request would go where it goes.

    ``ranked`` lists the feasible instances best first, each with the scorers' weighted
    mean and each strategy's key (lower is better: memory left for binpack, tasks of
    the group for spread); ``rejected`` lists every other instance with its reason.
    """

    strategies: tuple[PlacementStrategy, ...]
    ranked: tuple[Candidate, ...]
    rejected: tuple[Candidate, ...]

    @property
    def chosen(self) -> str | None:
        """The instance the scheduler would pick, or None."""
        return self.ranked[0].instance_id if self.ranked else None


class BaseScheduler:
    """The built-in scheduler: resources → constraints and filters → scorers and strategies.

    ``seed`` makes random strategies and tie-breaking repeatable (the same seed, cluster
    and request give the same plan; once tasks were added it draws afresh); ``dynamic_ports`` is the
    host-port range for bridge-mode dynamic ports; ``strict_versions`` makes the plans
    ask the commit to reject placements on instances that changed since the snapshot.

    ``sample`` (off by default) looks at feasible instances in a random order and takes
    the best of the first ``sample`` by the strategy chain — Nomad's limit iterator, the
    "power of two choices" for ``sample=2``. Schedulers sharing a cluster then rarely pick
    the same instance, so far fewer of their commits conflict, at some cost in packing.

    ``partition`` (off by default) is an ownership hint for schedulers sharing a cluster:
    ``(index, count)`` gives this one the instances whose id hashes to ``index`` of ``count``
    shares (a stable CRC-32, the same in every process). Every task goes to the best of its
    own instances — in the order the strategies (and ``sample``) give — and to another's
    only when none of its own can take it; a chain that spreads over an attribute first
    still chooses the value first (the zone with the fewest tasks of the group), then its
    own instances in that value before the others. Schedulers given ``(0, n)`` … ``(n - 1, n)``
    then rarely write one instance at once: far fewer of their commits conflict, and on
    etcd far fewer transactions are refused because an instance record moved.

    ``balance`` (off by default; 0.2 works well) packs two resources at once: an instance
    where the task would make the resource that is *not* binding (of cpu and memory, the
    one the cluster's busy instances use less of) run more than ``balance`` ahead of the
    binding one is used only when no other instance can take the task. Plain binpack fills
    an instance with whatever shape arrives, and memory-heavy batches leave instances out of
    memory with CPU idle; this keeps room for the shapes that complement them.
    """

    def __init__(
        self,
        *,
        filters: Sequence[Filter] = (),
        scorers: Sequence[Weighted | Scorer] = (),
        dynamic_ports: PortRange = DEFAULT_DYNAMIC_PORTS,
        seed: int | None = None,
        strict_versions: bool = False,
        sample: int | None = None,
        balance: float | None = None,
        partition: tuple[int, int] | None = None,
    ) -> None:
        self.filters = tuple(filters)
        self.scorers = tuple(s if isinstance(s, Weighted) else Weighted(s) for s in scorers)
        self.dynamic_ports = dynamic_ports
        self.seed = seed
        self.strict_versions = strict_versions
        if sample is not None and (type(sample) is not int or sample < 1):
            raise ValidationError("sample", sample, "must be a positive integer or None")
        self.sample = sample
        if balance is not None and (
            isinstance(balance, bool) or not isinstance(balance, (int, float)) or not 0 < balance <= 1
        ):
            raise ValidationError("balance", balance, "must be a number in (0, 1] or None")
        self.balance = balance
        if partition is not None and not (
            isinstance(partition, tuple)
            and len(partition) == 2
            and all(type(part) is int for part in partition)
            and 0 <= partition[0] < partition[1]
        ):
            raise ValidationError("partition", partition, "must be (index, count) with 0 <= index < count, or None")
        self.partition = partition
        # scoring ranks every candidate: only when there are scorers or a subclass scores itself
        self.scoring = bool(self.scorers) or type(self).score is not BaseScheduler.score

    # -- hooks for subclasses -----------------------------------------------------------

    def check(self, instance: ContainerInstance, context: PlacementContext) -> Rejected | str | None:
        """A hard rule beyond resources and ECS constraints: a ``Rejected`` (or a reason string), or None.

        The default runs the ``filters`` in order and returns the first verdict that is not
        None, as the filter gave it. A ``Rejected(reason, lasting=True)`` is not asked again
        about that instance in this plan; a reason string counts as one that can change,
        unless it is a built-in reason that lasts (see ``clusterkit.placement``).
        """
        for rule in self.filters:
            reason = rule(instance, context)
            if reason is not None:
                return reason
        return None

    def score(self, instance: ContainerInstance, context: PlacementContext) -> float:
        """A soft preference in [0, 1], higher is better; the default is the weighted mean of ``scorers``."""
        if not self.scorers:
            return 0.0
        total = weights = 0.0
        for weighted in self.scorers:
            value = weighted.scorer(instance, context)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                raise ValidationError("score", value, f"{weighted.scorer!r} must return a number in [0, 1]")
            total += weighted.weight * value
            weights += weighted.weight
        return total / weights

    # -- the pipeline -------------------------------------------------------------------

    def place(self, snapshot: Snapshot, request: PlacementRequest) -> Plan:
        """A plan for every task of ``request`` against ``snapshot`` (no side effects)."""
        selection = Selection(self, snapshot, request)
        unplaced: list[Unplaced] = []
        for _ in range(request.count):
            missed = selection.place_one()
            if missed is not None:
                unplaced.append(missed)
        placements = tuple(selection.context.placed)
        return Plan(request, snapshot.version, placements, tuple(unplaced), self.strict_versions)

    def explain(self, snapshot: Snapshot, request: PlacementRequest) -> Explanation:
        """Every instance for the next task of ``request``: ranked, or rejected with its reason.

        With ``balance`` the instances it would set aside rank after all the others; with
        ``sample`` the ranking is the whole cluster's, of which ``place`` sees a random part.
        """
        selection = Selection(self, snapshot, request)
        ranked: list[tuple[tuple[Any, ...], Candidate]] = []
        rejected: list[Candidate] = []
        if isinstance(selection.source, RandomSource):
            selection.source.draw_all()  # the whole permutation place() would draw from
        balance = selection.balance
        for instance in snapshot.instances():
            if instance.status == "INACTIVE":
                continue
            verdict = selection.feasible.verdict(instance)
            if isinstance(verdict, Rejected):
                rejected.append(Candidate(instance.id, verdict.reason))
                continue
            key = selection.ranking.key(instance)
            score = -key[0] if self.scoring else None
            aside = balance is not None and balance.unbalancing(instance, verdict[0])
            ranked.append(((aside, *key), Candidate(instance.id, None, score, key[1:-1])))
        ranked.sort(key=lambda item: item[0])
        rejected.sort(key=lambda candidate: candidate.instance_id)
        return Explanation(request.strategies, tuple(c for _, c in ranked), tuple(rejected))
