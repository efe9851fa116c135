"""Every IAM document the program declares fits AWS's size limits, for the largest configs the
schema accepts: each is either refused before anything is declared, naming `environments`, or
declared with every document within its limit; and the largest that is accepted fits too."""

from __future__ import annotations

import collections
import json
from collections.abc import Callable
from typing import Any

import pulumi
import pytest

from components.config import DeliveryConfig, config_from_stack
from components.policy_size import (
    policy_characters,
    policy_size_problems,
    worst_case_application_repository_policy,
    worst_case_deploy_role_policies,
    worst_case_pipeline_role_policy,
    worst_case_protected_stores,
)
from components.regions import in_pipeline_region
from offline.mocks import RecordingMocks
from offline.program import stack_config_from_mapping
from tests.conftest import run_config

# -- the limits, from AWS's pages ---------------------------------------------------------------
# IAM counts a policy's characters without whitespace (IAM User Guide, "IAM and AWS STS quotas").
# "Role policy size: ... 10,240 characters" (every inline policy of one role together).
ROLE_POLICIES_MAX = 10_240
# "Managed policy size: ... 6,144 characters".
MANAGED_POLICY_MAX = 6_144
# "Role trust policy length: ... 2,048 characters" (the default; a quota increase allows 4,096,
# which no adopter can be assumed to have).
TRUST_POLICY_MAX = 2_048
# Resource policies: measured as the text the program sends, in UTF-8 bytes, whitespace included
# (no page says these services strip it), so never less than what the service counts.
RESOURCE_POLICY_MAX = {
    # Amazon S3 User Guide, "Bucket policies for Amazon S3": "Bucket policies are limited to 20 KB
    # in size." ASSUMPTION: KB read as 1,000 bytes, the smaller of the two readings.
    "aws:s3/bucketPolicy:BucketPolicy": 20_000,
    # AWS KMS Developer Guide, "AWS KMS quotas", "Key policy document size": 32 KB (32,768 bytes).
    "aws:kms/key:Key": 32_768,
    # Amazon ECR API Reference, SetRepositoryPolicy: policyText "Maximum length of 10240" (the
    # installed botocore's ECR model, RepositoryPolicyText, says the same).
    "aws:ecr/repositoryPolicy:RepositoryPolicy": 10_240,
    # Amazon SNS Developer Guide, "Amazon SNS API permissions: Actions and resources reference",
    # "Policy quotas": "Bytes: 30 kb". ASSUMPTION: kb read as 1,000 bytes.
    "aws:sns/topicPolicy:TopicPolicy": 30_000,
    # Amazon DynamoDB Developer Guide, "Resource-based policy considerations": "The maximum size
    # supported for a resource-based policy document is 20 KB." ASSUMPTION: KB read as 1,000 bytes.
    "aws:dynamodb/resourcePolicy:ResourcePolicy": 20_000,
}


def iam_characters(text: str) -> int:
    """Characters as IAM counts them: the JSON without whitespace between its tokens."""
    return len(json.dumps(json.loads(text), separators=(",", ":")))


def oversized(mocks: RecordingMocks) -> list[str]:
    """Every declared document over its limit, as `what: size > limit`."""
    found: list[str] = []
    inline: dict[str, int] = collections.Counter()
    for resource in mocks.resources:
        if resource.type == "aws:iam/rolePolicy:RolePolicy":
            inline[resource.inputs["role"]] += iam_characters(resource.inputs["policy"])
        elif resource.type == "aws:iam/policy:Policy":
            size = iam_characters(resource.inputs["policy"])
            if size > MANAGED_POLICY_MAX:
                found.append(f"managed policy {resource.name}: {size} > {MANAGED_POLICY_MAX}")
        elif resource.type == "aws:iam/role:Role":
            size = iam_characters(resource.inputs["assumeRolePolicy"])
            if size > TRUST_POLICY_MAX:
                found.append(f"trust policy of {resource.name}: {size} > {TRUST_POLICY_MAX}")
        elif resource.type in RESOURCE_POLICY_MAX and resource.inputs.get("policy"):
            size = len(resource.inputs["policy"].encode())
            if size > RESOURCE_POLICY_MAX[resource.type]:
                found.append(
                    f"{resource.type} {resource.name}: {size} > {RESOURCE_POLICY_MAX[resource.type]}"
                )
    found += [
        f"inline policies of role {role}: {size} > {ROLE_POLICIES_MAX}"
        for role, size in inline.items()
        if size > ROLE_POLICIES_MAX
    ]
    return found


def kinds_declared(mocks: RecordingMocks) -> set[str]:
    return {r.type for r in mocks.resources if r.type in RESOURCE_POLICY_MAX or r.type.startswith("aws:iam/")}


# -- the largest configs the schema accepts -------------------------------------------------------
# Names at their longest: `<application>-<stack>` at most 57 characters (with connectionArn: the
# notification rule `<prefix>-events` within 64), an environment name 43 (`recover-<name>-role`
# with Pulumi's suffix within IAM's 64), a stack name 128, a gated one 119 (its change set
# `<stack>-pipeline` within CloudFormation's 128). Limits from the config's own reference.
STACK = "worst-case-stack"
APPLICATION = "a".ljust(57 - len(STACK) - 1, "p")
PREFIX_LENGTH = 57
ENVIRONMENT_NAME_MAX = 43
STACK_NAME_MAX = 128
GATED_STACK_NAME_MAX = 119
ALARM_NAME_MAX = 255
# CodePipeline's 50 stages: Source and Build, then 1 per ungated environment, 3 per gated one.
MOST_UNGATED = 47
MOST_GATED = 16
PIPELINE_REGION = "us-east-1"
CONNECTION = "arn:aws:codeconnections:us-east-1:123456789012:connection/0a1b2c3d-1111-2222-3333-444455556666"
APPROVERS = [
    "arn:aws:iam::123456789012:role/release-managers",
    "arn:aws:iam::123456789012:user/on-call",
]
# Every region of the aws partition but the pipeline's (botocore's endpoint data, 2026).
OTHER_REGIONS = [
    "af-south-1",
    "ap-east-1",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ca-central-1",
    "ca-west-1",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
    "sa-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
]


def environment_name(index: int) -> str:
    return f"e{index:02d}-".ljust(ENVIRONMENT_NAME_MAX, "n")


def stack_name(index: int, length: int) -> str:
    return f"S{index:02d}-".ljust(length, "s")


def ungated(index: int, **more: Any) -> dict[str, Any]:
    return {
        "name": environment_name(index),
        "stackName": stack_name(index, STACK_NAME_MAX),
        "verify": {},
        **more,
    }


def gated(index: int, alarms: list[str]) -> dict[str, Any]:
    """A gated environment with every gate (its approvers named on the first 10 only: IAM attaches
    at most 10 managed policies to one principal; the group answers for the others)."""
    return {
        "name": environment_name(index),
        "stackName": stack_name(index, GATED_STACK_NAME_MAX),
        "approval": True,
        "approvers": APPROVERS if index < 10 else [],
        "approverGroup": True,
        "driftCheck": "block",
        "verify": {},
        "deploymentWindow": {"cron": "* * 9-16 ? * MON-THU *", "timeZone": "Europe/London"},
        "alarms": alarms,
        "bakeMinutes": 30,
        "onFailure": {"result": "ROLLBACK"},
    }


def stack_config(environments: list[dict[str, Any]], **more: Any) -> dict[str, Any]:
    return {
        "aws:region": PIPELINE_REGION,
        "ecs-delivery:application": {"name": APPLICATION, "repository": "owner/application"},
        "ecs-delivery:infrastructure": {"repository": "owner/infrastructure"},
        "ecs-delivery:connectionArn": CONNECTION,
        "ecs-delivery:environments": environments,
        "ecs-delivery:notifications": {"emails": ["platform-team@example.com"]},
        **{f"ecs-delivery:{key}": value for key, value in more.items()},
    }


def account(index: int) -> str:
    return f"{222222220000 + index}"


def in_accounts(count: int) -> dict[str, Any]:
    return stack_config(
        [ungated(i, account=account(i)) for i in range(count)],
        targetAccounts={
            account(i): {"roleArn": f"arn:aws:iam::{account(i)}:role/ecs-delivery-bootstrap"}
            for i in range(count)
        },
    )


# Each shape by its number of environments, and the most the schema accepts of it.
SHAPES: dict[str, tuple[Callable[[int], dict[str, Any]], int]] = {
    # 16 gated environments, every gate, two alarms each: CodePipeline's 50 stages.
    "gated": (
        lambda n: stack_config(
            [gated(i, [f"{environment_name(i)}-5xx", f"{environment_name(i)}-p99"]) for i in range(n)]
        ),
        MOST_GATED,
    ),
    # The same with the most alarms a stage condition holds (5), each at CloudWatch's 255.
    "gated-longest-alarms": (
        lambda n: stack_config(
            [gated(i, [f"{i:02d}-{k}-".ljust(ALARM_NAME_MAX, "z") for k in range(5)]) for i in range(n)]
        ),
        MOST_GATED,
    ),
    "ungated": (lambda n: stack_config([ungated(i) for i in range(n)]), MOST_UNGATED),
    # Each stack in another region: an artifact store per region.
    "regions": (
        lambda n: stack_config([ungated(i, region=OTHER_REGIONS[i % len(OTHER_REGIONS)]) for i in range(n)]),
        MOST_UNGATED,
    ),
    # Each stack in another account: the artifact key and the stores admit each one's roles.
    "accounts": (in_accounts, MOST_UNGATED),
    # Every stack in one other account: each deploy role keeps off all the others' stacks.
    "one-other-account": (
        lambda n: stack_config(
            [ungated(i, account=account(0)) for i in range(n)],
            targetAccounts={
                account(0): {"roleArn": f"arn:aws:iam::{account(0)}:role/ecs-delivery-bootstrap"}
            },
        ),
        MOST_UNGATED,
    ),
}


def declare(config: dict[str, Any]) -> tuple[RecordingMocks, str | None]:
    """What the program declares for `config`, and its refusal (None when it accepts)."""
    mocks = RecordingMocks(region=PIPELINE_REGION)
    try:
        run_config(config, stack=STACK, mocks=mocks)
    except pulumi.RunError as refusal:
        return mocks, str(refusal)
    return mocks, None


def parsed(config: dict[str, Any]) -> DeliveryConfig:
    """The config as the program reads it, before it checks the policy's size."""
    values = stack_config_from_mapping(config).values
    return in_pipeline_region(config_from_stack(values, stack=STACK), PIPELINE_REGION)


NAME_PREFIX = f"{APPLICATION}-{STACK}"


def checked_characters(config: dict[str, Any]) -> int:
    """What the program's check counts for the pipeline role's policy of `config`."""
    return policy_characters(
        worst_case_pipeline_role_policy(
            parsed(config), name_prefix=NAME_PREFIX, pipeline_region=PIPELINE_REGION
        )
    )


def accepted_by_the_check(config: dict[str, Any]) -> bool:
    return not policy_size_problems(parsed(config), name_prefix=NAME_PREFIX, pipeline_region=PIPELINE_REGION)


def largest_accepted(shape: str) -> int:
    """The most environments of `shape` the program's own check accepts (running the whole
    program for each count would take minutes; the test runs it on the result)."""
    build, most = SHAPES[shape]
    low, high = 0, most
    while low < high:
        middle = (low + high + 1) // 2
        if accepted_by_the_check(build(middle)):
            low = middle
        else:
            high = middle - 1
    return low


# How many environments of each shape fit, every name at its longest (measured when the check
# came): a check grown more cautious would refuse configs that fit.
ACCEPTED_AT_LEAST = {
    "gated": MOST_GATED,
    "gated-longest-alarms": 4,
    "ungated": 28,
    "regions": 20,
    "accounts": 20,
    "one-other-account": 26,
}
EVERY_CONFIG_DECLARES = {
    "aws:iam/role:Role",
    "aws:iam/rolePolicy:RolePolicy",
    "aws:iam/policy:Policy",
    "aws:s3/bucketPolicy:BucketPolicy",
    "aws:ecr/repositoryPolicy:RepositoryPolicy",
    "aws:sns/topicPolicy:TopicPolicy",
}


@pytest.mark.parametrize("shape", list(SHAPES))
def test_the_largest_configs_are_refused_before_anything_is_declared_or_every_document_fits(shape):
    build, most = SHAPES[shape]
    count = largest_accepted(shape)
    assert count >= ACCEPTED_AT_LEAST[shape], f"{shape}: only {count} environments accepted"
    if count < most:
        # The program refuses one more, before it declares anything, naming the key.
        mocks, refusal = declare(build(count + 1))
        assert refusal is not None, f"{shape}: {count + 1} environments were accepted"
        assert "ecs-delivery:environments: the " in refusal
        assert "policy would be" in refusal
        assert "10,240" in refusal
        assert mocks.resources == [], "refused only after declaring resources"
    mocks, refusal = declare(build(count))
    assert refusal is None, refusal
    assert not oversized(mocks), "\n".join(oversized(mocks))
    declared = kinds_declared(mocks)
    assert declared >= EVERY_CONFIG_DECLARES
    if shape == "accounts":
        assert "aws:kms/key:Key" in declared
    if shape.startswith("gated"):
        assert "aws:dynamodb/resourcePolicy:ResourcePolicy" in declared
    # The check never counts less than what the program then declares.
    (policy,) = [
        r
        for r in mocks.resources
        if r.type == "aws:iam/rolePolicy:RolePolicy" and r.name == "delivery-policy"
    ]
    assert iam_characters(policy.inputs["policy"]) <= checked_characters(build(count)) <= ROLE_POLICIES_MAX
    # Likewise every deploy role's inline policy and its stack-role boundary.
    config = parsed(build(count))
    stores = worst_case_protected_stores(config, name_prefix=NAME_PREFIX, pipeline_region=PIPELINE_REGION)
    for env in config.environments:
        inline, boundary = worst_case_deploy_role_policies(
            config, env, name_prefix=NAME_PREFIX, pipeline_region=PIPELINE_REGION, protected_stores=stores
        )
        (declared_inline,) = [r for r in mocks.resources if r.name == f"deploy-{env.name}-iam"]
        (declared_boundary,) = [r for r in mocks.resources if r.name == f"deploy-{env.name}-boundary"]
        assert (
            iam_characters(declared_inline.inputs["policy"]) <= policy_characters(inline) <= ROLE_POLICIES_MAX
        )
        assert (
            iam_characters(declared_boundary.inputs["policy"])
            <= policy_characters(boundary)
            <= MANAGED_POLICY_MAX
        )
    (repository,) = [r for r in mocks.resources if r.name == "app-image-pull-policy"]
    if shape == "accounts":
        checked = len(
            json.dumps(
                worst_case_application_repository_policy(
                    parsed(build(count)), pipeline_region=PIPELINE_REGION
                )
            )
        )
        assert len(repository.inputs["policy"]) <= checked <= RESOURCE_POLICY_MAX[repository.type]


# -- the refusal, on a literal config -------------------------------------------------------------
def customers(count: int) -> dict[str, Any]:
    """One ungated environment per customer, each stack with a long, descriptive name."""
    return {
        "aws:region": "eu-west-1",
        "ecs-delivery:application": {"name": "todobackend", "repository": "docker-in-aws/todobackend"},
        "ecs-delivery:infrastructure": {"repository": "docker-in-aws/todobackend-aws"},
        "ecs-delivery:environments": [
            {
                "name": f"customer-{index:02d}",
                "stackName": f"todobackend-customer-{index:02d}-service-stack-in-the-shared-services-account",
            }
            for index in range(count)
        ],
    }


def test_one_environment_too_many_is_refused_naming_the_key_and_what_is_allowed():
    mocks = RecordingMocks(region="eu-west-1")
    with pytest.raises(pulumi.RunError) as refused:
        run_config(customers(43), stack="prod", mocks=mocks)
    assert str(refused.value) == (
        "invalid stack configuration:\n"
        "  - ecs-delivery:environments: the pipeline role's policy would be 10282 characters, over IAM's "
        "10,240 for a role's policies: fewer environments or shorter stackName values (43 environments "
        "now; each adds its stack, its deploy role and its alarms)"
    )
    assert mocks.resources == []


def test_one_fewer_is_declared_and_fits():
    mocks = RecordingMocks(region="eu-west-1")
    run_config(customers(42), stack="prod", mocks=mocks)
    assert not oversized(mocks), "\n".join(oversized(mocks))
    (policy,) = [r for r in mocks.resources if r.name == "delivery-policy"]
    assert iam_characters(policy.inputs["policy"]) <= ROLE_POLICIES_MAX


# -- the deploy roles: each one's inline policy and its stack-role boundary -----------------------
def customers_with_every_store(count: int) -> dict[str, Any]:
    """Every store a deploy role and its boundary keep off: customers in their own accounts,
    each with the blue-green test before production traffic (a lifecycle-hook function there);
    a gated production in another region, last (the release record, the tools image, a regional
    artifact store); the build pulling Docker Hub through the cache."""
    return {
        "aws:region": "eu-west-1",
        "ecs-delivery:application": {"name": "todobackend", "repository": "docker-in-aws/todobackend"},
        "ecs-delivery:infrastructure": {"repository": "docker-in-aws/todobackend-aws"},
        "ecs-delivery:notifications": {"emails": ["platform-team@example.com"]},
        "ecs-delivery:build": {
            "registryCache": True,
            "dockerHub": {
                # Secrets Manager adds 6 random characters to a secret's name in its ARN.
                "credentialsSecretArn": (
                    "arn:aws:secretsmanager:eu-west-1:111122223333:secret:ecr-pullthroughcache/docker-hub-AbCdEf"
                )
            },
        },
        "ecs-delivery:environments": [
            *(
                {
                    "name": f"customer-{index:02d}",
                    "stackName": f"todobackend-customer-{index:02d}",
                    "account": account(index),
                    "deployment": {"strategy": "blue-green", "testPaths": ["/health"]},
                }
                for index in range(count)
            ),
            {
                "name": "production",
                "stackName": "todobackend-production",
                "region": "us-west-2",
                "approval": True,
                "approvers": ["arn:aws:iam::123456789012:role/release-managers"],
            },
        ],
        "ecs-delivery:targetAccounts": {
            account(index): {"roleArn": f"arn:aws:iam::{account(index)}:role/bootstrap"}
            for index in range(count)
        },
    }


def test_the_check_never_counts_a_deploy_role_smaller_than_declared():
    mocks = RecordingMocks(region="eu-west-1")
    run_config(customers_with_every_store(20), stack="prod", mocks=mocks)
    assert not oversized(mocks), "\n".join(oversized(mocks))
    config = in_pipeline_region(
        config_from_stack(stack_config_from_mapping(customers_with_every_store(20)).values, stack="prod"),
        "eu-west-1",
    )
    stores = worst_case_protected_stores(config, name_prefix="todobackend-prod", pipeline_region="eu-west-1")
    (kept_off,) = [
        statement["Resource"]
        for statement in json.loads(
            next(r for r in mocks.resources if r.name == "deploy-production-boundary").inputs["policy"]
        )["Statement"]
        if statement["Sid"] == "KeepOffTheDeliveryStores"
    ]
    # Each store the program declares is counted, whatever its name (one ARN each, or two).
    assert len(kept_off) <= len(stores)
    for env in config.environments:
        inline, boundary = worst_case_deploy_role_policies(
            config, env, name_prefix="todobackend-prod", pipeline_region="eu-west-1", protected_stores=stores
        )
        (declared_inline,) = [r for r in mocks.resources if r.name == f"deploy-{env.name}-iam"]
        (declared_boundary,) = [r for r in mocks.resources if r.name == f"deploy-{env.name}-boundary"]
        assert iam_characters(declared_inline.inputs["policy"]) <= policy_characters(inline), env.name
        assert iam_characters(declared_boundary.inputs["policy"]) <= policy_characters(boundary), env.name


def test_an_oversized_deploy_role_is_refused_with_every_other_problem_in_one_round():
    # Every stack in the pipeline's account, every name at its longest: each deploy role keeps
    # off the 46 other stacks, past IAM's 10,240, and the pipeline role is past it too.
    build, most = SHAPES["ungated"]
    mocks, refusal = declare(build(most))
    assert refusal is not None
    assert mocks.resources == [], "refused only after declaring resources"
    lines = refusal.splitlines()
    assert lines[0] == "invalid stack configuration:"
    assert lines[1].startswith("  - ecs-delivery:environments: the pipeline role's policy would be ")
    assert lines[2].startswith(
        f"  - ecs-delivery:environments: the deploy role of {environment_name(0)} would have a policy of "
    )
    assert lines[2].endswith(
        "characters, over IAM's 10,240 for a role's policies: fewer environments in its account or "
        "shorter stackName values there (it keeps off each of their stacks), or environments in fewer "
        "other regions (0 other regions now, each adding its artifact store to what every deploy role "
        "and boundary keeps off)"
    )
    assert len(lines) == 3


def test_an_oversized_boundary_is_refused_naming_the_regions(monkeypatch):
    # No config the schema accepts takes the boundary past IAM's 6,144 today (the regions shape at
    # its most counts 5,565): a lower limit shows the boundary is counted and how it is refused.
    import components.policy_size

    config = parsed(SHAPES["regions"][0](2))
    assert not policy_size_problems(config, name_prefix=NAME_PREFIX, pipeline_region=PIPELINE_REGION)
    monkeypatch.setattr(components.policy_size, "MANAGED_POLICY_CHARACTERS_MAX", 2_000)
    (problem,) = policy_size_problems(config, name_prefix=NAME_PREFIX, pipeline_region=PIPELINE_REGION)
    assert problem.startswith(
        f"ecs-delivery:environments: the stack-role boundary of {environment_name(0)} would be "
    )
    assert problem.endswith(
        "characters, over IAM's 2,000 for a managed policy: environments in fewer other regions (2 other "
        "regions now, each adding its artifact store to what every deploy role and boundary keeps off)"
    )
