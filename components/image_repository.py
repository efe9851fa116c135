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


def lifecycle_policy(untagged_expiry_days: int, max_image_count: int) -> dict:
    """Untagged images (superseded layers of re-pushed tags) go after N days; of the
    tagged ones, only the newest M are kept so the repository cannot grow without bound."""
    return {
        "rules": [
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
            },
            {
                "rulePriority": 2,
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
    task execution role among them) may pull; empty: no repository policy."""


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
        aws.ecr.LifecyclePolicy(
            f"{name}-lifecycle",
            repository=repository.name,
            policy=json.dumps(lifecycle_policy(args.untagged_expiry_days, args.max_image_count)),
            opts=pulumi.ResourceOptions(parent=self),
        )
        if args.pullers:
            partition = aws.get_partition_output(opts=pulumi.InvokeOutputOptions(parent=self)).partition
            aws.ecr.RepositoryPolicy(
                f"{name}-pull-policy",
                repository=repository.name,
                policy=partition.apply(
                    lambda p: json.dumps(
                        iam_policies.image_pull_policy(
                            {
                                iam_policies.account_root(p, account): [
                                    iam_policies.role_path_pattern(p, account, f"/{stack}/")
                                    for stack in stacks
                                ]
                                for account, stacks in args.pullers.items()
                            }
                        )
                    )
                ),
                opts=pulumi.ResourceOptions(parent=self),
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
