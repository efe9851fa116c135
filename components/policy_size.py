"""The documents that grow with the config, checked against AWS's size limits before anything is
declared: the pipeline role's policy (every environment adds its stack, its deploy role, its
alarms) and the application image repository's policy (every environment in another account
adds its stack's roles). Each is written by the real function that declares it, with every name
that exists only once resources do at its longest; AWS would refuse an oversized one only after
`pulumi up` had created other resources. tests/test_policy_size.py holds every document the
program declares to its limit, for the largest configs the schema accepts."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import botocore.session

from components import iam_policies, regions
from components.config import NAMESPACE, PULUMI_SUFFIX_LENGTH, DeliveryConfig
from components.image_repository import cross_account_pullers, repository_policy
from components.pipeline import pipeline_role_policy

# What IAM accepts of one role's inline policies together, whitespace not counted (IAM User
# Guide, "IAM and AWS STS quotas": "Role policy size ... 10,240 characters").
ROLE_POLICY_CHARACTERS_MAX = 10_240
# An ECR repository policy's text, as sent (Amazon ECR API Reference, SetRepositoryPolicy:
# policyText, "Maximum length of 10240"; botocore's ECR model, RepositoryPolicyText).
REPOSITORY_POLICY_CHARACTERS_MAX = 10_240

# The longest value each name can have before it exists: an account id is 12 digits; a role
# name at most 64 characters and a path 512 ("IAM and AWS STS quotas"); an SNS topic name 256
# (Amazon SNS API Reference, CreateTopic); an S3 bucket name 63 (Amazon S3 User Guide, "General
# purpose bucket naming rules"); a KMS key id and a connection id are UUIDs (36).
WORST_CASE_ACCOUNT_ID = "0" * 12
ROLE_NAME_MAX = 64
ROLE_PATH_MAX = 512
TOPIC_NAME_MAX = 256
BUCKET_NAME_MAX = 63
WORST_CASE_UUID = "0" * 36


def _longest(name: str, length: int) -> str:
    """A stand-in `length` characters long, distinct for each `name` (a document lists each
    resource once)."""
    return f"{name}-".ljust(length, "x")[:length]


def policy_characters(document: Mapping[str, Any]) -> int:
    """A policy's size as IAM counts it: the JSON text without whitespace. Non-ASCII characters
    count as the `\\uXXXX` escapes the program sends (json.dumps): never fewer than IAM's count."""
    return len(json.dumps(document, separators=(",", ":")))


class _WorstCase:
    """The names of the pipeline's account, each at its longest, in the pipeline's partition."""

    def __init__(self, pipeline_region: str):
        self.region = pipeline_region
        self.partition = botocore.session.get_session().get_partition_for_region(pipeline_region)
        self.account_id = WORST_CASE_ACCOUNT_ID

    def role(self, name: str, account_id: str | None = None, path: str = "/") -> str:
        account = account_id or self.account_id
        return f"arn:{self.partition}:iam::{account}:role{path}{_longest(name, ROLE_NAME_MAX)}"

    def auto_named_role(self, logical_name: str) -> str:
        """A role Pulumi names: its logical name and a random suffix (the config's limits on
        environment names rest on the same rule)."""
        # PULUMI_SUFFIX_LENGTH counts the suffix's '-' too.
        suffix = "-" + "x" * (PULUMI_SUFFIX_LENGTH - 1)
        return f"arn:{self.partition}:iam::{self.account_id}:role/{logical_name}{suffix}"

    def bucket(self, region: str) -> str:
        return f"arn:{self.partition}:s3:::{_longest(region, BUCKET_NAME_MAX)}"


def worst_case_pipeline_role_policy(
    config: DeliveryConfig, *, name_prefix: str, pipeline_region: str
) -> dict[str, Any]:
    """The pipeline role's document (`pipeline.pipeline_role_policy`) at its largest. What the
    config names (stacks, alarms, accounts, regions, the connection and key it gives) is taken as
    it is. Every environment is counted with a deploy role to hand over (`deploy-<name>-role`,
    named by Pulumi: components/cloudformation_target.py), and the store with a key: a role or a
    key the real document may not hold only adds to the count."""
    worst = _WorstCase(pipeline_region)
    partition, account_id = worst.partition, worst.account_id
    return pipeline_role_policy(
        config,
        name_prefix=name_prefix,
        here={"partition": partition, "region": pipeline_region, "account_id": account_id},
        bucket_arn=worst.bucket(pipeline_region),
        connection_arn=config.connection_arn
        or f"arn:{partition}:codeconnections:{pipeline_region}:{account_id}:connection/{WORST_CASE_UUID}",
        passed_roles={
            env.name: [worst.auto_named_role(f"deploy-{env.name}-role")] for env in config.environments
        },
        approval_topic_arn=(
            f"arn:{partition}:sns:{pipeline_region}:{account_id}:{_longest('topic', TOPIC_NAME_MAX)}"
        ),
        kms_key_arn=config.artifacts.kms_key_arn
        or f"arn:{partition}:kms:{pipeline_region}:{account_id}:key/{WORST_CASE_UUID}",
        action_role_arns=[
            worst.role(env.name, env.account, iam_policies.target_role_path(name_prefix, "action", env.name))
            for env in config.environments
            if env.account
        ],
        regional_bucket_arns=[worst.bucket(region) for region in regions.other_regions(config)],
    )


def worst_case_application_repository_policy(
    config: DeliveryConfig, *, pipeline_region: str
) -> dict[str, Any]:
    """The application image repository's policy (`image_repository.repository_policy`) at its
    largest: the stacks of the other accounts as config names them; its writers (the build and
    each gated environment's recorder) and the deployer, who runs `pulumi up` (any role, under any
    path), at their longest."""
    worst = _WorstCase(pipeline_region)
    return repository_policy(
        partition=worst.partition,
        pullers=cross_account_pullers(config),
        writers=[
            worst.role("build"),
            *(worst.role(f"record-{env.name}") for env in config.environments if env.approval),
        ],
        administrators=[worst.role("deployer", path=_longest("/path", ROLE_PATH_MAX - 1) + "/")],
    )


def policy_size_problems(config: DeliveryConfig, *, name_prefix: str, pipeline_region: str) -> list[str]:
    """What AWS would refuse of the documents that grow with the config, one line each naming
    the key (`environments`) and what is allowed."""
    problems = []
    role_policy = policy_characters(
        worst_case_pipeline_role_policy(config, name_prefix=name_prefix, pipeline_region=pipeline_region)
    )
    if role_policy > ROLE_POLICY_CHARACTERS_MAX:
        alarms = ", fewer or shorter alarms" if any(env.alarms for env in config.environments) else ""
        problems.append(
            f"{NAMESPACE}:environments: the pipeline role's policy would be {role_policy} characters, over "
            f"IAM's {ROLE_POLICY_CHARACTERS_MAX:,} for a role's policies: fewer environments or shorter "
            f"stackName values{alarms} ({len(config.environments)} environments now; each adds its stack, "
            "its deploy role and its alarms)"
        )
    if not config.application.image_repository and config.target_accounts:
        # As the program sends it (json.dumps): the limit is on the text, whitespace included.
        repository = len(
            json.dumps(worst_case_application_repository_policy(config, pipeline_region=pipeline_region))
        )
        if repository > REPOSITORY_POLICY_CHARACTERS_MAX:
            problems.append(
                f"{NAMESPACE}:environments: the application image repository's policy would be {repository} "
                f"characters, over ECR's {REPOSITORY_POLICY_CHARACTERS_MAX:,}: fewer environments in other "
                f"accounts (account) or shorter stackName values there ({len(config.target_accounts)} "
                "accounts now; each adds a statement, each stack its roles)"
            )
    return problems
