"""`DeliveryPipeline`: the V2 CodePipeline realised from a `Blueprint`, its source
connection, its own role, and its notifications. The environments' CloudFormation deploy
roles are `DeployRole`s built by the composition root and handed in by ARN."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

import pulumi
import pulumi_aws as aws

from components import iam_policies
from components.blueprint import (
    REF_BUILD_PROJECT,
    REF_CONNECTION_ARN,
    REF_IMAGE_REGISTRY,
    REF_NOTIFICATION_TOPIC_ARN,
    Blueprint,
    ConditionSpec,
    Ref,
    action_role_ref,
    boundary_ref,
    deploy_role_ref,
    review_project_ref,
    review_reader_ref,
    validate_blueprint,
    verify_project_ref,
)
from components.notifications import Notifications, NotificationsArgs

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


def realise_stages(blueprint: Blueprint, refs: Mapping[str, str]) -> list[dict[str, Any]]:
    """The blueprint's stages as `aws.codepipeline.Pipeline` stage inputs, every `Ref`
    bound to its value."""
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
                "configuration": {key: _bind(value, refs) for key, value in action.configuration.items()},
            }
            if action.input_artifacts:
                realised["input_artifacts"] = list(action.input_artifacts)
            if action.output_artifacts:
                realised["output_artifacts"] = list(action.output_artifacts)
            if action.namespace:
                realised["namespace"] = action.namespace
            if action.role is not None:
                realised["role_arn"] = _bind(action.role, refs)
            actions.append(realised)
        realised_stage: dict[str, Any] = {"name": stage.name, "actions": actions}
        if stage.before_entry:
            realised_stage["before_entry"] = {"condition": realise_condition(stage.before_entry, refs)}
        if stage.on_success:
            realised_stage["on_success"] = {"condition": realise_condition(stage.on_success, refs)}
        if stage.on_failure:
            failure: dict[str, Any] = {"result": stage.on_failure.result}
            if stage.on_failure.retry_mode:
                failure["retry_configuration"] = {"retry_mode": stage.on_failure.retry_mode}
            realised_stage["on_failure"] = failure
        stages.append(realised_stage)
    return stages


def _bind(value: Any, refs: Mapping[str, str]) -> Any:
    return value.render(dict(refs)) if isinstance(value, Ref) else value


def realise_condition(condition: ConditionSpec, refs: Mapping[str, str]) -> dict[str, Any]:
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
            realised["role_arn"] = _bind(rule.role, refs)
        rules.append(realised)
    return {"result": condition.result, "rules": rules}


def watched_alarms(blueprint: Blueprint) -> list[str]:
    """Names of the alarms the stages' CloudWatchAlarm rules read, once each."""
    names: list[str] = []
    for stage in blueprint.stages:
        for condition in (stage.before_entry, stage.on_success):
            for rule in condition.rules if condition else ():
                # Alarms read through another account's role are that role's business.
                if (
                    rule.provider == "CloudWatchAlarm"
                    and rule.role is None
                    and rule.configuration["AlarmName"] not in names
                ):
                    names.append(rule.configuration["AlarmName"])
    return names


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


def console_url(region: str, pipeline_name: str) -> str:
    return (
        f"https://{region}.console.aws.amazon.com/codesuite/codepipeline/pipelines/"
        f"{pipeline_name}/view?region={region}"
    )


@dataclass(frozen=True)
class DeliveryPipelineArgs:
    blueprint: Blueprint
    """Stages, actions and triggers (see components/blueprint.py)."""
    name_prefix: str
    """Physical name, unique per stack (`<app>-<stack>`): the pipeline's name, and the
    name of the GitHub connection created when `connection_arn` is None (the config
    rejects a prefix too long for either)."""
    artifact_bucket_name: pulumi.Input[str]
    artifact_bucket_arn: pulumi.Input[str]
    build_project_name: pulumi.Input[str]
    build_project_arn: pulumi.Input[str]
    account_id: pulumi.Input[str]
    region: pulumi.Input[str]
    image_registry: pulumi.Input[str]
    """The registry the application image is pushed to (`<account>.dkr.ecr.<region>.amazonaws.com`),
    which every template receives: a stack in another account pulls from it."""
    deploy_role_arns: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Per environment: the role CloudFormation deploys its stack with (a `DeployRole`)."""
    boundary_policy_arns: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Per environment: the permissions boundary its stack's roles must carry."""
    connection_arn: Optional[str] = None
    """An existing CodeConnections / CodeStar connection; None creates one (PENDING)."""
    kms_key_arn: Optional[pulumi.Input[str]] = None
    """The artifact store's KMS key, when it uses SSE-KMS."""
    notification_emails: Sequence[pulumi.Input[str]] = ()
    """Subscribed by email to pipeline events and approval requests."""
    execution_mode: str = "SUPERSEDED"
    """SUPERSEDED or QUEUED (V2); PARALLEL is refused in config: runs would race on the
    same stacks, and AWS refuses stage rollback in it."""
    review_projects: Mapping[str, tuple[pulumi.Input[str], pulumi.Input[str]]] = field(default_factory=dict)
    """Per gated environment: (name, ARN) of its change-set review project."""
    verify_projects: Mapping[str, tuple[pulumi.Input[str], pulumi.Input[str]]] = field(default_factory=dict)
    action_role_arns: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Per environment in another account: the role there its CloudFormation actions run as."""
    review_reader_arns: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Per gated environment in another account: the read-only role there its review assumes."""
    """Per environment with `verify`: (name, ARN) of its smoke-test project."""


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
        # Reject a graph CodePipeline would refuse before declaring anything.
        validate_blueprint(args.blueprint)
        environments = {stage.environment for stage in args.blueprint.stages if stage.environment}
        for what, given in (("deploy role", args.deploy_role_arns), ("boundary", args.boundary_policy_arns)):
            if set(given) != environments:
                raise ValueError(
                    f"DeliveryPipeline needs one {what} per environment: "
                    f"expected {sorted(environments)}, got {sorted(given)}"
                )
        super().__init__("ecs-delivery:pipeline:DeliveryPipeline", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        partition = aws.get_partition_output(opts=pulumi.InvokeOutputOptions(parent=self)).partition

        if args.connection_arn:
            connection_arn: pulumi.Output[str] = pulumi.Output.from_input(args.connection_arn)
            connection_status = pulumi.Output.from_input(
                "provided by config (check that it is AVAILABLE in the console)"
            )
        else:
            connection = aws.codeconnections.Connection(
                f"{name}-github",
                name=args.name_prefix,
                provider_type="GitHub",
                opts=child,
            )
            connection_arn = connection.arn
            connection_status = connection.connection_status
        self.connection_next_step: Optional[pulumi.Output[str]] = (
            None
            if args.connection_arn
            else pulumi.Output.all(connection_arn, args.region).apply(
                lambda v: pending_connection_steps(
                    connection_arn=v[0], pipeline_name=args.name_prefix, region=v[1]
                )
            )
        )

        pipeline_name = args.name_prefix
        stack_arns = pulumi.Output.all(partition, args.region, args.account_id).apply(
            lambda v: [iam_policies.stack_arn(v[0], v[1], v[2], s) for s in args.blueprint.stack_names]
        )
        pipeline_role = aws.iam.Role(
            f"{name}-role",
            # Under a path of its own, so that the action roles of other accounts can
            # trust it by pattern before it exists (see components/cross_account.py).
            path=iam_policies.pipeline_role_path(args.name_prefix),
            description="CodePipeline: run the delivery pipeline",
            # As AWS documents it (pipelines-create-service-role-cli): no condition on
            # aws:SourceArn/SourceAccount, which CodePipeline is not documented to set.
            assume_role_policy=json.dumps(iam_policies.service_trust_policy("codepipeline.amazonaws.com")),
            opts=child,
        )
        notifications = Notifications(
            f"{name}-notifications",
            NotificationsArgs(
                account_id=args.account_id,
                publisher_role_arn=pipeline_role.arn,
                emails=tuple(args.notification_emails),
            ),
            opts=child,
        )
        pipeline_policy = aws.iam.RolePolicy(
            f"{name}-policy",
            role=pipeline_role.id,
            policy=pulumi.Output.all(
                args.artifact_bucket_arn,
                connection_arn,
                pulumi.Output.all(
                    args.build_project_arn,
                    *(arn for _, arn in args.review_projects.values()),
                    *(arn for _, arn in args.verify_projects.values()),
                ),
                stack_arns,
                pulumi.Output.all(
                    *(arn for env, arn in args.deploy_role_arns.items() if env not in args.action_role_arns)
                ),
                notifications.topic_arn,
                args.account_id,
                pulumi.Output.all(partition, args.region, args.account_id).apply(
                    lambda v: [
                        iam_policies.alarm_arn(v[0], v[1], v[2], name)
                        for name in watched_alarms(args.blueprint)
                    ]
                ),
                args.kms_key_arn,
                pulumi.Output.all(*args.action_role_arns.values()),
            ).apply(
                lambda v: json.dumps(
                    iam_policies.pipeline_role_policy(
                        bucket_arn=v[0],
                        account_id=v[6],
                        connection_arn=v[1],
                        build_project_arns=v[2],
                        stack_arns=v[3],
                        deploy_role_arns=v[4],
                        kms_key_arn=v[8],
                        approval_topic_arn=v[5],
                        alarm_arns=v[7],
                        action_role_arns=v[9],
                    )
                )
            ),
            opts=child,
        )

        refs = pulumi.Output.all(
            **{
                REF_CONNECTION_ARN: connection_arn,
                REF_BUILD_PROJECT: args.build_project_name,
                REF_NOTIFICATION_TOPIC_ARN: notifications.topic_arn,
                REF_IMAGE_REGISTRY: args.image_registry,
                **{deploy_role_ref(env): arn for env, arn in args.deploy_role_arns.items()},
                **{boundary_ref(env): arn for env, arn in args.boundary_policy_arns.items()},
                **{review_project_ref(env): name for env, (name, _) in args.review_projects.items()},
                **{verify_project_ref(env): name for env, (name, _) in args.verify_projects.items()},
                **{action_role_ref(env): arn for env, arn in args.action_role_arns.items()},
                **{review_reader_ref(env): arn for env, arn in args.review_reader_arns.items()},
            }
        )
        artifact_store: dict[str, Any] = {"location": args.artifact_bucket_name, "type": "S3"}
        if args.kms_key_arn:
            artifact_store["encryption_key"] = {"id": args.kms_key_arn, "type": "KMS"}
        pipeline = aws.codepipeline.Pipeline(
            f"{name}-pipeline",
            name=pipeline_name,
            pipeline_type="V2",
            execution_mode=args.execution_mode,
            role_arn=pipeline_role.arn,
            artifact_stores=[artifact_store],
            stages=refs.apply(lambda values: realise_stages(args.blueprint, values)),
            triggers=realise_triggers(args.blueprint),
            # Without its permissions the first (automatic) execution would fail.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[pipeline_policy]),
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
            opts=pulumi.ResourceOptions(parent=self, depends_on=[notifications.topic_policy]),
        )

        self.pipeline_name = pipeline.name
        self.pipeline_arn = pipeline.arn
        self.pipeline_url = pulumi.Output.all(args.region, pipeline.name).apply(
            lambda v: console_url(v[0], v[1])
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
