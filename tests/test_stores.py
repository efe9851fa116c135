"""Hardened stores: the artifact bucket and the ECR repositories."""

from __future__ import annotations

import json

import pytest

from tests.conftest import (
    all_of,
    config_with,
    only,
    pipeline_inputs,
    policy,
    run_config,
    run_stack,
    shared_scope,
)

KMS_KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


@pytest.fixture(scope=shared_scope)
def prod():
    return run_stack("prod").mocks


@pytest.fixture(scope=shared_scope)
def with_kms():
    return run_config(config_with(artifacts={"kmsKeyArn": KMS_KEY, "expireAfterDays": 14})).mocks


def bucket_name(mocks) -> str:
    return only(mocks, "aws:s3/bucket:Bucket").state["bucket"]


def test_artifact_bucket_is_encrypted_with_sse_s3_by_default(prod):
    encryption = only(
        prod, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    )
    assert encryption.inputs["bucket"] == bucket_name(prod)
    assert encryption.inputs["rules"] == [
        {"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}, "bucketKeyEnabled": False}
    ]
    assert pipeline_inputs(prod)["artifactStores"] == [{"location": bucket_name(prod), "type": "S3"}]


def test_a_configured_kms_key_encrypts_bucket_pipeline_and_build(with_kms):
    encryption = only(
        with_kms, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    )
    assert encryption.inputs["rules"] == [
        {
            "applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": KMS_KEY},
            "bucketKeyEnabled": True,
        }
    ]
    assert pipeline_inputs(with_kms)["artifactStores"] == [
        {"location": bucket_name(with_kms), "type": "S3", "encryptionKey": {"id": KMS_KEY, "type": "KMS"}}
    ]
    assert only(with_kms, "aws:codebuild/project:Project", "build-project").inputs["encryptionKey"] == KMS_KEY


def test_artifact_bucket_is_versioned_private_owner_enforced_and_tls_only(prod):
    name = bucket_name(prod)
    versioning = only(prod, "aws:s3/bucketVersioning:BucketVersioning").inputs
    assert (versioning["bucket"], versioning["versioningConfiguration"]) == (name, {"status": "Enabled"})
    block = only(prod, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").inputs
    assert block == {
        "bucket": name,
        "blockPublicAcls": True,
        "blockPublicPolicy": True,
        "ignorePublicAcls": True,
        "restrictPublicBuckets": True,
    }
    ownership = only(prod, "aws:s3/bucketOwnershipControls:BucketOwnershipControls").inputs
    assert ownership["rule"] == {"objectOwnership": "BucketOwnerEnforced"}
    # S3 refuses a bucket policy written while the bucket's public-access block is being
    # written ("OperationAborted: A conflicting conditional operation is currently in
    # progress"; pulumi/pulumi-aws#1570, hashicorp/terraform-provider-aws#7628): one after the other.
    block_urn = only(prod, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").urn
    assert block_urn in only(prod, "aws:s3/bucketPolicy:BucketPolicy").dependencies
    deny, *guards = policy(only(prod, "aws:s3/bucketPolicy:BucketPolicy"))["Statement"]
    # Who may write is tests/test_store_protection.py's; here, that the policy says so.
    assert [(g["Sid"], g["Effect"]) for g in guards] == [
        ("OnlyThePipelineWritesArtifacts", "Deny"),
        ("OnlyThePipelineDeletesArtifacts", "Deny"),
        ("OnlyTheReviewsWriteReports", "Deny"),
    ]
    arn = only(prod, "aws:s3/bucket:Bucket").state["arn"]
    assert deny == {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [arn, f"{arn}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def test_old_artifacts_expire_after_the_configured_days(prod, with_kms):
    for mocks, days in ((prod, 90), (with_kms, 14)):
        (rule,) = only(mocks, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration").inputs[
            "rules"
        ]
        # The provider requires an id; the S3 console lists the rule by it.
        assert rule["id"] == "expire-old-artifacts"
        assert rule["status"] == "Enabled"
        # Every object (an empty prefix), current and old versions, and uploads left half-done.
        assert rule["filter"] == {"prefix": ""}
        assert rule["expiration"] == {"days": days}
        assert rule["noncurrentVersionExpiration"] == {"noncurrentDays": days}
        assert rule["abortIncompleteMultipartUpload"] == {"daysAfterInitiation": 1}


def test_ecr_repositories_scan_expire_and_keep_a_bounded_count(prod):
    repositories = all_of(prod, "aws:ecr/repository:Repository")
    mutability = {r.inputs["name"]: r.inputs["imageTagMutability"] for r in repositories}
    assert mutability == {
        # prod sets ecr.immutableTags: a released image tag can never be moved.
        "todobackend": "IMMUTABLE",
        # A rebuild of the same content pushes its content-hash tag again, and every build
        # overwrites the BuildKit cache tag; both would be rejected by an immutable
        # repository. What runs is pinned by digest, so no tag can change what runs.
        "todobackend/codebuild": "MUTABLE",
        "todobackend/codebuild-tools": "MUTABLE",
        "todobackend/build-cache": "MUTABLE",
    }
    for repository in repositories:
        assert repository.inputs["imageScanningConfiguration"] == {"scanOnPush": True}
    for lifecycle in all_of(prod, "aws:ecr/lifecyclePolicy:LifecyclePolicy"):
        rules = json.loads(lifecycle.inputs["policy"])["rules"]
        assert rules[0]["selection"]["countNumber"] == 7
        assert rules[-1]["selection"]["countNumber"] == 100  # prod's ecr.maxImageCount
        # ECR requires unique priorities; the rule that matches every tag comes last.
        assert [r["rulePriority"] for r in rules] == list(range(1, len(rules) + 1))


def test_prod_stateful_resources_are_protected_and_retained():
    for typ in ("aws:ecr/repository:Repository", "aws:s3/bucket:Bucket"):
        for resource in all_of(run_stack("prod").mocks, typ):
            assert (resource.protect, resource.retain_on_delete) == (True, True), resource.name
        for resource in all_of(run_stack("dev").mocks, typ):
            assert (resource.protect, resource.retain_on_delete) == (False, False), resource.name


def test_released_images_are_kept_before_any_count_expires_them(prod):
    """ECR applies to an image only the highest-priority rule whose selection it matches (ECR
    user guide, "Lifecycle policy properties"): the release marks' rule comes before the rule
    that counts every tagged image, and keeps as many as the recorders ever leave."""
    (app,) = [
        r
        for r in all_of(prod, "aws:ecr/lifecyclePolicy:LifecyclePolicy")
        if r.inputs["repository"] == "todobackend"
    ]
    rules = json.loads(app.inputs["policy"])["rules"]
    assert [r["rulePriority"] for r in rules] == [1, 2, 3]
    kept = rules[1]
    # By age, not by count: a build can push any `release-` tag, and a count would let junk
    # marks push the real ones out. Ten years is the longest ecr.untaggedExpiryDays allows.
    assert kept["selection"] == {
        "tagStatus": "tagged",
        "tagPrefixList": ["release-"],
        "countType": "sinceImagePushed",
        "countUnit": "days",
        "countNumber": 3650,
    }
    assert rules[2]["selection"]["tagPatternList"] == ["*"]
    # The build image's and the cache's repositories hold no releases.
    for other in all_of(prod, "aws:ecr/lifecyclePolicy:LifecyclePolicy"):
        if other is not app:
            assert not any(
                "tagPrefixList" in r["selection"] for r in json.loads(other.inputs["policy"])["rules"]
            )


def test_a_store_statement_without_writers_denies_everyone():
    # No gated environment: no review writes reports, so nobody writes under reviews/. The deny
    # then carries no condition at all, rather than a condition with no values.
    from components.iam_policies import artifact_store_statements

    bucket = "arn:aws:s3:::artifacts-bucket-34823e7"
    statements = artifact_store_statements(
        bucket, writers=["arn:aws:iam::123456789012:role/build"], administrators=[], reporters=[]
    )
    reports = [s for s in statements if s["Sid"] == "OnlyTheReviewsWriteReports"]
    assert reports == [
        {
            "Sid": "OnlyTheReviewsWriteReports",
            "Effect": "Deny",
            "Principal": "*",
            "Action": reports[0]["Action"],
            "Resource": f"{bucket}/reviews/*",
        }
    ]
    assert "s3:PutObject*" in reports[0]["Action"]
