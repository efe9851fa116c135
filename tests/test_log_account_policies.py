"""Attacked (round 7): the CodeBuild logs are kept off by their ARN (`/aws/codebuild/<prefix>-*`
among the stores, `KeepOffTheDeliveryStores`), but CloudWatch Logs also takes account-level
policies that reach every log group of a region, named by prefix, with no log-group resource
in the request: PutAccountPolicy.

CloudWatch Logs API Reference, PutAccountPolicy (the installed botocore's `logs` model says
the same): policy types DATA_PROTECTION_POLICY (masks what a pattern matches, "cumulative" with
a log group's own), TRANSFORMER_POLICY (rewrites events at ingestion, for every log group under
a prefix that has no transformer of its own, which the delivery system's have not),
SUBSCRIPTION_FILTER_POLICY (copies every event elsewhere), RETENTION_POLICY ("An account-level
retention policy overrides the retention setting of the log group": a day, and the build's and
the confirm's logs are gone before anyone reads them, which the deny on PutRetentionPolicy was
to prevent). AWS's own advice there: grant it "only to administrators who manage logging
configuration across the account, not to application teams".

ASSUMPTION (no page says which resource IAM evaluates PutAccountPolicy's companion permission,
e.g. logs:PutRetentionPolicy, against): the request below is the account-level call itself,
whose resource is `*` (Service Authorization Reference lists no resource type for it).

Fixed: every deploy role and boundary denies logs:PutAccountPolicy and logs:DeleteAccountPolicy
(`Resource: *`, `KeepOffTheAccountLogPolicies`) beside KeepOffTheRegistrySettings, the same shape
for the same reason.
"""

from __future__ import annotations

from components.iam_policies import Request
from tests.conftest import any_stack
from tests.support.permissions import declared_roles
from tests.test_store_protection import deployed_environments, minted_admin


def test_no_environment_role_can_set_an_account_level_log_policy():
    mocks = any_stack("prod").mocks
    roles = declared_roles(mocks)
    requests = [Request("logs:PutAccountPolicy", "*"), Request("logs:DeleteAccountPolicy", "*")]
    let_through = []
    for environment, stack in deployed_environments(mocks):
        for role in (roles[f"deploy-{environment}-role"], minted_admin(mocks, environment, stack)):
            let_through += [f"{environment} {role.name}: {r}" for r in requests if role.allows(r)]
    assert let_through == []
