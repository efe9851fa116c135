"""Every AWS API call the real AWS provider makes to create, update and delete what the program
declares in a target account, recorded against a local AWS emulator.

pulumi-aws is a bridge over the Terraform AWS provider: the calls `pulumi up` makes in a target
account are that provider's. This runs the provider itself (Terraform with the hashicorp/aws
mirror, as `make preflight` does) on the resources the program declares through the account's
provider (under the recording mocks), with its IAM and STS endpoints pointed at moto's server
on the loopback address, through three phases:

- `create`: the first apply;
- `update`: every input the program computes from other resources or from names in config
  changed (policy documents, trust policies, role descriptions, a Lambda function's code) and
  applied again, after each
  managed policy was given four more versions behind the provider's back, so the update meets
  IAM's limit of five versions and the provider prunes the oldest, as the sixth `pulumi up`
  that changes a boundary would (IAM User Guide, "Versioning IAM policies");
- `delete`: `terraform destroy`.

Each request is written down as it reaches the emulator (service, action, parameters, HTTP
status). moto answers what a call returns; it does not decide what IAM would allow here (its
authorization ignores the Resource and most Condition elements), so the recording is evaluated
against a policy elsewhere (tests/test_bootstrap_policy_provider.py, with principalmapper).

What it cannot show: the calls of provider versions other than the mirror's (pulumi-aws 7
bridges the provider's v6 line; the mirror here is v5), of code paths moto does not reach
(throttling retries, eventual-consistency waits that moto never triggers), and of a
`pulumi refresh` or `import` beyond the reads Terraform makes on every apply.

    python -m offline.provider_calls STACK [--account ID] [--stacks-dir DIR]

prints the calls, one line each: phase, action, the resource it names.
"""

from __future__ import annotations

import argparse
import base64
import copy
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional
from urllib.parse import parse_qs

from components.iam_policies import Request
from offline import preflight
from offline.mocks import RecordedResource, RecordingMocks
from offline.program import PROJECT_DIR, load_stack_config, run_program

PHASES = ("create", "update", "delete")
# IAM keeps at most five versions of a managed policy (IAM User Guide, "Versioning IAM
# policies"): one from the create, four more seeded, so the update must prune one.
SEEDED_VERSIONS = 4
# Where the provider updates a description in place; on an aws_iam_policy a new description
# replaces the policy (delete and create, calls the other phases make anyway).
DESCRIPTION_IN_PLACE = ("aws_iam_role",)


@dataclass(frozen=True)
class Call:
    phase: str
    service: str
    action: str
    """`service:Operation`, as IAM names the permission (iam:CreateRole)."""
    params: dict[str, str]
    status: int


# -- what is declared in an account -----------------------------------------------------------
def account_of(mocks: RecordingMocks, resource: RecordedResource) -> Optional[str]:
    """The account a resource is declared in through an explicit provider, or None for the
    default provider (the pipeline's account)."""
    if not resource.provider:
        return None
    return mocks.provider_accounts.get(resource.provider.rpartition("::")[2])


def target_accounts(mocks: RecordingMocks) -> list[str]:
    return sorted(set(mocks.provider_accounts.values()))


def account_resources(mocks: RecordingMocks, account: str) -> list[RecordedResource]:
    """The AWS resources the program declares through `account`'s provider."""
    return [
        r
        for r in mocks.resources
        if r.custom and r.type.startswith("aws:") and account_of(mocks, r) == account
    ]


# -- the Terraform document ---------------------------------------------------------------------
def local_name(resource: RecordedResource) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", resource.name)


def terraform_resources(
    resources: list[RecordedResource], schema: dict[str, Any], archives: Optional[Path] = None
) -> dict[str, Any]:
    """The resources as Terraform JSON: the inputs translated as `make preflight` does, the
    physical names the program's auto-naming gave them (from the mocks), and the order the
    engine creates them in (each one's recorded dependencies as `depends_on`)."""
    translator = preflight.Translator(schema, archives=archives)
    translation = translator.translate(resources)
    if translation.gaps:
        raise ValueError("inputs the provider does not know:\n" + "\n".join(translation.gaps))
    addresses = {r.urn: f"{preflight.terraform_type(r.type)}.{local_name(r)}" for r in resources}
    for resource in resources:
        tf_type = preflight.terraform_type(resource.type)
        body = translation.resources[tf_type][local_name(resource)]
        attributes = translator.schemas[tf_type]["block"]["attributes"]
        if "name" in attributes and "name" not in body and "name" in resource.state:
            body["name"] = resource.state["name"]
        depends = sorted({addresses[u] for u in resource.dependencies if u in addresses})
        if depends:
            body["depends_on"] = depends
    return translation.resources


def _changed_document(document: str, round_: int) -> str:
    parsed = json.loads(document)
    for statement in parsed.get("Statement", []):
        statement["Sid"] = f"{statement.get('Sid', 'Statement')}Update{round_}"
    return json.dumps(parsed)


def changed(resources: dict[str, Any], round_: int) -> dict[str, Any]:
    """Every input the program computes from other resources or from names in config changed,
    as a later `pulumi up` after such a change would send: documents and descriptions."""
    result = copy.deepcopy(resources)
    for tf_type, bodies in result.items():
        for body in bodies.values():
            for key in ("policy", "assume_role_policy"):
                if key in body:
                    body[key] = _changed_document(body[key], round_)
            if "description" in body and tf_type in DESCRIPTION_IN_PLACE:
                body["description"] = f"{body['description']} (update {round_})"
            if "filename" in body:
                body["filename"], body["source_code_hash"] = _changed_code(Path(body["filename"]), round_)
    return result


def _changed_code(archive: Path, round_: int) -> tuple[str, str]:
    """The function's code as a later version of the program would ship it: each file with one
    more line, and its hash, which is what tells the provider the code changed."""
    changed_archive = archive.with_name(f"{archive.stem}-update{round_}.zip")
    with zipfile.ZipFile(archive) as source, zipfile.ZipFile(changed_archive, "w") as target:
        for name in source.namelist():
            target.writestr(name, source.read(name) + f"\n# update {round_}\n".encode())
    digest = hashlib.sha256(changed_archive.read_bytes()).digest()
    return str(changed_archive), base64.b64encode(digest).decode()


def _seed_versions(endpoint: str, region: str, account: str) -> None:
    """Four more versions of every managed policy in the emulator (not the provider's calls:
    their phase is not recorded)."""
    import boto3

    iam = boto3.client(
        "iam",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id="seed",
        aws_secret_access_key="seed",  # noqa: S106 - the emulator's, which checks none
    )
    for policy in iam.list_policies(Scope="Local")["Policies"]:
        document = iam.get_policy_version(PolicyArn=policy["Arn"], VersionId=policy["DefaultVersionId"])
        text = json.dumps(document["PolicyVersion"]["Document"])
        for _ in range(SEEDED_VERSIONS):
            iam.create_policy_version(PolicyArn=policy["Arn"], PolicyDocument=text, SetAsDefault=False)


# -- the emulator -------------------------------------------------------------------------------
def _operation(service: str, environ: dict[str, Any], body: bytes) -> tuple[str, dict[str, str]]:
    """The operation and its named parameters of a JSON-protocol request (CloudWatch Logs: the
    operation in `X-Amz-Target`) or a REST one (Lambda: the method and the path's template in
    the service's model, as botocore sends them); ("", {}) for a query-protocol request (IAM,
    STS: `Action` in the form body)."""
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        document = json.loads(body or b"{}")
        return target.rpartition(".")[2], {k: v for k, v in document.items() if isinstance(v, str)}
    if service not in _REST_SERVICES:
        return "", {}
    path = environ.get("PATH_INFO", "")
    for operation, method, pattern in _rest_operations(service):
        match = pattern.fullmatch(path)
        if match and method == environ["REQUEST_METHOD"]:
            try:
                document = json.loads(body) if body else {}
            except ValueError:
                document = {}
            named = (
                {k: v for k, v in document.items() if isinstance(v, str)}
                if isinstance(document, dict)
                else {}
            )
            return operation, {**named, **{k: v for k, v in match.groupdict().items() if v is not None}}
    # Recorded as unknown: call_requests refuses it, so the recording cannot pass over it.
    return f"unknown {environ['REQUEST_METHOD']} {path}", {}


# Named in a request's credential scope as IAM names the service.
_REST_SERVICES = {"lambda": "lambda"}
_rest_cache: dict[str, list[tuple[str, str, re.Pattern[str]]]] = {}


def _rest_operations(service: str) -> list[tuple[str, str, re.Pattern[str]]]:
    """Each operation's method and path template from botocore's model of the service, most
    specific first (a template with more literal text wins over one with more parameters)."""
    if service not in _rest_cache:
        import botocore.session

        model = botocore.session.get_session().get_service_model(_REST_SERVICES[service])
        found = []
        for name in model.operation_names:
            http = model.operation_model(name).http
            template = http["requestUri"].split("?")[0]
            regex = "".join(
                f"(?P<{part[1:-1].rstrip('+')}>[^/]+)" if part.startswith("{") else re.escape(part)
                for part in re.split(r"(\{[^}]+\})", template)
            )
            literal = len(re.sub(r"\{[^}]+\}", "", template))
            found.append((literal, name, http["method"], re.compile(regex.rstrip("/") + "/?")))
        _rest_cache[service] = [(n, m, p) for _, n, m, p in sorted(found, key=lambda f: -f[0])]
    return _rest_cache[service]


def _serve(log_path: str) -> None:
    """moto's server on a free loopback port, writing each request to `log_path` (JSON
    lines) before answering it; the port is the first line on stdout."""
    import logging

    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    backend = DomainDispatcherApplication(create_backend_app)
    log = open(log_path, "a", buffering=1)  # noqa: SIM115 - open for the server's life

    def recording(environ, start_response):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length)
        environ["wsgi.input"] = io.BytesIO(body)
        params = {k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
        scope = re.search(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/", environ.get("HTTP_AUTHORIZATION", ""))
        service = scope.group(1) if scope else ""
        statuses = []

        def start(status, headers, exc_info=None):
            statuses.append(int(status.split()[0]))
            return start_response(status, headers, exc_info)

        answer = list(backend(environ, start))
        operation, named = _operation(service, environ, body)
        if operation:
            params = {**named, "Action": operation}
        log.write(json.dumps({"service": service, "params": params, "status": statuses[0]}) + "\n")
        return answer

    server = make_server("127.0.0.1", 0, recording, threaded=True)
    print(server.server_port, flush=True)
    server.serve_forever()


@contextmanager
def emulator(account: str, log_path: Path) -> Iterator[str]:
    """moto's server answering as `account` (its AWS managed policies loaded, so attaching
    one works as in AWS), in a process of its own; yields its endpoint."""
    environment = {
        **os.environ,
        "MOTO_ACCOUNT_ID": account,
        "MOTO_IAM_LOAD_MANAGED_POLICIES": "true",
        "PYTHONPATH": str(PROJECT_DIR),
    }
    process = subprocess.Popen(  # noqa: S603 - this interpreter, this module
        [sys.executable, "-m", "offline.provider_calls", "--serve", str(log_path)],
        env=environment,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        port = process.stdout.readline().strip()
        if not port.isdigit():
            raise RuntimeError("the AWS emulator (moto's server) did not start: is moto[server] installed?")
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)


# -- the provider against it ---------------------------------------------------------------------
def _document(workspace: preflight.Workspace, endpoint: str, resources: dict[str, Any]) -> dict[str, Any]:
    document = workspace.document(resources)
    settings = document["provider"]["aws"]
    # The provider asks STS who it is, as it does in AWS; the emulator answers with the account.
    settings.update(
        skip_credentials_validation=False,
        skip_requesting_account_id=False,
        endpoints={"iam": endpoint, "sts": endpoint, "lambda": endpoint, "cloudwatchlogs": endpoint},
    )
    return document


def record(resources: list[RecordedResource], account: str, region: str, folder: Path) -> list[Call]:
    """Create, update and delete `resources` with the real provider against the emulator;
    every call it made, in order, each with its phase."""
    terraform = preflight.find_terraform()
    mirror, version = preflight.find_provider_mirror()
    folder.mkdir(parents=True, exist_ok=True)
    workspace = preflight.Workspace(folder, terraform, mirror, version, region)
    log_path = folder / "calls.jsonl"
    log_path.write_text("")
    with emulator(account, log_path) as endpoint:
        main = folder / "main.tf.json"
        main.write_text(json.dumps(_document(workspace, endpoint, {}), indent=2))
        workspace.init()
        declared = terraform_resources(resources, workspace.schema(), folder / "archives")
        boundaries: list[tuple[str, int]] = []

        def run(phase: str, *args: str) -> None:
            done = workspace.run(*args, "-input=false", "-no-color", "-auto-approve", "-lock=false")
            if done.returncode != 0:
                raise RuntimeError(f"terraform {args[0]} ({phase}) failed:\n{done.stdout}\n{done.stderr}")
            boundaries.append((phase, len(log_path.read_text().splitlines())))

        main.write_text(json.dumps(_document(workspace, endpoint, declared), indent=2))
        run("create", "apply")
        _seed_versions(endpoint, region, account)
        boundaries.append(("seed", len(log_path.read_text().splitlines())))
        main.write_text(json.dumps(_document(workspace, endpoint, changed(declared, 1)), indent=2))
        run("update", "apply")
        run("delete", "destroy")
    calls: list[Call] = []
    lines = log_path.read_text().splitlines()
    start = 0
    for phase, end in boundaries:
        for line in lines[start:end] if phase in PHASES else []:
            entry = json.loads(line)
            operation = entry["params"].get("Action", "")
            calls.append(
                Call(
                    phase,
                    entry["service"],
                    f"{entry['service']}:{operation}",
                    entry["params"],
                    entry["status"],
                )
            )
        start = end
    return calls


# -- what IAM authorizes each call against -----------------------------------------------------
# Needs no permission (AWS STS API Reference, GetCallerIdentity: "No permissions are required to
# perform this operation").
UNAUTHORIZED = {"sts:GetCallerIdentity"}
POLICY_ARN_ACTIONS = {
    "iam:GetPolicy",
    "iam:GetPolicyVersion",
    "iam:ListPolicyVersions",
    "iam:CreatePolicyVersion",
    "iam:DeletePolicyVersion",
    "iam:DeletePolicy",
    "iam:TagPolicy",
    "iam:UntagPolicy",
}


def call_requests(
    call: Call, resources: list[RecordedResource], account: str, partition: str = "aws"
) -> list[Request]:
    """The requests IAM authorizes for one call, each with the ARN and condition keys it is
    evaluated with (Service Authorization Reference, "Actions, resources, and condition keys for
    AWS Identity and Access Management": a role's inline policies and attachments are
    authorized on the role; AttachRolePolicy carries `iam:PolicyARN`, CreateRole
    `iam:PermissionsBoundary`). A call made with tags also needs the tagging permission (IAM
    User Guide, "Tagging IAM resources")."""
    if call.action in UNAUTHORIZED:
        return []
    params = call.params
    why = f"{call.phase}: {call.action}"
    if call.service == "lambda":
        return _function_requests(call, resources, account, partition, why)
    if call.service == "logs":
        return _log_group_requests(call, resources, account, partition, why)
    tagged = any(k.startswith("Tags.member") for k in params)
    paths = {r.state["name"]: r.inputs.get("path") or "/" for r in resources if r.type == "aws:iam/role:Role"}

    def role_arn(name: str) -> str:
        path = params.get("Path") if call.action == "iam:CreateRole" else paths.get(name)
        if path is None:
            raise ValueError(f"{why}: role {name!r} is not one the program declares in {account}")
        return f"arn:{partition}:iam::{account}:role{path}{name}"

    if call.action == "iam:CreatePolicy":
        arn = f"arn:{partition}:iam::{account}:policy{params.get('Path', '/')}{params['PolicyName']}"
        return [Request(call.action, arn, why=why)] + (
            [Request("iam:TagPolicy", arn, why=why)] if tagged else []
        )
    if call.action in POLICY_ARN_ACTIONS:
        return [Request(call.action, params["PolicyArn"], why=why)]
    if "RoleName" not in params:
        raise ValueError(f"{why}: no rule for what this call is authorized on; add one to call_requests")
    arn = role_arn(params["RoleName"])
    context: dict[str, Any] = {}
    if call.action in ("iam:AttachRolePolicy", "iam:DetachRolePolicy"):
        context["iam:PolicyARN"] = params["PolicyArn"]
    if call.action in ("iam:CreateRole", "iam:PutRolePermissionsBoundary") and params.get(
        "PermissionsBoundary"
    ):
        context["iam:PermissionsBoundary"] = params["PermissionsBoundary"]
    requests = [Request(call.action, arn, context, why=why)]
    if call.action == "iam:CreateRole" and tagged:
        requests.append(Request("iam:TagRole", arn, why=why))
    return requests


def _declared_arn(resources: list[RecordedResource], kind: str, name: str, why: str) -> str:
    for resource in resources:
        if resource.type == kind and resource.state.get("name") == name:
            return resource.state["arn"]
    raise ValueError(f"{why}: {name!r} is not a {kind} the program declares in this account")


def _function_requests(
    call: Call, resources: list[RecordedResource], account: str, partition: str, why: str
) -> list[Request]:
    """Lambda authorizes each function call on the function's ARN (Service Authorization
    Reference, "Actions, resources, and condition keys for AWS Lambda": resource type
    `function`). Creating a function, or changing its role, also passes its execution role
    (Lambda Developer Guide, "Defining Lambda function permissions with an execution role":
    the user needs iam:PassRole), authorized on the role with `iam:PassedToService`."""
    name = call.params.get("FunctionName", "")
    arn = _declared_arn(resources, "aws:lambda/function:Function", name.rpartition(":")[2], why)
    requests = [Request(call.action, arn, why=why)]
    if call.action in ("lambda:CreateFunction", "lambda:UpdateFunctionConfiguration") and call.params.get(
        "Role"
    ):
        requests.append(
            Request(
                "iam:PassRole", call.params["Role"], {"iam:PassedToService": "lambda.amazonaws.com"}, why=why
            )
        )
    return requests


def _log_group_requests(
    call: Call, resources: list[RecordedResource], account: str, partition: str, why: str
) -> list[Request]:
    """CloudWatch Logs authorizes a call on the log group's ARN (Service Authorization Reference,
    "Actions, resources, and condition keys for Amazon CloudWatch Logs": resource type
    `log-group`, `arn:...:log-group:<name>`; ListTagsForResource names that ARN itself). The
    provider reads a log group with DescribeLogGroups and a name prefix, which the reference
    gives no resource type: it is authorized on "*"."""
    params = call.params
    if "resourceArn" in params:
        return [Request(call.action, params["resourceArn"], why=why)]
    if call.action == "logs:DescribeLogGroups":
        return [Request(call.action, "*", why=why)]
    name = params.get("logGroupName")
    if not name:
        raise ValueError(f"{why}: no log group named; add a rule to call_requests")
    return [
        Request(call.action, _declared_arn(resources, "aws:cloudwatch/logGroup:LogGroup", name, why), why=why)
    ]


def record_stack(
    stack: str, account: Optional[str], stacks_dir: Path, out: Path
) -> tuple[RecordingMocks, str, list[Call]]:
    config = load_stack_config(stack, stacks_dir)
    mocks = run_program(config, stack=stack).mocks
    accounts = target_accounts(mocks)
    if account is None:
        if len(accounts) != 1:
            raise SystemExit(
                f"stack {stack} deploys to accounts {accounts or 'none but its own'}: name one with --account"
            )
        account = accounts[0]
    if account not in accounts:
        raise SystemExit(
            f"stack {stack} declares nothing in account {account} (its target accounts: {accounts})"
        )
    calls = record(
        account_resources(mocks, account), account, config.region or "eu-west-1", out / stack / account
    )
    return mocks, account, calls


def main(argv: Optional[list[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--serve"]:
        _serve(argv[1])
        return 0
    parser = argparse.ArgumentParser(
        prog="python -m offline.provider_calls", description=__doc__.splitlines()[0]
    )
    parser.add_argument("stack")
    parser.add_argument("--account", help="the target account (needed when the stack has more than one)")
    parser.add_argument("--stacks-dir", type=Path, default=PROJECT_DIR)
    parser.add_argument(
        "--out", type=Path, default=Path(tempfile.gettempdir()) / "ecs-delivery-provider-calls"
    )
    args = parser.parse_args(argv)
    try:
        _, _, calls = record_stack(args.stack, args.account, args.stacks_dir, args.out)
    except preflight.PreflightUnavailable as missing:
        print(f"not run: {missing}", file=sys.stderr)
        return 3
    for call in calls:
        named = {k: v for k, v in call.params.items() if k in ("RoleName", "PolicyArn", "PolicyName", "Path")}
        print(call.phase, call.action, call.status, json.dumps(named))
    return 0


if __name__ == "__main__":
    sys.exit(main())
