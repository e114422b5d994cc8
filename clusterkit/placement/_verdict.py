"""A filter's typed verdict: ``Rejected(reason, lasting)``.

A filter (or a ``BaseScheduler.check`` override) answers ``None`` to let an instance
through, or a ``Rejected`` that says why not and whether that can change while the plan
places the request's other tasks. The built-in checks answer the same way: running out of
CPU, memory, ports or a scalar, or already holding a task of a ``distinctInstance``
group, only gets worse as a plan places more tasks, so those rejections are lasting.

A lasting rejection lets the scheduler skip the instance for the rest of the plan (it is
not asked again); one that can change is asked again for every task. This is Kubernetes'
``UnschedulableAndUnresolvable`` against ``Unschedulable``, and Nomad's feasibility
checkers that remember an instance's class as ineligible.

A plain reason string is still accepted from filters. It counts as a rejection that can
change, unless it is one of the built-in reasons that last: ``RESOURCE:...``,
``DISTINCT_INSTANCE``, and ``ATTRIBUTE`` in a request none of whose ``memberOf``
expressions reads task groups.
"""

from __future__ import annotations

import attrs

from clusterkit.errors import ValidationError

__all__ = ["Rejected"]


@attrs.frozen(slots=True)
class Rejected:
    """Why an instance cannot take the next task, and whether that lasts for the rest of the plan.

    ``reason`` is what ``Unplaced.reasons``, ``run_task`` failures and ``explain()`` show
    (such as ``MAINTENANCE``). ``lasting=True`` promises that no task this plan places
    later can make the instance acceptable: the scheduler then does not ask about it again
    in this plan. A rule on the instance alone (its attributes, its lifecycle) lasts, and so
    does a cap that the plan's own placements only bring closer (``context.group_count``
    rises, ``context.remaining`` falls). Leave it ``False`` (the default) when a later
    placement could turn the rejection into a pass, such as a rule that waits for a task
    of the group to land elsewhere first.
    """

    reason: str
    lasting: bool = False

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.reason, str) or not self.reason:
            raise ValidationError("reason", self.reason, "must be a non-empty string")
        if not isinstance(self.lasting, bool):
            raise ValidationError("lasting", self.lasting, "must be a bool")
