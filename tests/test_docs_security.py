"""docs/security.md's organisation guard: the service control policy it gives parses, names
only actions IAM knows (parliament's copy of the Service Authorization Reference), denies and
never grants, and guards what this program declares: the approvals of a pipeline and the
actions that would undo the stores' resource policies."""

from __future__ import annotations

import json
from pathlib import Path

import parliament

from components import iam_policies

SECURITY = Path(__file__).resolve().parent.parent / "docs" / "security.md"


def guard() -> dict:
    text = SECURITY.read_text().split("<!-- scp:", 1)[1]
    return json.loads(text.split("```json\n", 1)[1].split("```", 1)[0])


def test_the_guard_is_a_valid_deny_only_policy_of_known_actions():
    policy = guard()
    assert policy["Version"] == "2012-10-17"
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Deny", statement["Sid"]
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        for action in actions:
            assert parliament.expand_action(action), action
        assert "ArnNotLike" in statement["Condition"], statement["Sid"]


def test_the_guard_covers_the_approvals_and_every_policy_the_stores_carry():
    statements = {s["Sid"]: s for s in guard()["Statement"]}
    assert statements["OnlyTheApproversApprove"]["Action"] == "codepipeline:PutApprovalResult"
    changes = set(statements["OnlyTheDeployerChangesTheDeliverySystem"]["Action"])
    # Each resource policy this program writes can be replaced or removed by one action of
    # its service (Service Authorization Reference): the guard names each.
    assert {
        "s3:PutBucketPolicy",
        "s3:DeleteBucketPolicy",
        "ecr:SetRepositoryPolicy",
        "ecr:DeleteRepositoryPolicy",
        "dynamodb:PutResourcePolicy",
        "dynamodb:DeleteResourcePolicy",
        "kms:PutKeyPolicy",
    } <= changes
    # ... and the pipeline and projects the confirm and the record run in.
    assert {"codepipeline:UpdatePipeline", "codebuild:UpdateProject"} <= changes
    # The writes the stores refuse are not the guard's business: the stores refuse them.
    assert not changes & {"s3:PutObject", "ecr:PutImage", *iam_policies.RECORD_WRITES}
