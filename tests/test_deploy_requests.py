"""What the deploy role will be asked for, worked out from a template (the proof's input,
tests/support/deploy_requests.py), on small templates written here: what a property points at,
where a template's roles live, and which calls a custom resource and a role make."""

from __future__ import annotations

from components.iam_policies import Request
from tests.support.deploy_requests import _referenced_resources, deploy_requests, stack_roles

ACCOUNT = "123456789012"
REGION = "eu-west-1"


def test_a_property_points_at_what_ref_getatt_and_sub_name():
    assert _referenced_resources({"Ref": "Queue"}) == {"Queue"}
    assert _referenced_resources({"Fn::GetAtt": ["TaskRole", "Arn"]}) == {"TaskRole"}
    assert _referenced_resources({"Fn::GetAtt": "TaskRole.Arn"}) == {"TaskRole"}
    nested = {"Containers": [{"Role": {"Ref": "A"}}, {"Env": [{"Value": {"Fn::GetAtt": "B.Arn"}}]}]}
    assert _referenced_resources(nested) == {"A", "B"}
    # A string is no reference; a Ref to something other than a name is not followed.
    assert _referenced_resources({"Name": "Queue", "Ref": ["x"]}) == set()
    # Fn::Sub: `${X}` and `${X.Attr}`; not `${!Literal}`, pseudo parameters or its own names.
    assert _referenced_resources({"Fn::Sub": "${TaskRole.Arn}/${Bucket}/${!Literal}/${AWS::Region}"}) == {
        "TaskRole",
        "Bucket",
    }
    assert _referenced_resources({"Fn::Sub": ["${Own}-${Other}", {"Own": {"Ref": "Topic"}}]}) == {
        "Other",
        "Topic",
    }


def test_a_templates_roles_live_where_it_puts_them_with_the_boundary_it_names():
    template = {
        "Resources": {
            "TaskRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "Path": {"Fn::Sub": "/${AWS::StackName}/"},
                    "PermissionsBoundary": {
                        "Fn::Sub": "arn:aws:iam::123456789012:policy/${AWS::StackName}-ceiling"
                    },
                },
            },
            "NamedRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {"RoleName": "fixed-name", "PermissionsBoundary": {"Ref": "Boundary"}},
            },
            "Queue": {"Type": "AWS::SQS::Queue"},
        }
    }
    roles = stack_roles(
        template,
        stack_name="shop-prod",
        partition="aws",
        account_id=ACCOUNT,
        parameters={"Boundary": "arn:b"},
    )
    assert set(roles) == {"TaskRole", "NamedRole"}
    assert roles["TaskRole"].arn == f"arn:aws:iam::{ACCOUNT}:role/shop-prod/shop-prod-TaskRole-1A2B3C4D5E6F"
    assert roles["TaskRole"].boundary == f"arn:aws:iam::{ACCOUNT}:policy/shop-prod-ceiling"
    assert roles["NamedRole"].arn == f"arn:aws:iam::{ACCOUNT}:role/fixed-name"
    assert roles["NamedRole"].boundary == "arn:b"


def requests_for(resources: dict) -> list[Request]:
    return deploy_requests(
        {"Resources": resources},
        stack_name="shop-prod",
        partition="aws",
        region=REGION,
        account_id=ACCOUNT,
        parameters={},
    )


def test_a_custom_resource_asks_only_to_invoke_its_function():
    requests = requests_for(
        {
            "Seed": {"Type": "Custom::Seed", "Properties": {"ServiceToken": {"Fn::GetAtt": "Seeder.Arn"}}},
            "Again": {
                "Type": "AWS::CloudFormation::CustomResource",
                "Properties": {"ServiceToken": {"Fn::GetAtt": ["Seeder", "Arn"]}},
            },
            # After the custom resources, a resource with no properties still asks for its calls.
            "Topic": {"Type": "AWS::SNS::Topic"},
        }
    )
    function = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:shop-prod-Seeder-1A2B3C4D5E6F"
    invokes = [(r.action, r.resource, r.why) for r in requests if r.why.startswith(("Seed", "Again"))]
    assert invokes == [
        ("lambda:InvokeFunction", function, "Seed (Custom::Seed)"),
        ("lambda:InvokeFunction", function, "Again (AWS::CloudFormation::CustomResource)"),
    ]
    topic = [r for r in requests if r.why == "Topic (AWS::SNS::Topic)"]
    assert (
        Request("sns:CreateTopic", f"arn:aws:sns:{REGION}:{ACCOUNT}:shop-prod-Topic", {}, topic[0].why)
        in topic
    )


def test_a_role_asks_for_every_handler_call_but_removing_its_boundary():
    requests = requests_for(
        {
            "TaskRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "Path": "/shop-prod/",
                    "PermissionsBoundary": "arn:aws:iam::123456789012:policy/b",
                },
            }
        }
    )
    actions = [r.action for r in requests]
    # The Role handlers call iam:DeleteRolePermissionsBoundary only to remove a boundary;
    # the calls after it in the registry schema are still asked for.
    assert "iam:DeleteRolePermissionsBoundary" not in actions
    assert {"iam:PutRolePermissionsBoundary", "iam:DeleteRolePolicy", "iam:CreateRole"} <= set(actions)
    create = next(r for r in requests if r.action == "iam:CreateRole")
    assert create.resource == f"arn:aws:iam::{ACCOUNT}:role/shop-prod/shop-prod-TaskRole-1A2B3C4D5E6F"
    assert create.context == {"iam:PermissionsBoundary": "arn:aws:iam::123456789012:policy/b"}


def test_a_role_without_a_boundary_is_asked_for_without_one_and_an_iam_listing_on_any_resource():
    requests = requests_for(
        {
            "Bare": {"Type": "AWS::IAM::Role", "Properties": {}},
            # The EKS cluster's handlers list a role's policies: asked for on any resource.
            "Cluster": {"Type": "AWS::EKS::Cluster", "Properties": {}},
        }
    )
    create = next(r for r in requests if r.action == "iam:CreateRole")
    assert (create.context, create.why) == ({}, "Bare (AWS::IAM::Role)")
    listing = next(
        r for r in requests if r.action == "iam:ListAttachedRolePolicies" and r.why.startswith("Cluster")
    )
    assert (listing.resource, listing.why) == ("*", "Cluster (AWS::EKS::Cluster)")
