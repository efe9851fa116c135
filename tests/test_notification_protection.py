"""Attacked (round 7): what the approvers and an incident read of the pipeline besides its logs,
the notification topic and the notification rule that feeds it (approval needed, execution
failed, execution succeeded), is not among the stores the environments' roles keep off.

In one account, dev's template reaches unreviewed whatever its stack's roles may do, and the
boundary leaves them SNS and AWS CodeStar Notifications: a forged "approval needed" or
"succeeded" message, an outside subscriber that receives every event (FULL detail), or a topic
or rule deleted so that nobody hears of a failed release. Same-account access needs no
resource policy (IAM User Guide, "Policy evaluation logic": within one account an identity
policy or a resource policy may allow), and the topic policy denies nothing.

Kept off since: the topic's ARN and every notification rule of the pipeline's account are among
the stores every deploy role and boundary keeps off (iam_policies.protected_store_arns).
"""

from __future__ import annotations

import json

import pytest

from components.iam_policies import Request
from offline.program import load_stack_config, run_program
from tests.conftest import FIXTURE_STACKS, all_of, any_stack, only, pipeline_account
from tests.support.permissions import declared_roles
from tests.test_store_protection import deployed_environments, minted_admin


@pytest.fixture(scope="module")
def declared():
    # The single-account stack: dev's roles live where the pipeline and its topic are.
    return any_stack("prod").mocks


def topic_requests(mocks) -> tuple[list[Request], dict]:
    topic = only(mocks, "aws:sns/topic:Topic").state["arn"]
    topic_policy = json.loads(only(mocks, "aws:sns/topicPolicy:TopicPolicy").inputs["policy"])
    rule = only(mocks, "aws:codestarnotifications/notificationRule:NotificationRule").state["arn"]
    # Service Authorization Reference: Amazon SNS (Publish, Subscribe, SetTopicAttributes,
    # DeleteTopic act on the topic) and AWS CodeStar Notifications (notificationrule).
    return [
        Request("sns:Publish", topic),
        Request("sns:Subscribe", topic),
        Request("sns:SetTopicAttributes", topic),
        Request("sns:DeleteTopic", topic),
        Request("codestar-notifications:DeleteNotificationRule", rule),
        Request("codestar-notifications:UpdateNotificationRule", rule),
        Request("codestar-notifications:Unsubscribe", rule),
    ], topic_policy


def test_no_environment_role_can_forge_or_silence_the_pipeline_notifications(declared):
    roles = declared_roles(declared)
    requests, topic_policy = topic_requests(declared)
    account = pipeline_account(declared)
    let_through = []
    for environment, stack in deployed_environments(declared):
        for role in (roles[f"deploy-{environment}-role"], minted_admin(declared, environment, stack)):
            for request in requests:
                policy = topic_policy if request.action.startswith("sns:") else None
                allowed = role.allows_through(request, policy, account) if policy else role.allows(request)
                if allowed:
                    let_through.append(f"{environment} {role.name}: {request.action}")
    assert let_through == []


def test_the_notifications_exist_for_the_proof_above(declared):
    # The proof above means something only if the stack declares a topic and a rule.
    assert len(all_of(declared, "aws:sns/topic:Topic")) == 1
    assert len(all_of(declared, "aws:codestarnotifications/notificationRule:NotificationRule")) == 1


def test_a_pipeline_that_fails_to_declare_fails_the_run_instead_of_leaving_it_waiting(monkeypatch):
    # The environments' policies wait for the topic's ARN and the stores' policies for their
    # writers, which the program gives once the pipeline is declared (deferred outputs): were
    # they never given, `pulumi up` would wait for ever and never show the error (the SDK waits
    # for every registration before it reports one, run_pulumi_func). It hung so before, with
    # the writers alone.
    import components.pipeline

    def broken(self, *args, **kwargs):
        raise RuntimeError("the pipeline could not be declared")

    monkeypatch.setattr(components.pipeline.DeliveryPipeline, "__init__", broken)
    with pytest.raises(RuntimeError, match=r"^the pipeline could not be declared$"):
        run_program(load_stack_config("prod", FIXTURE_STACKS), stack="prod")
