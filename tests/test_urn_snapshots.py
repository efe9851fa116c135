"""Every resource's URN, pinned per stack: a URN change is a replacement (or an orphan)
on the next `pulumi up`, so it must be a deliberate, reviewed diff of these files, with
an alias in the code where a move is meant to keep the resource.

After a deliberate change: `UPDATE_URN_SNAPSHOTS=1 make unit`, then review the diff."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import CROSS_ACCOUNT, FOUR_ENVIRONMENTS, run_stack

SNAPSHOTS = Path(__file__).parent / "snapshots"


def urns(stack: str) -> list[str]:
    return sorted(r.urn for r in run_stack(stack).mocks.resources)


@pytest.mark.parametrize("stack", ["dev", "prod", FOUR_ENVIRONMENTS, CROSS_ACCOUNT])
def test_urns_match_the_committed_snapshot(stack):
    snapshot = SNAPSHOTS / f"{stack}.urns"
    current = "\n".join(urns(stack)) + "\n"
    if os.environ.get("UPDATE_URN_SNAPSHOTS") == "1":
        snapshot.write_text(current)
    assert snapshot.is_file(), f"no snapshot {snapshot.name}: run UPDATE_URN_SNAPSHOTS=1 make unit"
    expected = snapshot.read_text().splitlines()
    actual = current.splitlines()
    assert actual == expected, (
        f"URNs of stack {stack} changed (each is a replacement on the next up): "
        f"added {sorted(set(actual) - set(expected))}, removed {sorted(set(expected) - set(actual))}"
    )


def test_urns_carry_the_parent_chain():
    # A child's URN names its parents' types: re-parenting is a URN change.
    (role,) = [u for u in urns("prod") if u.endswith("::deploy-production-role")]
    assert role == (
        "urn:pulumi:prod::ecs-delivery::ecs-delivery:deploy_role:DeployRole$aws:iam/role:Role::deploy-production-role"
    )
