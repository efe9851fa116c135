"""Notifications: the topic, who may publish, the pipeline's notification rule, email
subscriptions, and what every manual approval tells the approver."""

from __future__ import annotations

import pytest

from tests.conftest import action_of, all_of, only, policy, run_stack, shared_scope


@pytest.fixture(scope=shared_scope)
def prod():
    return run_stack("prod").mocks


def topic_arn(mocks) -> str:
    return only(mocks, "aws:sns/topic:Topic").state["arn"]


def test_topic_policy_admits_codestar_notifications_and_the_pipeline_role(prod):
    document = policy(only(prod, "aws:sns/topicPolicy:TopicPolicy"))
    assert only(prod, "aws:sns/topicPolicy:TopicPolicy").inputs["arn"] == topic_arn(prod)
    events, approvals = document["Statement"]
    assert events["Principal"] == {"Service": "codestar-notifications.amazonaws.com"}
    assert (events["Action"], events["Resource"]) == ("sns:Publish", topic_arn(prod))
    assert events["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}
    pipeline_role = only(prod, "aws:iam/role:Role", "delivery-role").state["arn"]
    assert approvals["Principal"] == {"AWS": pipeline_role}
    assert (approvals["Action"], approvals["Resource"]) == ("sns:Publish", topic_arn(prod))
    # The whole document, as SNS will store it.
    assert document == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "PipelineEvents",
                "Effect": "Allow",
                "Principal": {"Service": "codestar-notifications.amazonaws.com"},
                "Action": "sns:Publish",
                "Resource": topic_arn(prod),
                "Condition": {"StringEquals": {"aws:SourceAccount": "123456789012"}},
            },
            {
                "Sid": "ApprovalRequests",
                "Effect": "Allow",
                "Principal": {"AWS": pipeline_role},
                "Action": "sns:Publish",
                "Resource": topic_arn(prod),
            },
        ],
    }


def test_pipeline_role_may_publish_approval_requests(prod):
    statements = {
        s["Sid"]: s
        for s in policy(only(prod, "aws:iam/rolePolicy:RolePolicy", "delivery-policy"))["Statement"]
    }
    assert statements["NotifyApprovers"]["Action"] == ["sns:Publish"]
    assert statements["NotifyApprovers"]["Resource"] == [topic_arn(prod)]


def test_rule_reports_failures_successes_and_waiting_approvals(prod):
    rule = only(prod, "aws:codestarnotifications/notificationRule:NotificationRule").inputs
    assert rule["resource"] == only(prod, "aws:codepipeline/pipeline:Pipeline").state["arn"]
    assert sorted(rule["eventTypeIds"]) == [
        "codepipeline-pipeline-manual-approval-needed",
        "codepipeline-pipeline-pipeline-execution-failed",
        "codepipeline-pipeline-pipeline-execution-succeeded",
    ]
    assert rule["targets"] == [{"address": topic_arn(prod), "type": "SNS"}]
    assert rule["detailType"] == "FULL"


def test_email_subscriptions_come_from_config(prod):
    (subscription,) = all_of(prod, "aws:sns/topicSubscription:TopicSubscription")
    assert subscription.inputs == {
        "topic": topic_arn(prod),
        "protocol": "email",
        "endpoint": "platform-team@example.com",
    }
    assert all_of(run_stack("dev").mocks, "aws:sns/topicSubscription:TopicSubscription") == []


def test_every_manual_approval_says_what_is_approved(prod):
    approve = action_of(prod, "production-approval", "Approve")["configuration"]
    assert approve["NotificationArn"] == topic_arn(prod)
    # The review's summary names the environment, the changes and the image tag change.
    assert approve["CustomData"] == (
        "#{Plan-production.REVIEW_SUMMARY} | stack todobackend-prod, "
        "change set todobackend-prod-plan, commit #{AppSource.CommitId}"
    )
    # ...and links to exactly this change set in the CloudFormation console.
    assert approve["ExternalEntityLink"] == "#{Plan-production.CHANGE_SET_URL}"


def test_the_rule_is_created_only_after_the_topic_policy_admits_codestar_notifications(prod):
    # CreateNotificationRule fails ("Invalid request provided") while the topic's policy
    # does not yet let codestar-notifications.amazonaws.com publish.
    topic_policy = only(prod, "aws:sns/topicPolicy:TopicPolicy")
    rule = only(prod, "aws:codestarnotifications/notificationRule:NotificationRule")
    assert topic_policy.urn in rule.dependencies


def test_pipeline_and_projects_wait_for_the_permissions_they_run_with(prod):
    # The first execution starts as soon as the pipeline exists; a CodeBuild project
    # pulls its image with its role as soon as a build starts.
    pipeline = only(prod, "aws:codepipeline/pipeline:Pipeline")
    assert only(prod, "aws:iam/rolePolicy:RolePolicy", "delivery-policy").urn in pipeline.dependencies
    for environment in ("dev", "production"):
        assert (
            only(prod, "aws:iam/rolePolicy:RolePolicy", f"deploy-{environment}-iam").urn
            in pipeline.dependencies
        )
        attachment = only(
            prod, "aws:iam/rolePolicyAttachment:RolePolicyAttachment", f"deploy-{environment}-managed-0"
        )
        assert attachment.urn in pipeline.dependencies
    for runner in ("build", "review-production", "recover-production"):
        project = only(prod, "aws:codebuild/project:Project", f"{runner}-project")
        assert only(prod, "aws:iam/rolePolicy:RolePolicy", f"{runner}-policy").urn in project.dependencies


def test_a_fresh_account_can_have_the_service_linked_role_created_before_the_rule():
    from tests.conftest import config_with, run_config

    mocks = run_config(
        config_with(notifications={"createServiceLinkedRole": True, "emails": ["platform-team@example.com"]})
    ).mocks
    role = only(mocks, "aws:iam/serviceLinkedRole:ServiceLinkedRole")
    assert role.inputs["awsServiceName"] == "codestar-notifications.amazonaws.com"
    # Other rules of the account rely on it: `pulumi destroy` leaves it.
    assert role.retain_on_delete is True
    rule = only(mocks, "aws:codestarnotifications/notificationRule:NotificationRule")
    assert role.urn in rule.dependencies


def test_by_default_the_service_linked_role_is_left_to_the_account(prod):
    # Creating it where it exists fails ("has been taken in this account").
    assert all_of(prod, "aws:iam/serviceLinkedRole:ServiceLinkedRole") == []
