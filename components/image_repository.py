"""`ImageRepository`: an ECR repository hardened the same way wherever this stack creates
one (the CodeBuild image's and the application's): scan on push, encrypted, a lifecycle
that expires untagged images and caps how many are kept, optional immutable tags."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Optional

import pulumi
import pulumi_aws as aws

from components import iam_policies
from components.config import DeliveryConfig
from components.release_recorder import RELEASE_MARK_PREFIX

# How long a marked image is kept after its push: as long as an untagged one may be at most
# (ecr.untaggedExpiryDays's bound), a span no release outlives in practice.
RELEASE_MARK_DAYS = 3650


def lifecycle_policy(untagged_expiry_days: int, max_image_count: int, release_marks: bool = False) -> dict:
    """Untagged images (superseded layers of re-pushed tags) go after N days; of the
    tagged ones, only the newest M are kept so the repository cannot grow without bound.

    With `release_marks`, images marked `release-*` are kept: ECR applies to an image only the
    highest-priority rule whose selection it matches (ECR user guide, "Lifecycle policy
    properties": rulePriority), so a marked image is never counted by the rule that expires the
    rest, and the marks' own rule expires an image only ten years after its push. Not a count:
    any build can push a `release-` tag, and junk marks counted with the real ones could push
    them out. The recorders take their marks off releases past `ecr.keepReleases`, by the
    release record."""
    rules: list[dict] = [
        {
            "rulePriority": 1,
            "description": f"Expire untagged images after {untagged_expiry_days} days",
            "selection": {
                "tagStatus": "untagged",
                "countType": "sinceImagePushed",
                "countUnit": "days",
                "countNumber": untagged_expiry_days,
            },
            "action": {"type": "expire"},
        }
    ]
    if release_marks:
        rules.append(
            {
                "rulePriority": 2,
                "description": f"Keep released images ({RELEASE_MARK_DAYS} days)",
                "selection": {
                    "tagStatus": "tagged",
                    "tagPrefixList": [RELEASE_MARK_PREFIX],
                    "countType": "sinceImagePushed",
                    "countUnit": "days",
                    "countNumber": RELEASE_MARK_DAYS,
                },
                "action": {"type": "expire"},
            }
        )
    return {
        "rules": [
            *rules,
            {
                "rulePriority": len(rules) + 1,
                "description": f"Keep only the newest {max_image_count} tagged images",
                "selection": {
                    # "*" matches every tag: the rule counts all tagged images.
                    "tagStatus": "tagged",
                    "tagPatternList": ["*"],
                    "countType": "imageCountMoreThan",
                    "countNumber": max_image_count,
                },
                "action": {"type": "expire"},
            },
        ]
    }


def repository_policy(
    *,
    partition: str,
    pullers: Mapping[str, Sequence[str]],
    writers: Optional[Sequence[str]],
    administrators: Sequence[str] = (),
) -> dict:
    """The pulls other accounts may make (`pullers`: per account, the stacks whose roles pull;
    `iam_policies.image_pull_policy`) and, with `writers`, the refusal of every write but
    theirs (and of every delete but theirs and the administrators')."""
    policy = iam_policies.image_pull_policy(
        {
            iam_policies.account_root(partition, account): [
                iam_policies.role_path_pattern(partition, account, f"/{stack}/") for stack in stacks
            ]
            for account, stacks in pullers.items()
        }
    )
    if writers is not None:
        policy["Statement"] += iam_policies.image_store_statements(
            writers=writers, administrators=administrators
        )
    return policy


def cross_account_pullers(config: DeliveryConfig) -> dict[str, list[str]]:
    """Who pulls the application image from another account: per target account, the stacks of
    its environments (ECS there pulls with their roles)."""
    return {
        account: [env.stack_name for env in config.environments if env.account == account]
        for account in config.target_accounts
    }


@dataclass(frozen=True)
class ImageRepositoryArgs:
    repository_name: str
    """Physical ECR repository name (part of the contract with the app's Makefile)."""
    untagged_expiry_days: int = 7
    """Days after which untagged images expire."""
    max_image_count: int = 50
    """How many images the repository keeps at most."""
    immutable_tags: bool = False
    """Reject pushes that would move an existing tag."""
    protect: bool = True
    """Protect from `pulumi destroy`; when False the repository is force-deleted with its images."""
    pullers: Mapping[str, Sequence[str]] = field(default_factory=dict)
    """Per other account id: the stack names there whose roles (`role/<stack>/*`, the ECS
    task execution role among them) may pull."""
    writers: Optional[pulumi.Input[list[str]]] = None
    """The roles (or users) that may push images here, and no one else (the repository policy
    refuses the rest); None: no such refusal."""
    administrators: pulumi.Input[list[str]] = ()
    """Who may delete images, tags or the repository, or change its lifecycle, besides the
    writers: the deployer."""
    release_marks: bool = False
    """Keep the images the release recorders mark `release-*` (the application repository of a
    stack with a gated environment)."""


class ImageRepository(pulumi.ComponentResource):
    repository_name: pulumi.Output[str]
    repository_arn: pulumi.Output[str]
    repository_url: pulumi.Output[str]
    registry_id: pulumi.Output[str]

    def __init__(self, name: str, args: ImageRepositoryArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("ecs-delivery:image_repository:ImageRepository", name, None, opts)
        repository = aws.ecr.Repository(
            f"{name}-repository",
            name=args.repository_name,
            image_scanning_configuration={"scan_on_push": True},
            image_tag_mutability="IMMUTABLE" if args.immutable_tags else "MUTABLE",
            encryption_configurations=[{"encryption_type": "AES256"}],
            # Only an unprotected (dev) stack may delete a repository that holds images.
            force_delete=not args.protect,
            # Protected (prod): refused by `pulumi destroy`, and kept in AWS even if
            # Pulumi ever drops it from state.
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect, retain_on_delete=args.protect),
        )
        policy = None
        if args.pullers or args.writers is not None:
            partition = aws.get_partition_output(opts=pulumi.InvokeOutputOptions(parent=self)).partition
            policy = aws.ecr.RepositoryPolicy(
                # Named when it held only the pulls of other accounts; kept, since a new name
                # would replace the policy of a deployed stack.
                f"{name}-pull-policy",
                repository=repository.name,
                policy=pulumi.Output.all(
                    partition=partition, writers=args.writers, administrators=args.administrators
                ).apply(
                    lambda v: json.dumps(
                        repository_policy(
                            partition=v["partition"],
                            pullers=args.pullers,
                            writers=v["writers"],
                            administrators=v["administrators"],
                        )
                    )
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )
        aws.ecr.LifecyclePolicy(
            f"{name}-lifecycle",
            repository=repository.name,
            policy=json.dumps(
                lifecycle_policy(args.untagged_expiry_days, args.max_image_count, args.release_marks)
            ),
            # The repository policy names who may change the lifecycle: when the deployer changes,
            # the policy admits the new one first.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy] if policy else []),
        )
        self.repository_name = repository.name
        self.repository_arn = repository.arn
        self.repository_url = repository.repository_url
        self.registry_id = repository.registry_id
        self.register_outputs(
            {
                "repository_name": self.repository_name,
                "repository_arn": self.repository_arn,
                "repository_url": self.repository_url,
            }
        )
