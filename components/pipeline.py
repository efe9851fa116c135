"""`DeliveryPipeline`: the V2 CodePipeline realised from a `Blueprint`, its source
connection, and the two roles it runs with (the pipeline's own and the CloudFormation
deploy role it hands to CloudFormation)."""

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
    REF_DEPLOY_ROLE_ARN,
    REF_NOTIFICATION_TOPIC_ARN,
    Blueprint,
    Ref,
    review_project_ref,
    validate_blueprint,
)
from components.notifications import Notifications, NotificationsArgs

# What the notification rule reports: runs that fail or succeed, and approvals waiting.
PIPELINE_EVENTS = (
    "codepipeline-pipeline-pipeline-execution-failed",
    "codepipeline-pipeline-pipeline-execution-succeeded",
    "codepipeline-pipeline-manual-approval-needed",
)

PENDING_CONNECTION_HELP = (
    "The stack created a GitHub connection; it stays PENDING, and the pipeline cannot "
    "run, until someone finishes the handshake: AWS console > Developer Tools > Settings "
    "> Connections > select it > 'Update pending connection'."
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
                "configuration": {
                    key: value.render(dict(refs)) if isinstance(value, Ref) else value
                    for key, value in action.configuration.items()
                },
            }
            if action.input_artifacts:
                realised["input_artifacts"] = list(action.input_artifacts)
            if action.output_artifacts:
                realised["output_artifacts"] = list(action.output_artifacts)
            if action.namespace:
                realised["namespace"] = action.namespace
            actions.append(realised)
        stages.append({"name": stage.name, "actions": actions})
    return stages


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
    name of the GitHub connection created when `connection_arn` is None (first 32 chars)."""
    artifact_bucket_name: pulumi.Input[str]
    artifact_bucket_arn: pulumi.Input[str]
    build_project_name: pulumi.Input[str]
    build_project_arn: pulumi.Input[str]
    account_id: pulumi.Input[str]
    region: pulumi.Input[str]
    connection_arn: Optional[str] = None
    """An existing CodeConnections / CodeStar connection; None creates one (PENDING)."""
    deploy_managed_policy_arns: Optional[Sequence[str]] = None
    """Managed policies of the deploy role; None means PowerUserAccess."""
    deploy_permissions_boundary_arn: Optional[str] = None
    kms_key_arn: Optional[str] = None
    """The artifact store's KMS key, when it uses SSE-KMS."""
    notification_emails: Sequence[str] = ()
    """Subscribed by email to pipeline events and approval requests."""
    execution_mode: str = "SUPERSEDED"
    """SUPERSEDED or QUEUED (V2); PARALLEL is not offered: runs would race on the same stacks."""
    review_projects: Mapping[str, tuple[pulumi.Input[str], pulumi.Input[str]]] = field(default_factory=dict)
    """Per gated environment: (name, ARN) of its change-set review project."""


class DeliveryPipeline(pulumi.ComponentResource):
    pipeline_name: pulumi.Output[str]
    pipeline_arn: pulumi.Output[str]
    pipeline_url: pulumi.Output[str]
    connection_arn: pulumi.Output[str]
    connection_status: pulumi.Output[str]
    pipeline_role_arn: pulumi.Output[str]
    deploy_role_arn: pulumi.Output[str]
    notification_topic_arn: pulumi.Output[str]

    def __init__(self, name: str, args: DeliveryPipelineArgs, opts: Optional[pulumi.ResourceOptions] = None):
        # Reject a graph CodePipeline would refuse before declaring anything.
        validate_blueprint(args.blueprint)
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
                name=args.name_prefix[:32],
                provider_type="GitHub",
                opts=child,
            )
            connection_arn = connection.arn
            connection_status = connection.connection_status

        deploy_role = self._deploy_role(name, args, partition)

        pipeline_name = args.name_prefix[:100]
        stack_arns = pulumi.Output.all(partition, args.region, args.account_id).apply(
            lambda v: [iam_policies.stack_arn(v[0], v[1], v[2], s) for s in args.blueprint.stack_names]
        )
        pipeline_role = aws.iam.Role(
            f"{name}-role",
            description="CodePipeline: run the delivery pipeline",
            assume_role_policy=pulumi.Output.all(partition, args.region, args.account_id).apply(
                lambda v: json.dumps(
                    iam_policies.resource_trust_policy(
                        service="codepipeline",
                        partition=v[0],
                        region=v[1],
                        account_id=v[2],
                        resource=pipeline_name,
                    )
                )
            ),
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
                pulumi.Output.all(args.build_project_arn, *(arn for _, arn in args.review_projects.values())),
                stack_arns,
                deploy_role.arn,
                notifications.topic_arn,
            ).apply(
                lambda v: json.dumps(
                    iam_policies.pipeline_role_policy(
                        bucket_arn=v[0],
                        connection_arn=v[1],
                        build_project_arns=v[2],
                        stack_arns=v[3],
                        deploy_role_arn=v[4],
                        kms_key_arn=args.kms_key_arn,
                        approval_topic_arn=v[5],
                    )
                )
            ),
            opts=child,
        )

        refs = pulumi.Output.all(
            **{
                REF_CONNECTION_ARN: connection_arn,
                REF_BUILD_PROJECT: args.build_project_name,
                REF_DEPLOY_ROLE_ARN: deploy_role.arn,
                REF_NOTIFICATION_TOPIC_ARN: notifications.topic_arn,
                **{review_project_ref(env): name for env, (name, _) in args.review_projects.items()},
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
            name=f"{pipeline_name}-events"[:64],
            resource=pipeline.arn,
            detail_type="FULL",
            event_type_ids=list(PIPELINE_EVENTS),
            targets=[{"address": notifications.topic_arn, "type": "SNS"}],
            opts=child,
        )

        self.pipeline_name = pipeline.name
        self.pipeline_arn = pipeline.arn
        self.pipeline_url = pulumi.Output.all(args.region, pipeline.name).apply(
            lambda v: console_url(v[0], v[1])
        )
        self.connection_arn = connection_arn
        self.connection_status = connection_status
        self.pipeline_role_arn = pipeline_role.arn
        self.deploy_role_arn = deploy_role.arn
        self.notification_topic_arn = notifications.topic_arn
        self.register_outputs(
            {
                "pipeline_name": self.pipeline_name,
                "pipeline_arn": self.pipeline_arn,
                "pipeline_url": self.pipeline_url,
                "connection_arn": self.connection_arn,
                "connection_status": self.connection_status,
                "pipeline_role_arn": self.pipeline_role_arn,
                "deploy_role_arn": self.deploy_role_arn,
                "notification_topic_arn": self.notification_topic_arn,
            }
        )

    def _deploy_role(
        self, name: str, args: DeliveryPipelineArgs, partition: pulumi.Output[str]
    ) -> aws.iam.Role:
        """The role CloudFormation assumes to create what the application template
        declares. Its reach is the trade-off documented in the README."""
        child = pulumi.ResourceOptions(parent=self)
        role = aws.iam.Role(
            f"{name}-deploy-role",
            description="CloudFormation: deploy the application stacks",
            # CloudFormation does not document setting aws:SourceAccount/SourceArn when it
            # assumes a service role; only principals allowed to pass this role (the
            # pipeline role, by its PassRole statement) can make it act.
            assume_role_policy=json.dumps(iam_policies.service_trust_policy("cloudformation.amazonaws.com")),
            permissions_boundary=args.deploy_permissions_boundary_arn,
            opts=child,
        )
        if args.deploy_managed_policy_arns:
            policy_arns: list[pulumi.Input[str]] = list(args.deploy_managed_policy_arns)
        else:
            policy_arns = [partition.apply(lambda p: f"arn:{p}:iam::aws:policy/PowerUserAccess")]
        for index, policy_arn in enumerate(policy_arns):
            aws.iam.RolePolicyAttachment(
                f"{name}-deploy-managed-{index}", role=role.name, policy_arn=policy_arn, opts=child
            )
        aws.iam.RolePolicy(
            f"{name}-deploy-iam",
            role=role.id,
            policy=pulumi.Output.all(partition, args.account_id).apply(
                lambda v: json.dumps(
                    iam_policies.deploy_role_iam_policy(
                        partition=v[0], account_id=v[1], stack_names=args.blueprint.stack_names
                    )
                )
            ),
            opts=child,
        )
        return role
