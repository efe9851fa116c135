"""The role Pulumi assumes in a target account (`targetAccounts.<account>.roleArn`), built to
the generated policy (`make bootstrap-policy`), is enough for everything the real AWS provider
does there, and grants nothing it does not do.

The calls are the provider's own: Terraform with the hashicorp/aws mirror creates, updates and
destroys what the program declares in the account, against moto's server on the loopback
address, which records each request (offline/provider_calls.py). Each call is then evaluated
against the generated policy with principalmapper's simulator (IAM's resource and condition
matching; moto's own authorization ignores both), for the example stack the guide shows and for
each of your stacks with an environment in another account.

Provider tier (`make provider`): skipped, with the reason, where Terraform, its provider mirror
or moto's server dependencies are missing.
"""

from __future__ import annotations

import copy
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from offline import bootstrap_policy, preflight, provider_calls
from offline.program import load_stack_config, run_program
from offline.progress import wait_saying
from tests.conftest import YOURS, run_user_stack, user_stacks
from tests.support.permissions import DeclaredRole

try:
    preflight.find_terraform()
    preflight.find_provider_mirror()
    import flask  # noqa: F401 - moto's server runs on it (moto[server])

    MISSING = None
except preflight.PreflightUnavailable as missing:
    MISSING = str(missing)
except ImportError as missing:
    MISSING = f"moto's server needs {missing.name}: pip install -r requirements-dev.txt"

pytestmark = pytest.mark.skipif(MISSING is not None, reason=f"provider calls not recorded: {MISSING}")

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "stacks"
EXAMPLE = "example:cross-account"
# The test stack with production's lifecycle-hook test in production's account.
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "stacks"
WITH_HOOK = "fixture:cross-account"


def _cases() -> list[tuple[str, str]]:
    """(stack, account): the example's target account, the hook's, and each of yours."""
    cases = [(EXAMPLE, "222222222222"), (WITH_HOOK, "222222222222")]
    for stack in user_stacks():
        cases += [(YOURS + stack, a) for a in provider_calls.target_accounts(run_user_stack(stack).mocks)]
    return cases


CASES = _cases()


def _declared(stack: str):
    if stack in (EXAMPLE, WITH_HOOK):
        config = load_stack_config("cross-account", EXAMPLES if stack == EXAMPLE else FIXTURES)
        return config, run_program(config, stack="cross-account").mocks
    name = stack.removeprefix(YOURS)
    return load_stack_config(name, Path(__file__).resolve().parent.parent), run_user_stack(name).mocks


@pytest.fixture(scope="module")
def recorded(tmp_path_factory, say):
    """Every case's calls, recorded at once: they wait on Terraform, not on Python."""
    out = tmp_path_factory.mktemp("provider-calls")
    prepared = {}
    for stack, account in CASES:
        config, mocks = _declared(stack)
        resources = provider_calls.account_resources(mocks, account)
        role_arn = bootstrap_policy.role_arns(config)[account]
        prepared[(stack, account)] = (mocks, resources, config.region, role_arn)

    def one(case):
        _, resources, region, _ = prepared[case]
        folder = out / case[0].replace(":", "-") / case[1]
        return provider_calls.record(resources, case[1], region, folder)

    with ThreadPoolExecutor(max_workers=2) as pool:
        recording = {f"{stack} {account}": pool.submit(one, (stack, account)) for stack, account in prepared}
        calls = dict(
            zip(prepared, wait_saying(recording, say, "provider calls (Terraform)").values(), strict=True)
        )
    return {case: (*prepared[case], calls[case]) for case in prepared}


def _requests(resources, account, calls):
    return [r for call in calls for r in provider_calls.call_requests(call, resources, account)]


def _role(policy, role_arn) -> DeclaredRole:
    return DeclaredRole("bootstrap", role_arn, [policy], [], None)


@pytest.mark.parametrize(("stack", "account"), CASES)
def test_the_provider_creates_updates_and_deletes_everything_in_every_phase(recorded, stack, account):
    *_, calls = recorded[(stack, account)]
    phases = {call.phase for call in calls}
    assert phases == set(provider_calls.PHASES)
    actions = {call.action for call in calls}
    # The phases did what they are for: a first apply, an update of documents (with a
    # policy version pruned), a destroy.
    assert {"iam:CreateRole", "iam:PutRolePolicy", "iam:UpdateAssumeRolePolicy", "iam:DeleteRole"} <= actions
    assert {"iam:CreatePolicyVersion", "iam:DeletePolicyVersion"} <= actions


@pytest.mark.parametrize(("stack", "account"), CASES)
def test_every_call_is_allowed_by_the_generated_policy(recorded, stack, account):
    _, resources, _, role_arn, calls = recorded[(stack, account)]
    policy = bootstrap_policy.permissions_policy(resources, account)
    requests = _requests(resources, account, calls)
    assert len(requests) > 50
    denied = _role(policy, role_arn).denied(requests)
    assert not denied, "\n".join(str(r) for r in denied)


@pytest.mark.parametrize(("stack", "account"), CASES)
def test_the_policy_grants_no_action_and_no_resource_the_provider_did_not_use(recorded, stack, account):
    _, resources, _, role_arn, calls = recorded[(stack, account)]
    policy = bootstrap_policy.permissions_policy(resources, account)
    requests = _requests(resources, account, calls)
    granted = {a for s in policy["Statement"] for a in s["Action"]}
    assert granted == {r.action for r in requests}
    # Each statement's each resource pattern, alone, allows at least one of the calls.
    for statement in policy["Statement"]:
        for resource in statement["Resource"]:
            narrowed = {"Version": "2012-10-17", "Statement": [{**statement, "Resource": [resource]}]}
            used = [r for r in requests if r.action in statement["Action"]]
            assert any(_role(narrowed, role_arn).allows(r) for r in used), (statement["Sid"], resource)


def test_a_policy_missing_one_action_refuses_the_calls_that_need_it(recorded):
    _, resources, _, role_arn, calls = recorded[(EXAMPLE, "222222222222")]
    policy = copy.deepcopy(bootstrap_policy.permissions_policy(resources, "222222222222"))
    for statement in policy["Statement"]:
        if "iam:ListInstanceProfilesForRole" in statement["Action"]:
            statement["Action"].remove("iam:ListInstanceProfilesForRole")
    denied = _role(policy, role_arn).denied(_requests(resources, "222222222222", calls))
    # The provider asks it of each of the four roles before deleting it.
    assert {(r.action, r.resource.rsplit("/", 1)[1].rsplit("-", 1)[0]) for r in denied} == {
        ("iam:ListInstanceProfilesForRole", role)
        for role in (
            "deploy-production-role",
            "production-action-role",
            "production-reader-role",
            "production-recover-role",
        )
    }
    assert {r.why for r in denied} == {"delete: iam:ListInstanceProfilesForRole"}


def test_the_hook_is_created_updated_and_deleted_in_its_environments_account(recorded):
    _, resources, _, _, calls = recorded[(WITH_HOOK, "222222222222")]
    assert {r.type for r in resources} >= {
        "aws:lambda/function:Function",
        "aws:cloudwatch/logGroup:LogGroup",
    }
    by_phase = {phase: {c.action for c in calls if c.phase == phase} for phase in provider_calls.PHASES}
    assert {"lambda:CreateFunction", "logs:CreateLogGroup", "logs:PutRetentionPolicy"} <= by_phase["create"]
    assert {"lambda:UpdateFunctionConfiguration", "lambda:UpdateFunctionCode"} <= by_phase["update"]
    assert {"lambda:DeleteFunction", "logs:DeleteLogGroup"} <= by_phase["delete"]


def test_a_policy_that_does_not_pass_the_function_role_refuses_to_create_the_function(recorded):
    _, resources, _, role_arn, calls = recorded[(WITH_HOOK, "222222222222")]
    policy = bootstrap_policy.permissions_policy(resources, "222222222222")
    policy["Statement"] = [s for s in policy["Statement"] if s["Sid"] != "PassFunctionRolesToLambda"]
    denied = _role(policy, role_arn).denied(_requests(resources, "222222222222", calls))
    assert {(r.action, r.resource.rsplit("/", 1)[1].rsplit("-", 1)[0]) for r in denied} == {
        ("iam:PassRole", "hook-production-role")
    }
    assert {r.why for r in denied} == {"create: lambda:CreateFunction"}
