"""Attacked (round 7): two delivery systems in one pipeline account, here the sibling stacks
docs/security.md discusses (`prod` and `prod-eu` of one application; any other application's
stack is the same). The stores with a resource policy (artifacts, key, repositories, record)
refuse every role but their writers, whoever's roles they are. The CodeBuild logs (this round)
and the lifecycle-hook functions and their logs have no resource policy: only the identity
denies keep roles off them, and each delivery system denies its own environments' roles its
own namespace alone (`/aws/codebuild/<prefix>-*`, `<prefix>-hook-*`).

So `prod-eu`'s dev template, which reaches dev unreviewed, can give a role of its stack
`logs:*` and `lambda:*` (its boundary allows both outside its own namespace) and forge a line
in `prod`'s review or confirm log, or rewrite `prod`'s production hook to answer SUCCEEDED.

xfail(strict): see the report for the fix (a namespace every delivery system shares, or the
organisation's SCP, or one delivery system per pipeline account, documented).
"""

from __future__ import annotations

import json

import pytest

from components.iam_policies import Request
from offline.program import load_stack_config
from tests.conftest import FIXTURE_STACKS, all_of, any_stack, only, run_config
from tests.support.permissions import declared_roles
from tests.test_store_protection import deployed_environments, minted_admin


def sibling_config() -> dict:
    """`prod-eu` beside the `prod` fixture: the same application, region and account (the
    mocks' test account), stacks of its own."""
    values = load_stack_config("prod", FIXTURE_STACKS).values
    config = {key: json.loads(value) if value[:1] in "[{" else value for key, value in values.items()}
    for environment in config["ecs-delivery:environments"]:
        environment["stackName"] = environment["stackName"].replace("todobackend-", "todobackend-eu-")
    return config


@pytest.fixture(scope="module")
def siblings():
    prod = any_stack("prod").mocks
    prod_eu = run_config(sibling_config(), stack="prod-eu").mocks
    return prod, prod_eu


def test_the_siblings_share_an_account_and_a_region(siblings):
    _, prod_eu = siblings
    arns = [only(m, "aws:codepipeline/pipeline:Pipeline").state["arn"].split(":")[3:5] for m in siblings]
    assert arns[0] == arns[1]
    assert only(prod_eu, "aws:codepipeline/pipeline:Pipeline").inputs["name"] == "todobackend-prod-eu"


@pytest.mark.xfail(
    strict=True,
    reason="round 7 attack: a sibling delivery system's environment roles may forge this one's "
    "CodeBuild logs and rewrite its lifecycle hook (identity denies cover each system's own prefix)",
)
def test_no_role_of_a_sibling_delivery_system_can_forge_the_logs_or_rewrite_the_hook(siblings):
    prod, prod_eu = siblings
    review_log = only(prod, "aws:cloudwatch/logGroup:LogGroup", "review-production-logs").state["arn"]
    assert review_log.endswith(":log-group:/aws/codebuild/todobackend-prod-review-production")
    hook = only(prod, "aws:lambda/function:Function", "hook-production-function").state["arn"]
    requests = [
        # CloudWatch Logs and AWS Lambda in the Service Authorization Reference: PutLogEvents acts
        # on a log stream, DeleteLogGroup on the group; UpdateFunctionCode on the function.
        Request("logs:PutLogEvents", f"{review_log}:log-stream:forged"),
        Request("logs:DeleteLogGroup", review_log),
        Request("lambda:UpdateFunctionCode", hook),
    ]
    roles = declared_roles(prod_eu)
    let_through = []
    for environment, stack in deployed_environments(prod_eu):
        for role in (roles[f"deploy-{environment}-role"], minted_admin(prod_eu, environment, stack)):
            let_through += [f"prod-eu {environment} {role.name}: {r}" for r in requests if role.allows(r)]
    assert let_through == []


def test_each_delivery_system_keeps_its_own_environments_off_the_same_requests(siblings):
    # Both ways: the same requests against prod-eu's own log and hook are refused to its roles.
    _, prod_eu = siblings
    own_log = only(prod_eu, "aws:cloudwatch/logGroup:LogGroup", "review-production-logs").state["arn"]
    own_hook = only(prod_eu, "aws:lambda/function:Function", "hook-production-function").state["arn"]
    roles = declared_roles(prod_eu)
    assert len(all_of(prod_eu, "aws:lambda/function:Function")) >= 1
    for environment, stack in deployed_environments(prod_eu):
        for role in (roles[f"deploy-{environment}-role"], minted_admin(prod_eu, environment, stack)):
            for request in (
                Request("logs:PutLogEvents", f"{own_log}:log-stream:forged"),
                Request("lambda:UpdateFunctionCode", own_hook),
            ):
                assert not role.allows(request), (environment, role.name, request)
