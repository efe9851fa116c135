"""Every resource's URN, pinned per stack, and what an upgrade does to a deployed stack.

A URN change is a replacement (or an orphan) on the next `pulumi up`, so it must be a
deliberate, reviewed diff of tests/snapshots/<stack>.urns, with an alias in the code where a
move is meant to keep the resource; each alias is written under its resource. After a
deliberate change: `UPDATE_URN_SNAPSHOTS=1 make unit`, then review the diff.

tests/snapshots/deployed/<release>/<stack>.urns are the URNs the same stacks had when deployed
from an earlier release: an upgrade from any of them must claim every one of them (by URN or
alias) and create only what the releases since then add.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import CROSS_ACCOUNT, FOUR_ENVIRONMENTS, WAVES, run_stack

SNAPSHOTS = Path(__file__).parent / "snapshots"
STACKS = ["dev", "prod", FOUR_ENVIRONMENTS, CROSS_ACCOUNT]


def _runner(prefix: str) -> tuple[str, ...]:
    """A small CodeBuild project (components/codebuild_runner.py): its components, log group,
    role, policy and project."""
    return (
        f"ecs-delivery:{prefix}",
        "ecs-delivery:codebuild_runner:CodeBuildRunner",
        "aws:cloudwatch/logGroup:LogGroup",
        "aws:iam/role:Role",
        "aws:iam/rolePolicy:RolePolicy",
        "aws:codebuild/project:Project",
    )


# 0.9.0 added, per gated environment, the stack recovery and, in another account, its role and
# policy there; the prod example's config then built through the Docker Hub pull-through cache.
STACK_RECOVERY = _runner("stack_recovery:StackRecovery")
REMOTE_RECOVERY = ("aws:iam/role:Role", "aws:iam/rolePolicy:RolePolicy")
DOCKER_HUB_CACHE = ("aws:ecr/pullThroughCacheRule:PullThroughCacheRule",)
# 0.10.0 (release integrity): per gated environment who may approve (a policy attached to each
# approver) and the release recorder; per stack with a gated environment the release record
# (a table and its policy); and a repository policy on every repository this stack creates
# (who may write it), except where one existed already (the application repository of a stack
# with environments in other accounts).
APPROVERS = (
    "ecs-delivery:approvers:Approvers",
    "aws:iam/policy:Policy",
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
)
RECORDER = _runner("release_recorder:ReleaseRecorder")
RELEASE_RECORD = (
    "ecs-delivery:release_record:ReleaseRecord",
    "aws:dynamodb/table:Table",
    "aws:dynamodb/resourcePolicy:ResourcePolicy",
)
REPOSITORY_POLICY = ("aws:ecr/repositoryPolicy:RepositoryPolicy",)
RELEASE_INTEGRITY = {
    "dev": [*REPOSITORY_POLICY * 3],
    "prod": [*APPROVERS, *RECORDER, *RELEASE_RECORD, *REPOSITORY_POLICY * 3],
    FOUR_ENVIRONMENTS: [*APPROVERS * 2, *RECORDER * 2, *RELEASE_RECORD, *REPOSITORY_POLICY * 3],
    CROSS_ACCOUNT: [*APPROVERS, *RECORDER, *RELEASE_RECORD, *REPOSITORY_POLICY * 2],
}
# 0.11.0: the small projects' tools image (issue 28), built and pushed like the build image, in
# its own repository (with its lifecycle and who-may-write policy), in every stack with a small
# project (dev has neither a gated environment nor a verify: none there); and progressive
# delivery (issue 27): where an environment tests each release on the test listener
# (deployment.testPaths: the prod example's production), the lifecycle-hook function, its log
# group, its role and the role ECS invokes it with, each role with its policy.
TOOLS_IMAGE = (
    "ecs-delivery:build_image:BuildImage",
    "docker:index/image:Image",
    "ecs-delivery:image_repository:ImageRepository",
    "aws:ecr/repository:Repository",
    "aws:ecr/lifecyclePolicy:LifecyclePolicy",
    *REPOSITORY_POLICY,
)
LIFECYCLE_HOOK = (
    "ecs-delivery:lifecycle_hook:LifecycleHook",
    "aws:cloudwatch/logGroup:LogGroup",
    "aws:iam/role:Role",
    "aws:iam/rolePolicy:RolePolicy",
    "aws:lambda/function:Function",
    "aws:iam/role:Role",
    "aws:iam/rolePolicy:RolePolicy",
)
SPEED_AND_PROGRESSIVE = {
    "dev": [],
    "prod": [*TOOLS_IMAGE, *LIFECYCLE_HOOK],
    FOUR_ENVIRONMENTS: [*TOOLS_IMAGE],
    CROSS_ACCOUNT: [*TOOLS_IMAGE, *LIFECYCLE_HOOK],
}
# Unreleased (issue 26): the drift-check gate, where an environment asks for it (`driftCheck`:
# the four-environment stack's qa and production): its component, and its project's runner,
# log group, role, role policy, ReadOnlyAccess attachment and project.
DRIFT_CHECK = (
    "ecs-delivery:drift_check:DriftCheck",
    "ecs-delivery:codebuild_runner:CodeBuildRunner",
    "aws:cloudwatch/logGroup:LogGroup",
    "aws:iam/role:Role",
    "aws:iam/rolePolicy:RolePolicy",
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    "aws:codebuild/project:Project",
)
DELIVERY_UNITS = {"dev": [], "prod": [], FOUR_ENVIRONMENTS: [*DRIFT_CHECK * 2], CROSS_ACCOUNT: []}
NEW_SINCE = {
    # 0.13.0 changed policies, not resources: nothing is new since 0.12.0.
    "0.12.0": {stack: [] for stack in STACKS},
    "0.11.0": DELIVERY_UNITS,
    "0.10.0": {stack: [*SPEED_AND_PROGRESSIVE[stack], *DELIVERY_UNITS[stack]] for stack in STACKS},
    "0.9.0": {
        stack: [*RELEASE_INTEGRITY[stack], *SPEED_AND_PROGRESSIVE[stack], *DELIVERY_UNITS[stack]]
        for stack in STACKS
    },
    "before-0.9.0": {
        "dev": RELEASE_INTEGRITY["dev"],
        "prod": [
            *STACK_RECOVERY,
            *DOCKER_HUB_CACHE,
            *RELEASE_INTEGRITY["prod"],
            *SPEED_AND_PROGRESSIVE["prod"],
            *DELIVERY_UNITS["prod"],
        ],
        FOUR_ENVIRONMENTS: [
            *STACK_RECOVERY * 2,  # qa, production
            *RELEASE_INTEGRITY[FOUR_ENVIRONMENTS],
            *SPEED_AND_PROGRESSIVE[FOUR_ENVIRONMENTS],
            *DELIVERY_UNITS[FOUR_ENVIRONMENTS],
        ],
        CROSS_ACCOUNT: [
            *STACK_RECOVERY,
            *REMOTE_RECOVERY,
            *RELEASE_INTEGRITY[CROSS_ACCOUNT],
            *SPEED_AND_PROGRESSIVE[CROSS_ACCOUNT],
            *DELIVERY_UNITS[CROSS_ACCOUNT],
        ],
    },
}
# Groupings in the state, nothing in AWS, that a release added without a resource of its own:
# EnvironmentDelivery (before-0.9.0 had each environment's resources at the stack's root).
NEW_COMPONENTS = {
    "before-0.9.0": {"ecs-delivery:environment:EnvironmentDelivery"},
    "0.9.0": set(),
    "0.10.0": set(),
    "0.11.0": set(),
    "0.12.0": set(),
}
# The logical names of what a release adds, so a new resource is never mistaken for a moved one.
NEW_NAMES = (
    "recover-",
    "-recover-",
    "build-docker-hub-cache",
    "approvers-",
    "record-",
    "releases",
    "-pull-policy",
    "hook-",
    "tools-image",
    "drift-",
)


def snapshot_lines(stack: str) -> list[str]:
    lines = []
    for resource in sorted(run_stack(stack).mocks.resources, key=lambda r: r.urn):
        lines.append(resource.urn)
        lines += [f"    alias {alias}" for alias in sorted(set(resource.aliases))]
    return lines


# The waves and regions fixtures are new (issue 26): each has a snapshot, and no deployed release to upgrade from.
@pytest.mark.parametrize("stack", [*STACKS, WAVES, "regions"])
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


@pytest.mark.parametrize("release", sorted(NEW_SINCE))
@pytest.mark.parametrize("stack", STACKS)
def test_upgrading_a_deployed_stack_keeps_every_resource_and_creates_only_what_is_new(stack, release):
    deployed = set((SNAPSHOTS / "deployed" / release / f"{stack}.urns").read_text().split())
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
    added = [r for r in created if r.type not in NEW_COMPONENTS[release]]
    assert sorted(r.type for r in added) == sorted(NEW_SINCE[release][stack]), [r.urn for r in added]
    assert all(any(part in r.name for part in NEW_NAMES) for r in added), [r.name for r in added]
    if NEW_COMPONENTS[release]:
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
