"""Offline synth: the renderer on a known resource set, secret masking, bad stack files,
and the end-to-end files for the committed stacks."""

from __future__ import annotations

import json

import pytest

from offline import synth
from offline.render import mermaid, render_markdown
from tests.conftest import FIXTURE_STACKS, shared_scope

KNOWN_STAGES = [
    {
        "name": "Source",
        "actions": [
            {
                "name": "App",
                "category": "Source",
                "provider": "CodeStarSourceConnection",
                "runOrder": 1,
                "outputArtifacts": ["Src"],
                "configuration": {"FullRepositoryId": "acme/app"},
            },
            {
                "name": "Infra",
                "category": "Source",
                "provider": "CodeStarSourceConnection",
                "runOrder": 1,
                "outputArtifacts": ["Tpl"],
                "configuration": {"FullRepositoryId": "acme/infra"},
            },
        ],
    },
    {
        "name": "Build",
        "actions": [
            {
                "name": "Build",
                "category": "Build",
                "provider": "CodeBuild",
                "runOrder": 1.0,
                "inputArtifacts": ["Src"],
                "outputArtifacts": ["Ver"],
                "configuration": {"ProjectName": "p"},
            },
        ],
    },
    {
        "name": "Prod",
        "actions": [
            {
                "name": "Execute",
                "category": "Deploy",
                "provider": "CloudFormation",
                "runOrder": 3,
                "configuration": {"ActionMode": "CHANGE_SET_EXECUTE", "StackName": "app-prod"},
            },
            {
                "name": "Change",
                "category": "Deploy",
                "provider": "CloudFormation",
                "runOrder": 1,
                "inputArtifacts": ["Tpl", "Ver"],
                "configuration": {"ActionMode": "CHANGE_SET_REPLACE", "StackName": "app-prod"},
            },
            {
                "name": "Approve",
                "category": "Approval",
                "provider": "Manual",
                "runOrder": 2,
                "configuration": {},
            },
        ],
    },
]

KNOWN_RESOURCES = [
    {
        "type": "aws:codepipeline/pipeline:Pipeline",
        "name": "p",
        "parent": "c::p",
        "inputs": {
            "name": "app-prod",
            "pipelineType": "V2",
            "stages": KNOWN_STAGES,
            "triggers": [
                {
                    "gitConfiguration": {
                        "sourceActionName": "App",
                        "pushes": [{"branches": {"includes": ["main"]}}],
                    }
                }
            ],
        },
    },
    {
        "type": "aws:iam/role:Role",
        "name": "pipeline-role",
        "parent": "c::p",
        "outputs": {"name": "pipeline-role-abc"},
        "inputs": {
            "description": "runs it",
            "assumeRolePolicy": json.dumps(
                {
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "codepipeline.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ]
                }
            ),
        },
    },
    {
        "type": "aws:iam/rolePolicy:RolePolicy",
        "name": "pipeline-policy",
        "parent": "c::p",
        "inputs": {
            "role": "pipeline-role-abc",
            "policy": json.dumps(
                {
                    "Statement": [
                        {
                            "Sid": "RunBuilds",
                            "Effect": "Allow",
                            "Action": ["codebuild:StartBuild"],
                            "Resource": ["arn:aws:codebuild:eu-west-1:⟨account-id⟩:project/p"],
                        }
                    ]
                }
            ),
        },
    },
]


def test_diagram_orders_stages_and_chains_the_approval():
    lines = mermaid(KNOWN_STAGES)
    text = "\n".join(lines)
    assert lines[0] == "```mermaid" and lines[1] == "flowchart LR" and lines[-1] == "```"
    assert [line.strip() for line in lines if line.strip().startswith("subgraph")] == [
        'subgraph S0["Source"]',
        'subgraph S1["Build"]',
        'subgraph S2["Prod"]',
    ]
    assert "S0 ==> S1" in text and "S1 ==> S2" in text
    # Sorted by run order: Change (S2A0) → Approve (S2A1, a decision shape) → Execute (S2A2).
    assert 'S2A0["Change<br/>CloudFormation<br/>CHANGE_SET_REPLACE"]' in text
    assert 'S2A1{{"Approve<br/>Manual"}}' in text
    assert "S2A0 --> S2A1" in text and "S2A1 --> S2A2" in text
    assert "S2A0 --> S2A2" not in text
    # Artifacts flow from producer to consumer, labelled; parallel source actions are not chained.
    assert "S0A0 -. Src .-> S1A0" in text
    assert "S0A1 -. Tpl .-> S2A0" in text and "S1A0 -. Ver .-> S2A0" in text
    assert "S0A0 --> S0A1" not in text


def test_stage_tables_list_actions_in_run_order():
    markdown = render_markdown("prod", KNOWN_RESOURCES, {"pipeline_name": "app-prod"})
    assert "## Pipeline `app-prod`" in markdown
    assert (
        "| 1 | Change | Deploy / CloudFormation | CHANGE_SET_REPLACE | app-prod | Tpl, Ver → — |" in markdown
    )
    assert "| 2 | Approve | Approval / Manual | manual approval | — | — → — |" in markdown
    assert "| 3 | Execute | Deploy / CloudFormation | CHANGE_SET_EXECUTE | app-prod | — → — |" in markdown
    assert "| 1 | Build | Build / CodeBuild | — | p | Src → Ver |" in markdown
    assert "| App | push | `main` |" in markdown


def test_iam_table_joins_policies_to_their_role():
    markdown = render_markdown("prod", KNOWN_RESOURCES, {})
    assert "### `pipeline-role` — runs it" in markdown
    assert "Trusted by `codepipeline.amazonaws.com`." in markdown
    assert (
        "| RunBuilds | Allow | `codebuild:StartBuild` | `arn:aws:codebuild:eu-west-1:⟨account-id⟩:project/p` | — |"
        in markdown
    )


def test_outputs_table_and_legend():
    markdown = render_markdown(
        "prod", KNOWN_RESOURCES, {"pipeline_url": "https://x", "artifact_bucket": "b-⟨suffix⟩"}
    )
    assert "| artifact_bucket | b-⟨suffix⟩ |" in markdown
    assert "| pipeline_url | https://x |" in markdown
    assert "known only after deployment" in markdown


@pytest.fixture(scope=shared_scope)
def prod_synth(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    target, records, outputs = synth.synth("prod", out, FIXTURE_STACKS)
    return target, records, outputs


def test_prod_synth_writes_both_files(prod_synth):
    target, records, _ = prod_synth
    document = json.loads((target / "resources.json").read_text())
    assert document["stack"] == "prod"
    assert len(document["resources"]) == len(records) > 20
    for record in document["resources"]:
        assert set(record) == {"type", "name", "parent", "protect", "inputs", "outputs"}
    pipeline_md = (target / "pipeline.md").read_text()
    assert 'subgraph S0["Source"]' in pipeline_md and 'subgraph S3["production-plan"]' in pipeline_md
    assert 'subgraph S4["production-approval"]' in pipeline_md
    assert 'subgraph S5["production"]' in pipeline_md
    assert all(f"S{i} ==> S{i + 1}" in pipeline_md for i in range(5))
    # recover → change set → review; approval; change set → confirm → execute → verify
    assert all(f"S3A{i} --> S3A{i + 1}" in pipeline_md for i in range(2))
    assert 'S3A2["ReviewChangeSet<br/>CodeBuild"]' in pipeline_md
    assert 'S4A0{{"Approve<br/>Manual"}}' in pipeline_md
    assert all(f"S5A{i} --> S5A{i + 1}" in pipeline_md for i in range(3))
    assert 'S5A1["ConfirmChangeSet<br/>CodeBuild"]' in pipeline_md
    # Each environment's boundary is shown as the ceiling it is.
    boundaries = pipeline_md[pipeline_md.index("## Permissions boundaries of the stacks' roles") :]
    for environment in ("dev", "production"):
        assert f"### `deploy-{environment}-boundary`" in boundaries
        assert (
            f"`arn:aws:iam::⟨account-id⟩:policy/ecs-delivery/deploy-{environment}-boundary-⟨suffix⟩`"
            in boundaries
        )
    assert "| ApplicationRuntime | Allow | `everything except:`<br>`account:*`" in boundaries


def test_synth_masks_secrets_and_never_fakes_deploy_time_values(prod_synth):
    target, records, _ = prod_synth
    raw = (target / "resources.json").read_text() + (target / "pipeline.md").read_text()
    images = [r for r in records if r["type"] == "docker:index/image:Image"]
    assert len(images) == 2  # the build image and the tools image
    for image in images:
        assert image["inputs"]["registry"] == "[secret]"
    assert "⟨ecr-token⟩" not in raw
    # The tests' fake account never leaks into a review; an account the stack file names
    # (the approvers') is config, not a value faked for deployment.
    configured = "arn:aws:iam::123456789012:role/release-managers"
    assert "123456789012" not in raw.replace(configured, "")
    assert "⟨account-id⟩" in raw and "⟨image digest after build⟩" in raw


def test_synth_of_a_bad_stack_file_fails_with_the_config_error(tmp_path, capsys):
    (tmp_path / "Pulumi.broken.yaml").write_text(
        "config:\n"
        "  aws:region: eu-west-1\n"
        "  ecs-delivery:application: {name: app, repository: acme/app}\n"
        "  ecs-delivery:infrastructure: {repository: acme/infra}\n"
        "  ecs-delivery:environments: [{name: dev, stackName: app-dev, approvel: true}]\n"
    )
    code = synth.main(["broken", "--stacks-dir", str(tmp_path), "--out", str(tmp_path / "out")])
    assert code == 2
    error = capsys.readouterr().err
    assert "ecs-delivery:environments[0].approvel: unknown key" in error
    assert not (tmp_path / "out" / "broken").exists()


def test_synth_of_unreadable_yaml_names_the_file(tmp_path, capsys):
    (tmp_path / "Pulumi.bad.yaml").write_text("config: [unclosed\n")
    assert synth.main(["bad", "--stacks-dir", str(tmp_path), "--out", str(tmp_path)]) == 2
    assert "Pulumi.bad.yaml is not valid YAML" in capsys.readouterr().err


def test_synth_prints_a_summary_and_the_paths(tmp_path, capsys):
    assert synth.main(["dev", "--stacks-dir", str(FIXTURE_STACKS), "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "Source: Application + Infrastructure" in printed
    assert "sandbox: Deploy" in printed
    assert f"wrote {tmp_path / 'dev' / 'pipeline.md'}" in printed


def test_synth_shows_the_build_caches_and_docker_hub_access_with_their_iam(tmp_path):
    from tests.conftest import FIXTURE_STACKS

    target, _, _ = synth.synth("four-environments", tmp_path, FIXTURE_STACKS)
    pipeline_md = (target / "pipeline.md").read_text()
    assert "| cache | LOCAL_DOCKER_LAYER_CACHE |" in pipeline_md
    assert "| environment type | ARM_CONTAINER |" in pipeline_md
    assert "## Docker Hub through ECR (pull-through cache)" in pipeline_md
    assert "| docker-hub | registry-1.docker.io | arn:aws:secretsmanager:" in pipeline_md
    for statement in (
        "| BuildCache | Allow |",
        "| PullThroughDockerHub | Allow |",
        "| ReadDockerHubCredentials | Allow |",
    ):
        assert statement in pipeline_md
    assert (
        "| DOCKERHUB_TOKEN | arn:aws:secretsmanager:" in pipeline_md and "| SECRETS_MANAGER |" in pipeline_md
    )


STACK_HEAD = (
    "config:\n"
    "  aws:region: eu-west-1\n"
    "  ecs-delivery:application: {name: app, repository: acme/app}\n"
    "  ecs-delivery:infrastructure: {repository: acme/infra}\n"
    "  ecs-delivery:environments: [{name: dev, stackName: app-dev}]\n"
)


def test_a_failed_synth_removes_the_previous_review(tmp_path, capsys):
    (tmp_path / "Pulumi.flaky.yaml").write_text(STACK_HEAD)
    assert synth.main(["flaky", "--stacks-dir", str(tmp_path), "--out", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "flaky" / "pipeline.md").exists()
    (tmp_path / "Pulumi.flaky.yaml").write_text(STACK_HEAD + "  ecs-delivery:colour: blue\n")
    assert synth.main(["flaky", "--stacks-dir", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    assert not (tmp_path / "out" / "flaky" / "pipeline.md").exists()
    assert not (tmp_path / "out" / "flaky" / "resources.json").exists()


def test_secret_addresses_synthesise_as_placeholders_and_stay_secret(tmp_path):
    (tmp_path / "Pulumi.secret.yaml").write_text(
        STACK_HEAD + "  ecs-delivery:notifications:\n    emails:\n      - secure: v1:AAAAcipherText==\n"
    )
    target, records, _ = synth.synth("secret", tmp_path / "out", tmp_path)
    (subscription,) = [r for r in records if r["type"] == "aws:sns/topicSubscription:TopicSubscription"]
    assert subscription["inputs"]["endpoint"] == "[secret]"
    assert "v1:AAAA" not in (target / "resources.json").read_text()


def test_a_secret_where_a_secret_makes_no_sense_is_refused_clearly(tmp_path, capsys):
    (tmp_path / "Pulumi.odd.yaml").write_text(
        STACK_HEAD + "  ecs-delivery:connectionArn:\n    secure: v1:xyz==\n"
    )
    assert synth.main(["odd", "--stacks-dir", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err
    assert "ecs-delivery:connectionArn: stored as a secret, but it names a resource or a setting" in error
    assert "JSON" not in error


def test_the_review_buildspec_is_a_code_block_and_notifications_are_listed(prod_synth):
    target, _, _ = prod_synth
    pipeline_md = (target / "pipeline.md").read_text()
    assert "| source / buildspec | CODEPIPELINE / inline, below |" in pipeline_md
    review = pipeline_md.split("## CodeBuild project `todobackend-prod-review-production`", 1)[1]
    block = review.split("Inline buildspec: its commands, run in one shell in this order:", 1)[1]
    block = block.split("```bash\n", 1)[1].split("```", 1)[0]
    # The review's shell is a script of the build image (build-image/review-change-set).
    assert block == "# build\nreview-change-set\n. report/exports.sh\n"

    assert "Exported variables: `REVIEW_SUMMARY`, `CHANGE_COUNT`" in pipeline_md
    notifications = pipeline_md.split("## Notifications", 1)[1].split("## Stores", 1)[0]
    assert "| delivery-notifications-email-0 | email | platform-team@example.com |" in notifications
    assert "Notification rule `todobackend-prod-events` (FULL) sends:" in notifications
    for event in ("pipeline-execution-failed", "pipeline-execution-succeeded", "manual-approval-needed"):
        assert f"- `codepipeline-pipeline-{event}`" in notifications


def test_the_diagram_stays_one_readable_row_at_four_environments(tmp_path):
    from tests.conftest import FIXTURE_STACKS

    target, _, _ = synth.synth("four-environments", tmp_path, FIXTURE_STACKS)
    pipeline_md = (target / "pipeline.md").read_text()
    diagram = pipeline_md.split("```mermaid", 1)[1].split("```", 1)[0]
    # One chain of stages, left to right.
    assert [line.strip() for line in diagram.splitlines() if "==>" in line] == [
        f"S{i} ==> S{i + 1}" for i in range(9)
    ]
    # One edge per artifact, to its first reader: none crosses the environments.
    assert [line.strip() for line in diagram.splitlines() if " -. " in line] == [
        "S0A0 -. ApplicationSource .-> S1A0",
        "S0A1 -. InfrastructureSource .-> S2A0",
        "S1A0 -. ApplicationVersion .-> S2A0",
    ]
    # Every reader is in the table under it.
    row = next(line for line in pipeline_md.splitlines() if line.startswith("| ApplicationVersion |"))
    for reader in (
        "dev / Deploy",
        "qa-plan / CreateChangeSet",
        "qa / CreateChangeSet",
        "staging / Deploy",
        "production-plan / CreateChangeSet",
        "production / CreateChangeSet",
    ):
        assert f"`{reader}`" in row


def test_resources_json_carries_no_local_path(prod_synth):
    from offline.program import PROJECT_DIR

    target, _, _ = prod_synth
    assert str(PROJECT_DIR) not in (target / "resources.json").read_text()


def test_the_stores_table_says_what_guards_each_store(prod_synth):
    target, _, _ = prod_synth
    pipeline_md = (target / "pipeline.md").read_text()
    stores = pipeline_md.split("## Stores", 1)[1].split("## Stack outputs", 1)[0]
    build = "`arn:aws:iam::⟨account-id⟩:role/build-role-⟨suffix⟩`"
    recorder = "`arn:aws:iam::⟨account-id⟩:role/record-production-role-⟨suffix⟩`"
    deployer = "`arn:aws:iam::⟨account-id⟩:role/⟨deployer⟩`"
    pipeline = (
        "`arn:aws:iam::⟨account-id⟩:role/ecs-delivery/pipeline/todobackend-prod/delivery-role-⟨suffix⟩`"
    )
    review = "`arn:aws:iam::⟨account-id⟩:role/review-production-role-⟨suffix⟩`"
    # The build and the recorder write the released images; the stack's deployer only deletes
    # (it declared the repository), and writes no image a release could be read from.
    assert (
        "| ECR `todobackend` | scan on push | IMMUTABLE | `Expire untagged images after 7 days`<br>"
        "`Keep released images (3650 days)`<br>`Keep only the newest 100 tagged images` | "
        f"{build}<br>{recorder} | {build}<br>{recorder}<br>{deployer} | protected |"
    ) in stores
    # The deployer pushes the build image, and nothing else does.
    assert "| ECR `todobackend/codebuild` | scan on push | MUTABLE | " in stores
    assert (
        f"| {deployer} | {deployer} | protected |"
        in stores.split("ECR `todobackend/codebuild`")[1].split("\n")[0]
    )
    assert (
        "| DynamoDB `todobackend-prod-releases` | — | — | `point-in-time recovery` | "
        f"{recorder} | {deployer} | protected |"
    ) in stores
    assert (
        "| S3 `artifacts-bucket-⟨suffix⟩` | — | — | `TLS-only policy`<br>`encryption AES256`<br>"
        "`objects expire after 90 days`<br>`ownership BucketOwnerEnforced`<br>`public access blocked`<br>"
        f"`versioning Enabled` | {build}<br>{pipeline}<br>{review} | {build}<br>{pipeline}<br>{review}<br>{deployer} "
        "| protected |"
    ) in stores


def test_a_bucket_left_partly_open_or_keyed_by_kms_says_so():
    from offline.render import _bucket_hardening

    bucket = {"type": "aws:s3/bucket:Bucket", "name": "b", "parent": "store", "inputs": {}}
    siblings = [
        {
            "type": "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
            "parent": "store",
            "inputs": {
                "rules": [
                    {
                        "applyServerSideEncryptionByDefault": {
                            "sseAlgorithm": "aws:kms",
                            "kmsMasterKeyId": "k1",
                        }
                    }
                ]
            },
        },
        {
            "type": "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
            "parent": "store",
            "inputs": {"blockPublicAcls": True, "blockPublicPolicy": True, "ignorePublicAcls": True},
        },
        {
            "type": "aws:s3/bucketPolicy:BucketPolicy",
            "parent": "store",
            "inputs": {"policy": json.dumps({"Statement": [{"Sid": "AllowReaders"}]})},
        },
        # Another component's versioning says nothing about this bucket.
        {
            "type": "aws:s3/bucketVersioning:BucketVersioning",
            "parent": "elsewhere",
            "inputs": {"versioningConfiguration": {"status": "Enabled"}},
        },
    ]
    assert _bucket_hardening([bucket, *siblings], bucket) == [
        "encryption aws:kms (k1)",
        "public access NOT fully blocked",
    ]


def test_condition_labels_say_when_what_is_checked_and_what_follows():
    from offline.render import _condition_label

    def rules(*providers):
        return [{"ruleTypeId": {"provider": p}} for p in providers]

    assert _condition_label("entry", "FAIL", rules("DeploymentWindow"), "") == (
        "entry: DeploymentWindow<br/>else FAIL"
    )
    # Two alarms read as one kind of rule, counted.
    assert _condition_label("on success", "ROLLBACK", rules("CloudWatchAlarm", "CloudWatchAlarm"), "") == (
        "on success: CloudWatchAlarm ×2<br/>fails → ROLLBACK"
    )
    assert _condition_label("entry", "FAIL", rules("DeploymentWindow", "VariableCheck"), "") == (
        "entry: DeploymentWindow, VariableCheck<br/>else FAIL"
    )
    assert _condition_label("on failure", "RETRY", rules("LambdaInvoke"), "FAILED_ACTIONS") == (
        "on failure: RETRY FAILED_ACTIONS<br/>LambdaInvoke"
    )


def test_only_an_inline_json_buildspec_is_shown_as_one():
    from offline.render import _inline_buildspec

    assert _inline_buildspec('{\n "version": 0.2}') == {"version": 0.2}
    # A path in the repository, no buildspec, a list, or text that is not JSON: not inline.
    assert _inline_buildspec("buildspec.yml") is None
    assert _inline_buildspec(None) is None
    assert _inline_buildspec("[\n 1]") is None
    assert _inline_buildspec("version: 0.2\nphases: {}") is None


# The whole review a pull request shows (pipeline.md) for each of the product's own stacks, as
# reviewed. After a deliberate change: UPDATE_GOLDEN_SYNTH=1 make unit, then review the diff.
GOLDEN_SYNTH = FIXTURE_STACKS.parent / "synth"


@pytest.mark.parametrize("stack", ["dev", "prod", "four-environments", "cross-account", "waves", "regions"])
def test_the_review_matches_the_reviewed_golden_file(stack, tmp_path):
    import os

    target, _, _ = synth.synth(stack, tmp_path, FIXTURE_STACKS)
    text = (target / "pipeline.md").read_text(encoding="utf-8")
    golden = GOLDEN_SYNTH / f"{stack}.pipeline.md"
    if os.environ.get("UPDATE_GOLDEN_SYNTH") == "1":
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(text, encoding="utf-8")
    assert golden.is_file(), f"no {golden.name}: UPDATE_GOLDEN_SYNTH=1 make unit"
    assert text == golden.read_text(encoding="utf-8"), f"{golden.name} differs"
