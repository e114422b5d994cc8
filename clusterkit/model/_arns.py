"""ARNs in the ECS shape, for one cluster; ids are the last part of an ARN."""

from __future__ import annotations

import attrs

from clusterkit.model._validate import check_name, check_text

__all__ = ["Arns"]


@attrs.frozen(slots=True)
class Arns:
    """Builds ``arn:PARTITION:ecs:REGION:ACCOUNT:KIND/…`` names for one cluster."""

    cluster: str = "default"
    region: str = "local"
    account: str = "000000000000"
    partition: str = "aws"
    _prefix: str = attrs.field(init=False, repr=False, eq=False)
    _task_prefix: str = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        check_name("clusterName", self.cluster)
        for field in ("region", "account", "partition"):
            check_text(field, getattr(self, field), max_length=64)
        prefix = f"arn:{self.partition}:ecs:{self.region}:{self.account}"
        object.__setattr__(self, "_prefix", prefix)
        object.__setattr__(self, "_task_prefix", f"{prefix}:task/{self.cluster}/")

    @property
    def cluster_arn(self) -> str:
        """The cluster's own ARN."""
        return f"{self._prefix}:cluster/{self.cluster}"

    def task(self, task_id: str) -> str:
        """The ARN of a task."""
        return self._task_prefix + task_id

    def container_instance(self, instance_id: str) -> str:
        """The ARN of a container instance."""
        return f"{self._prefix}:container-instance/{self.cluster}/{instance_id}"

    def service(self, name: str) -> str:
        """The ARN of a service (the long form, with the cluster's name)."""
        return f"{self._prefix}:service/{self.cluster}/{name}"

    def task_definition(self, key: str) -> str:
        """The ARN of a task definition ``family:revision``."""
        return f"{self._prefix}:task-definition/{key}"

    @staticmethod
    def last_part(reference: str) -> str:
        """The id inside an ARN (the text after its last ``/``), or the reference itself."""
        if isinstance(reference, str) and reference.startswith("arn:"):
            return reference.rsplit("/", 1)[-1]
        return reference
