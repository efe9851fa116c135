"""`DeliveryPipeline`: the V2 CodePipeline realised from its blueprint, its source
connection, its own role, and its notifications. Everything each environment has is an
`EnvironmentDelivery`, built by the composition root; the pipeline takes what they delivered
(`DeliveredEnvironment`) and writes the blueprint with their real names, in one join."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

import pulumi
import pulumi_aws as aws

from components import iam_policies
from components.blueprint import delivery_blueprint
from components.config import DeliveryConfig
from components.context import DeliveryContext
from components.environment import DeliveredEnvironment
from components.notifications import Notifications, NotificationsArgs
from components.outputs import by_name
from components.spec import Blueprint, ConditionSpec, PipelineRefs
from components.units import target_of

# What the notification rule reports: runs that fail or succeed, and approvals waiting.
PIPELINE_EVENTS = (
    "codepipeline-pipeline-pipeline-execution-failed",
    "codepipeline-pipeline-pipeline-execution-succeeded",
    "codepipeline-pipeline-manual-approval-needed",
)


def pending_connection_steps(*, connection_arn: str, pipeline_name: str, region: str) -> str:
    """What to do once after the first `pulumi up` that created the connection.

    AWS documents that a connection created by code is PENDING until someone completes
    the handshake in the console (Developer Tools > Settings > Connections > "Update
    pending connection"; dtconsole user guide, connections-update). It does not document
    how a pipeline created meanwhile registers its push triggers; users report pushes not
    starting it until the pipeline is saved again (pulumi/pulumi-aws#2167,
    aws-ia/terraform-aws-control_tower_account_factory#589). Re-saving the unchanged
    definition costs nothing, so the steps do it rather than gamble on it."""
    return (
        f"1. Console: Developer Tools > Settings > Connections > {connection_arn} > "
        "'Update pending connection', and install or choose the GitHub app. "
        f"2. Check: aws codeconnections get-connection --region {region} --connection-arn "
        f"{connection_arn} --query Connection.ConnectionStatus (must print AVAILABLE). "
        f"3. Re-save the pipeline so its push triggers register: aws codepipeline get-pipeline "
        f"--region {region} --name {pipeline_name} --query pipeline > pipeline.json && aws "
        f"codepipeline update-pipeline --region {region} --pipeline file://pipeline.json. "
        f"4. Run the first release (the automatic first run failed at Source): aws codepipeline "
        f"start-pipeline-execution --region {region} --name {pipeline_name}"
    )


def realise_stages(blueprint: Blueprint) -> list[dict[str, Any]]:
    """The blueprint's stages as `aws.codepipeline.Pipeline` stage inputs."""
    stages = []
    for stage in blueprint.stages:
        actions = []
        for action in stage.actions:
            realised: dict[str, Any] = {
                "name": action.name,
                "category": action.category,
                "owner": action.owner,
                "provider": action.provider,
                "version": action.version,
                "run_order": action.run_order,
                "configuration": dict(action.configuration),
            }
            if action.input_artifacts:
                realised["input_artifacts"] = list(action.input_artifacts)
            if action.output_artifacts:
                realised["output_artifacts"] = list(action.output_artifacts)
            if action.namespace:
                realised["namespace"] = action.namespace
            if action.role is not None:
                realised["role_arn"] = action.role
            if action.region is not None:
                realised["region"] = action.region
            actions.append(realised)
        realised_stage: dict[str, Any] = {"name": stage.name, "actions": actions}
        if stage.before_entry:
            realised_stage["before_entry"] = {"condition": realise_condition(stage.before_entry)}
        if stage.on_success:
            realised_stage["on_success"] = {"condition": realise_condition(stage.on_success)}
        if stage.on_failure:
            failure: dict[str, Any] = {"result": stage.on_failure.result}
            if stage.on_failure.retry_mode:
                failure["retry_configuration"] = {"retry_mode": stage.on_failure.retry_mode}
            realised_stage["on_failure"] = failure
        stages.append(realised_stage)
    return stages


def realise_condition(condition: ConditionSpec) -> dict[str, Any]:
    """A stage condition as the `aws.codepipeline.Pipeline` input: rules of category Rule,
    owner AWS, version 1, as the rule reference declares them."""
    rules = []
    for rule in condition.rules:
        realised: dict[str, Any] = {
            "name": rule.name,
            "rule_type_id": {"category": "Rule", "owner": "AWS", "provider": rule.provider, "version": "1"},
            "configuration": dict(rule.configuration),
        }
        if rule.role is not None:
            realised["role_arn"] = rule.role
        rules.append(realised)
    return {"result": condition.result, "rules": rules}


def watched_alarms(config: DeliveryConfig) -> list[str]:
    """Names of the alarms the pipeline role reads itself, once each (an environment in
    another account has its alarms read through its action role there)."""
    return list(
        dict.fromkeys(alarm for env in config.environments if not env.account for alarm in env.alarms)
    )


def realise_triggers(blueprint: Blueprint) -> list[dict[str, Any]]:
    """A push to either repository's branch starts the pipeline (V2 git triggers)."""
    return [
        {
            "provider_type": "CodeStarSourceConnection",
            "git_configuration": {
                "source_action_name": trigger.source_action,
                "pushes": [{"branches": {"includes": [trigger.branch]}}],
            },
        }
        for trigger in blueprint.triggers
    ]


@dataclass(frozen=True)
class RegionalArtifactStore:
    """The artifact bucket of one other region the pipeline acts in (its SSE-S3: no key)."""

    bucket_name: pulumi.Input[str]
    bucket_arn: pulumi.Input[str]


def realise_artifact_stores(
    *,
    pipeline_region: str,
    bucket_name: str,
    kms_key_arn: Optional[str],
    regional: Mapping[str, str],
) -> list[dict[str, Any]]:
    """The pipeline's `artifact_stores`: its own store alone, or, when it acts in other regions
    (`regional`: bucket name by region), one store per region, the pipeline's own included, each
    naming its region (AWS, "Add a cross-Region action in CodePipeline": artifactStores, not
    artifactStore, with one store per Region)."""
    own: dict[str, Any] = {"location": bucket_name, "type": "S3"}
    if kms_key_arn:
        own["encryption_key"] = {"id": kms_key_arn, "type": "KMS"}
    if not regional:
        return [own]
    return [
        {**own, "region": pipeline_region},
        *({"location": regional[region], "type": "S3", "region": region} for region in sorted(regional)),
    ]


def console_url(region: str, pipeline_name: str) -> str:
    return (
        f"https://{region}.console.aws.amazon.com/codesuite/codepipeline/pipelines/"
        f"{pipeline_name}/view?region={region}"
    )


@dataclass(frozen=True)
class DeliveryPipelineArgs:
    config: DeliveryConfig
    """What the pipeline is (its blueprint is written from it: components/blueprint.py)."""
    environments: Mapping[str, DeliveredEnvironment]
    """Per environment, what its `EnvironmentDelivery` declared, by environment name."""
    context: DeliveryContext
    """Its name prefix (`<app>-<stack>`) is the pipeline's name, and the name of the GitHub
    connection created when config names none (the config rejects a prefix too long for
    either); its key is the artifact store's."""
    artifact_bucket_name: pulumi.Input[str]
    artifact_bucket_arn: pulumi.Input[str]
    build_project_name: pulumi.Input[str]
    image_registry: pulumi.Input[str]
    """The registry the application image is pushed to (`<account>.dkr.ecr.<region>.amazonaws.com`),
    which every template receives: a stack in another account pulls from it."""
    notification_emails: Sequence[pulumi.Input[str]] = ()
    """Subscribed by email to pipeline events and approval requests."""
    artifact_stores: Mapping[str, RegionalArtifactStore] = field(default_factory=dict)
    """By region: the artifact store of each other region an environment's stack lives in
    (`environments[].region`); CodePipeline needs one in every region it acts in."""


CODESTAR_NOTIFICATIONS_SERVICE = "codestar-notifications.amazonaws.com"


class DeliveryPipeline(pulumi.ComponentResource):
    pipeline_name: pulumi.Output[str]
    pipeline_arn: pulumi.Output[str]
    pipeline_url: pulumi.Output[str]
    connection_arn: pulumi.Output[str]
    connection_status: pulumi.Output[str]
    connection_next_step: Optional[pulumi.Output[str]]
    """What to do once after the `up` that created the connection; None when config
    named an existing connection."""
    pipeline_role_arn: pulumi.Output[str]
    notification_topic_arn: pulumi.Output[str]

    def __init__(self, name: str, args: DeliveryPipelineArgs, opts: Optional[pulumi.ResourceOptions] = None):
        config = args.config
        expected = [env.name for env in config.environments]
        if sorted(args.environments) != sorted(expected):
            raise ValueError(
                f"DeliveryPipeline needs one delivered environment per configured one: "
                f"expected {sorted(expected)}, got {sorted(args.environments)}"
            )
        super().__init__("ecs-delivery:pipeline:DeliveryPipeline", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        context = args.context
        environments = [args.environments[env.name] for env in config.environments]

        if config.connection_arn:
            connection_arn: pulumi.Output[str] = pulumi.Output.from_input(config.connection_arn)
            connection_status = pulumi.Output.from_input(
                "provided by config (check that it is AVAILABLE in the console)"
            )
        else:
            connection = aws.codeconnections.Connection(
                f"{name}-github",
                name=context.name_prefix,
                provider_type="GitHub",
                opts=child,
            )
            connection_arn = connection.arn
            connection_status = connection.connection_status
        self.connection_next_step: Optional[pulumi.Output[str]] = (
            None
            if config.connection_arn
            else pulumi.Output.all(connection_arn=connection_arn, region=context.region).apply(
                lambda v: pending_connection_steps(pipeline_name=context.name_prefix, **v)
            )
        )

        pipeline_name = context.name_prefix
        pipeline_role = aws.iam.Role(
            f"{name}-role",
            # Under a path of its own, so that the action roles of other accounts can
            # trust it by pattern before it exists (see components/cross_account.py).
            path=iam_policies.pipeline_role_path(context.name_prefix),
            description="CodePipeline: run the delivery pipeline",
            # As AWS documents it (pipelines-create-service-role-cli): no condition on
            # aws:SourceArn/SourceAccount, which CodePipeline is not documented to set.
            assume_role_policy=json.dumps(iam_policies.service_trust_policy("codepipeline.amazonaws.com")),
            opts=child,
        )
        notifications = Notifications(
            f"{name}-notifications",
            NotificationsArgs(
                context=context,
                publisher_role_arn=pipeline_role.arn,
                emails=tuple(args.notification_emails),
            ),
            opts=child,
        )
        here = context.located()
        pipeline_policy = aws.iam.RolePolicy(
            f"{name}-policy",
            role=pipeline_role.id,
            policy=pulumi.Output.all(
                here=here,
                bucket_arn=args.artifact_bucket_arn,
                connection_arn=connection_arn,
                # Per environment, the roles its deploy target's service is handed.
                passed_roles=pulumi.Output.all(
                    **{env.config.name: pulumi.Output.all(*env.target.passed_roles) for env in environments}
                ),
                approval_topic_arn=notifications.topic_arn,
                kms_key_arn=context.kms_key_arn,
                action_role_arns=pulumi.Output.all(
                    *(env.target.account_role for env in environments if env.target.account_role)
                ),
                regional_bucket_arns=pulumi.Output.all(
                    *(args.artifact_stores[region].bucket_arn for region in sorted(args.artifact_stores))
                ),
            ).apply(lambda v: json.dumps(pipeline_role_policy(config, name_prefix=context.name_prefix, **v))),
            opts=child,
        )

        refs = pulumi.Output.all(
            connection_arn=connection_arn,
            build_project=args.build_project_name,
            notification_topic_arn=notifications.topic_arn,
            image_registry=args.image_registry,
            environments=by_name({env.config.name: env.refs for env in environments}),
        ).apply(lambda v: PipelineRefs(**v))
        artifact_stores = pulumi.Output.all(
            pipeline_region=context.region,
            bucket_name=args.artifact_bucket_name,
            kms_key_arn=context.kms_key_arn,
            regional=by_name({region: store.bucket_name for region, store in args.artifact_stores.items()}),
        ).apply(lambda v: realise_artifact_stores(**v))
        blueprint = refs.apply(lambda bound: delivery_blueprint(config, bound))
        pipeline = aws.codepipeline.Pipeline(
            f"{name}-pipeline",
            name=pipeline_name,
            pipeline_type="V2",
            execution_mode=config.execution_mode,
            role_arn=pipeline_role.arn,
            artifact_stores=artifact_stores,
            stages=blueprint.apply(realise_stages),
            triggers=blueprint.apply(realise_triggers),
            # Without its permissions the first (automatic) execution would fail.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[pipeline_policy]),
        )

        # An account that never had a notification rule has no CodeStar Notifications
        # service-linked role, and CreateNotificationRule fails until it exists (AWS, "Creating a
        # notification rule"; aws-cdk#34406). Opt-in: where the role exists, creating it fails.
        rule_waits_for: list[pulumi.Resource] = [notifications.topic_policy]
        if config.notifications.create_service_linked_role:
            rule_waits_for.append(
                aws.iam.ServiceLinkedRole(
                    f"{name}-notifications-service-role",
                    aws_service_name=CODESTAR_NOTIFICATIONS_SERVICE,
                    description="CodeStar Notifications: deliver pipeline events (created by ecs-delivery)",
                    # Other notification rules of the account rely on it.
                    opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True),
                )
            )
        aws.codestarnotifications.NotificationRule(
            f"{name}-events",
            name=f"{pipeline_name}-events",
            resource=pipeline.arn,
            detail_type="FULL",
            event_type_ids=list(PIPELINE_EVENTS),
            targets=[{"address": notifications.topic_arn, "type": "SNS"}],
            # CreateNotificationRule checks that the topic policy admits CodeStar
            # Notifications ("Invalid request provided" if it does not yet).
            opts=pulumi.ResourceOptions(parent=self, depends_on=rule_waits_for),
        )

        self.pipeline_name = pipeline.name
        self.pipeline_arn = pipeline.arn
        self.pipeline_url = pulumi.Output.all(region=context.region, pipeline_name=pipeline.name).apply(
            lambda v: console_url(**v)
        )
        self.connection_arn = connection_arn
        self.connection_status = connection_status
        self.pipeline_role_arn = pipeline_role.arn
        self.notification_topic_arn = notifications.topic_arn
        self.register_outputs(
            {
                "pipeline_name": self.pipeline_name,
                "pipeline_arn": self.pipeline_arn,
                "pipeline_url": self.pipeline_url,
                "connection_arn": self.connection_arn,
                "connection_status": self.connection_status,
                "pipeline_role_arn": self.pipeline_role_arn,
                "notification_topic_arn": self.notification_topic_arn,
            }
        )


def pipeline_role_policy(
    config: DeliveryConfig,
    *,
    name_prefix: str,
    here: Mapping[str, str],
    bucket_arn: str,
    connection_arn: str,
    passed_roles: Mapping[str, Sequence[str]],
    approval_topic_arn: str,
    kms_key_arn: Optional[str],
    action_role_arns: Sequence[str],
    regional_bucket_arns: Sequence[str] = (),
) -> dict[str, Any]:
    """The pipeline role's document from resolved values (`here`: partition, region and
    account of the pipeline). It starts every project of the delivery system (`name_prefix`
    names them all); the projects are made in the pipeline's account and region."""
    partition, region, account_id = here["partition"], here["region"], here["account_id"]
    return iam_policies.pipeline_role_policy(
        bucket_arn=bucket_arn,
        account_id=account_id,
        connection_arn=connection_arn,
        project_arn_pattern=iam_policies.delivery_projects_pattern(
            partition, region, account_id, name_prefix
        ),
        # Each deploy target's own part (one target today: every environment is a stack), with
        # the roles the pipeline role hands its service.
        target_statements=[
            statement
            for target in dict.fromkeys(target_of(env) for env in config.environments)
            for statement in target.pipeline_role_statements(
                [env for env in config.environments if target_of(env) is target],
                here=here,
                passed_roles=[
                    role
                    for env in config.environments
                    if target_of(env) is target
                    for role in passed_roles[env.name]
                ],
            )
        ],
        kms_key_arn=kms_key_arn,
        approval_topic_arn=approval_topic_arn,
        alarm_arns=[
            iam_policies.alarm_arn(partition, region, account_id, name) for name in watched_alarms(config)
        ],
        action_role_arns=action_role_arns,
        regional_bucket_arns=regional_bucket_arns,
    )
