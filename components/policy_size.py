"""The documents that grow with the config, checked against AWS's size limits before anything is
declared: the pipeline role's policy (every environment adds its stack, its deploy role, its
alarms), the application image repository's policy (every environment in another account adds
its stack's roles), and each environment's deploy role (its inline policy keeps off the other
stacks of its account) and stack-role boundary (a managed policy); both carry the stores every
environment keeps off, which grow with the other regions. Each is written by the real function
that declares it, with every name that exists only once resources do at its longest (or as
Pulumi names it); AWS would refuse an oversized one only after `pulumi up` had created other
resources. tests/test_policy_size.py holds every document the program declares to its limit,
for the largest configs the schema accepts."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from components import deploy_role, iam_policies, lifecycle_hook, regions
from components.codebuild_runner import log_group_arn
from components.config import NAMESPACE, PULUMI_SUFFIX_LENGTH, DeliveryConfig, EnvironmentConfig
from components.image_repository import cross_account_pullers, repository_policy
from components.pipeline import pipeline_role_policy

# What IAM accepts of one role's inline policies together, whitespace not counted (IAM User
# Guide, "IAM and AWS STS quotas": "Role policy size ... 10,240 characters").
ROLE_POLICY_CHARACTERS_MAX = 10_240
# An ECR repository policy's text, as sent (Amazon ECR API Reference, SetRepositoryPolicy:
# policyText, "Maximum length of 10240"; botocore's ECR model, RepositoryPolicyText).
REPOSITORY_POLICY_CHARACTERS_MAX = 10_240
# What IAM accepts of a managed policy (the stack-role boundary), whitespace not counted (same
# page: "Managed policy size ... 6,144 characters").
MANAGED_POLICY_CHARACTERS_MAX = 6_144

# The longest value each name can have before it exists: an account id is 12 digits; a role
# name at most 64 characters and a path 512 ("IAM and AWS STS quotas"); an SNS topic name 256
# (Amazon SNS API Reference, CreateTopic); a KMS key id and a connection id are UUIDs (36). The
# artifact buckets are named by Pulumi (`_WorstCase.artifact_bucket`).
WORST_CASE_ACCOUNT_ID = "0" * 12
ROLE_NAME_MAX = 64
ROLE_PATH_MAX = 512
TOPIC_NAME_MAX = 256
WORST_CASE_UUID = "0" * 36


def _longest(name: str, length: int) -> str:
    """A stand-in `length` characters long, distinct for each `name` (a document lists each
    resource once)."""
    return f"{name}-".ljust(length, "x")[:length]


def _auto_named(logical_name: str) -> str:
    # PULUMI_SUFFIX_LENGTH counts the suffix's '-' too.
    return logical_name + "-" + "x" * (PULUMI_SUFFIX_LENGTH - 1)


def policy_characters(document: Mapping[str, Any]) -> int:
    """A policy's size as IAM counts it: the JSON text without whitespace. Non-ASCII characters
    count as the `\\uXXXX` escapes the program sends (json.dumps): never fewer than IAM's count."""
    return len(json.dumps(document, separators=(",", ":")))


class _WorstCase:
    """The names of the pipeline's account, each at its longest, in the pipeline's partition."""

    def __init__(self, pipeline_region: str):
        self.region = pipeline_region
        # The config accepts only regions the installed botocore knows (`aws:region`).
        self.partition = regions.partition_of(pipeline_region)
        self.account_id = WORST_CASE_ACCOUNT_ID

    def role(self, name: str, account_id: str | None = None, path: str = "/") -> str:
        account = account_id or self.account_id
        return f"arn:{self.partition}:iam::{account}:role{path}{_longest(name, ROLE_NAME_MAX)}"

    def auto_named_role(self, logical_name: str, path: str = "/") -> str:
        """A role Pulumi names: its logical name and a random suffix (the config's limits on
        environment names rest on the same rule)."""
        return f"arn:{self.partition}:iam::{self.account_id}:role{path}{_auto_named(logical_name)}"

    def auto_named_policy(self, logical_name: str, path: str) -> str:
        return f"arn:{self.partition}:iam::{self.account_id}:policy{path}{_auto_named(logical_name)}"

    def repository(self, name: str) -> str:
        return f"arn:{self.partition}:ecr:{self.region}:{self.account_id}:repository/{name}"

    def artifact_bucket(self, region: str | None = None) -> str:
        """An artifact store's bucket, as Pulumi names it (`<logical name>-<7 random
        characters>`, like the roles): the pipeline's store is `artifacts`, each other region's
        `artifacts-<region>` (__main__.py), its bucket `<store>-bucket`
        (components/artifact_store.py)."""
        store = f"artifacts-{region}" if region else "artifacts"
        return f"arn:{self.partition}:s3:::{_auto_named(f'{store}-bucket')}"


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
        bucket_arn=worst.artifact_bucket(),
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
        regional_bucket_arns=[worst.artifact_bucket(region) for region in regions.other_regions(config)],
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


def worst_case_protected_stores(
    config: DeliveryConfig, *, name_prefix: str, pipeline_region: str
) -> list[str]:
    """The stores every deploy role and boundary keeps off (`iam_policies.protected_store_arns`)
    at their longest: every artifact bucket as Pulumi names it, the artifact key, and the tools
    image's and the build cache's repositories and the release record whether this config
    declares them or not (each only adds to the count)."""
    worst = _WorstCase(pipeline_region)
    partition, account_id = worst.partition, worst.account_id
    docker_hub = config.build.docker_hub
    return iam_policies.protected_store_arns(
        partition=partition,
        region=pipeline_region,
        account_id=account_id,
        artifact_bucket_arns=[
            worst.artifact_bucket(),
            *(worst.artifact_bucket(region) for region in regions.other_regions(config)),
        ],
        artifact_key_arn=config.artifacts.kms_key_arn
        or f"arn:{partition}:kms:{pipeline_region}:{account_id}:key/{WORST_CASE_UUID}",
        repository_arns=[
            worst.repository(name)
            for name in (
                config.image_repository_name,
                config.build_image_repository_name,
                config.tools_image_repository_name,
                config.build_cache_repository_name,
            )
        ],
        release_table_arn=f"arn:{partition}:dynamodb:{pipeline_region}:{account_id}:table/{name_prefix}-releases",
        docker_hub_cache_prefix=docker_hub.cache_prefix
        if docker_hub and docker_hub.pull_through_cache
        else None,
        docker_hub_secret_arn=docker_hub.credentials_secret_arn if docker_hub else None,
        hook_patterns=lifecycle_hook.protected_patterns(partition, name_prefix, config.environments),
        codebuild_logs_pattern=log_group_arn(partition, pipeline_region, account_id, f"{name_prefix}-*"),
        # The pipeline `delivery` (__main__.py), its `<name>-notifications` and their `-topic`.
        notification_topic_arn=(
            f"arn:{partition}:sns:{pipeline_region}:{account_id}:{_auto_named('delivery-notifications-topic')}"
        ),
    )


def worst_case_deploy_role_policies(
    config: DeliveryConfig,
    env: EnvironmentConfig,
    *,
    name_prefix: str,
    pipeline_region: str,
    protected_stores: list[str],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """One environment's deploy role's inline policy and its stack-role boundary
    (`deploy_role.inline_policy`, `deploy_role.boundary_policy`) at their largest: the stack and
    its neighbours as config names them, the boundary and the hook's invoke role as Pulumi names
    them, `protected_stores` from `worst_case_protected_stores`."""
    worst = _WorstCase(pipeline_region)
    partition, account_id = worst.partition, worst.account_id
    boundary = deploy_role.boundary_policy(
        partition=partition,
        account_id=account_id,
        stack_name=env.stack_name,
        protected_stores=protected_stores,
    )
    inline = deploy_role.inline_policy(
        partition=partition,
        account_id=account_id,
        stack_name=env.stack_name,
        boundary_policy_arn=worst.auto_named_policy(
            f"deploy-{env.name}-boundary", deploy_role.BOUNDARY_POLICY_PATH
        ),
        protected_stores=protected_stores,
        pipeline_arn=iam_policies.pipeline_arn(partition, pipeline_region, account_id, name_prefix),
        project_arn_pattern=iam_policies.delivery_projects_pattern(
            partition, pipeline_region, account_id, name_prefix
        ),
        neighbour_stacks=deploy_role.neighbour_stacks(config.environments, env),
        ecs_passed_role_arns=(
            [
                worst.auto_named_role(
                    f"hook-{env.name}-invoke-role",
                    iam_policies.target_role_path(name_prefix, "hook", env.name),
                )
            ]
            if env.has_test_hook
            else []
        ),
    )
    return inline, boundary


def _deploy_role_problems(config: DeliveryConfig, *, name_prefix: str, pipeline_region: str) -> list[str]:
    stores = worst_case_protected_stores(config, name_prefix=name_prefix, pipeline_region=pipeline_region)
    sizes = {
        env.name: [
            policy_characters(document)
            for document in worst_case_deploy_role_policies(
                config, env, name_prefix=name_prefix, pipeline_region=pipeline_region, protected_stores=stores
            )
        ]
        for env in config.environments
    }
    # What every deploy role and boundary carries grows with the other regions alone.
    stores = (
        f"{len(regions.other_regions(config))} other regions now, each adding its artifact store "
        "to what every deploy role and boundary keeps off"
    )
    problems = []
    inline_name, inline = max(sizes.items(), key=lambda item: item[1][0])
    if inline[0] > ROLE_POLICY_CHARACTERS_MAX:
        problems.append(
            f"{NAMESPACE}:environments: the deploy role of {inline_name} would have a policy of "
            f"{inline[0]} characters, over IAM's {ROLE_POLICY_CHARACTERS_MAX:,} for a role's policies: "
            "fewer environments in its account or shorter stackName values there (it keeps off each "
            f"of their stacks), or environments in fewer other regions ({stores})"
        )
    boundary_name, boundary = max(sizes.items(), key=lambda item: item[1][1])
    if boundary[1] > MANAGED_POLICY_CHARACTERS_MAX:
        problems.append(
            f"{NAMESPACE}:environments: the stack-role boundary of {boundary_name} would be {boundary[1]} "
            f"characters, over IAM's {MANAGED_POLICY_CHARACTERS_MAX:,} for a managed policy: environments "
            f"in fewer other regions ({stores})"
        )
    return problems


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
    return problems + _deploy_role_problems(config, name_prefix=name_prefix, pipeline_region=pipeline_region)
