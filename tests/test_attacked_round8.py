"""Attacked (round 8): what the round-7 fix (the notification topic and every notification rule of
the pipeline's account among the stores the environments' roles keep off) and the approver limit
still let through, each closed since (the tests were strict xfails before).

The deny `KeepOffTheDeliveryStores` names resources; three calls that silence the pipeline's
notifications named none of them:

- AWS CodeStar Notifications' DeleteTarget takes a target address (the topic's ARN) and no
  notification rule; with ForceUnsubscribeAll it takes the topic off every rule of the account,
  the pipeline's included (AWS CodeStar Notifications API Reference, "DeleteTarget"). It has no
  resource type (Service Authorization Reference, "Actions, resources, and condition keys for AWS
  CodeStar Notifications"), so IAM matches it against "*": now denied there
  (`KeepOffTheNotificationTargets`).
- Amazon SNS's Unsubscribe and SetSubscriptionAttributes act on a subscription, not the topic
  (Service Authorization Reference, "Actions, resources, and condition keys for Amazon SNS"): the
  approvers' email subscriptions could be deleted, or given a filter policy that drops every
  message while they still show as confirmed. The topic's owner's account may unsubscribe any
  subscription (Amazon SNS API Reference, "Unsubscribe"). Now `<topic ARN>:*` is kept off too
  (assumed, not checked, that IAM matches them against the subscription's ARN).

The approver limit counted ARN strings, but each attachment names the principal by name alone
(IAM API Reference, "AttachRolePolicy": RoleName; a role's name is unique in its account whatever
its path and case, IAM User Guide, "IAM identifiers"): it counts principals now.
"""

from __future__ import annotations

import pytest

from components.approvers import principal_kind_and_name
from components.config import load_config
from components.iam_policies import Request
from tests.conftest import any_stack, only
from tests.support.deploy_requests import handler_permissions
from tests.support.permissions import declared_roles
from tests.test_config import gated_by_one_release_manager, problems_for
from tests.test_store_protection import deployed_environments, minted_admin

SUBSCRIPTION_ID = "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"


@pytest.fixture(scope="module")
def declared():
    # The single-account stack: dev's roles live where the pipeline and its topic are.
    return any_stack("prod").mocks


def environment_roles(mocks):
    roles = declared_roles(mocks)
    for environment, stack in deployed_environments(mocks):
        yield environment, roles[f"deploy-{environment}-role"]
        yield environment, minted_admin(mocks, environment, stack)


def let_through(mocks, requests: list[Request]) -> list[str]:
    return [
        f"{environment} {role.name}: {request}"
        for environment, role in environment_roles(mocks)
        for request in requests
        if role.allows(request)
    ]


# AWS CodeStar Notifications API Reference, "DeleteTarget" (ForceUnsubscribeAll: "all associations
# between that target and every notification rule in your AWS account are deleted"); Service
# Authorization Reference, "Actions, resources, and condition keys for AWS CodeStar Notifications"
# (DeleteTarget: no resource type, so "*").
def test_no_environment_role_can_take_the_topic_off_the_pipelines_notification_rule(declared):
    topic = only(declared, "aws:sns/topic:Topic").state["arn"]
    request = Request(
        "codestar-notifications:DeleteTarget",
        "*",
        why=f"TargetAddress={topic}, ForceUnsubscribeAll=true",
    )
    assert let_through(declared, [request]) == []


# Service Authorization Reference, "Actions, resources, and condition keys for Amazon SNS"
# (Unsubscribe, SetSubscriptionAttributes: no resource type); Amazon SNS API Reference,
# "Unsubscribe" (the topic's owner may unsubscribe). ASSUMPTION, not verified against AWS: SNS
# authorizes both against the subscription's ARN (`<topic ARN>:<id>`), so that a deny on
# `<topic ARN>:*` reaches them; were it "*" instead, no identity deny could narrow them to this
# topic without refusing an environment's own subscriptions (the test below).
def test_no_environment_role_can_unsubscribe_or_mute_the_approvers(declared):
    topic = only(declared, "aws:sns/topic:Topic").state["arn"]
    subscription = f"{topic}:{SUBSCRIPTION_ID}"
    requests = [
        Request("sns:Unsubscribe", subscription, why="an approver's email subscription"),
        Request(
            "sns:SetSubscriptionAttributes",
            subscription,
            why='FilterPolicy {"never": ["sent"]}: every message dropped',
        ),
    ]
    assert let_through(declared, requests) == []


def test_an_environments_own_topics_and_subscriptions_stay_its_own(declared):
    # The other direction, for whichever fix flips the two tests above: what an environment's own
    # stack does with its own SNS topics and subscriptions (CloudFormation's handlers, registry
    # schemas) and its own notification rules' targets stays allowed. Passes today.
    account = only(declared, "aws:sns/topic:Topic").state["arn"].split(":")[4]
    region = only(declared, "aws:sns/topic:Topic").state["arn"].split(":")[3]
    refused = []
    for environment, stack in deployed_environments(declared):
        own_topic = f"arn:aws:sns:{region}:{account}:{stack}-alerts"
        own_subscription = f"{own_topic}:{SUBSCRIPTION_ID}"
        requests = [
            Request(action, own_subscription if action.endswith("SubscriptionAttributes") else own_topic)
            for action in handler_permissions("AWS::SNS::Topic")
            if action.startswith("sns:") and action != "sns:ListTopics"
        ] + [
            Request(action, own_subscription)
            for action in handler_permissions("AWS::SNS::Subscription")
            if action.startswith("sns:") and action != "sns:ListSubscriptions"
        ]
        for env, role in environment_roles(declared):
            if env == environment:
                refused += [f"{env} {role.name}: {r}" for r in requests if not role.allows(r)]
    assert refused == []
    # Denying DeleteTarget everywhere costs an environment's own notification rules nothing:
    # CloudFormation's NotificationRule handlers never call it.
    assert "codestar-notifications:deletetarget" not in {
        permission.lower()
        for permission in handler_permissions("AWS::CodeStarNotifications::NotificationRule")
    }


# IAM API Reference, "AttachRolePolicy" (RoleName: the name, no path); IAM User Guide, "IAM
# identifiers" (a role's ARN carries its path; its name is what identifies it in its account) and
# "IAM and AWS STS quotas" (10 managed policies per role).
def test_one_role_named_under_two_paths_is_counted_once_per_environment():
    raw = gated_by_one_release_manager(11)
    other_path = "arn:aws:iam::123456789012:role/team/release-managers"
    raw["environments"][10]["approvers"] = [other_path]
    first = raw["environments"][0]["approvers"][0]
    # Both ARNs attach to the same role (components/approvers.py attaches by name).
    assert principal_kind_and_name(first)[::2] == principal_kind_and_name(other_path)[::2]
    assert any("approves 11 environments" in problem for problem in problems_for(raw))


def test_one_role_named_in_another_case_is_the_same_role_and_a_user_of_that_name_is_not():
    # IAM User Guide, "IAM identifiers": names are unique in an account without regard to case
    # ("you cannot create two roles named ROLE and role"); a user of that name is another
    # principal, with policies of its own.
    raw = gated_by_one_release_manager(11)
    raw["environments"][10]["approvers"] = ["arn:aws:iam::123456789012:role/Release-Managers"]
    assert any("approves 11 environments" in problem for problem in problems_for(raw))
    raw["environments"][10]["approvers"] = ["arn:aws:iam::123456789012:user/release-managers"]
    assert len(load_config(raw).environments) == 11
