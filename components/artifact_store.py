"""`ArtifactStore`: the S3 bucket CodePipeline passes artifacts through — encrypted
(SSE-S3, or SSE-KMS with a configured key), versioned, owner-enforced, closed to the
public, TLS-only, written by the delivery system's own roles only, and emptied of old
artifacts by a lifecycle rule."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

import pulumi
import pulumi_aws as aws

from components import iam_policies
from components.outputs import by_name


def tls_only_bucket_policy(bucket_arn: str) -> dict:
    """Deny every request to the bucket that is not made over TLS."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [bucket_arn, f"{bucket_arn}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }


def bucket_policy(
    bucket_arn: str, readers: Mapping[str, Sequence[str]], guard: Optional[Mapping[str, Any]] = None
) -> dict:
    """TLS only; for environments in other accounts, reads by their named roles (a
    cross-account read needs both this and the reader's own IAM policy); with `guard`
    (writers, administrators, reporters), no one else writes, overwrites or deletes an
    artifact or a report."""
    policy = tls_only_bucket_policy(bucket_arn)
    policy["Statement"] += iam_policies.cross_account_artifact_statements(bucket_arn, readers)
    if guard is not None:
        policy["Statement"] += iam_policies.artifact_store_statements(bucket_arn, **guard)
    return policy


@dataclass(frozen=True)
class ArtifactStoreArgs:
    expire_after_days: int = 30
    """Days after which pipeline artifacts (and their old versions) are deleted."""
    kms_key_arn: Optional[pulumi.Input[str]] = None
    """Customer-managed KMS key for SSE-KMS; None uses SSE-S3 (AES256)."""
    protect: bool = True
    """Protect from `pulumi destroy`; when False the bucket is deleted with its objects."""
    cross_account_readers: Mapping[str, Sequence[pulumi.Input[str]]] = field(default_factory=dict)
    """Per other account id: the role ARNs or ARN patterns there that read artifacts."""
    writers: Optional[pulumi.Input[list[str]]] = None
    """The roles that may write artifacts, and no one else: the pipeline's, the build's, the
    reviews'; None: no such refusal."""
    reporters: pulumi.Input[list[str]] = ()
    """The roles that may write under `reviews/`: the reviews'."""
    administrators: pulumi.Input[list[str]] = ()
    """Who may delete artifacts besides the writers: the deployer."""


class ArtifactStore(pulumi.ComponentResource):
    bucket_name: pulumi.Output[str]
    bucket_arn: pulumi.Output[str]

    def __init__(self, name: str, args: ArtifactStoreArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("ecs-delivery:artifact_store:ArtifactStore", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        partition = aws.get_partition_output(opts=pulumi.InvokeOutputOptions(parent=self)).partition
        accounts = sorted(args.cross_account_readers)
        bucket = aws.s3.Bucket(
            f"{name}-bucket",
            force_destroy=not args.protect,
            # Protected (prod): refused by `pulumi destroy`, and kept in AWS even if
            # Pulumi ever drops it from state.
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect, retain_on_delete=args.protect),
        )
        aws.s3.BucketOwnershipControls(
            f"{name}-ownership",
            bucket=bucket.id,
            rule={"object_ownership": "BucketOwnerEnforced"},
            opts=child,
        )
        public_access = aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access",
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        aws.s3.BucketVersioning(
            f"{name}-versioning",
            bucket=bucket.id,
            versioning_configuration={"status": "Enabled"},
            opts=child,
        )
        if args.kms_key_arn:
            encryption_default = {"sse_algorithm": "aws:kms", "kms_master_key_id": args.kms_key_arn}
        else:
            encryption_default = {"sse_algorithm": "AES256"}
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            bucket=bucket.id,
            rules=[
                {
                    "apply_server_side_encryption_by_default": encryption_default,
                    "bucket_key_enabled": bool(args.kms_key_arn),
                }
            ],
            opts=child,
        )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle",
            bucket=bucket.id,
            rules=[
                {
                    "id": "expire-old-artifacts",
                    "status": "Enabled",
                    "filter": {"prefix": ""},
                    "expiration": {"days": args.expire_after_days},
                    "noncurrent_version_expiration": {"noncurrent_days": args.expire_after_days},
                    "abort_incomplete_multipart_upload": {"days_after_initiation": 1},
                }
            ],
            opts=child,
        )
        aws.s3.BucketPolicy(
            f"{name}-policy",
            bucket=bucket.id,
            policy=pulumi.Output.all(
                bucket_arn=bucket.arn,
                partition=partition,
                readers=by_name({a: pulumi.Output.all(*args.cross_account_readers[a]) for a in accounts}),
                writers=args.writers,
                reporters=args.reporters,
                administrators=args.administrators,
            ).apply(
                lambda v: json.dumps(
                    bucket_policy(
                        v["bucket_arn"],
                        {
                            iam_policies.account_root(v["partition"], a): arns
                            for a, arns in v["readers"].items()
                        },
                        {
                            "writers": v["writers"],
                            "administrators": v["administrators"],
                            "reporters": v["reporters"],
                        }
                        if v["writers"] is not None
                        else None,
                    )
                )
            ),
            # S3 rejects a policy change while the public access block is being written.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[public_access]),
        )
        self.bucket_name = bucket.bucket
        self.bucket_arn = bucket.arn
        self.register_outputs({"bucket_name": self.bucket_name, "bucket_arn": self.bucket_arn})
