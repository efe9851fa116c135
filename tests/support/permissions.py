"""What each declared role may do, evaluated offline: is every call AWS will make with it
allowed, and is everything it must never do denied?

- **Roles** come from what the program declared (the recording mocks): a role's inline
  policies, its attached managed policies (AWS's documents from moto's maintained copy,
  `moto.iam.aws_managed_policies`; customer-managed ones from the declared
  `aws:iam/policy:Policy`), and its permissions boundary.
- **Requests** come from AWS: for a CloudFormation deploy role, the handler permissions of
  every resource type in the application template, read from the CloudFormation registry
  schemas that cfn-lint ships (`handlers.{create,read,update,delete}.permissions`); for
  the other roles, the tables in the tests, written from AWS's documentation.
- **Evaluation** is principalmapper's local policy simulator (explicit deny first, then
  permissions boundary, then the role's policies; condition operators including
  `ArnEquals`, `StringEquals` with an absent key failing, `ForAnyValue`, `IfExists`).
  moto's evaluator is not used: it ignores every condition operator but `StringEquals`
  and passes a condition whose key is absent. What principalmapper gets right on the
  cases relied on here is pinned by tests/test_permissions.py.
"""

from __future__ import annotations

import functools
import glob
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

from cfnlint.decode import cfn_yaml

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

HANDLERS = ("create", "read", "update", "delete")

# Handler permissions a deploy role is *meant* to be refused, each with the reason. They
# are left out of the sufficiency requests and asserted as denied by the isolation tests.
REFUSED_BY_DESIGN = {
    ("AWS::IAM::Role", "iam:DeleteRolePermissionsBoundary"): (
        "called by the Role update handler only to remove a boundary, which no stack may do"
    ),
}

# The service a role is handed to when a resource of this type names it (`iam:PassedToService`
# values from each service's documentation of its role parameters).
PASSED_TO_SERVICE = {
    "AWS::ECS::TaskDefinition": "ecs-tasks.amazonaws.com",
    "AWS::ECS::Service": "ecs.amazonaws.com",
    "AWS::Lambda::Function": "lambda.amazonaws.com",
    "AWS::ApplicationAutoScaling::ScalableTarget": "application-autoscaling.amazonaws.com",
    "AWS::RDS::DBInstance": "monitoring.rds.amazonaws.com",
    "AWS::Events::Rule": "events.amazonaws.com",
    "AWS::AutoScaling::LaunchConfiguration": "ec2.amazonaws.com",
    "AWS::EC2::LaunchTemplate": "ec2.amazonaws.com",
}

# CloudFormation invokes a custom resource's function with the stack's service role.
CUSTOM_RESOURCE_TYPES = ("AWS::CloudFormation::CustomResource",)

ROLE_TYPE = "aws:iam/role:Role"
ROLE_POLICY_TYPE = "aws:iam/rolePolicy:RolePolicy"
ATTACHMENT_TYPE = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
MANAGED_POLICY_TYPE = "aws:iam/policy:Policy"


@dataclass(frozen=True)
class Request:
    """One call AWS makes with a role: action, resource and the request context keys."""

    action: str
    resource: str
    context: Mapping[str, Any] = field(default_factory=dict)
    why: str = ""

    def __str__(self) -> str:
        context = f" with {dict(self.context)}" if self.context else ""
        why = f" ({self.why})" if self.why else ""
        return f"{self.action} on {self.resource}{context}{why}"


# -- AWS's data ----------------------------------------------------------------------------
@functools.cache
def aws_managed_policies() -> dict[str, dict[str, Any]]:
    """AWS managed policy documents by ARN (partition `aws`), from moto's maintained copy."""
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    policies = {}
    for name, entry in json.loads(aws_managed_policies_data).items():
        policies[f"arn:aws:iam::aws:policy{entry['Path']}{name}"] = entry["Document"]
    return policies


@functools.cache
def _registry_schemas() -> dict[str, str]:
    """Registry schema files by type name (cfn-lint names its files by hash)."""
    import cfnlint

    folder = os.path.join(os.path.dirname(cfnlint.__file__), "data", "schemas", "resources")
    paths = {}
    for path in glob.glob(os.path.join(folder, "*.json")):
        with open(path) as handle:
            type_name = json.load(handle).get("typeName")
        if type_name:
            paths[type_name] = path
    return paths


def handler_permissions(type_name: str, handlers: Sequence[str] = HANDLERS) -> list[str]:
    """The IAM permissions CloudFormation's handlers of a resource type call, as the
    CloudFormation registry schema lists them."""
    path = _registry_schemas().get(type_name)
    if path is None:
        raise KeyError(f"no CloudFormation registry schema for {type_name!r}")
    with open(path) as handle:
        schema = json.load(handle)
    permissions: list[str] = []
    for handler in handlers:
        for permission in (schema.get("handlers") or {}).get(handler, {}).get("permissions", []):
            if permission not in permissions:
                permissions.append(permission)
    return permissions


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
        elif resource.type == ATTACHMENT_TYPE:
            arn = resource.inputs["policyArn"]
            by_physical_name[resource.inputs["role"]].managed.append((arn, document(arn)))
    return roles


# -- what CloudFormation asks of a deploy role ----------------------------------------------
def load_template(text: str) -> dict[str, Any]:
    """A CloudFormation template, YAML short forms (`!Sub`, `!GetAtt`) decoded."""
    return cfn_yaml.loads(text)


def _referenced_resources(value: Any) -> set[str]:
    """Logical ids a property value points at (`Ref`, `Fn::GetAtt`, `${X}` in `Fn::Sub`)."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "Ref" and isinstance(inner, str):
                found.add(inner)
            elif key == "Fn::GetAtt":
                target = inner[0] if isinstance(inner, list) else str(inner).split(".")[0]
                found.add(target)
            else:
                found |= _referenced_resources(inner)
    elif isinstance(value, list):
        for inner in value:
            found |= _referenced_resources(inner)
    return found


@dataclass(frozen=True)
class StackRole:
    logical_id: str
    arn: str
    boundary: Optional[str]


def _resolve(value: Any, *, stack_name: str, parameters: Mapping[str, str]) -> Optional[str]:
    """The few value forms a role's Path and PermissionsBoundary take in a template."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Ref" in value:
        return parameters.get(value["Ref"])
    if isinstance(value, dict) and "Fn::Sub" in value and isinstance(value["Fn::Sub"], str):
        return value["Fn::Sub"].replace("${AWS::StackName}", stack_name)
    return None


def stack_roles(
    template: Mapping[str, Any],
    *,
    stack_name: str,
    partition: str,
    account_id: str,
    parameters: Mapping[str, str],
) -> dict[str, StackRole]:
    """The roles a template creates, with the ARNs CloudFormation would give them
    (`<stack>-<LogicalId>-<suffix>` under the declared path) and their boundaries."""
    roles = {}
    for logical_id, resource in template.get("Resources", {}).items():
        if resource.get("Type") != "AWS::IAM::Role":
            continue
        properties = resource.get("Properties", {})
        path = _resolve(properties.get("Path", "/"), stack_name=stack_name, parameters=parameters) or "/"
        name = _resolve(properties.get("RoleName"), stack_name=stack_name, parameters=parameters)
        name = name or f"{stack_name}-{logical_id}-1A2B3C4D5E6F"
        boundary = properties.get("PermissionsBoundary")
        roles[logical_id] = StackRole(
            logical_id,
            f"arn:{partition}:iam::{account_id}:role{path}{name}",
            _resolve(boundary, stack_name=stack_name, parameters=parameters) if boundary else None,
        )
    return roles


def deploy_requests(
    template: Mapping[str, Any],
    *,
    stack_name: str,
    partition: str,
    region: str,
    account_id: str,
    parameters: Mapping[str, str],
) -> list[Request]:
    """Every call CloudFormation's handlers make with the deploy role to create, read,
    update and delete the template's resources, with the resource and context keys IAM
    would see."""
    roles = stack_roles(
        template, stack_name=stack_name, partition=partition, account_id=account_id, parameters=parameters
    )
    requests: list[Request] = []
    for logical_id, resource in template.get("Resources", {}).items():
        type_name = resource["Type"]
        why = f"{logical_id} ({type_name})"
        if type_name in CUSTOM_RESOURCE_TYPES or type_name.startswith("Custom::"):
            token = _referenced_resources(resource.get("Properties", {}).get("ServiceToken"))
            for function in sorted(token):
                name = f"{stack_name}-{function}-1A2B3C4D5E6F"
                arn = f"arn:{partition}:lambda:{region}:{account_id}:function:{name}"
                requests.append(Request("lambda:InvokeFunction", arn, {}, why))
            continue
        passed_roles = [
            roles[r] for r in sorted(_referenced_resources(resource.get("Properties", {}))) if r in roles
        ]
        for permission in handler_permissions(type_name):
            if (type_name, permission) in REFUSED_BY_DESIGN:
                continue
            service, _, action = permission.partition(":")
            if service != "iam":
                arn = f"arn:{partition}:{service}:{region}:{account_id}:{stack_name}-{logical_id}"
                requests.append(Request(permission, arn, {}, why))
            elif type_name == "AWS::IAM::Role":
                role = roles[logical_id]
                context = {"iam:PermissionsBoundary": role.boundary} if role.boundary else {}
                requests.append(Request(permission, role.arn, context, why))
            elif action == "PassRole":
                # Only the roles the template hands to this resource are passed.
                for role in passed_roles:
                    context = {"iam:PassedToService": PASSED_TO_SERVICE[type_name]}
                    requests.append(Request(permission, role.arn, context, why))
            elif action == "CreateServiceLinkedRole":
                arn = f"arn:{partition}:iam::{account_id}:role/aws-service-role/*"
                requests.append(Request(permission, arn, {}, why))
            elif action.startswith("List"):
                requests.append(Request(permission, "*", {}, why))
            else:
                for role in passed_roles:
                    requests.append(Request(permission, role.arn, {}, why))
    return requests
