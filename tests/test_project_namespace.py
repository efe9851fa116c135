"""The pipeline role starts any project named `<application>-<stack>-*` (components/pipeline.py,
`iam_policies.delivery_projects_pattern`); docs/security.md rests that on no template being able
to put a project there. Checked on the namespace itself, not only on the projects the program
declared: a project a template would add under a name the program does not use (yet), which
the pipeline role could start, is refused to every role an environment controls.

Round 7 attack: the deploy roles' deny (components/cloudformation_target.py) writes the pattern
out again instead of taking `delivery_projects_pattern`; had the two drifted apart, only the
projects already declared were proven kept off.
"""

from __future__ import annotations

import pytest

from components.iam_policies import Request
from tests.conftest import CROSS_ACCOUNT, FOUR_ENVIRONMENTS, any_stack, only, pipeline_account
from tests.support.permissions import declared_roles
from tests.test_permissions import region_of
from tests.test_store_protection import deployed_environments, minted_admin

# What makes, rewrites or removes a project (Service Authorization Reference, AWS CodeBuild: each
# acts on the `project` resource type).
PROJECT_WRITES = ("codebuild:CreateProject", "codebuild:UpdateProject", "codebuild:DeleteProject")
NO_RESOURCE_POLICY = {"Version": "2012-10-17", "Statement": []}


@pytest.fixture(scope="module", params=["prod", FOUR_ENVIRONMENTS, CROSS_ACCOUNT, "regions"])
def declared(request):
    return any_stack(request.param).mocks


def test_no_environment_role_can_make_a_project_the_pipeline_role_may_start(declared):
    roles = declared_roles(declared)
    account, region = pipeline_account(declared), region_of(declared)
    prefix = only(declared, "aws:codepipeline/pipeline:Pipeline").inputs["name"]
    # Names the program does not declare: a hand-made one, and the review of an environment
    # not yet in the config (its project would be made by a later `pulumi up`).
    unclaimed = [
        f"arn:aws:codebuild:{region}:{account}:project/{prefix}-hand-made",
        f"arn:aws:codebuild:{region}:{account}:project/{prefix}-review-next-environment",
    ]
    pipeline = roles["delivery-role"]
    for project in unclaimed:
        assert pipeline.allows(Request("codebuild:StartBuild", project)), project
    for environment, stack in deployed_environments(declared):
        for role in (roles[f"deploy-{environment}-role"], minted_admin(declared, environment, stack)):
            for project in unclaimed:
                for action in PROJECT_WRITES:
                    request = Request(action, project)
                    # CodeBuild projects have no resource policy: across accounts nothing allows.
                    assert not role.allows_through(request, NO_RESOURCE_POLICY, account), (
                        environment,
                        role.name,
                        request,
                    )
