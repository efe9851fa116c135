"""`DeliveryContext`: what every component of one delivery system shares, given once.

The composition root (`__main__.py`) makes it from the stack's config and its data sources
(the caller's account, the provider's region and partition: never config), and hands it to
the components that declare in the pipeline's account: the build project, each environment,
its deploy target and gate units, their small projects, the pipeline. Their Args carry only
what is their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi


@dataclass(frozen=True)
class DeliveryContext:
    name_prefix: str
    """`<app>-<stack>`: prefixes the physical names of projects, roles and the pipeline (the
    deploy roles keep off `<prefix>-*` projects)."""
    account_id: pulumi.Input[str]
    """The pipeline's account (`aws.get_caller_identity`)."""
    region: pulumi.Input[str]
    """The pipeline's region (`aws.get_region`); an environment's stack may live in another
    (`environments[].region`)."""
    partition: pulumi.Input[str]
    """`aws`, `aws-cn`, `aws-us-gov` (`aws.get_partition`): every ARN the policies name."""
    kms_key_arn: Optional[pulumi.Input[str]]
    """The artifact store's KMS key (none: SSE-S3): what encrypts the builds' output and logs,
    and what the readers of artifacts decrypt with."""
    log_retention_days: int
    """Days the CodeBuild and Lambda log groups keep their logs (`build.logRetentionDays`)."""
    architecture: str
    """The host the build and tools images are built for (`build.architecture`)."""

    def located(self) -> pulumi.Output[dict[str, str]]:
        """Partition, region and account resolved together (`partition`, `region`,
        `account_id`), for ARNs of the pipeline's account."""
        return pulumi.Output.all(partition=self.partition, region=self.region, account_id=self.account_id)
