"""ecs-delivery: the continuous-delivery system for one containerised ECS application.

The only composition root: read and validate the stack config (nothing is declared if it
is wrong), then wire BuildImage -> BuildProject -> DeliveryPipeline and export what a
platform engineer needs next.
"""

from pathlib import Path

import pulumi
import pulumi_aws as aws

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
    app_repository = ImageRepository("app-image", repository_args(config.image_repository_name))
    app_repository_arn, app_repository_url = app_repository.repository_arn, app_repository.repository_url

artifacts = ArtifactStore(
    "artifacts",
    ArtifactStoreArgs(
        expire_after_days=config.artifacts.expire_after_days,
        kms_key_arn=config.artifacts.kms_key_arn,
        protect=protect,
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
        kms_key_arn=config.artifacts.kms_key_arn,
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
            kms_key_arn=config.artifacts.kms_key_arn,
            architecture=config.build.architecture,
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
            timeout_minutes=env.verify.timeout_minutes,
            build_image_ref=build_image.image_ref,
            build_image_repository_arn=build_image.repository_arn,
            artifact_bucket_arn=artifacts.bucket_arn,
            account_id=account_id,
            region=region,
            log_retention_days=config.build.log_retention_days,
            kms_key_arn=config.artifacts.kms_key_arn,
            architecture=config.build.architecture,
        ),
    )
    for env in config.environments
    if env.verify is not None
}

# One deploy role per environment: an ungated environment's deploy cannot reach the
# roles of a gated one.
deploy_roles = {
    env.name: DeployRole(
        f"deploy-{env.name}",
        DeployRoleArgs(
            environment=env.name,
            stack_name=env.stack_name,
            account_id=account_id,
            managed_policy_arns=config.deploy_role.managed_policy_arns,
            permissions_boundary_arn=config.deploy_role.permissions_boundary_arn,
        ),
    )
    for env in config.environments
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
        kms_key_arn=config.artifacts.kms_key_arn,
        # Addresses stored as secrets stay secrets in the state.
        notification_emails=tuple(
            pulumi.Output.secret(email) if "ecs-delivery:notifications" in secret_keys else email
            for email in config.notifications.emails
        ),
        execution_mode=config.execution_mode,
        review_projects={env: (r.project_name, r.project_arn) for env, r in reviews.items()},
        verify_projects={env: (v.project_name, v.project_arn) for env, v in verifications.items()},
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
