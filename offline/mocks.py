"""Recording Pulumi mocks shared by the unit tests and `make synth`.

`RecordingMocks` stands in for the engine and the AWS/Docker providers: it answers every
invoke the program makes, returns each resource's computed outputs in the shape AWS gives
them (ARNs, URLs, digests) and records every registration (type, name, parent, inputs) so
tests and the synth renderer read what the program actually declared.

Two value styles, one implementation:
- `realistic` (tests): a fixed test account and region, deterministic suffixes, so
  assertions on ARNs and URLs run against values shaped like AWS's.
- `symbolic` (synth): whatever only exists after deployment (account id, generated name
  suffixes, image digests, tokens) is written `⟨...⟩`, so a rendered value is never a fake
  ARN passed off as real.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Optional

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc

TEST_ACCOUNT_ID = "123456789012"
TEST_REGION = "eu-west-1"


def is_secret(value: Any) -> bool:
    return rpc.is_rpc_secret(value)


def unwrap(value: Any) -> Any:
    """Inputs with secrets unwrapped (for assertions)."""
    if rpc.is_rpc_secret(value):
        return unwrap(rpc.unwrap_rpc_secret(value))
    if isinstance(value, dict):
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    return value


def mask(value: Any) -> Any:
    """Inputs with every secret replaced by a marker (for anything written to disk)."""
    if rpc.is_rpc_secret(value):
        return "[secret]"
    if isinstance(value, dict):
        return {k: mask(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask(v) for v in value]
    return value


@dataclass
class RecordedResource:
    urn: str
    type: str
    name: str
    parent_urn: str
    custom: bool
    raw_inputs: dict[str, Any]
    state: dict[str, Any] = field(default_factory=dict)
    protect: bool = False
    retain_on_delete: bool = False
    dependencies: tuple[str, ...] = ()
    """URNs this registration waits for: explicit `depends_on` plus every resource an
    input was computed from (what the engine orders creation by)."""
    provider: str = ""
    """The provider reference (`<urn>::<id>`) it was declared with; empty: the default."""
    aliases: tuple[str, ...] = ()
    """The URNs it was known by before (its `aliases` option), as the engine would match them."""

    @property
    def inputs(self) -> dict[str, Any]:
        """Inputs as the program declared them, secrets unwrapped."""
        return unwrap(self.raw_inputs)

    @property
    def masked_inputs(self) -> dict[str, Any]:
        return mask(self.raw_inputs)


class RecordingMocks(pulumi.runtime.Mocks):
    """Realistic (or symbolic) provider answers plus a record of every registration."""

    def __init__(
        self,
        *,
        account_id: str = TEST_ACCOUNT_ID,
        region: str = TEST_REGION,
        partition: str = "aws",
        symbolic: bool = False,
    ):
        self.symbolic = symbolic
        self.account_id = "⟨account-id⟩" if symbolic else account_id
        self.region = region
        self.partition = partition
        self.resources: list[RecordedResource] = []
        self.invokes: list[tuple[str, dict[str, Any]]] = []
        # What each component registered as its outputs (`register_outputs`), by URN.
        self.component_outputs: dict[str, dict[str, Any]] = {}
        # Explicit AWS providers (by id) and the account each assumes a role in: what
        # they declare answers in that account, as AWS would.
        self.provider_accounts: dict[str, str] = {}
        # The region of each provider that names one (an environment in another region).
        self.provider_regions: dict[str, str] = {}
        self.default_account_id = self.account_id

    # -- values ----------------------------------------------------------------------
    def _unique(self, seed: str, label: str, length: int = 8) -> str:
        if self.symbolic:
            return f"⟨{label}⟩"
        return hashlib.sha256(seed.encode()).hexdigest()[:length]

    def _auto_name(self, logical: str) -> str:
        # Pulumi auto-naming appends a random suffix to the logical name.
        return f"{logical}-{self._unique(logical, 'suffix', 7)}"

    def _arn(self, service: str, resource: str, *, region: bool = True) -> str:
        where = self.region if region else ""
        return f"arn:{self.partition}:{service}:{where}:{self.account_id}:{resource}"

    def _iam_entity(self, kind: str, logical: str, inputs: dict[str, Any]) -> tuple[str, str]:
        """The name and ARN of an IAM role, policy or group: global (no region), under its path."""
        entity = inputs.get("name") or self._auto_name(logical)
        path = inputs.get("path") or "/"
        return entity, self._arn("iam", f"{kind}{path}{entity}", region=False)

    @property
    def registry(self) -> str:
        return f"{self.account_id}.dkr.ecr.{self.region}.amazonaws.com"

    # -- engine hooks ----------------------------------------------------------------
    def _account_for(self, provider: Optional[str]) -> str:
        if not provider:
            return self.default_account_id
        provider_id = provider.rpartition("::")[2]
        return self.provider_accounts.get(provider_id, self.default_account_id)

    @contextlib.contextmanager
    def _answering_for(self, provider: Optional[str]) -> Iterator[None]:
        """Answer in the account and region of the provider a call or resource is declared with."""
        default_region = self.region
        self.account_id = self._account_for(provider)
        self.region = self.provider_regions.get((provider or "").rpartition("::")[2], default_region)
        try:
            yield
        finally:
            self.account_id = self.default_account_id
            self.region = default_region

    def call(self, args: pulumi.runtime.MockCallArgs):
        with self._answering_for(args.provider):
            return self._call(args)

    def _call(self, args: pulumi.runtime.MockCallArgs):
        self.invokes.append((args.token, dict(args.args)))
        token = args.token
        if token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {
                "accountId": self.account_id,
                # Whoever runs `pulumi up`, a session of a role (a CI role, or a person's through
                # IAM Identity Center); a placeholder name when rendering.
                "arn": f"arn:{self.partition}:sts::{self.account_id}:assumed-role/"
                + ("⟨deployer⟩" if self.symbolic else "deployer")
                + "/pulumi",
                "userId": "AIDAEXAMPLEDEPLOYER",
                "id": self.account_id,
            }
        if token == "aws:iam/getSessionContext:getSessionContext":
            # A role session (sts assumed-role ARN) is issued by its role (the path is the
            # role's, unknown here: "/"); a user is its own issuer.
            arn = args.args["arn"]
            resource = arn.split(":", 5)[5]
            if resource.startswith("assumed-role/"):
                _, role, session = resource.split("/", 2)
                issuer = f"arn:{self.partition}:iam::{arn.split(':')[4]}:role/{role}"
                return {
                    "arn": arn,
                    "issuerArn": issuer,
                    "issuerId": "AROAEXAMPLE",
                    "issuerName": role,
                    "sessionName": session,
                    "id": arn,
                }
            return {
                "arn": arn,
                "issuerArn": arn,
                "issuerId": "",
                "issuerName": resource.rsplit("/", 1)[-1],
                "sessionName": "",
                "id": arn,
            }
        if token == "aws:index/getRegion:getRegion":
            return {
                "region": self.region,
                "name": self.region,
                "id": self.region,
                "endpoint": f"ec2.{self.region}.amazonaws.com",
                "description": self.region,
            }
        if token == "aws:index/getPartition:getPartition":
            return {
                "partition": self.partition,
                "dnsSuffix": "amazonaws.com",
                "reverseDnsPrefix": "com.amazonaws",
                "id": self.partition,
            }
        if token == "aws:ecr/getAuthorizationToken:getAuthorizationToken":
            password = "⟨ecr-token⟩" if self.symbolic else "eyJwYXlsb2FkIjoiZXhhbXBsZSJ9"
            return {
                "userName": "AWS",
                "password": password,
                "authorizationToken": password,
                "proxyEndpoint": f"https://{self.registry}",
                "registryId": args.args.get("registryId") or self.account_id,
                "expiresAt": "2026-11-28T00:00:00Z",
                "id": self.region,
            }
        if token == "aws:ecr/getRepository:getRepository":
            repo = args.args["name"]
            return {
                "name": repo,
                "arn": self._arn("ecr", f"repository/{repo}"),
                "registryId": self.account_id,
                "repositoryUrl": f"{self.registry}/{repo}",
                "imageTagMutability": "MUTABLE",
                "id": repo,
            }
        raise NotImplementedError(f"RecordingMocks does not answer invoke {token!r}: add a realistic answer")

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        inputs = dict(args.inputs)
        if not args.custom:
            return f"{args.name}-component", {}
        if args.typ == "pulumi:providers:aws":
            self._remember_provider_account(args.name, inputs)
            return f"{args.name}-provider", inputs
        state = dict(inputs)
        with self._answering_for(args.provider):
            physical_id = self._fill(args.typ, args.name, inputs, state)
        return physical_id, state

    def _remember_provider_account(self, name: str, inputs: dict[str, Any]) -> None:
        """The account a provider works in: the one its `allowedAccountIds` names (the
        program always sets it next to the role it assumes)."""
        allowed = inputs.get("allowedAccountIds")
        if isinstance(allowed, str):  # provider inputs arrive JSON-encoded
            allowed = json.loads(allowed)
        if allowed:
            self.provider_accounts[f"{name}-provider"] = allowed[0]
        if inputs.get("region"):
            self.provider_regions[f"{name}-provider"] = inputs["region"]

    # -- per-type computed outputs ---------------------------------------------------
    def _fill(self, typ: str, name: str, inputs: dict[str, Any], state: dict[str, Any]) -> str:
        if typ == "aws:ecr/repository:Repository":
            repo = inputs.get("name") or self._auto_name(name)
            state.update(
                name=repo,
                arn=self._arn("ecr", f"repository/{repo}"),
                registryId=self.account_id,
                repositoryUrl=f"{self.registry}/{repo}",
            )
            return repo
        if typ == "docker:index/image:Image":
            image_name = inputs["imageName"]
            repository = image_name.rsplit(":", 1)[0] if ":" in image_name.split("/")[-1] else image_name
            digest = self._unique(f"{image_name}", "image digest after build", 64)
            state.update(
                imageName=image_name,
                repoDigest=f"{repository}@sha256:{digest}",
                baseImageName=image_name,
                registryServer=self.registry,
            )
            return f"sha256:{digest}"
        if typ == "aws:s3/bucket:Bucket":
            bucket = inputs.get("bucket") or self._auto_name(name)
            state.update(
                bucket=bucket,
                arn=f"arn:{self.partition}:s3:::{bucket}",
                bucketDomainName=f"{bucket}.s3.amazonaws.com",
                bucketRegionalDomainName=f"{bucket}.s3.{self.region}.amazonaws.com",
                region=self.region,
            )
            return bucket
        if typ == "aws:iam/role:Role":
            role, arn = self._iam_entity("role", name, inputs)
            state.update(name=role, arn=arn, uniqueId="AROA" + self._unique(role, "role id", 17).upper())
            return role
        if typ == "aws:iam/policy:Policy":
            policy, arn = self._iam_entity("policy", name, inputs)
            state.update(
                name=policy,
                arn=arn,
                policyId="ANPA" + self._unique(policy, "policy id", 17).upper(),
                attachmentCount=0,
            )
            return arn
        if typ == "aws:cloudwatch/logGroup:LogGroup":
            group = inputs.get("name") or self._auto_name(name)
            state.update(name=group, arn=self._arn("logs", f"log-group:{group}"))
            return group
        if typ == "aws:codebuild/project:Project":
            project = inputs.get("name") or self._auto_name(name)
            state.update(name=project, arn=self._arn("codebuild", f"project/{project}"))
            return project
        if typ == "aws:codepipeline/pipeline:Pipeline":
            pipeline = inputs.get("name") or self._auto_name(name)
            state.update(name=pipeline, arn=self._arn("codepipeline", pipeline))
            return pipeline
        if typ in (
            "aws:codeconnections/connection:Connection",
            "aws:codestarconnections/connection:Connection",
        ):
            service = "codeconnections" if "codeconnections" in typ else "codestar-connections"
            connection_id = "⟨connection-id⟩" if self.symbolic else str(uuid.uuid5(uuid.NAMESPACE_URL, name))
            arn = self._arn(service, f"connection/{connection_id}")
            # A connection created by code waits for the console handshake.
            state.update(arn=arn, connectionStatus="PENDING", name=inputs.get("name", name))
            return arn
        if typ == "aws:sns/topic:Topic":
            topic = inputs.get("name") or self._auto_name(name)
            state.update(name=topic, arn=self._arn("sns", topic))
            return state["arn"]
        if typ == "aws:codestarnotifications/notificationRule:NotificationRule":
            arn = self._arn("codestar-notifications", f"notificationrule/{self._unique(name, 'rule id', 40)}")
            state.update(arn=arn)
            return arn
        if typ == "aws:sns/topicSubscription:TopicSubscription":
            arn = f"{inputs['topic']}:{self._unique(name, 'subscription id', 36)}"
            # Email subscriptions wait for the recipient to confirm.
            state.update(arn=arn, pendingConfirmation=True)
            return arn
        if typ == "aws:kms/key:Key":
            key_id = "⟨key-id⟩" if self.symbolic else str(uuid.uuid5(uuid.NAMESPACE_URL, f"kms/{name}"))
            state.update(keyId=key_id, arn=self._arn("kms", f"key/{key_id}"))
            return key_id
        if typ == "aws:lambda/function:Function":
            function = inputs.get("name") or self._auto_name(name)
            arn = self._arn("lambda", f"function:{function}")
            state.update(name=function, arn=arn, qualifiedArn=f"{arn}:$LATEST", invokeArn=arn)
            return function
        if typ == "aws:dynamodb/table:Table":
            table = inputs.get("name") or self._auto_name(name)
            state.update(name=table, arn=self._arn("dynamodb", f"table/{table}"))
            return table
        if typ == "aws:iam/group:Group":
            group, arn = self._iam_entity("group", name, inputs)
            state.update(name=group, arn=arn, uniqueId="AGPA" + self._unique(group, "group id", 17).upper())
            return group
        if typ == "aws:iam/rolePolicy:RolePolicy":
            return f"{inputs.get('role')}:{inputs.get('name') or name}"
        # Resources whose outputs the program never reads: their inputs are their state.
        return f"{name}-id"


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """Keeps the parent of every registration, which the stock MockMonitor drops."""

    def __init__(self, mocks: RecordingMocks):
        super().__init__(mocks)
        self.recording_mocks = mocks

    stack_urn = ""

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        if request.type == "pulumi:pulumi:Stack":
            self.stack_urn = response.urn
        else:
            registration = self.resources[response.urn]
            self.recording_mocks.resources.append(
                RecordedResource(
                    urn=response.urn,
                    type=request.type,
                    name=request.name,
                    parent_urn=request.parent,
                    custom=bool(request.custom),
                    raw_inputs=rpc.deserialize_properties(request.object),
                    state=dict(registration.state or {}),
                    protect=bool(request.protect),
                    retain_on_delete=bool(request.retainOnDelete),
                    dependencies=tuple(request.dependencies),
                    provider=request.provider,
                    aliases=tuple(alias_urn(self, self.stack_urn, request, a) for a in request.aliases),
                )
            )
        return response

    def RegisterResourceOutputs(self, request):
        # The stock monitor drops them; a component's outputs are part of what it promises.
        self.recording_mocks.component_outputs[request.urn] = rpc.deserialize_properties(request.outputs)
        return super().RegisterResourceOutputs(request)


def alias_urn(monitor: pulumi_mocks.MockMonitor, stack_urn: str, request: Any, alias: Any) -> str:
    """The URN an alias names, from its spec as the SDK sends it (each part not given is the
    resource's own), named the way this monitor names URNs: `make_urn` keeps the stack's
    type in a root resource's URN, where the engine leaves it out, so an alias to the root
    (`noParent`) is named with the stack as parent here, to compare with this monitor's own."""
    if alias.urn:
        return alias.urn
    spec = alias.spec
    parent = stack_urn if spec.noParent else (spec.parentUrn or request.parent)
    urn = monitor.make_urn(parent, spec.type or request.type, spec.name or request.name)
    if spec.stack or spec.project:
        _, _, rest = urn.split("::", 2)
        urn = f"urn:pulumi:{spec.stack or pulumi.get_stack()}::{spec.project or pulumi.get_project()}::{rest}"
    return urn
