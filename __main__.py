"""ecs-delivery: the continuous-delivery system for one containerised ECS application.

The only composition root: read and validate the stack config and the pipeline it describes
(nothing is declared if either is wrong), then build the images and repositories, one
`EnvironmentDelivery` per environment, the artifact store, the build project and the
pipeline, and export what a platform engineer needs next.
"""

import contextlib
import dataclasses
from pathlib import Path

import pulumi
import pulumi_aws as aws

from components import iam_policies, lifecycle_hook, regions
from components.artifact_key import ArtifactKey, ArtifactKeyArgs
from components.artifact_store import ArtifactStore, ArtifactStoreArgs
from components.blueprint import BlueprintError, delivery_blueprint, validate_blueprint, worst_case_refs
from components.build_image import BuildImage, BuildImageArgs
from components.build_project import BuildProject, BuildProjectArgs, DockerHubAccess
from components.codebuild_runner import log_group_arn
from components.config import ConfigError, config_from_stack, current_secret_keys, current_stack_config
from components.context import DeliveryContext
from components.environment import (
    ArtifactAccess,
    EnvironmentDelivery,
    EnvironmentDeliveryArgs,
    ReleaseStores,
    artifact_readers,
)
from components.image_repository import ImageRepository, ImageRepositoryArgs, cross_account_pullers
from components.pipeline import DeliveryPipeline, DeliveryPipelineArgs, RegionalArtifactStore
from components.policy_size import policy_size_problems
from components.release_record import ReleaseRecord, ReleaseRecordArgs
from components.store_writers import StoreWriters

PROJECT_DIR = Path(__file__).resolve().parent

try:
    secret_keys = current_secret_keys()
    stack_values = current_stack_config()
    config = config_from_stack(stack_values, stack=pulumi.get_stack(), secret_keys=secret_keys)
    # `aws:region`, checked above: an environment there is in the pipeline's region, whether it
    # names it or not (no action region, no store of its own).
    if problems := regions.partition_problems(config, stack_values["aws:region"]):
        raise ConfigError(problems)
    config = regions.in_pipeline_region(config, stack_values["aws:region"])
    # The pipeline as it will be, every resource name at its longest: what CodePipeline would
    # refuse is refused here, before anything is declared.
    validate_blueprint(delivery_blueprint(config, worst_case_refs(config)))
    # Likewise the policies that grow with every environment: AWS would refuse one only after
    # `pulumi up` had created other resources.
    if problems := policy_size_problems(
        config, name_prefix=config.name_prefix(pulumi.get_stack()), pipeline_region=stack_values["aws:region"]
    ):
        raise ConfigError(problems)
except (ConfigError, BlueprintError) as error:
    # RunError: Pulumi prints the message alone, without a Python traceback.
    raise pulumi.RunError(str(error)) from None

app = config.application
protect = config.protect_stateful_resources
# Physical names users see in the console; the stack name keeps dev and prod apart.
name_prefix = config.name_prefix(pulumi.get_stack())
caller = aws.get_caller_identity_output()
account_id = caller.account_id
region = aws.get_region_output().region
partition = aws.get_partition_output().partition
# Environments whose stacks live in another AWS account.
remote_environments = [env for env in config.environments if env.account]
gated_environments = [env for env in config.environments if env.approval]
# Whoever runs `pulumi up`, as IAM names it in a policy (the role of an assumed-role session,
# path included): the stores' policies admit it besides the pipeline's own writers.
deployer = aws.iam.get_session_context_output(arn=caller.arn).issuer_arn
# Who writes each store; the stores refuse everyone else (published below, once they exist).
writers, publish_writers = StoreWriters.deferred(deployer)
# The notification topic is the pipeline's (components/notifications.py), declared after the
# environments whose roles keep off it: its ARN reaches their protected list once it exists.
notification_topic_arn, resolve_notification_topic_arn = pulumi.deferred_output()
# The artifact store's key and bucket policies name the environments' deploy roles, and the
# environments' roles read the store: the environments take the store's names first, and get
# their values once it is declared (below).
artifacts_for_environments, publish_artifacts = ArtifactAccess.deferred()


def _raise(error: BaseException) -> str:
    raise error


def repository_args(
    repository_name: str,
    *,
    writers: pulumi.Input[list[str]],
    administrators: pulumi.Input[list[str]] = writers.administrators,
    immutable_tags: bool = config.application_tags_immutable,
) -> ImageRepositoryArgs:
    return ImageRepositoryArgs(
        repository_name=repository_name,
        untagged_expiry_days=config.ecr.untagged_expiry_days,
        max_image_count=config.ecr.max_image_count,
        immutable_tags=immutable_tags,
        protect=protect,
        writers=writers,
        administrators=administrators,
    )


def image_from_build_context(name: str, repository_name: str, dockerfile: str) -> BuildImage:
    """An image of `build-image/` pushed by the deployer (pulumi-docker, with the deployer's
    registry token) into a repository of its own. Always mutable: its tag is a content hash
    that a rebuild pushes again, and CodeBuild runs it pinned by digest (see
    components/build_image.py)."""
    return BuildImage(
        name,
        BuildImageArgs(
            repository=repository_args(repository_name, writers=writers.administrators, immutable_tags=False),
            project_dir=PROJECT_DIR,
            context="build-image",
            dockerfile=dockerfile,
            architecture=config.build.architecture,
        ),
    )


# Until the pipeline is declared, the deferred outputs above hold back what reads them; should
# declaring fail first, they fail with its error: left unresolved, `pulumi up` would wait for
# ever and never report it (the SDK reports an error once every registration is done).
try:
    build_image = image_from_build_context("build-image", config.build_image_repository_name, "Dockerfile")
    # What the small projects (recovery, review and confirm, record, verify) run on Lambda compute:
    # no Docker, the AWS CLI and the project's scripts; only for a stack that has such projects.
    tools_image = (
        image_from_build_context("tools-image", config.tools_image_repository_name, "tools.Dockerfile")
        if any(env.approval or env.verify is not None for env in config.environments)
        else None
    )

    # The BuildKit registry cache is one tag overwritten by every build: never immutable.
    build_cache = (
        ImageRepository(
            "build-cache",
            repository_args(
                config.build_cache_repository_name, writers=writers.build_cache, immutable_tags=False
            ),
        )
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
                repository_args(config.image_repository_name, writers=writers.application_images),
                # ECS in each target account pulls the image across accounts.
                pullers=cross_account_pullers(config),
                # Each gated environment's recorder marks the images it releases.
                release_marks=bool(gated_environments),
            ),
        )
        app_repository_arn, app_repository_url = app_repository.repository_arn, app_repository.repository_url

    # Environments in other accounts are declared there through a provider of their own,
    # which assumes the role config names (it must exist beforehand, see the README) and
    # refuses credentials for any other account.
    account_providers = {
        account: aws.Provider(
            f"account-{account}",
            region=region,
            assume_roles=[{"role_arn": target.role_arn, "session_name": "ecs-delivery"}],
            allowed_account_ids=[account],
        )
        for account, target in config.target_accounts.items()
    }

    # CodePipeline needs an artifact store in every region it acts in (AWS, "Add a cross-Region action
    # in CodePipeline"): one bucket per other region an environment's stack lives in, declared there,
    # written by the pipeline's writers alone. SSE-S3: a KMS key serves one region (the config refuses
    # `artifacts.kmsKeyArn` with another region).
    regional_artifacts = {
        other_region: ArtifactStore(
            f"artifacts-{other_region}",
            ArtifactStoreArgs(
                expire_after_days=config.artifacts.expire_after_days,
                protect=protect,
                writers=writers.artifacts,
                reporters=writers.reports,
                administrators=writers.administrators,
            ),
            opts=pulumi.ResourceOptions(
                providers=[
                    regions.regional_provider(f"region-{other_region}", other_region, account_id=account_id)
                ]
            ),
        )
        for other_region in regions.other_regions(config)
    }

    # What every component in the pipeline's account shares; the artifact key is the store's.
    context = DeliveryContext(
        name_prefix=name_prefix,
        account_id=account_id,
        region=region,
        partition=partition,
        kms_key_arn=artifacts_for_environments.key_arn,
        log_retention_days=config.build.log_retention_days,
        architecture=config.build.architecture,
    )

    # What each gated environment released, for its confirm (rollbacks) and for redeploying the
    # last good release.
    release_record = (
        ReleaseRecord(
            "releases",
            ReleaseRecordArgs(
                context=context,
                writers=writers.release_records,
                administrators=writers.administrators,
                protect=protect,
            ),
        )
        if gated_environments
        else None
    )

    release_stores = ReleaseStores(
        application_repository_name=config.image_repository_name,
        application_repository_arn=app_repository_arn,
        record_table_name=release_record.table_name if release_record else None,
        record_table_arn=release_record.table_arn if release_record else None,
        # What no environment's role may write: every store the delivery system reads a release from
        # (the size refusal counts the same list, components/policy_size.py).
        protected=pulumi.Output.all(
            located=context.located(),
            artifact_bucket_arns=pulumi.Output.all(
                artifacts_for_environments.bucket_arn,
                *(store.bucket_arn for store in regional_artifacts.values()),
            ),
            artifact_key_arn=artifacts_for_environments.key_arn,
            repository_arns=pulumi.Output.all(
                app_repository_arn,
                build_image.repository_arn,
                *([tools_image.repository_arn] if tools_image else []),
                *([build_cache.repository_arn] if build_cache else []),
            ),
            release_table_arn=release_record.table_arn if release_record else None,
            docker_hub_secret_arn=docker_hub.credentials_secret_arn if docker_hub else None,
            notification_topic_arn=notification_topic_arn,
        ).apply(
            lambda v: iam_policies.protected_store_arns(
                **v["located"],
                artifact_bucket_arns=v["artifact_bucket_arns"],
                artifact_key_arn=v["artifact_key_arn"],
                repository_arns=v["repository_arns"],
                release_table_arn=v["release_table_arn"],
                docker_hub_cache_prefix=(
                    docker_hub.cache_prefix if docker_hub and docker_hub.pull_through_cache else None
                ),
                docker_hub_secret_arn=v["docker_hub_secret_arn"],
                hook_patterns=lifecycle_hook.protected_patterns(
                    v["located"]["partition"], name_prefix, config.environments
                ),
                codebuild_logs_pattern=log_group_arn(**v["located"], project_name=f"{name_prefix}-*"),
                notification_topic_arn=v["notification_topic_arn"],
            )
        ),
    )
    environments = {
        env.name: EnvironmentDelivery(
            f"environment-{env.name}",
            EnvironmentDeliveryArgs(
                environment=env,
                config=config,
                context=context,
                artifacts=artifacts_for_environments,
                tools_image_ref=tools_image.image_ref if tools_image else None,
                tools_image_repository_arn=tools_image.repository_arn if tools_image else None,
                pipeline_name=name_prefix,
                stores=release_stores,
                account_provider=account_providers[env.account] if env.account else None,
            ),
        ).delivered
        for env in config.environments
    }
    readers = artifact_readers(list(environments.values()))

    # Cross-account artifacts need a customer-managed key whose policy admits the readers.
    artifact_key = (
        ArtifactKey(
            "artifact-key",
            ArtifactKeyArgs(
                name_prefix=name_prefix,
                account_id=account_id,
                readers=readers,
                writers=writers.artifacts,
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
            cross_account_readers=readers,
            writers=writers.artifacts,
            reporters=writers.reports,
            administrators=writers.administrators,
        ),
    )
    publish_artifacts(
        bucket_name=artifacts.bucket_name, bucket_arn=artifacts.bucket_arn, key_arn=artifact_key_arn
    )

    build = BuildProject(
        "build",
        BuildProjectArgs(
            context=context,
            application_name=app.name,
            build_image_ref=build_image.image_ref,
            build_image_repository_arn=build_image.repository_arn,
            application_repository_arn=app_repository_arn,
            application_repository_url=app_repository_url,
            artifact_bucket_arn=artifacts.bucket_arn,
            compute_type=config.build.compute_type,
            timeout_minutes=config.build.timeout_minutes,
            buildspec=config.build.buildspec,
            version_file=config.build.version_file,
            version_key=config.build.version_key,
            digest_key=config.build.digest_key,
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

    delivery = DeliveryPipeline(
        "delivery",
        DeliveryPipelineArgs(
            config=config,
            environments=environments,
            context=context,
            artifact_bucket_name=artifacts.bucket_name,
            artifact_bucket_arn=artifacts.bucket_arn,
            build_project_name=build.project_name,
            image_registry=pulumi.Output.from_input(app_repository_url).apply(
                lambda url: url.split("/", 1)[0]
            ),
            artifact_stores={
                other_region: RegionalArtifactStore(
                    bucket_name=store.bucket_name, bucket_arn=store.bucket_arn
                )
                for other_region, store in regional_artifacts.items()
            },
            # Addresses stored as secrets stay secrets in the state.
            notification_emails=tuple(
                pulumi.Output.secret(email) if "ecs-delivery:notifications" in secret_keys else email
                for email in config.notifications.emails
            ),
        ),
    )

    resolve_notification_topic_arn(delivery.notification_topic_arn)

    publish_writers(
        pipeline_role=delivery.pipeline_role_arn,
        build_role=build.role_arn,
        reviewers=[arn for env in environments.values() for arn in env.artifact_writers],
        recorders=[arn for env in environments.values() for arn in env.release_writers],
    )
except BaseException as error:
    failed = pulumi.Output.from_input(None).apply(lambda _, error=error: _raise(error))
    for resolve in (
        lambda: resolve_notification_topic_arn(failed),
        lambda: publish_artifacts(bucket_name=failed, bucket_arn=failed, key_arn=failed),
        lambda: publish_writers(pipeline_role=failed, build_role=failed, reviewers=[], recorders=[]),
    ):
        # One already resolved refuses a second value: it holds nothing back.
        with contextlib.suppress(Exception):
            resolve()
    raise

pulumi.export("pipeline_name", delivery.pipeline_name)
pulumi.export("pipeline_url", delivery.pipeline_url)
pulumi.export("build_image", build_image.image_ref)
if tools_image:
    pulumi.export("tools_image", tools_image.image_ref)
pulumi.export("build_project", build.project_name)
pulumi.export("artifact_bucket", artifacts.bucket_name)
pulumi.export("app_repository_url", app_repository_url)
pulumi.export("connection_arn", delivery.connection_arn)
pulumi.export("connection_status", delivery.connection_status)
pulumi.export("notification_topic_arn", delivery.notification_topic_arn)
if release_record:
    pulumi.export("release_table", release_record.table_name)
if delivery.connection_next_step is not None:
    pulumi.export("connection_next_step", delivery.connection_next_step)
