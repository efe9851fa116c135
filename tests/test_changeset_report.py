"""The change-set renderer baked into the build image, on DescribeChangeSet-shaped
fixtures (tests/fixtures/changesets, written from the CloudFormation API reference)."""

from __future__ import annotations

import copy
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "changesets"
# Named after its path (build-image/ is no package): the name mutmut gives its mutants,
# so `make mutate` can tell which tests reach which function.
MODULE = "build-image.changeset_report"
_spec = importlib.util.spec_from_file_location(MODULE, ROOT / "build-image" / "changeset_report.py")
report = importlib.util.module_from_spec(_spec)
sys.modules[MODULE] = report  # dataclasses look their module up by name
_spec.loader.exec_module(report)


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def review_of(name: str, environment: str = "production", stack: str | None = "stack.json", **kwargs):
    return report.load_review(
        [fixture(name)], environment=environment, stack=fixture(stack) if stack else None, **kwargs
    )


def test_the_release_summary_is_the_line_an_approver_reads():
    review = review_of("release.json")
    assert report.summary_line(review) == (
        "production: 3 changes — 1 replacement (ApplicationTaskDefinition), 0 removals; image tag 5fdbe62 → 8c1d2aa"
    )


def test_risky_changes_are_marked_loudly():
    review = review_of(
        "risky.json", environment="staging", stack="risky-stack.json", image_parameter="ImageTag"
    )
    assert report.summary_line(review) == (
        "staging: ⛔ THE RELEASE WILL REFUSE THIS: it deploys what it does not show (NetworkStack); "
        "7 changes — 2 replacements (LoadBalancerSecurityGroup, Database), 1 removal (LegacyQueue); "
        "image tag a93e771.87 → b41f0c9.88; changes security group, IAM, KMS resources"
    )
    markdown = report.markdown(review)
    assert "| Remove | `LegacyQueue` | AWS::SQS::Queue | **REMOVAL** |" in markdown
    assert "| Modify | `Database` | AWS::RDS::DBInstance | **REPLACEMENT** policy: Snapshot |" in markdown
    assert (
        "| Modify | `LoadBalancerSecurityGroup` | AWS::EC2::SecurityGroup | **MAY BE REPLACED** ⚠ security group |"
        in markdown
    )
    # Which resource exactly: the physical id, when the change set gives one.
    assert (
        "- **REMOVE** `LegacyQueue` (AWS::SQS::Queue, `https://sqs.us-east-1.amazonaws.com/123456789012/shop-legacy`)"
        in markdown
    )
    assert (
        "- **MAY REPLACE** `LoadBalancerSecurityGroup` (AWS::EC2::SecurityGroup, `sg-0a1b2c3d4e5f60718`)"
        in markdown
    )
    assert "- **REPLACE** `Database` (AWS::RDS::DBInstance, `shop-staging-db`)" in markdown
    assert "## ⚠ Security-sensitive changes" in markdown
    assert "- IAM: Add `TaskRole`" in markdown and "- KMS: Modify `DataKey`" in markdown
    # Removals first, then replacements, in the full list.
    rows = [
        line for line in markdown.splitlines() if line.startswith("| Remove") or line.startswith("| Modify")
    ]
    assert rows[0].startswith("| Remove | `LegacyQueue`")


def test_counts_per_action_and_per_resource_type():
    review = review_of(
        "risky.json", environment="staging", stack="risky-stack.json", image_parameter="ImageTag"
    )
    markdown = report.markdown(review)
    assert "| 1 | 4 | 1 | 1 / 1 | 2 |" in markdown  # adds, modifies, removes, True/Conditional, dynamic
    assert "| AWS::SQS::Queue | 0 | 0 | 1 | 0 |" in markdown
    assert "| AWS::ECS::Service | 0 | 0 | 0 | 1 Dynamic |" in markdown


def test_parameter_changes_show_old_to_new_with_the_image_tag_first():
    review = review_of(
        "risky.json", environment="staging", stack="risky-stack.json", image_parameter="ImageTag"
    )
    assert review.parameter_changes == [("ImageTag", "a93e771.87", "b41f0c9.88"), ("DesiredCount", "2", "3")]
    markdown = report.markdown(review)
    assert markdown.index("`ImageTag`") < markdown.index("`DesiredCount`")
    assert "DbPassword" not in markdown  # unchanged (and masked) parameters are not news


def test_dynamic_evaluation_and_nested_stacks_are_explained():
    markdown = report.markdown(review_of("risky.json", environment="staging", stack="risky-stack.json"))
    assert "nested stack: its changes are in change set `shop-staging-pipeline-NetworkStack`" in markdown
    assert "Properties.TaskDefinition ← TaskDefinition.Arn [dynamic: resolved only at execution]" in markdown
    assert "Properties.GroupDescription ← DirectModification (recreation: Always)" in markdown


def test_no_changes_is_reported_as_such_not_as_a_failure():
    review = review_of("no-changes.json", stack=None)
    assert review.no_changes and not review.failed
    assert report.summary_line(review) == "production: no changes to stack todobackend-prod"
    assert "no changes" in report.markdown(review)
    assert report.exports(review)["CHANGE_COUNT"] == "0"


def test_a_failed_change_set_says_why():
    review = review_of("failed.json", stack=None)
    assert review.failed
    assert report.summary_line(review) == (
        "production: change set FAILED on stack todobackend-prod — Template format error: Unresolved resource "
        "dependencies [ApplicationCluster] in the Resources block of the template"
    )
    assert "## The change set FAILED" in report.markdown(review)


def test_a_long_failure_reason_is_cut_to_the_limit():
    page = fixture("failed.json") | {"StatusReason": "x" * 1000}
    summary = report.summary_line(report.load_review([page], environment="production"))
    assert len(summary) == report.SUMMARY_LIMIT and summary.endswith("…")


def hundreds_of_changes() -> list[dict]:
    """250 changes over three pages, as DescribeChangeSet pages them (NextToken)."""
    base = fixture("release.json")
    changes = []
    for i in range(250):
        if i < 40:
            change = {"Action": "Modify", "Replacement": "True", "ResourceType": "AWS::ECS::TaskDefinition"}
        elif i < 52:
            change = {"Action": "Remove", "ResourceType": "AWS::SQS::Queue"}
        else:
            change = {"Action": "Add", "ResourceType": "AWS::Logs::LogGroup"}
        changes.append(
            {"Type": "Resource", "ResourceChange": change | {"LogicalResourceId": f"Resource{i:03d}"}}
        )
    pages = []
    for number, start in enumerate(range(0, 250, 100)):
        page = copy.deepcopy(base) | {"Changes": changes[start : start + 100]}
        if start + 100 < 250:
            page["NextToken"] = f"token-{number + 2}"
        pages.append(page)
    return pages


def test_hundreds_of_changes_across_pages_fit_the_limits():
    pages = hundreds_of_changes()
    review = report.load_review(pages, environment="production", stack=fixture("stack.json"))
    assert len(review.changes) == 250 and review.pages == 3
    summary = report.summary_line(review)
    assert summary.startswith(
        "production: 250 changes — 40 replacements (Resource000, Resource001, Resource002, +37 more), "
        "12 removals (Resource040, Resource041, Resource042, +9 more); image tag 5fdbe62 → 8c1d2aa"
    )
    assert len(summary) <= report.SUMMARY_LIMIT
    assert "## All 250 changes (from 3 pages)" in report.markdown(review)
    assert report.exports(review)["REPLACEMENT_COUNT"] == "40"


def test_console_link_points_at_this_change_set():
    review = review_of("release.json")
    assert review.console_url == (
        "https://eu-west-1.console.aws.amazon.com/cloudformation/home?region=eu-west-1#/stacks/changesets/changes"
        "?stackId=arn%3Aaws%3Acloudformation%3Aeu-west-1%3A123456789012%3Astack%2Ftodobackend-prod%2F"
        "9a1b5e20-3f4c-11ef-8b7a-0a1b2c3d4e5f&changeSetId=arn%3Aaws%3Acloudformation%3Aeu-west-1%3A123456789012"
        "%3AchangeSet%2Ftodobackend-prod-pipeline%2F3c2f6a1e-7d1b-4a53-9d0a-1f7f3c9b2e11"
    )


def test_first_deployment_has_no_old_parameters():
    review = review_of("release.json", stack=None)
    assert review.parameter_changes[0] == ("ApplicationImageTag", None, "8c1d2aa")
    assert report.summary_line(review).endswith("image tag (none) → 8c1d2aa")


def test_html_report_escapes_what_it_shows():
    page = fixture("failed.json") | {"StatusReason": "<script>alert(1)</script> & more"}
    page_html = report.html_report(report.load_review([page], environment="production"))
    assert "<script>" not in page_html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in page_html
    release_html = report.html_report(review_of("release.json"))
    assert "<code>ApplicationTaskDefinition</code>" in release_html
    assert '<a href="https://eu-west-1.console.aws.amazon.com/cloudformation/' in release_html
    assert release_html.count("<table>") == 4


def test_cli_writes_every_output_and_exports_survive_the_shell(tmp_path):
    code = report.main(
        [
            str(FIXTURES / "release.json"),
            "--environment", "production",
            "--stack-json", str(FIXTURES / "stack.json"),
            "--out-dir", str(tmp_path),
            "--commit", "8c1d2aa4f0e",
            "--report-url", "https://example.test/report.html?a=1&b='2'",
        ]
    )  # fmt: skip
    assert code == 0
    assert {p.name for p in tmp_path.iterdir()} == {"report.md", "report.html", "summary.txt", "exports.sh"}
    assert "- application commit: `8c1d2aa4f0e`" in (tmp_path / "report.md").read_text()
    script = f'. {tmp_path / "exports.sh"} && printf \'%s\\n\' "$REVIEW_SUMMARY" "$REPORT_URL" "$IMAGE_TAG" "$CHANGE_COUNT"'
    printed = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True).stdout  # noqa: S603
    assert printed.splitlines() == [
        "production: 3 changes — 1 replacement (ApplicationTaskDefinition), 0 removals; image tag 5fdbe62 → 8c1d2aa",
        "https://example.test/report.html?a=1&b='2'",
        "8c1d2aa",
        "3",
    ]


def test_cli_rejects_unreadable_input(tmp_path, capsys):
    bad = tmp_path / "page.json"
    bad.write_text("{not json")
    assert report.main([str(bad), "--environment", "production", "--out-dir", str(tmp_path / "out")]) == 2
    assert "cannot read input" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["release.json", "risky.json", "no-changes.json", "failed.json"])
def test_fixtures_have_the_describe_change_set_shape(name):
    page = fixture(name)
    assert {
        "ChangeSetName",
        "ChangeSetId",
        "StackId",
        "StackName",
        "Status",
        "ExecutionStatus",
        "Changes",
    } <= set(page)
    for change in page["Changes"]:
        assert change["Type"] == "Resource"
        assert change["ResourceChange"]["Action"] in {"Add", "Modify", "Remove", "Import", "Dynamic"}
        assert change["ResourceChange"].get("Replacement", "False") in {"True", "False", "Conditional"}


def _one_change(resource_type: str, action: str = "Modify") -> dict:
    page = copy.deepcopy(fixture("release.json"))
    page["Changes"] = [
        {
            "Type": "Resource",
            "ResourceChange": {"Action": action, "LogicalResourceId": "Thing", "ResourceType": resource_type},
        }
    ]
    return page


@pytest.mark.parametrize(
    "resource_type",
    [
        # Everything IAM can grant with, not only roles.
        "AWS::IAM::Role",
        "AWS::IAM::Policy",
        "AWS::IAM::ManagedPolicy",
        "AWS::IAM::InstanceProfile",
        "AWS::IAM::User",
        "AWS::IAM::Group",
        "AWS::IAM::AccessKey",
        "AWS::IAM::RolePolicy",
    ],
)
def test_every_iam_resource_type_is_flagged(resource_type):
    review = report.load_review([_one_change(resource_type)], environment="production")
    assert list(review.flagged) == ["IAM"]
    assert report.summary_line(review).endswith("; changes IAM resources")


@pytest.mark.parametrize(
    ("resource_type", "flag"),
    [
        ("AWS::EC2::SecurityGroup", "security group"),
        ("AWS::EC2::SecurityGroupIngress", "security group"),
        ("AWS::EC2::SecurityGroupEgress", "security group"),
        ("AWS::KMS::Key", "KMS"),
        ("AWS::KMS::Alias", "KMS"),
    ],
)
def test_network_and_key_changes_are_flagged(resource_type, flag):
    review = report.load_review([_one_change(resource_type)], environment="production")
    assert list(review.flagged) == [flag]


def test_an_ordinary_change_is_not_flagged():
    review = report.load_review([_one_change("AWS::Logs::LogGroup")], environment="production")
    assert review.flagged == {}
    assert "changes" not in report.summary_line(review).split("—", 1)[1]


@pytest.mark.parametrize(
    "reason",
    [
        # The two ways CloudFormation words an empty change set (CreateChangeSet API
        # reference and the console), both FAILED with no changes.
        "The submitted information didn't contain changes. Submit different information to create a change set.",
        "No updates are to be performed.",
    ],
)
def test_both_empty_change_set_reasons_are_no_changes_not_a_failure(reason):
    page = fixture("no-changes.json") | {"StatusReason": reason}
    review = report.load_review([page], environment="production")
    assert (review.no_changes, review.failed) == (True, False)
    assert report.summary_line(review) == "production: no changes to stack todobackend-prod"
    assert report.exports(review)["CHANGE_COUNT"] == "0"


def test_a_parameter_kept_with_use_previous_value_is_not_a_change():
    page = copy.deepcopy(fixture("release.json"))
    stack = fixture("stack.json")
    old = {p["ParameterKey"]: p["ParameterValue"] for p in stack["Stacks"][0]["Parameters"]}
    kept = next(k for k in old if k != "ApplicationImageTag")
    page["Parameters"] = [p for p in page["Parameters"] if p["ParameterKey"] != kept] + [
        {"ParameterKey": kept, "UsePreviousValue": True}
    ]
    review = report.load_review([page], environment="production", stack=stack)
    assert review.new_parameters[kept] == old[kept]
    assert kept not in [name for name, _, _ in review.parameter_changes]
    assert [name for name, _, _ in review.parameter_changes] == ["ApplicationImageTag"]


def test_the_summary_is_cut_exactly_at_the_limit():
    # A summary of exactly the limit is kept whole; one character more is cut to the limit.
    page = fixture("failed.json")
    prefix = "production: change set FAILED on stack todobackend-prod — "
    for extra, cut in ((0, False), (1, True)):
        reason = "r" * (report.SUMMARY_LIMIT - len(prefix) + extra)
        summary = report.summary_line(
            report.load_review([page | {"StatusReason": reason}], environment="production")
        )
        assert len(summary) == report.SUMMARY_LIMIT
        assert summary.endswith("…") is cut
    assert report.SUMMARY_LIMIT == 300


# Golden reports: the whole of what an approver reads, per fixture, reviewed and committed
# (tests/fixtures/changesets/expected/). A change to any heading, label, order, escaping
# or number shows up as a failing test and a reviewable diff.
# After a deliberate change: UPDATE_GOLDEN_REPORTS=1 make unit, then review the diff.
GOLDEN = FIXTURES / "expected"
GOLDEN_CASES = {
    "release": dict(
        page="release.json",
        stack="stack.json",
        commit="8c1d2aa4f0e",
        report_url="https://example.test/r.html",
    ),
    "risky": dict(page="risky.json", stack="risky-stack.json", image_parameter="ImageTag"),
    "no-changes": dict(page="no-changes.json", stack=None),
    "failed": dict(page="failed.json", stack=None),
    # Non-resource entries, an entry without Type, SSM-resolved, kept, new and retired
    # parameters, several IAM kinds, a removal and a replacement with physical ids, a
    # stack id that is no ARN (no console link: the report's address instead).
    "edges": dict(page="edges.json", stack="edges-stack.json", report_url="https://example.test/qa.html"),
}


def _render_case(case: dict) -> dict[str, str]:
    options = {k: v for k, v in case.items() if k not in ("page", "stack")}
    review = report.load_review(
        [fixture(case["page"])],
        environment="production",
        stack=fixture(case["stack"]) if case["stack"] else None,
        **options,
    )
    return {
        "report.md": report.markdown(review),
        "report.html": report.html_report(review),
        "exports.json": json.dumps(report.exports(review), indent=2, ensure_ascii=False) + "\n",
    }


@pytest.mark.parametrize("name", sorted(GOLDEN_CASES))
def test_reports_match_the_reviewed_golden_files(name):
    import os

    rendered = _render_case(GOLDEN_CASES[name])
    for suffix, text in rendered.items():
        golden = GOLDEN / f"{name}.{suffix}"
        if os.environ.get("UPDATE_GOLDEN_REPORTS") == "1":
            golden.write_text(text, encoding="utf-8")
        assert golden.is_file(), f"no {golden.name}: UPDATE_GOLDEN_REPORTS=1 make unit"
        assert text == golden.read_text(encoding="utf-8"), f"{golden.name} differs"


def test_cli_creates_nested_output_folders_and_writes_the_summary_line(tmp_path):
    out = tmp_path / "report" / "production" / "exec-1"
    assert (
        report.main([str(FIXTURES / "no-changes.json"), "--environment", "production", "--out-dir", str(out)])
        == 0
    )
    assert (out / "summary.txt").read_bytes() == b"production: no changes to stack todobackend-prod\n"
    assert (out / "report.md").read_bytes() == (GOLDEN / "no-changes.report.md").read_bytes()


def test_cli_requires_the_environment(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        report.main([str(FIXTURES / "release.json"), "--out-dir", str(tmp_path)])
    assert exit_info.value.code == 2
    assert "--environment" in capsys.readouterr().err


def test_no_page_is_an_error():
    with pytest.raises(ValueError, match="no DescribeChangeSet page given"):
        report.load_review([], environment="production")


def _page(*changes: dict, **fields) -> dict:
    return {
        "Status": "CREATE_COMPLETE",
        **fields,
        "Changes": [{"Type": "Resource", "ResourceChange": c} for c in changes],
    }


def test_what_a_page_does_not_say_is_shown_as_unknown():
    review = report.load_review([{}], environment="qa")
    assert (review.stack_name, review.change_set_name, review.status, review.execution_status) == (
        "?",
        "?",
        "?",
        "?",
    )
    assert review.status_reason == ""
    assert report.exports(review)["CHANGE_SET_URL"] == "" and report.exports(review)["REPORT_URL"] == ""


def test_the_glance_table_counts_zero_and_sums_per_type():
    remove = {"Action": "Remove", "ResourceType": "AWS::SQS::Queue"}
    review = report.load_review(
        [_page(remove | {"LogicalResourceId": "A"}, remove | {"LogicalResourceId": "B"})], environment="qa"
    )
    markdown = report.markdown(review)
    assert "| 0 | 0 | 2 | 0 / 0 | 0 |" in markdown
    assert "| AWS::SQS::Queue | 0 | 0 | 2 | 0 |" in markdown


def test_a_long_ordinary_summary_is_cut_exactly_at_the_limit():
    def summary(name_length: int, limit: int = 300) -> str:
        change = {
            "Action": "Remove",
            "ResourceType": "AWS::SQS::Queue",
            "LogicalResourceId": "Q" * name_length,
        }
        return report.summary_line(report.load_review([_page(change)], environment="production"), limit=limit)

    # One removal: the line grows one character per character of its name.
    fits = 300 - len(summary(0))
    assert len(summary(fits)) == 300 and not summary(fits).endswith("…")
    full = summary(fits + 1, limit=10_000)
    assert len(full) == 301
    # One more character and the name gives way, never the counts (a wave's member has a share
    # of one approval's text, and the counts are what it must show).
    assert summary(fits + 1) == "production: 1 change — 0 replacements, 1 removal"


def test_the_image_tag_export_is_the_current_tag_when_it_does_not_change():
    page = fixture("release.json") | {
        "Parameters": [{"ParameterKey": "ApplicationImageTag", "ParameterValue": "5fdbe62"}]
    }
    review = report.load_review([page], environment="production", stack=fixture("stack.json"))
    assert report.exports(review)["IMAGE_TAG"] == "5fdbe62"
    assert "image tag" not in report.summary_line(review)


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("5fdbe62", "5fdbe62"),
        ("abcdef123456", "abcdef123456"),
        ("abcdef1234567", "abcdef1"),
        (None, "(none)"),
    ],
)
def test_long_tags_are_shortened_to_a_commit_prefix(value, shown):
    assert report._shorten(value) == shown


def test_two_pages_are_said_to_be_two():
    page = fixture("release.json")
    review = report.load_review([page, page | {"Changes": []}], environment="production")
    assert "(from 2 pages)" in report.markdown(review)
    assert "pages)" not in report.markdown(report.load_review([page], environment="production"))


def test_the_cli_explains_itself(capsys):
    with pytest.raises(SystemExit) as exit_info:
        report.main(["--help"])
    assert exit_info.value.code == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert "Render a CloudFormation change set for its approver." in help_text
    assert "DescribeChangeSet JSON, one file per page" in help_text
    assert "DescribeStacks JSON (old parameter values)" in help_text


# -- the fingerprint: is the change set a release executes the one its approver saw? --------


def _release_pages() -> list[dict]:
    return [json.loads((FIXTURES / "release.json").read_text())]


def test_the_same_changes_in_another_change_set_have_the_same_fingerprint():
    """A release recreates the reviewed change set from the same artifacts: new name, id,
    time and status, the changes in another order. Nothing the approver saw differs."""
    pages = _release_pages()
    again = copy.deepcopy(pages)
    again[0].update(
        ChangeSetName="todobackend-prod-pipeline",
        ChangeSetId="arn:aws:cloudformation:eu-west-1:123456789012:changeSet/todobackend-prod-pipeline/ffff",
        CreationTime="2026-12-01T10:00:00.000Z",
        ExecutionStatus="AVAILABLE",
    )
    again[0]["Changes"] = list(reversed(again[0]["Changes"]))
    assert report.fingerprint(again) == report.fingerprint(pages)
    # Split over two pages, as DescribeChangeSet may answer.
    first, *rest = again[0]["Changes"]
    paged = [{**again[0], "Changes": [first], "NextToken": "t"}, {"Changes": rest}]
    assert report.fingerprint(paged) == report.fingerprint(pages)


@pytest.mark.parametrize(
    "edit",
    [
        "another image tag",
        "a resource replaced instead of modified",
        "one change fewer",
        "another capability",
    ],
)
def test_any_difference_in_what_the_change_set_does_changes_the_fingerprint(edit):
    pages = _release_pages()
    changed = copy.deepcopy(pages)
    page = changed[0]
    if edit == "another image tag":
        for parameter in page["Parameters"]:
            if parameter["ParameterKey"] == "ApplicationImageTag":
                parameter["ParameterValue"] = "0000000"
    elif edit == "a resource replaced instead of modified":
        change = next(
            c["ResourceChange"] for c in page["Changes"] if c["ResourceChange"].get("Replacement") == "False"
        )
        change["Replacement"] = "True"
    elif edit == "one change fewer":
        page["Changes"] = page["Changes"][1:]
    else:
        page["Capabilities"] = ["CAPABILITY_IAM"]
    assert report.fingerprint(changed) != report.fingerprint(pages)


def test_the_fingerprint_is_exported_and_printed_alone_on_request(tmp_path, capsys):
    page = tmp_path / "changes-1.json"
    page.write_text((FIXTURES / "release.json").read_text())
    assert report.main(["--print-fingerprint", str(page)]) == 0
    printed = capsys.readouterr().out.strip()
    assert printed == report.fingerprint(_release_pages())
    assert len(printed) == 64 and set(printed) <= set("0123456789abcdef")
    out = tmp_path / "report"
    assert (
        report.main(
            ["--environment", "production", "--out-dir", str(out), "--execution-id", "0f1e", str(page)]
        )
        == 0
    )
    exports = (out / "exports.sh").read_text()
    assert f"export FINGERPRINT={printed}\n" in exports
    assert "export PLAN_EXECUTION_ID=0f1e\n" in exports


# -- what the change set does not show -------------------------------------------------------------
def test_a_nested_stack_in_the_change_set_is_named_and_the_report_says_the_release_refuses_it():
    review = review_of("risky.json", environment="staging", stack="risky-stack.json")
    assert [(u.logical_id, u.resource_type) for u in review.unshown] == [
        ("NetworkStack", "AWS::CloudFormation::Stack")
    ]
    markdown = report.markdown(review)
    assert "## ⛔ The release will refuse this change set" in markdown
    assert (
        "- `NetworkStack` (AWS::CloudFormation::Stack): a nested stack: its template (TemplateURL) and its "
        "changes are not in this change set"
    ) in markdown
    assert "The release stage of staging refuses any change set that has them" in markdown
    assert "(inline the nested stack)" in markdown
    assert "**⛔ CONTENT NOT SHOWN**" in markdown
    # An ordinary release says nothing of it.
    ordinary = review_of("release.json")
    assert ordinary.unshown == []
    assert "refuse" not in report.markdown(ordinary)


def test_the_refusal_leads_the_summary_and_survives_its_cut():
    page = hundreds_of_changes()[0]
    stack_set = _one_change("AWS::CloudFormation::StackSet")["Changes"][0]
    stack_set["ResourceChange"]["LogicalResourceId"] = (
        "RegionalReplicasOfTheApplicationInEveryAccountAndRegion"
    )
    page["Changes"].append(stack_set)
    summary = report.summary_line(report.load_review([page], environment="production"))
    assert summary.startswith(
        "production: ⛔ THE RELEASE WILL REFUSE THIS: it deploys what it does not show "
        "(RegionalReplicasOfTheApplicationInEveryAccountAndRegion); 101 changes"
    )
    # The names of what is replaced and removed gave way; the counts stayed.
    assert len(summary) <= report.SUMMARY_LIMIT and " replacement" in summary and " removal" in summary


# The same template in a YAML text (as GetTemplate returns a YAML template) and as JSON (the CLI
# hands a JSON template over parsed). Expected: literals, the types AWS documents as deploying
# another template (see UNSHOWN_TYPES' sources).
UNSHOWN_YAML = """AWSTemplateFormatVersion: '2010-09-09'
Description: mentions AWS::CloudFormation::Stack in passing, which is no resource
Resources:
  Queue:
    Type: AWS::SQS::Queue
  Network:
    Properties:
      TemplateURL: https://bucket.s3.amazonaws.com/network.yml
    Type: AWS::CloudFormation::Stack # nested
  "Regions":
    "Type": "AWS::CloudFormation::StackSet"
  Product: {Type: 'AWS::ServiceCatalog::CloudFormationProvisionedProduct', Properties: {}}
  Sam:
    Type: AWS::Serverless::Application
  # Old:
  #   Type: AWS::CloudFormation::Stack
  Migrations:
    Type: AWS::CloudFormation::CustomResource
  Bucket:
    Type: My::S3::SampleBucket::MODULE
"""
UNSHOWN_EXPECTED = [
    ("Network", "AWS::CloudFormation::Stack"),
    ("Product", "AWS::ServiceCatalog::CloudFormationProvisionedProduct"),
    ("Regions", "AWS::CloudFormation::StackSet"),
    ("Sam", "AWS::Serverless::Application"),
]


def test_the_template_names_what_the_change_set_does_not_show_whether_yaml_or_json():
    from_yaml = report.unshown_resources([], {"TemplateBody": UNSHOWN_YAML})
    assert [(u.logical_id, u.resource_type) for u in from_yaml] == UNSHOWN_EXPECTED
    resources = {
        "Queue": {"Type": "AWS::SQS::Queue"},
        "Network": {"Type": "AWS::CloudFormation::Stack", "Properties": {"TemplateURL": "https://x"}},
        "Regions": {"Type": "AWS::CloudFormation::StackSet"},
        "Product": {"Type": "AWS::ServiceCatalog::CloudFormationProvisionedProduct"},
        "Sam": {"Type": "AWS::Serverless::Application"},
        "Migrations": {"Type": "AWS::CloudFormation::CustomResource"},
        "Bucket": {"Type": "My::S3::SampleBucket::MODULE"},
    }
    for body in ({"Resources": resources}, json.dumps({"Resources": resources})):
        found = report.unshown_resources([], {"TemplateBody": body})
        assert [(u.logical_id, u.resource_type) for u in found] == UNSHOWN_EXPECTED


def test_a_resource_in_both_the_change_set_and_the_template_is_named_once():
    page = _one_change("AWS::CloudFormation::Stack")
    template = {"TemplateBody": "Resources:\n  Thing:\n    Type: AWS::CloudFormation::Stack\n"}
    assert [(u.logical_id, u.resource_type) for u in report.unshown_resources([page], template)] == [
        ("Thing", "AWS::CloudFormation::Stack")
    ]


def test_a_type_the_yaml_names_outside_a_mapping_key_still_counts():
    # Fail closed: a `Type:` whose owner the text does not tell is named "?", not skipped.
    found = report.unshown_resources([], {"TemplateBody": "Type: AWS::CloudFormation::Stack\n"})
    assert [(u.logical_id, u.resource_type) for u in found] == [("?", "AWS::CloudFormation::Stack")]


def test_a_module_s_resources_are_shown_with_the_module_they_come_from():
    """A module is resolved into its resources, which the change set lists (with ModuleInfo):
    they are shown, not refused."""
    page = _one_change("AWS::S3::Bucket", action="Add")
    page["Changes"][0]["ResourceChange"]["ModuleInfo"] = {
        "LogicalIdHierarchy": "MyBucket",
        "TypeHierarchy": "My::S3::SampleBucket::MODULE",
    }
    template = {"TemplateBody": "Resources:\n  MyBucket:\n    Type: My::S3::SampleBucket::MODULE\n"}
    review = report.load_review([page], environment="production", template=template)
    assert review.unshown == []
    assert (
        "| Add | `Thing` | AWS::S3::Bucket | from module MyBucket (My::S3::SampleBucket::MODULE) | — |"
        in report.markdown(review)
    )


# -- how the release reaches users: the environment's deployment, from the change set's parameters


# The example application template (YAML, short-form intrinsics), as GetTemplate returns it.
EXAMPLE_TEMPLATE = {"TemplateBody": (ROOT / "examples" / "infra-repo" / "stack.yml").read_text()}
CANARY_WITH_HOOK = {
    "DeploymentStrategy": "CANARY",
    "DeploymentBakeMinutes": "15",
    "CanaryPercent": "10.0",
    "CanaryBakeMinutes": "20",
    "DeploymentAlarmNames": "a",
    "TestHookFunctionArn": "arn:aws:lambda:eu-west-1:123456789012:function:hook",
    "TestHookRoleArn": "arn:aws:iam::123456789012:role/ecs-delivery/hook",
}
CANARY_CLAIMS = [
    "strategy: **canary**: 10.0% of production traffic for 20 minutes, then the rest at once; the current "
    "revision is kept for 15 minutes more (bake time)",
    "rolled back by ECS when any of these alarms is in ALARM during the deployment or its bake: `a`",
    "tested before production traffic: ECS runs `arn:aws:lambda:eu-west-1:123456789012:function:hook` once the "
    "test listener points at the new revision; a failing test rolls back before any user is sent to the new "
    "revision",
]


def _with_parameters(**values: str) -> dict:
    page = copy.deepcopy(fixture("release.json"))
    page["Parameters"] = [
        *page.get("Parameters", []),
        *({"ParameterKey": k, "ParameterValue": v} for k, v in values.items()),
    ]
    return page


def test_a_canary_states_its_steps_bake_times_alarms_hook_and_failure():
    hook = "arn:aws:lambda:eu-west-1:123456789012:function:hook-production-function-a1b2c3d"
    page = _with_parameters(
        DeploymentStrategy="CANARY",
        DeploymentBakeMinutes="15",
        CanaryPercent="10.0",
        CanaryBakeMinutes="20",
        DeploymentAlarmNames="todobackend-prod-target-5xx,todobackend-prod-latency",
        TestHookFunctionArn=hook,
        TestHookRoleArn="arn:aws:iam::123456789012:role/ecs-delivery/hook-production-invoke-role-a1b2c3d",
    )
    review = report.load_review(
        [page], environment="production", stack=fixture("stack.json"), template=EXAMPLE_TEMPLATE
    )
    text = report.markdown(review)
    assert (
        "## How the release reaches users\n\n"
        "- strategy: **canary**: 10.0% of production traffic for 20 minutes, then the rest at once; the current "
        "revision is kept for 15 minutes more (bake time)\n"
        "- rolled back by ECS when any of these alarms is in ALARM during the deployment or its bake: "
        "`todobackend-prod-target-5xx`, `todobackend-prod-latency`\n"
        f"- tested before production traffic: ECS runs `{hook}` once the test listener points at the new "
        "revision; a failing test rolls back before any user is sent to the new revision\n"
        "- the test's HookDetails, as the template gives them: "
        '`{"testUrl":{"Fn::Sub":"http://${LoadBalancer.DNSName}:8080"}}` (not checked to be the test listener)\n'
        "- on failure: ECS rolls the service back to the current revision; the stack update then fails and "
        "CloudFormation rolls the stack back, and this release stage fails\n"
        "- duration: CloudFormation waits for the whole deployment, bake included: at least 35 minutes\n"
    ) in text
    assert "<h2>How the release reaches users</h2>" in report.html_report(review)


@pytest.mark.parametrize(
    ("parameters", "expected"),
    [
        (
            {
                "DeploymentStrategy": "LINEAR",
                "DeploymentBakeMinutes": "10",
                "LinearStepPercent": "20.0",
                "LinearStepBakeMinutes": "5",
                "DeploymentAlarmNames": "",
            },
            [
                "strategy: **linear**: 20.0% more production traffic every 5 minutes (4 waits), then the current "
                "revision is kept for 10 minutes (bake time)",
                "**no deployment alarms**: nothing watches the new revision once traffic has moved",
                "**no test before production traffic** (no lifecycle hook)",
                "on failure: ECS rolls the service back to the current revision; the stack update then fails and "
                "CloudFormation rolls the stack back, and this release stage fails",
                "duration: CloudFormation waits for the whole deployment, bake included: at least 30 minutes",
            ],
        ),
        (
            {"DeploymentStrategy": "ROLLING", "DeploymentAlarmNames": "a", "TestHookFunctionArn": ""},
            [
                "strategy: **rolling update**: ECS replaces the tasks in place; there is no test listener",
                "rolled back by ECS when any of these alarms is in ALARM during the deployment or its bake: `a`",
                "on failure: ECS rolls the service back to the current revision; the stack update then fails and "
                "CloudFormation rolls the stack back, and this release stage fails",
            ],
        ),
        (
            {"DeploymentStrategy": "BLUE_GREEN", "DeploymentBakeMinutes": "1", "DeploymentAlarmNames": "a"},
            [
                "strategy: **blue/green**: the new revision starts beside the current one and gets the test "
                "listener, then all production traffic at once; the current revision is kept for 1 minute (bake "
                "time), then stopped",
                "rolled back by ECS when any of these alarms is in ALARM during the deployment or its bake: `a`",
                "**no test before production traffic** (no lifecycle hook)",
                "on failure: ECS rolls the service back to the current revision; the stack update then fails and "
                "CloudFormation rolls the stack back, and this release stage fails",
                "duration: CloudFormation waits for the whole deployment, bake included: at least 1 minute",
            ],
        ),
        ({}, []),
    ],
)
def test_each_strategy_is_stated_from_the_parameters(parameters, expected):
    assert report.deployment_facts(parameters, EXAMPLE_TEMPLATE) == expected


def test_a_template_without_a_deployment_gets_no_such_section():
    assert "How the release reaches users" not in report.markdown(review_of("release.json"))


def test_the_report_reads_the_parameters_the_program_sets():
    from components.config import DEPLOYMENT_PARAMETER_NAMES

    names = {
        report.STRATEGY_PARAMETER,
        report.BAKE_PARAMETER,
        report.ALARMS_PARAMETER,
        report.CANARY_PERCENT_PARAMETER,
        report.CANARY_BAKE_PARAMETER,
        report.STEP_PERCENT_PARAMETER,
        report.STEP_BAKE_PARAMETER,
        report.HOOK_FUNCTION_PARAMETER,
    }
    assert names <= set(DEPLOYMENT_PARAMETER_NAMES)
    # The report counts linear steps as the config does (the 33-hour check).
    from components.config import linear_steps

    assert [report.linear_steps(p) for p in (3, 10, 11, 20, 33.3, 100)] == [
        linear_steps(p) for p in (3, 10, 11, 20, 33.3, 100)
    ]


# -- the review vouches only for what the template plainly takes from the parameters (finding F2)


def _example_edited(*edits: tuple[str, str]) -> dict:
    text = EXAMPLE_TEMPLATE["TemplateBody"]
    for old, new in edits:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return {"TemplateBody": text}


NEVER_TRUE = ("\nConditions:\n", "\nConditions:\n  NeverTrue: !Equals [a, b]\n")
STRATEGY_DECIDED = (
    "Strategy: !Ref DeploymentStrategy",
    "Strategy: !If [NeverTrue, !Ref DeploymentStrategy, ROLLING]",
)
HOOK_DECIDED = ("LifecycleHooks: !If\n          - HasTestHook", "LifecycleHooks: !If\n          - NeverTrue")
DECIDES = (
    "⚠ **the template decides its own strategy / hook**: what follows is what the pipeline passed, not what "
    "ECS will do: "
)


def test_the_attacker_s_template_gets_a_warning_before_the_claims():
    template = _example_edited(NEVER_TRUE, STRATEGY_DECIDED, HOOK_DECIDED)
    facts = report.deployment_facts(CANARY_WITH_HOOK, template)
    assert facts[0] == (
        DECIDES + "`ApplicationService`: its Strategy is not `!Ref DeploymentStrategy` but "
        '`{"Fn::If":["NeverTrue",{"Ref":"DeploymentStrategy"},"ROLLING"]}`; `ApplicationService`: no lifecycle '
        "hook runs `!Ref TestHookFunctionArn` at POST_TEST_TRAFFIC_SHIFT with these parameters"
    )
    assert facts[1:4] == CANARY_CLAIMS
    page = _with_parameters(**CANARY_WITH_HOOK)
    text = report.markdown(report.load_review([page], environment="production", template=template))
    assert "## How the release reaches users\n\n- ⚠ **the template decides its own strategy / hook**" in text


@pytest.mark.parametrize(
    ("edits", "why"),
    [
        (
            [("Strategy: !Ref DeploymentStrategy", "Strategy: CANARY")],
            '`ApplicationService`: its Strategy is not `!Ref DeploymentStrategy` but `"CANARY"`',
        ),
        (
            [
                (
                    "HookTargetArn: !Ref TestHookFunctionArn",
                    "HookTargetArn: arn:aws:lambda:eu-west-1:1:function:ok",
                )
            ],
            "`ApplicationService`: no lifecycle hook runs `!Ref TestHookFunctionArn` at POST_TEST_TRAFFIC_SHIFT "
            "with these parameters",
        ),
        (
            [
                (
                    "LifecycleStages: [POST_TEST_TRAFFIC_SHIFT]",
                    "LifecycleStages: [POST_PRODUCTION_TRAFFIC_SHIFT]",
                )
            ],
            "`ApplicationService`: no lifecycle hook runs `!Ref TestHookFunctionArn` at POST_TEST_TRAFFIC_SHIFT "
            "with these parameters",
        ),
        (
            [
                ("  HasTestHook: !And\n", "  HasTestHook: !And\n    - !Condition IsProduction\n"),
            ],
            # Evaluated with the change set's values: Environment is not among them here.
            None,
        ),
        (
            [("- - HookTargetArn: !Ref TestHookFunctionArn", "- - HookTargetArn: !Ref TestHookFunctionArn")],
            "",
        ),
        # The times and alarms the review states must be the ones ECS gets (attacker review F-B).
        (
            [("CanaryPercent: !Ref CanaryPercent", "CanaryPercent: 100")],
            "`ApplicationService`: its CanaryConfiguration.CanaryPercent is not `!Ref CanaryPercent` but `100`",
        ),
        (
            [
                (
                    "BakeTimeInMinutes: !If [IsProgressive, !Ref DeploymentBakeMinutes, !Ref AWS::NoValue]",
                    "BakeTimeInMinutes: 0",
                )
            ],
            "`ApplicationService`: its BakeTimeInMinutes is not `!Ref DeploymentBakeMinutes` but `0`",
        ),
        (
            [
                (
                    "            Enable: true\n            Rollback: true\n          - !Ref AWS::NoValue\n        # Tested",
                    "            Enable: false\n            Rollback: true\n          - !Ref AWS::NoValue\n        # Tested",
                )
            ],
            "`ApplicationService`: its Alarms.Enable is not true",
        ),
        # ECS runs its strategies and hooks with its own deployment controller only (F-A).
        (
            [
                (
                    "    Properties:\n      Cluster: !Ref ApplicationCluster",
                    "    Properties:\n      DeploymentController: {Type: EXTERNAL}\n      Cluster: !Ref ApplicationCluster",
                )
            ],
            '`ApplicationService`: its DeploymentController is `{"Type":"EXTERNAL"}`, not ECS',
        ),
        # A decoy: the reviewed service is never created (F-C).
        (
            [
                NEVER_TRUE,
                (
                    "    Type: AWS::ECS::Service\n    DependsOn:",
                    "    Type: AWS::ECS::Service\n    Condition: NeverTrue\n    DependsOn:",
                ),
            ],
            "no AWS::ECS::Service of the template is created with these parameters",
        ),
    ],
)
def test_each_way_a_template_can_decide_itself_is_named(edits, why):
    facts = report.deployment_facts(CANARY_WITH_HOOK, _example_edited(*edits))
    if why is None:
        assert facts[0] == (
            "⚠ **could not verify** that the template applies the strategy and the hook (`ApplicationService`: "
            "its LifecycleHooks depend on the condition `HasTestHook`, which the review cannot evaluate): what "
            "follows is what the pipeline passed, not necessarily what ECS will do"
        )
    elif why:
        assert facts[0] == DECIDES + why
    else:
        assert facts[:3] == CANARY_CLAIMS


def test_a_condition_the_parameters_make_false_leaves_the_hook_out():
    # The example's own condition: no role, no hook, whatever the function parameter says.
    facts = report.deployment_facts({**CANARY_WITH_HOOK, "TestHookRoleArn": ""}, EXAMPLE_TEMPLATE)
    assert facts[0] == (
        DECIDES + "`ApplicationService`: no lifecycle hook runs `!Ref TestHookFunctionArn` at "
        "POST_TEST_TRAFFIC_SHIFT with these parameters"
    )


def test_a_template_given_twice_the_same_key_is_not_vouched_for():
    template = _example_edited(
        (
            "        Strategy: !Ref DeploymentStrategy\n",
            "        Strategy: !Ref DeploymentStrategy\n        Strategy: ROLLING\n",
        )
    )
    assert report.deployment_facts(CANARY_WITH_HOOK, template)[0] == (
        "⚠ **could not verify** that the template applies the strategy and the hook (the YAML template does not "
        "parse (key given twice: Strategy)): what follows is what the pipeline passed, not necessarily what ECS "
        "will do"
    )


def test_a_json_template_is_read_as_such():
    body, _ = report.template_body(EXAMPLE_TEMPLATE)
    assert report.deployment_facts(CANARY_WITH_HOOK, {"TemplateBody": body})[:3] == CANARY_CLAIMS
    body["Resources"]["ApplicationService"]["Properties"]["DeploymentConfiguration"]["Strategy"] = "LINEAR"
    assert report.deployment_facts(CANARY_WITH_HOOK, {"TemplateBody": json.dumps(body)})[0] == (
        DECIDES + '`ApplicationService`: its Strategy is not `!Ref DeploymentStrategy` but `"LINEAR"`'
    )


@pytest.mark.parametrize(
    ("template", "why"),
    [
        (None, "the change set's template was not given to the review"),
        ("no yaml parser", "YAML template, and this image has no YAML parser"),
    ],
)
def test_what_the_review_cannot_read_it_says_it_could_not_verify(monkeypatch, template, why):
    if template == "no yaml parser":
        monkeypatch.setattr(report, "yaml", None)
        template = EXAMPLE_TEMPLATE
    facts = report.deployment_facts(CANARY_WITH_HOOK, template)
    assert facts[0] == (
        f"⚠ **could not verify** that the template applies the strategy and the hook ({why}): what follows is "
        "what the pipeline passed, not necessarily what ECS will do"
    )
    assert facts[1:4] == CANARY_CLAIMS


def test_a_template_without_a_service_decides_nothing_the_parameters_say():
    template = {"TemplateBody": {"Resources": {"Queue": {"Type": "AWS::SQS::Queue"}}}}
    assert report.deployment_facts(CANARY_WITH_HOOK, template)[0] == (
        DECIDES + "the template declares no AWS::ECS::Service to take the strategy"
    )


@pytest.mark.parametrize(
    ("edit", "transform"),
    [
        (
            ("AWSTemplateFormatVersion", "Transform: AWS::LanguageExtensions\nAWSTemplateFormatVersion"),
            'Transform "AWS::LanguageExtensions"',
        ),
        (
            ("AWSTemplateFormatVersion", "Transform: [MakeItRolling]\nAWSTemplateFormatVersion"),
            'Transform ["MakeItRolling"]',
        ),
    ],
)
def test_a_template_that_runs_a_transform_is_not_vouched_for(edit, transform):
    # CloudFormation deploys the processed template: a macro or Fn::ForEach can declare the real
    # service beside a decoy the review would read (attacker review F-C).
    facts = report.deployment_facts(CANARY_WITH_HOOK, _example_edited(edit))
    assert facts[0] == (
        "⚠ **could not verify** that the template applies the strategy and the hook (the template runs "
        f"{transform}: CloudFormation deploys the processed template, and the review reads the one as "
        "written): what follows is what the pipeline passed, not necessarily what ECS will do"
    )
