"""`Notifications`: the SNS topic that tells people what the pipeline is doing — pipeline
events from CodeStar Notifications and the manual approvals' requests — and its email
subscriptions."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Optional

import pulumi
import pulumi_aws as aws

from components import iam_policies
from components.context import DeliveryContext


@dataclass(frozen=True)
class NotificationsArgs:
    context: DeliveryContext
    """Only notification rules of its account may publish (confused-deputy guard)."""
    publisher_role_arn: pulumi.Input[str]
    """The pipeline role, which publishes approval requests."""
    emails: Sequence[pulumi.Input[str]] = field(default_factory=tuple)
    """Addresses subscribed by email (each must confirm the subscription)."""


class Notifications(pulumi.ComponentResource):
    topic_arn: pulumi.Output[str]
    topic_policy: aws.sns.TopicPolicy
    """For ordering: a notification rule can be created only once this policy admits
    CodeStar Notifications."""

    def __init__(self, name: str, args: NotificationsArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("ecs-delivery:notifications:Notifications", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # SSE on this topic would need a customer-managed key whose policy admits
        # codestar-notifications; the messages carry pipeline state, not secrets.
        topic = aws.sns.Topic(f"{name}-topic", opts=child)
        self.topic_policy = aws.sns.TopicPolicy(
            f"{name}-topic-policy",
            arn=topic.arn,
            policy=pulumi.Output.all(
                topic_arn=topic.arn,
                account_id=args.context.account_id,
                publisher_role_arn=args.publisher_role_arn,
            ).apply(lambda v: json.dumps(iam_policies.notification_topic_policy(**v))),
            opts=child,
        )
        for index, email in enumerate(args.emails):
            aws.sns.TopicSubscription(
                f"{name}-email-{index}", topic=topic.arn, protocol="email", endpoint=email, opts=child
            )
        self.topic_arn = topic.arn
        self.register_outputs({"topic_arn": self.topic_arn})
