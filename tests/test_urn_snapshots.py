"""Every resource's URN, pinned per stack, and what an upgrade does to a deployed stack.

A URN change is a replacement (or an orphan) on the next `pulumi up`, so it must be a
deliberate, reviewed diff of tests/snapshots/<stack>.urns, with an alias in the code where a
move is meant to keep the resource; each alias is written under its resource. After a
deliberate change: `UPDATE_URN_SNAPSHOTS=1 make unit`, then review the diff.

tests/snapshots/deployed/<stack>.urns are the URNs the same stacks had when deployed from the
release before `EnvironmentDelivery` moved each environment's resources under one component:
an upgrade must claim every one of them (by URN or alias) and create only what this release
adds (each gated environment's stack recovery).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import CROSS_ACCOUNT, FOUR_ENVIRONMENTS, run_stack

SNAPSHOTS = Path(__file__).parent / "snapshots"
STACKS = ["dev", "prod", FOUR_ENVIRONMENTS, CROSS_ACCOUNT]
# Components this release adds; a component is a grouping in the state, nothing in AWS.
NEW_COMPONENTS = {"ecs-delivery:environment:EnvironmentDelivery"}
# What this release adds in AWS: per gated environment, the stack recovery (its project's
# log group, role, policy and project) and, in another account, its role and policy there.
STACK_RECOVERY = (
    "ecs-delivery:stack_recovery:StackRecovery",
    "ecs-delivery:codebuild_runner:CodeBuildRunner",
    "aws:cloudwatch/logGroup:LogGroup",
    "aws:iam/role:Role",
    "aws:iam/rolePolicy:RolePolicy",
    "aws:codebuild/project:Project",
)
REMOTE_RECOVERY = ("aws:iam/role:Role", "aws:iam/rolePolicy:RolePolicy")
# The prod example now builds through the Docker Hub pull-through cache (a change of its
# config in this release): the cache rule.
DOCKER_HUB_CACHE = ("aws:ecr/pullThroughCacheRule:PullThroughCacheRule",)
NEW_RESOURCES = {
    "dev": [],
    "prod": [*STACK_RECOVERY, *DOCKER_HUB_CACHE],
    FOUR_ENVIRONMENTS: [*STACK_RECOVERY, *STACK_RECOVERY],  # qa, production
    CROSS_ACCOUNT: [*STACK_RECOVERY, *REMOTE_RECOVERY],
}


def snapshot_lines(stack: str) -> list[str]:
    lines = []
    for resource in sorted(run_stack(stack).mocks.resources, key=lambda r: r.urn):
        lines.append(resource.urn)
        lines += [f"    alias {alias}" for alias in sorted(set(resource.aliases))]
    return lines


@pytest.mark.parametrize("stack", STACKS)
def test_urns_match_the_committed_snapshot(stack):
    snapshot = SNAPSHOTS / f"{stack}.urns"
    current = "\n".join(snapshot_lines(stack)) + "\n"
    if os.environ.get("UPDATE_URN_SNAPSHOTS") == "1":
        snapshot.write_text(current)
    assert snapshot.is_file(), f"no snapshot {snapshot.name}: run UPDATE_URN_SNAPSHOTS=1 make unit"
    expected = snapshot.read_text().splitlines()
    actual = current.splitlines()
    assert actual == expected, (
        f"URNs of stack {stack} changed (each is a replacement on the next up): "
        f"added {sorted(set(actual) - set(expected))}, removed {sorted(set(expected) - set(actual))}"
    )


@pytest.mark.parametrize("stack", STACKS)
def test_upgrading_a_deployed_stack_keeps_every_resource_and_creates_none(stack):
    deployed = set((SNAPSHOTS / "deployed" / f"{stack}.urns").read_text().split())
    resources = run_stack(stack).mocks.resources
    claimed: dict[str, str] = {}
    for resource in resources:
        for urn in (resource.urn, *resource.aliases):
            if urn in deployed:
                assert urn not in claimed, f"{urn} is claimed by {claimed[urn]} and {resource.urn}"
                claimed[urn] = resource.urn
    # Nothing deployed is left without a resource (it would be deleted).
    assert sorted(deployed - set(claimed)) == []
    created = [r for r in resources if not ({r.urn, *r.aliases} & deployed)]
    # Only the new components appear in the state, and only the stack recovery in AWS.
    added = [r for r in created if r.type not in NEW_COMPONENTS]
    assert sorted(r.type for r in added) == sorted(NEW_RESOURCES[stack]), [r.urn for r in added]
    assert all(
        r.name.startswith("recover-") or "-recover-" in r.name or r.name == "build-docker-hub-cache"
        for r in added
    ), [r.name for r in added]
    moved = [r for r in resources if r.urn not in deployed and set(r.aliases) & deployed]
    assert moved, "nothing moved: this test would pass without the aliases it exists for"


def test_urns_carry_the_parent_type():
    # A child's URN names its parent's type: re-parenting is a URN change (hence the aliases).
    urns = [r.urn for r in run_stack("prod").mocks.resources]
    (role,) = [u for u in urns if u.endswith("::deploy-production-role")]
    assert role == (
        "urn:pulumi:prod::ecs-delivery::ecs-delivery:deploy_role:DeployRole$aws:iam/role:Role::deploy-production-role"
    )
    (deploy_role,) = [u for u in urns if u.endswith("::deploy-production")]
    assert deploy_role == (
        "urn:pulumi:prod::ecs-delivery::ecs-delivery:environment:EnvironmentDelivery$"
        "ecs-delivery:deploy_role:DeployRole::deploy-production"
    )
