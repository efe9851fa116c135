"""ecs-delivery: the continuous-delivery system for one containerised ECS application.

The only composition root: read and validate the stack config (nothing is declared if it
is wrong), then wire BuildImage -> BuildProject -> DeliveryPipeline and export what a
platform engineer needs next.
"""

import dataclasses
from pathlib import Path
from typing import Optional

import pulumi
import pulumi_aws as aws

from components import iam_policies
from components.artifact_key import ArtifactKey, ArtifactKeyArgs
from components.artifact_store import ArtifactStore, ArtifactStoreArgs
from components.blueprint import BlueprintError, change_set_name, delivery_blueprint, validate_blueprint
from components.build_image import BuildImage, BuildImageArgs
from components.build_project import BuildProject, BuildProjectArgs, DockerHubAccess
from components.change_set_review import ChangeSetReview, ChangeSetReviewArgs
from components.config import (
    ConfigError,
    current_secret_keys,
    current_stack_config,
    load_config,
    raw_config_from_pulumi,
)
from components.cross_account import CrossAccountAccess, CrossAccountAccessArgs
from components.deploy_role import DeployRole, DeployRoleArgs
from components.image_repository import ImageRepository, ImageRepositoryArgs
from components.pipeline import DeliveryPipeline, DeliveryPipelineArgs
from components.verify_project import VerifyProject, VerifyProjectArgs

PROJECT_DIR = Path(__file__).resolve().parent

try:
    secret_keys = current_secret_keys()
    config = load_config(
        raw_config_from_pulumi(current_stack_config()), stack=pulumi.get_stack(), secret_keys=secret_keys
    )
    blueprint = delivery_blueprint(config)
    validate_blueprint(blueprint)
except (ConfigError, BlueprintError) as error:
    # RunError: Pulumi prints the message alone, without a Python traceback.
    raise pulumi.RunError(str(error)) from None

app = config.application
protect = config.protect_stateful_resources
# Physical names users see in the console; the stack name keeps dev and prod apart.
name_prefix = config.name_prefix(pulumi.get_stack())
account_id = aws.get_caller_identity_output().account_id
region = aws.get_region_output().region
partition = aws.get_partition_output().partition
# Environments whose stacks live in another AWS account.
remote_environments = [env for env in config.environments if env.account]


def repository_args(
    repository_name: str, *, immutable_tags: bool = config.ecr.immutable_tags
) -> ImageRepositoryArgs:
    return ImageRepositoryArgs(
        repository_name=repository_name,
        untagged_expiry_days=config.ecr.untagged_expiry_days,
        max_image_count=config.ecr.max_image_count,
        immutable_tags=immutable_tags,
        protect=protect,
    )


build_image = BuildImage(
    "build-image",
    BuildImageArgs(
        # Always mutable: its tag is a content hash that a rebuild pushes again, and
        # CodeBuild runs it pinned by digest (see components/build_image.py).
        repository=repository_args(config.build_image_repository_name, immutable_tags=False),
        project_dir=PROJECT_DIR,
        context="build-image",
        architecture=config.build.architecture,
    ),
)

# The BuildKit registry cache is one tag overwritten by every build: never immutable.
build_cache = (
    ImageRepository("build-cache", repository_args(config.build_cache_repository_name, immutable_tags=False))
    if config.build.registry_cache
    else None
)
docker_hub = config.build.docker_hub

if app.image_repository:
    existing = aws.ecr.get_repository_output(name=app.image_repository)
    app_repository_arn, app_repository_url = existing.arn, existing.repository_url
else:
    app_repository = ImageRepository(
        "app-image",
        dataclasses.replace(
            repository_args(config.image_repository_name),
            # ECS in each target account pulls the image across accounts.
            pullers={
                account: [env.stack_name for env in remote_environments if env.account == account]
                for account in config.target_accounts
            },
        ),
    )
    app_repository_arn, app_repository_url = app_repository.repository_arn, app_repository.repository_url

# Environments in other accounts are declared there through a provider of their own,
# which assumes the role config names (it must exist beforehand, see the README) and
# refuses credentials for any other account.
target_providers = {
    account: aws.Provider(
        f"account-{account}",
        region=region,
        assume_roles=[{"role_arn": target.role_arn, "session_name": "ecs-delivery"}],
        allowed_account_ids=[account],
    )
    for account, target in config.target_accounts.items()
}


def in_account(env) -> Optional[pulumi.ResourceOptions]:
    """Where an environment's own resources are declared: its account's provider, or the
    default one."""
    return pulumi.ResourceOptions(provider=target_providers[env.account]) if env.account else None


def account_id_of(env) -> pulumi.Output[str]:
    if not env.account:
        return account_id
    # From the target account's own provider: a data source, not the config's literal.
    return aws.get_caller_identity_output(
        opts=pulumi.InvokeOutputOptions(provider=target_providers[env.account])
    ).account_id


# One deploy role per environment, in the environment's account: an ungated
# environment's deploy cannot reach the roles of a gated one.
deploy_roles = {
    env.name: DeployRole(
        f"deploy-{env.name}",
        DeployRoleArgs(
            environment=env.name,
            stack_name=env.stack_name,
            account_id=account_id_of(env),
            managed_policy_arns=config.deploy_role.managed_policy_arns,
            permissions_boundary_arn=config.deploy_role.permissions_boundary_arn,
        ),
        opts=in_account(env),
    )
    for env in config.environments
}


def artifact_readers() -> dict[str, list[pulumi.Input[str]]]:
    """Per target account: the roles there that read artifacts (its action roles, by
    their path, and its environments' deploy roles)."""
    readers: dict[str, list[pulumi.Input[str]]] = {}
    for env in remote_environments:
        readers.setdefault(
            env.account,
            [
                partition.apply(
                    lambda p, account=env.account: iam_policies.role_path_pattern(
                        p, account, iam_policies.target_roles_path(name_prefix, "action")
                    )
                )
            ],
        ).append(deploy_roles[env.name].role_arn)
    return readers


artifact_readers_by_account = artifact_readers()

# Cross-account artifacts need a customer-managed key whose policy admits the readers.
artifact_key = (
    ArtifactKey(
        "artifact-key",
        ArtifactKeyArgs(
            name_prefix=name_prefix,
            account_id=account_id,
            readers=artifact_readers_by_account,
            protect=protect,
        ),
    )
    if remote_environments
    else None
)
artifact_key_arn = artifact_key.key_arn if artifact_key else config.artifacts.kms_key_arn

artifacts = ArtifactStore(
    "artifacts",
    ArtifactStoreArgs(
        expire_after_days=config.artifacts.expire_after_days,
        kms_key_arn=artifact_key_arn,
        protect=protect,
        cross_account_readers=artifact_readers_by_account,
    ),
)

build = BuildProject(
    "build",
    BuildProjectArgs(
        name_prefix=name_prefix,
        application_name=app.name,
        build_image_ref=build_image.image_ref,
        build_image_repository_arn=build_image.repository_arn,
        application_repository_arn=app_repository_arn,
        application_repository_url=app_repository_url,
        artifact_bucket_arn=artifacts.bucket_arn,
        account_id=account_id,
        region=region,
        compute_type=config.build.compute_type,
        timeout_minutes=config.build.timeout_minutes,
        buildspec=config.build.buildspec,
        version_file=config.build.version_file,
        version_key=config.build.version_key,
        log_retention_days=config.build.log_retention_days,
        kms_key_arn=artifact_key_arn,
        architecture=config.build.architecture,
        cache_modes=tuple(config.build.cache_modes),
        cache_repository_arn=build_cache.repository_arn if build_cache else None,
        cache_repository_url=build_cache.repository_url if build_cache else None,
        docker_hub=DockerHubAccess(
            secret_arn=docker_hub.credentials_secret_arn,
            pull_through_cache=docker_hub.pull_through_cache,
            cache_prefix=docker_hub.cache_prefix,
            create_rule=docker_hub.create_rule,
            login=docker_hub.login,
        )
        if docker_hub
        else None,
    ),
)

# Every gated environment gets its change set reviewed before the approval.
reviews = {
    env.name: ChangeSetReview(
        f"review-{env.name}",
        ChangeSetReviewArgs(
            name_prefix=name_prefix,
            environment=env.name,
            stack_name=env.stack_name,
            change_set_name=change_set_name(env),
            image_parameter=config.image_tag_parameter,
            build_image_ref=build_image.image_ref,
            build_image_repository_arn=build_image.repository_arn,
            artifact_bucket_name=artifacts.bucket_name,
            artifact_bucket_arn=artifacts.bucket_arn,
            account_id=account_id,
            region=region,
            log_retention_days=config.build.log_retention_days,
            kms_key_arn=artifact_key_arn,
            architecture=config.build.architecture,
            reader_role_pattern=partition.apply(
                lambda p, env=env: iam_policies.role_path_pattern(
                    p, env.account, iam_policies.target_role_path(name_prefix, "review", env.name)
                )
            )
            if env.account
            else None,
        ),
    )
    for env in config.environments
    if env.approval
}

# Every environment with `verify` gets its own smoke-test project.
verifications = {
    env.name: VerifyProject(
        f"verify-{env.name}",
        VerifyProjectArgs(
            name_prefix=name_prefix,
            environment=env.name,
            command=env.verify.command,
            stack_outputs=tuple(env.verify.stack_outputs),
            timeout_minutes=env.verify.timeout_minutes,
            build_image_ref=build_image.image_ref,
            build_image_repository_arn=build_image.repository_arn,
            artifact_bucket_arn=artifacts.bucket_arn,
            account_id=account_id,
            region=region,
            log_retention_days=config.build.log_retention_days,
            kms_key_arn=artifact_key_arn,
            architecture=config.build.architecture,
        ),
    )
    for env in config.environments
    if env.verify is not None
}

# What each environment in another account needs there: the role the pipeline acts as,
# and a gated environment's read-only review role.
cross_account = {
    env.name: CrossAccountAccess(
        env.name,
        CrossAccountAccessArgs(
            environment=env.name,
            stack_name=env.stack_name,
            name_prefix=name_prefix,
            pipeline_account_id=account_id,
            region=region,
            artifact_bucket_arn=artifacts.bucket_arn,
            artifact_key_arn=artifact_key_arn,
            deploy_role_arn=deploy_roles[env.name].role_arn,
            review_role_arn=reviews[env.name].role_arn if env.approval else None,
            alarms=tuple(env.alarms),
        ),
        opts=in_account(env),
    )
    for env in remote_environments
}

delivery = DeliveryPipeline(
    "delivery",
    DeliveryPipelineArgs(
        blueprint=blueprint,
        name_prefix=name_prefix,
        artifact_bucket_name=artifacts.bucket_name,
        artifact_bucket_arn=artifacts.bucket_arn,
        build_project_name=build.project_name,
        build_project_arn=build.project_arn,
        account_id=account_id,
        region=region,
        deploy_role_arns={env: role.role_arn for env, role in deploy_roles.items()},
        boundary_policy_arns={env: role.boundary_policy_arn for env, role in deploy_roles.items()},
        connection_arn=config.connection_arn,
        kms_key_arn=artifact_key_arn,
        # Addresses stored as secrets stay secrets in the state.
        notification_emails=tuple(
            pulumi.Output.secret(email) if "ecs-delivery:notifications" in secret_keys else email
            for email in config.notifications.emails
        ),
        execution_mode=config.execution_mode,
        review_projects={env: (r.project_name, r.project_arn) for env, r in reviews.items()},
        verify_projects={env: (v.project_name, v.project_arn) for env, v in verifications.items()},
        image_registry=pulumi.Output.from_input(app_repository_url).apply(lambda url: url.split("/", 1)[0]),
        action_role_arns={env: access.action_role_arn for env, access in cross_account.items()},
        review_reader_arns={
            env: access.review_reader_role_arn
            for env, access in cross_account.items()
            if access.review_reader_role_arn is not None
        },
    ),
)

pulumi.export("pipeline_name", delivery.pipeline_name)
pulumi.export("pipeline_url", delivery.pipeline_url)
pulumi.export("build_image", build_image.image_ref)
pulumi.export("build_project", build.project_name)
pulumi.export("artifact_bucket", artifacts.bucket_name)
pulumi.export("app_repository_url", app_repository_url)
pulumi.export("connection_arn", delivery.connection_arn)
pulumi.export("connection_status", delivery.connection_status)
pulumi.export("notification_topic_arn", delivery.notification_topic_arn)
if delivery.connection_next_step is not None:
    pulumi.export("connection_next_step", delivery.connection_next_step)
