"""Render a recorded resource set as `pipeline.md`: what a reviewer wants to see of the
delivery system — the pipeline as a Mermaid diagram and tables, the IAM permissions per
role, the boundaries, who may approve, the CodeBuild settings, the stores (and who may write
them) and the stack outputs.

Input is the `resources.json` shape (`type`, `name`, `parent`, `inputs`, `outputs`), so the
renderer is a pure function of data and can be tested on a hand-written resource set.
Values written `⟨...⟩` exist only after deployment and are shown as such.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable
from typing import Any, Optional

PIPELINE = "aws:codepipeline/pipeline:Pipeline"
PROJECT = "aws:codebuild/project:Project"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
MANAGED_POLICY = "aws:iam/policy:Policy"
PULL_THROUGH_CACHE_RULE = "aws:ecr/pullThroughCacheRule:PullThroughCacheRule"
TOPIC = "aws:sns/topic:Topic"
SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"
NOTIFICATION_RULE = "aws:codestarnotifications/notificationRule:NotificationRule"
REPOSITORY = "aws:ecr/repository:Repository"
LIFECYCLE = "aws:ecr/lifecyclePolicy:LifecyclePolicy"
BUCKET = "aws:s3/bucket:Bucket"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
REPOSITORY_POLICY = "aws:ecr/repositoryPolicy:RepositoryPolicy"
TABLE = "aws:dynamodb/table:Table"
TABLE_POLICY = "aws:dynamodb/resourcePolicy:ResourcePolicy"
USER_ATTACHMENT = "aws:iam/userPolicyAttachment:UserPolicyAttachment"
GROUP_ATTACHMENT = "aws:iam/groupPolicyAttachment:GroupPolicyAttachment"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
# How the program tags a permissions boundary (components/deploy_role.py): the renderer is
# a pure function of recorded data and does not import the program.
BOUNDARY_TAG_KEY, BOUNDARY_TAG_VALUE = "ecs-delivery:use", "permissions-boundary"

LEGEND = (
    "Values written `⟨…⟩` are known only after deployment (account id, generated name suffixes, digests)."
)


def _of(resources: Iterable[dict[str, Any]], typ: str) -> list[dict[str, Any]]:
    # By name, not by declaration: Pulumi registers a program's resources concurrently, so
    # their order differs from run to run, and the review a pull request shows must not.
    return sorted((r for r in resources if r["type"] == typ), key=lambda r: r["name"])


def _cell(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        text = "<br>".join(f"`{v}`" for v in value) if value else "—"
    elif value is None or value == "":
        text = "—"
    elif isinstance(value, bool):
        text = "yes" if value else "no"
    elif isinstance(value, (dict,)):
        text = f"`{json.dumps(value, sort_keys=True, ensure_ascii=False)}`"
    else:
        text = str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return lines


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _mode(action: dict[str, Any]) -> str:
    configuration = action.get("configuration") or {}
    if action.get("provider") == "Manual":
        return "manual approval"
    return configuration.get("ActionMode", "—")


def _mermaid_label(*parts: str) -> str:
    return "<br/>".join(p.replace('"', "'") for p in parts if p)


# Stage condition kinds as the pipeline inputs name them, with how they read.
CONDITION_KINDS = (("beforeEntry", "entry"), ("onSuccess", "on success"), ("onFailure", "on failure"))


def stage_conditions(stage: dict[str, Any]) -> list[tuple[str, str, list[dict[str, Any]], str]]:
    """(kind, result, rules, retry mode) of each condition a stage declares."""
    found = []
    for key, kind in CONDITION_KINDS:
        block = stage.get(key)
        if not block:
            continue
        condition = block.get("condition") or {}
        result = condition.get("result") or block.get("result") or "—"
        retry = (block.get("retryConfiguration") or {}).get("retryMode", "")
        found.append((kind, result, condition.get("rules") or [], retry))
    return found


def _condition_label(kind: str, result: str, rules: list[dict[str, Any]], retry: str) -> str:
    providers = [rule["ruleTypeId"]["provider"] for rule in rules]
    what = ", ".join(
        f"{p} ×{providers.count(p)}" if providers.count(p) > 1 else p for p in dict.fromkeys(providers)
    )
    outcome = f"{result} {retry}".strip()
    if kind == "entry":
        return _mermaid_label(f"entry: {what}", f"else {outcome}")
    if kind == "on success":
        return _mermaid_label(f"on success: {what}", f"fails → {outcome}")
    return _mermaid_label(f"on failure: {outcome}", what)


def stage_account(stage: dict[str, Any]) -> str | None:
    """The other account a stage deploys to: the account of the role its actions run as
    (only actions in another account have one)."""
    for action in stage.get("actions") or []:
        if action.get("roleArn"):
            return action["roleArn"].split(":")[4]
    return None


def mermaid(stages: list[dict[str, Any]]) -> list[str]:
    """Stages as subgraphs in one row, actions inside them chained by run order, and each
    artifact drawn from the action that produces it to the first action that reads it:
    with every reader drawn, edges from Source and Build would cross every environment
    (all readers are listed in the artifact table under the diagram)."""
    lines = ["```mermaid", "flowchart LR"]
    producers: dict[str, str] = {}
    drawn: set[str] = set()
    artifact_edges: list[str] = []
    for s_index, stage in enumerate(stages):
        stage_id = f"S{s_index}"
        account = stage_account(stage)
        title = f"{stage['name']} · account {account}" if account else stage["name"]
        lines.append(f'  subgraph {stage_id}["{title}"]')
        lines.append("    direction LR")
        actions = sorted(stage["actions"], key=lambda a: int(a.get("runOrder", 1)))
        ids = []
        for a_index, action in enumerate(actions):
            node = f"{stage_id}A{a_index}"
            ids.append((node, int(action.get("runOrder", 1))))
            mode = _mode(action) if action["provider"] not in ("Manual",) and _mode(action) != "—" else ""
            label = _mermaid_label(action["name"], action["provider"], mode)
            shape = ('{{"', '"}}') if action["provider"] == "Manual" else ('["', '"]')
            lines.append(f"    {node}{shape[0]}{label}{shape[1]}")
            for artifact in _as_list(action.get("inputArtifacts")):
                if artifact in producers and artifact not in drawn:
                    artifact_edges.append(f"  {producers[artifact]} -. {artifact} .-> {node}")
                    drawn.add(artifact)
            for artifact in _as_list(action.get("outputArtifacts")):
                producers[artifact] = node
        # Actions with a higher run order wait for every action with the previous one.
        orders = sorted({order for _, order in ids})
        for before, after in itertools.pairwise(orders):
            for node_a, order_a in ids:
                for node_b, order_b in ids:
                    if order_a == before and order_b == after:
                        lines.append(f"    {node_a} --> {node_b}")
        # Conditions: the entry gate before the first actions, success and failure
        # conditions after the last ones.
        first = [node for node, order in ids if order == orders[0]] if orders else []
        last = [node for node, order in ids if order == orders[-1]] if orders else []
        for kind, result, rules, retry in stage_conditions(stage):
            node = f"{stage_id}{kind.replace(' ', '_').upper()}"
            lines.append(f'    {node}(["{_condition_label(kind, result, rules, retry)}"])')
            if kind == "entry":
                lines += [f"    {node} -.-> {target}" for target in first]
            else:
                lines += [f"    {source} -.-> {node}" for source in last]
        lines.append("  end")
    for s_index in range(len(stages) - 1):
        lines.append(f"  S{s_index} ==> S{s_index + 1}")
    lines += artifact_edges
    lines.append("```")
    return lines


def artifact_table(stages: list[dict[str, Any]]) -> list[str]:
    """Every artifact with the action that produces it and every action that reads it."""
    produced: dict[str, str] = {}
    readers: dict[str, list[str]] = {}
    for stage in stages:
        for action in stage["actions"]:
            where = f"{stage['name']} / {action['name']}"
            for artifact in _as_list(action.get("outputArtifacts")):
                produced[artifact] = where
            for artifact in _as_list(action.get("inputArtifacts")):
                readers.setdefault(artifact, []).append(where)
    rows = [[artifact, producer, readers.get(artifact, [])] for artifact, producer in produced.items()]
    return _table(["artifact", "produced by", "read by"], rows)


def _pipeline_section(pipeline: dict[str, Any]) -> list[str]:
    inputs = pipeline["inputs"]
    stages = inputs.get("stages") or []
    out = [
        f"## Pipeline `{inputs.get('name') or pipeline.get('outputs', {}).get('name') or pipeline['name']}`",
        "",
        f"Type **{inputs.get('pipelineType', 'V1')}**, "
        f"execution mode **{inputs.get('executionMode', 'SUPERSEDED')}**, "
        + (
            "artifact stores "
            + ", ".join(f"`{store['location']}` ({store['region']})" for store in inputs["artifactStores"])
            + " (one per region it acts in)."
            if len(inputs.get("artifactStores") or []) > 1
            else f"artifact store `{(inputs.get('artifactStores') or [{}])[0].get('location', '—')}`."
        ),
        "",
        *mermaid(stages),
        "",
        *artifact_table(stages),
        "",
    ]
    for stage in stages:
        out += [f"### Stage `{stage['name']}`", ""]
        account = stage_account(stage)
        if account:
            role = next(a["roleArn"] for a in stage["actions"] if a.get("roleArn"))
            out += [
                f"Deploys to account **{account}**: its CloudFormation actions run as `{role}`; "
                "the other actions run in the pipeline's account.",
                "",
            ]
        regions = sorted({a["region"] for a in stage["actions"] if a.get("region")})
        if regions:
            out += [
                f"Deploys in region **{', '.join(regions)}**: its CloudFormation actions run there; "
                "the other actions run in the pipeline's region.",
                "",
            ]
        rows = []
        for action in sorted(stage["actions"], key=lambda a: int(a.get("runOrder", 1))):
            configuration = action.get("configuration") or {}
            flow = (
                (", ".join(_as_list(action.get("inputArtifacts"))) or "—")
                + " → "
                + (", ".join(_as_list(action.get("outputArtifacts"))) or "—")
            )
            rows.append(
                [
                    int(action.get("runOrder", 1)),
                    action["name"],
                    f"{action['category']} / {action['provider']}",
                    _mode(action),
                    configuration.get("StackName")
                    or configuration.get("FullRepositoryId")
                    or configuration.get("ProjectName"),
                    flow,
                ]
            )
        out += _table(
            ["run order", "action", "provider", "mode", "stack / repo / project", "inputs → outputs"], rows
        )
        conditions = stage_conditions(stage)
        if conditions:
            condition_rows = []
            for kind, result, rules, retry in conditions:
                outcome = f"{result} ({retry})" if retry else result
                if not rules:
                    condition_rows.append([kind, outcome, "—", "—", "—"])
                for rule in rules:
                    configuration = ", ".join(
                        f"{k}={v}" for k, v in sorted((rule.get("configuration") or {}).items())
                    )
                    condition_rows.append(
                        [kind, outcome, rule["name"], rule["ruleTypeId"]["provider"], configuration]
                    )
            out += [
                "",
                "Conditions:",
                "",
                *_table(["when", "result", "rule", "provider", "configuration"], condition_rows),
            ]
        out += ["", "<details><summary>configuration</summary>", ""]
        for action in stage["actions"]:
            configuration = dict(sorted((action.get("configuration") or {}).items()))
            out += [
                f"**{action['name']}**",
                "",
                "```json",
                json.dumps(configuration, indent=2, ensure_ascii=False),
                "```",
                "",
            ]
        out += ["</details>", ""]
    triggers = inputs.get("triggers") or []
    if triggers:
        out += ["### Triggers", ""]
        rows = []
        for trigger in triggers:
            git = trigger.get("gitConfiguration", {})
            for push in git.get("pushes", []):
                rows.append(
                    [git.get("sourceActionName"), "push", (push.get("branches") or {}).get("includes")]
                )
        out += [*_table(["source action", "event", "branches"], rows), ""]
    return out


def _role_section(resources: list[dict[str, Any]]) -> list[str]:
    out = ["## IAM permissions per role", ""]
    for role in sorted(_of(resources, ROLE), key=lambda r: r["name"]):
        role_name = role.get("outputs", {}).get("name", role["name"])
        out += [f"### `{role['name']}` — {role['inputs'].get('description', '')}", ""]
        trust = json.loads(role["inputs"].get("assumeRolePolicy") or "{}")
        for statement in trust.get("Statement", []):
            principal = statement.get("Principal", {}).get("Service")
            condition = statement.get("Condition")
            out.append(f"Trusted by `{principal}`" + (f" when {_cell(condition)}" if condition else "") + ".")
        boundary = role["inputs"].get("permissionsBoundary")
        if boundary:
            out.append(f"Permissions boundary: `{boundary}`.")
        managed = [
            a["inputs"].get("policyArn")
            for a in _of(resources, ATTACHMENT)
            if a["inputs"].get("role") in (role_name, role["name"])
        ]
        if managed:
            out.append("Managed policies: " + ", ".join(f"`{m}`" for m in sorted(managed)) + ".")
        out.append("")
        rows = []
        for policy in _of(resources, ROLE_POLICY):
            if policy["inputs"].get("role") not in (role_name, role["name"]):
                continue
            rows += [
                _statement_row(s)
                for s in json.loads(policy["inputs"].get("policy") or "{}").get("Statement", [])
            ]
        if rows:
            out += _table(["statement", "effect", "actions", "resources", "condition"], rows)
        out.append("")
    return out


def _boundary_section(resources: list[dict[str, Any]]) -> list[str]:
    """The ceilings of the roles the application stacks create (one per environment)."""
    boundaries = sorted(
        (p for p in _of(resources, MANAGED_POLICY) if _is_boundary(p)), key=lambda r: r["name"]
    )
    if not boundaries:
        return []
    out = [
        "## Permissions boundaries of the stacks' roles",
        "",
        "Every role an environment's stack creates must carry its boundary: at most what is",
        "allowed here, whatever policies the template gives the role.",
        "",
    ]
    for boundary in boundaries:
        arn = boundary.get("outputs", {}).get("arn", boundary["name"])
        out += [f"### `{boundary['name']}` — {boundary['inputs'].get('description', '')}", "", f"`{arn}`", ""]
        rows = [
            _statement_row(s)
            for s in json.loads(boundary["inputs"].get("policy") or "{}").get("Statement", [])
        ]
        out += [*_table(["statement", "effect", "actions", "resources", "condition"], rows), ""]
    return out


def _statement_row(statement: dict[str, Any]) -> list[Any]:
    actions = _as_list(statement.get("Action"))
    if "NotAction" in statement:
        actions = ["everything except:", *_as_list(statement["NotAction"])]
    return [
        statement.get("Sid"),
        statement.get("Effect"),
        actions,
        _as_list(statement.get("Resource")),
        statement.get("Condition"),
    ]


def _is_boundary(policy: dict[str, Any]) -> bool:
    return (policy["inputs"].get("tags") or {}).get(BOUNDARY_TAG_KEY) == BOUNDARY_TAG_VALUE


def _approvers_section(resources: list[dict[str, Any]]) -> list[str]:
    """Who may answer each gated environment's approval: the policy and whom it is attached to."""
    policies = sorted(
        (p for p in _of(resources, MANAGED_POLICY) if not _is_boundary(p)), key=lambda r: r["name"]
    )
    if not policies:
        return []
    out = [
        "## Who may approve",
        "",
        "Each gated environment's approval may be answered by the principals its policy is attached",
        "to; the release's confirm refuses a release approved by anyone else.",
        "",
    ]
    for policy in policies:
        arn = policy.get("outputs", {}).get("arn", policy["name"])
        holders = [
            f"{kind} `{a['inputs'].get(kind)}`"
            for a in resources
            if a["type"] in (ATTACHMENT, USER_ATTACHMENT, GROUP_ATTACHMENT)
            and a["inputs"].get("policyArn") == arn
            for kind in ("role", "user", "group")
            if a["inputs"].get(kind)
        ]
        out += [f"### `{policy['name']}` — {policy['inputs'].get('description', '')}", "", f"`{arn}`", ""]
        out.append(
            "Attached to: "
            + (", ".join(sorted(holders)) if holders else "nobody (grant it through a permission set)")
            + "."
        )
        out.append("")
        rows = [
            _statement_row(s) for s in json.loads(policy["inputs"].get("policy") or "{}").get("Statement", [])
        ]
        out += [*_table(["statement", "effect", "actions", "resources", "condition"], rows), ""]
    return out


def _writers(policy: Optional[dict[str, Any]], *, deleting: bool = False) -> list[str]:
    """Who a store's resource policy lets write (or, `deleting`, delete): the principals its
    first such Deny exempts, if it refuses others. The statements say which they guard in their
    Sid ("...Deletes..." for deleting; components/iam_policies.py names them)."""
    if policy is None:
        return ["anyone IAM allows"]
    for statement in json.loads(policy["inputs"].get("policy") or "{}").get("Statement", []):
        if (
            statement.get("Effect") == "Deny"
            and "ArnNotLike" in (statement.get("Condition") or {})
            and ("Delete" in statement.get("Sid", "")) == deleting
        ):
            return _as_list(statement["Condition"]["ArnNotLike"]["aws:PrincipalArn"])
    return ["anyone IAM allows"]


def _inline_buildspec(buildspec: Any) -> dict[str, Any] | None:
    """The parsed buildspec when the project carries it inline (JSON here), else None."""
    if not isinstance(buildspec, str) or "\n" not in buildspec:
        return None
    try:
        parsed = json.loads(buildspec)
    except json.JSONDecodeError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _notifications_section(resources: list[dict[str, Any]]) -> list[str]:
    topics = _of(resources, TOPIC)
    if not topics:
        return []
    out = ["## Notifications", ""]
    for topic in topics:
        out.append(f"SNS topic `{topic.get('outputs', {}).get('arn', topic['name'])}`.")
    subscriptions = _of(resources, SUBSCRIPTION)
    if subscriptions:
        out += [
            "",
            *_table(
                ["subscription", "protocol", "endpoint"],
                [
                    [s["name"], s["inputs"].get("protocol"), s["inputs"].get("endpoint")]
                    for s in subscriptions
                ],
            ),
        ]
    for rule in _of(resources, NOTIFICATION_RULE):
        inputs = rule["inputs"]
        out += [
            "",
            f"Notification rule `{inputs.get('name', rule['name'])}` ({inputs.get('detailType')}) sends:",
            "",
            *(f"- `{event}`" for event in inputs.get("eventTypeIds") or []),
        ]
    return [*out, ""]


def _codebuild_section(resources: list[dict[str, Any]]) -> list[str]:
    out = []
    for project in _of(resources, PROJECT):
        inputs = project["inputs"]
        environment = inputs.get("environment") or {}
        source = inputs.get("source") or {}
        logs = ((inputs.get("logsConfig") or {}).get("cloudwatchLogs") or {}).get("groupName")
        retention = next(
            (
                g["inputs"].get("retentionInDays")
                for g in _of(resources, LOG_GROUP)
                if g["inputs"].get("name") == logs
            ),
            None,
        )
        out += [f"## CodeBuild project `{inputs.get('name', project['name'])}`", ""]
        out += _table(
            ["setting", "value"],
            [
                ["image", environment.get("image")],
                ["image pull credentials", environment.get("imagePullCredentialsType")],
                ["privileged mode", bool(environment.get("privilegedMode"))],
                ["environment type", environment.get("type")],
                ["compute type", environment.get("computeType")],
                [
                    "cache",
                    ", ".join((inputs.get("cache") or {}).get("modes") or [])
                    or (inputs.get("cache") or {}).get("type", "NO_CACHE"),
                ],
                [
                    "timeout (minutes)",
                    inputs.get("buildTimeout")
                    # Lambda compute takes no timeout; its builds stop at 15 minutes (AWS,
                    # "Run builds on AWS Lambda compute", Limitations).
                    or ("15 at most (Lambda compute)" if "LAMBDA" in str(environment.get("type")) else None),
                ],
                [
                    "source / buildspec",
                    f"{source.get('type')} / "
                    + (
                        "inline, below"
                        if _inline_buildspec(source.get("buildspec"))
                        else f"{source.get('buildspec')}"
                    ),
                ],
                ["log group", f"{logs} ({retention} days)" if retention else logs],
            ],
        )
        inline = _inline_buildspec(source.get("buildspec"))
        if inline:
            out += ["", "Inline buildspec: its commands, run in one shell in this order:", "", "```bash"]
            for phase, spec in (inline.get("phases") or {}).items():
                out.append(f"# {phase}")
                out += [*(spec.get("commands") or []), ""]
            out[-1:] = ["```"]
            exported = (inline.get("env") or {}).get("exported-variables")
            if exported:
                out += ["", "Exported variables: " + ", ".join(f"`{v}`" for v in exported) + "."]
        variables = environment.get("environmentVariables") or []
        if variables:
            out += [
                "",
                *_table(
                    ["environment variable", "value", "type"],
                    [[v["name"], v["value"], v.get("type", "PLAINTEXT")] for v in variables],
                ),
            ]
        out.append("")
    rules = _of(resources, PULL_THROUGH_CACHE_RULE)
    if rules:
        out += ["## Docker Hub through ECR (pull-through cache)", ""]
        out += _table(
            ["repository prefix", "upstream", "credentials"],
            [
                [
                    r["inputs"].get("ecrRepositoryPrefix"),
                    r["inputs"].get("upstreamRegistryUrl"),
                    r["inputs"].get("credentialArn"),
                ]
                for r in rules
            ],
        )
        out.append("")
    return out


def _bucket_hardening(resources: list[dict[str, Any]], bucket: dict[str, Any]) -> list[str]:
    """What the bucket's sibling resources (same component) do to it, in words."""
    facts = []
    for sibling in (r for r in resources if r.get("parent") == bucket.get("parent") and r is not bucket):
        inputs = sibling["inputs"]
        kind = sibling["type"].split(":")[-1]
        if kind == "BucketServerSideEncryptionConfiguration":
            for rule in inputs.get("rules", []):
                default = rule.get("applyServerSideEncryptionByDefault", {})
                key = default.get("kmsMasterKeyId")
                facts.append(f"encryption {default.get('sseAlgorithm')}" + (f" ({key})" if key else ""))
        elif kind == "BucketVersioning":
            facts.append(f"versioning {inputs.get('versioningConfiguration', {}).get('status')}")
        elif kind == "BucketPublicAccessBlock":
            flags = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
            blocked = all(inputs.get(f) for f in flags)
            facts.append("public access blocked" if blocked else "public access NOT fully blocked")
        elif kind == "BucketOwnershipControls":
            facts.append(f"ownership {inputs.get('rule', {}).get('objectOwnership')}")
        elif kind == "BucketLifecycleConfiguration":
            for rule in inputs.get("rules", []):
                days = (rule.get("expiration") or {}).get("days")
                facts.append(f"objects expire after {days} days")
        elif kind == "BucketPolicy":
            sids = [s.get("Sid") for s in json.loads(inputs.get("policy") or "{}").get("Statement", [])]
            if "DenyInsecureTransport" in sids:
                facts.append("TLS-only policy")
    return sorted(facts)


def _stores_section(resources: list[dict[str, Any]]) -> list[str]:
    out = ["## Stores", ""]
    rows = []
    lifecycles = {r["parent"]: r for r in _of(resources, LIFECYCLE)}
    repository_policies = {r["parent"]: r for r in _of(resources, REPOSITORY_POLICY)}
    bucket_policies = {r["parent"]: r for r in _of(resources, BUCKET_POLICY)}
    for repo in _of(resources, REPOSITORY):
        inputs = repo["inputs"]
        lifecycle = lifecycles.get(repo["parent"])
        rules = json.loads(lifecycle["inputs"]["policy"])["rules"] if lifecycle else []
        rows.append(
            [
                f"ECR `{inputs.get('name')}`",
                "scan on push"
                if (inputs.get("imageScanningConfiguration") or {}).get("scanOnPush")
                else "no scan",
                inputs.get("imageTagMutability"),
                [r.get("description") for r in rules],
                _writers(repository_policies.get(repo["parent"])),
                _writers(repository_policies.get(repo["parent"]), deleting=True),
                "protected"
                if repo.get("protect")
                else ("force-delete" if inputs.get("forceDelete") else "—"),
            ]
        )
    for bucket in _of(resources, BUCKET):
        rows.append(
            [
                f"S3 `{bucket.get('outputs', {}).get('bucket', bucket['name'])}`",
                "",
                "",
                _bucket_hardening(resources, bucket),
                _writers(bucket_policies.get(bucket["parent"])),
                _writers(bucket_policies.get(bucket["parent"]), deleting=True),
                "protected"
                if bucket.get("protect")
                else ("force-destroy" if bucket["inputs"].get("forceDestroy") else "—"),
            ]
        )
    table_policies = {r["parent"]: r for r in _of(resources, TABLE_POLICY)}
    for table in _of(resources, TABLE):
        rows.append(
            [
                f"DynamoDB `{table['inputs'].get('name', table['name'])}`",
                "",
                "",
                ["point-in-time recovery"]
                if (table["inputs"].get("pointInTimeRecovery") or {}).get("enabled")
                else [],
                _writers(table_policies.get(table["parent"])),
                _writers(table_policies.get(table["parent"]), deleting=True),
                "protected" if table.get("protect") else "—",
            ]
        )
    out += _table(
        ["store", "scanning", "tags", "lifecycle / hardening", "writers", "may delete", "deletion"], rows
    )
    return [*out, ""]


def render_markdown(stack: str, resources: list[dict[str, Any]], outputs: dict[str, Any]) -> str:
    lines = [
        f"# ecs-delivery — stack `{stack}`",
        "",
        "Rendered offline by `make synth` from the program run under mocks: no AWS, no Pulumi CLI.",
        LEGEND,
        "",
    ]
    for pipeline in _of(resources, PIPELINE):
        lines += _pipeline_section(pipeline)
    lines += _role_section(resources)
    lines += _boundary_section(resources)
    lines += _approvers_section(resources)
    lines += _codebuild_section(resources)
    lines += _notifications_section(resources)
    lines += _stores_section(resources)
    lines += ["## Stack outputs", ""]
    lines += _table(["output", "value"], [[k, outputs[k]] for k in sorted(outputs)])
    counts: dict[str, int] = {}
    for resource in resources:
        counts[resource["type"]] = counts.get(resource["type"], 0) + 1
    lines += ["", "## All resources", ""]
    lines += _table(["type", "count"], [[f"`{t}`", n] for t, n in sorted(counts.items())])
    return "\n".join(lines) + "\n"
