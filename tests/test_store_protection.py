"""Nothing an environment controls can write, replace or delete what a gated environment will
run: the artifact bucket and its key, the image repositories and the release record accept
writes only from the delivery system's own roles (the deployer may delete, not write), by resource policy and by
the environments' own policies and boundaries. Proven both ways, same account and across
accounts, with the permission evaluator (tests/support/permissions.py).

The requests are written out from AWS's documentation: the S3, ECR, KMS and DynamoDB actions a
write, an overwrite, a deletion or a re-encryption takes (Service Authorization Reference).
"""

from __future__ import annotations

import json

import pytest

from components.iam_policies import Request
from tests.conftest import (
    CROSS_ACCOUNT,
    FOUR_ENVIRONMENTS,
    all_of,
    any_stack,
    config_with,
    only,
    pipeline_account,
    run_config,
    shared_scope,
)
from tests.support.permissions import DeclaredRole, aws_managed_policies, declared_roles

KMS_KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ADMINISTRATOR = "arn:aws:iam::aws:policy/AdministratorAccess"


@pytest.fixture(
    scope=shared_scope, params=["prod", FOUR_ENVIRONMENTS, CROSS_ACCOUNT, "configured-key", "regions"]
)
def declared(request):
    if request.param == "configured-key":
        # A key the config names: its policy is not the program's to write, so only the
        # environments' own policies keep them off it.
        return run_config(config_with(artifacts={"kmsKeyArn": KMS_KEY}), stack="keyed").mocks
    return any_stack(request.param).mocks


def arn(mocks, typ: str, name: str) -> str:
    return only(mocks, typ, name).state["arn"]


def resource_policy(mocks, typ: str, name: str) -> dict:
    return json.loads(only(mocks, typ, name).inputs["policy"])


class Stores:
    """The stores of one declared stack, their resource policies, and requests against them."""

    def __init__(self, mocks):
        self.mocks = mocks
        self.account = pipeline_account(mocks)
        self.bucket = arn(mocks, "aws:s3/bucket:Bucket", "artifacts-bucket")
        self.artifact = f"{self.bucket}/todobackend-prod/Artifacts/AbCdEf1.zip"
        self.owned = {"aws:ResourceAccount": self.account}
        self.bucket_policy = resource_policy(mocks, "aws:s3/bucketPolicy:BucketPolicy", "artifacts-policy")
        # Every artifact store: the pipeline's, and one per other region it acts in (docs/regions.md).
        self.artifact_stores = [
            (
                f"{bucket.state['arn']}/todobackend-prod/Artifacts/AbCdEf1.zip",
                resource_policy(
                    mocks, "aws:s3/bucketPolicy:BucketPolicy", bucket.name.removesuffix("-bucket") + "-policy"
                ),
            )
            for bucket in all_of(mocks, "aws:s3/bucket:Bucket")
            if bucket.name.startswith("artifacts")
        ]
        self.repositories = {
            name: (
                arn(mocks, "aws:ecr/repository:Repository", f"{name}-repository"),
                resource_policy(mocks, "aws:ecr/repositoryPolicy:RepositoryPolicy", f"{name}-pull-policy"),
            )
            for name in ("app-image", "build-image-ecr", "tools-image-ecr", "build-cache")
        }
        keys = all_of(mocks, "aws:kms/key:Key")
        (pipeline,) = all_of(mocks, "aws:codepipeline/pipeline:Pipeline")
        configured = [
            s["encryptionKey"]["id"] for s in pipeline.inputs["artifactStores"] if "encryptionKey" in s
        ]
        # The key the program creates (environments in other accounts), a key the config
        # names, or none (SSE-S3).
        self.key = keys[0].state["arn"] if keys else (configured[0] if configured else None)
        self.key_policy = json.loads(keys[0].inputs["policy"]) if keys else None
        tables = all_of(mocks, "aws:dynamodb/table:Table")
        self.table = tables[0].state["arn"] if tables else None
        self.table_policy = (
            resource_policy(mocks, "aws:dynamodb/resourcePolicy:ResourcePolicy", "releases-policy")
            if tables
            else None
        )

    def writes(self) -> list[tuple[Request, dict | None]]:
        """Every kind of write to every store, each with the resource policy it meets."""
        found: list[tuple[Request, dict | None]] = [
            (Request(action, artifact), policy)
            for artifact, policy in self.artifact_stores
            for action in ("s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion", "s3:PutObjectAcl")
        ]
        for repository, policy in self.repositories.values():
            found += [
                (Request(action, repository), policy)
                for action in (
                    "ecr:PutImage",
                    "ecr:InitiateLayerUpload",
                    "ecr:BatchDeleteImage",
                    "ecr:DeleteRepository",
                    "ecr:PutLifecyclePolicy",
                )
            ]
        found += [
            (Request(action, self.key), self.key_policy)
            for action in ("kms:Encrypt", "kms:GenerateDataKey")
            if self.key
        ]
        if self.table:
            found += [
                (Request(action, self.table, {"dynamodb:LeadingKeys": ["production"]}), self.table_policy)
                for action in ("dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:DeleteTable")
            ]
        return found

    def refused(self, role: DeclaredRole, *, resource_policies: bool = True) -> list[str]:
        """The writes `role` is NOT refused (empty: it can write nowhere); without
        `resource_policies`, by its own policies and boundary alone."""
        let_through = []
        for plain, policy in self.writes():
            # As S3 and the other services set it: the account that owns the resource.
            request = Request(plain.action, plain.resource, {**self.owned, **plain.context})
            owner = request.resource.split(":")[4] or self.account
            if policy and resource_policies:
                allowed = role.allows_through(request, policy, owner)
            else:
                allowed = role.allows(request)
            if allowed:
                let_through.append(str(request))
        return let_through


def minted_admin(mocks, environment: str, stack: str) -> DeclaredRole:
    """A role the environment's stack creates and gives AdministratorAccess: what its boundary
    leaves it."""
    boundary = only(mocks, "aws:iam/policy:Policy", f"deploy-{environment}-boundary")
    account = boundary.state["arn"].split(":")[4]
    return DeclaredRole(
        "minted",
        f"arn:aws:iam::{account}:role/{stack}/{stack}-Admin-1A2B3C4D5E6F",
        [],
        [(ADMINISTRATOR, aws_managed_policies()[ADMINISTRATOR])],
        (boundary.state["arn"], json.loads(boundary.inputs["policy"])),
    )


def deployed_environments(mocks) -> list[tuple[str, str]]:
    (pipeline,) = all_of(mocks, "aws:codepipeline/pipeline:Pipeline")
    found = {}
    for stage in pipeline.inputs["stages"][2:]:
        for action in stage["actions"]:
            if "StackName" in action["configuration"]:
                found.setdefault(stage["name"].removesuffix("-plan"), action["configuration"]["StackName"])
    return sorted(found.items())


# -- the evaluator, on the one form relied on here ---------------------------------------------
def test_evaluator_refuses_a_write_denied_to_all_but_named_writers():
    role_arn = "arn:aws:iam::123456789012:role/writer"
    admin = DeclaredRole(
        "a",
        "arn:aws:iam::123456789012:role/other",
        [],
        [(ADMINISTRATOR, aws_managed_policies()[ADMINISTRATOR])],
        None,
    )
    writer = DeclaredRole("w", role_arn, [], [(ADMINISTRATOR, aws_managed_policies()[ADMINISTRATOR])], None)
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": ["s3:PutObject*"],
                "Resource": "arn:aws:s3:::b/*",
                "Condition": {"ArnNotLike": {"aws:PrincipalArn": [role_arn]}},
            }
        ],
    }
    put = Request("s3:PutObject", "arn:aws:s3:::b/k")
    assert writer.allows_through(put, policy, "123456789012")
    assert not admin.allows_through(put, policy, "123456789012")
    assert admin.allows_through(Request("s3:GetObject", "arn:aws:s3:::b/k"), policy, "123456789012")


# -- refused: everything an environment controls -----------------------------------------------
def test_no_deploy_role_can_write_any_store(declared):
    stores, roles = Stores(declared), declared_roles(declared)
    for environment, _ in deployed_environments(declared):
        deploy = roles[f"deploy-{environment}-role"]
        # By its own policy alone (the denies beside PowerUserAccess), and with the stores' own.
        assert stores.refused(deploy, resource_policies=False) == [], environment
        assert stores.refused(deploy) == [], environment


def test_no_role_a_stack_creates_can_write_any_store_even_as_administrator(declared):
    stores = Stores(declared)
    for environment, stack in deployed_environments(declared):
        minted = minted_admin(declared, environment, stack)
        # By its boundary alone, and with the stores' own policies.
        assert stores.refused(minted, resource_policies=False) == [], environment
        assert stores.refused(minted) == [], environment


def test_the_resource_policies_alone_refuse_an_administrator_of_the_account(declared):
    """Without the boundary and the deploy role's denies: any principal of the account but the
    writers (an administrator, a developer's role) is refused by the stores themselves. A key
    the config names is not the program's to guard, so it is left out here."""
    stores = Stores(declared)
    admin = DeclaredRole(
        "admin",
        f"arn:aws:iam::{stores.account}:role/Admin",
        [],
        [(ADMINISTRATOR, aws_managed_policies()[ADMINISTRATOR])],
        None,
    )
    let_through = [w for w in stores.refused(admin) if KMS_KEY not in w]
    assert let_through == []


def test_a_deploy_role_cannot_approve_or_rewrite_the_delivery_projects(declared):
    roles = declared_roles(declared)
    pipeline = only(declared, "aws:codepipeline/pipeline:Pipeline").state["arn"]
    projects = [p.state["arn"] for p in all_of(declared, "aws:codebuild/project:Project")]
    for environment, _ in deployed_environments(declared):
        deploy = roles[f"deploy-{environment}-role"]
        for request in (
            Request("codepipeline:PutApprovalResult", f"{pipeline}/production-approval/Approve"),
            Request("codepipeline:UpdatePipeline", pipeline),
            Request("codepipeline:StartPipelineExecution", pipeline),
            *(Request("codebuild:UpdateProject", project) for project in projects),
        ):
            assert not deploy.allows(request), (environment, request)


def test_no_environment_role_can_forge_or_delete_the_delivery_logs(declared):
    # Attacked: dev's template gives a role of its stack logs:* and writes a line into production's
    # review log ("approved by ..."), or deletes the build's log before anyone reads it. The
    # CodeBuild log groups are /aws/codebuild/<project> (CodeBuild user guide, "View detailed build
    # information"); PutLogEvents acts on a log stream, the rest on the group (Service
    # Authorization Reference, Amazon CloudWatch Logs).
    roles = declared_roles(declared)
    groups = [
        group.state["arn"]
        for group in all_of(declared, "aws:cloudwatch/logGroup:LogGroup")
        if group.inputs["name"].startswith("/aws/codebuild/")
    ]
    assert len(groups) >= 4
    for environment, stack in deployed_environments(declared):
        deploy, minted = roles[f"deploy-{environment}-role"], minted_admin(declared, environment, stack)
        for group in groups:
            for request in (
                Request("logs:PutLogEvents", f"{group}:log-stream:forged"),
                Request("logs:CreateLogStream", f"{group}:log-stream:forged"),
                Request("logs:DeleteLogStream", f"{group}:log-stream:1a2b3c"),
                Request("logs:DeleteLogGroup", group),
                Request("logs:PutRetentionPolicy", group),
            ):
                assert not deploy.allows(request), (environment, request)
                assert not minted.allows(request), (environment, request)
        # Its own application's logs stay its to write.
        account = minted.arn.split(":")[4]
        own = f"arn:aws:logs:us-east-1:{account}:log-group:/ecs/{stack}"
        assert deploy.allows(Request("logs:CreateLogGroup", own)), environment
        assert minted.allows(Request("logs:PutLogEvents", f"{own}:log-stream:web/1")), environment


def test_environment_roles_still_read_what_they_need(declared):
    """The guard leaves reading: an ECS task execution role of a stack pulls the image; a deploy
    role in another account reads its template configuration (through the bucket policy)."""
    stores = Stores(declared)
    app_repository, repository_policy = stores.repositories["app-image"]
    for environment, stack in deployed_environments(declared):
        minted = minted_admin(declared, environment, stack)
        owner = app_repository.split(":")[4]
        assert minted.allows_through(Request("ecr:BatchGetImage", app_repository), repository_policy, owner)
        assert minted.allows_through(
            Request("ecr:GetDownloadUrlForLayer", app_repository), repository_policy, owner
        )


def test_only_the_pipeline_writes_the_artifact_stores_of_other_regions(declared):
    # Attacked: who can put an artifact in another region's store, which that region's
    # CloudFormation actions deploy from? Of every role the program declares, the pipeline's alone
    # (the build and the reviews write in the pipeline's region only).
    stores = Stores(declared)
    regional = [(a, p) for a, p in stores.artifact_stores if not a.startswith(stores.bucket + "/")]
    for artifact, bucket_policy in regional:
        writers = [
            name
            for name, role in declared_roles(declared).items()
            if role.allows_through(
                Request("s3:PutObject", artifact, stores.owned), bucket_policy, stores.account
            )
        ]
        assert writers == ["delivery-role"], artifact


# -- allowed: the writers, and only where they write -------------------------------------------
def test_the_build_and_the_pipeline_write_the_artifacts_and_the_build_the_image(declared):
    stores, roles = Stores(declared), declared_roles(declared)
    build, pipeline = roles["build-role"], roles["delivery-role"]
    for role in (build, pipeline):
        assert role.allows_through(
            Request("s3:PutObject", stores.artifact, stores.owned), stores.bucket_policy, stores.account
        ), role.name
    # The pipeline moves the artifacts into the store of every other region it acts in.
    for artifact, bucket_policy in stores.artifact_stores:
        assert pipeline.allows_through(
            Request("s3:PutObject", artifact, stores.owned), bucket_policy, stores.account
        ), artifact
    app_repository, policy = stores.repositories["app-image"]
    for action in (
        "ecr:InitiateLayerUpload",
        "ecr:UploadLayerPart",
        "ecr:CompleteLayerUpload",
        "ecr:PutImage",
    ):
        assert build.allows_through(Request(action, app_repository), policy, stores.account), action
    cache, cache_policy = stores.repositories["build-cache"]
    assert build.allows_through(Request("ecr:PutImage", cache), cache_policy, stores.account)
    # ... and the pipeline does not push images.
    assert not pipeline.allows_through(Request("ecr:PutImage", app_repository), policy, stores.account)


@pytest.mark.parametrize("image", ["build-image-ecr", "tools-image-ecr"])
def test_the_deployer_may_push_the_build_and_tools_images_and_nobody_else(declared, image):
    stores = Stores(declared)
    repository, policy = stores.repositories[image]
    (session,) = [
        call for call in declared.invokes if call[0] == "aws:iam/getSessionContext:getSessionContext"
    ][:1]
    deployer_arn = f"arn:aws:iam::{stores.account}:role/deployer"
    deployer = DeclaredRole(
        "deployer", deployer_arn, [], [(ADMINISTRATOR, aws_managed_policies()[ADMINISTRATOR])], None
    )
    assert session[1]["arn"] == f"arn:aws:sts::{stores.account}:assumed-role/deployer/pulumi"
    assert deployer.allows_through(Request("ecr:PutImage", repository), policy, stores.account)
    # No role the program declares pushes there: not the build, not the small projects that run it.
    for name, role in declared_roles(declared).items():
        assert not role.allows_through(Request("ecr:PutImage", repository), policy, stores.account), name


def test_the_deployer_deletes_but_writes_nothing_a_release_is_read_from(declared):
    # The deployer (here with AdministratorAccess) declared the stores and may empty them on
    # `pulumi destroy`; it may not put an artifact, an application image or a record in place
    # of the pipeline's: a compromised deployer credential then cannot release on its own.
    stores = Stores(declared)
    deployer = DeclaredRole(
        "deployer",
        f"arn:aws:iam::{stores.account}:role/deployer",
        [],
        [(ADMINISTRATOR, aws_managed_policies()[ADMINISTRATOR])],
        None,
    )
    app_repository, policy = stores.repositories["app-image"]
    refused = [
        *(
            (Request("s3:PutObject", artifact, stores.owned), bucket_policy)
            for artifact, bucket_policy in stores.artifact_stores
        ),
        (Request("ecr:PutImage", app_repository), policy),
        (Request("ecr:CompleteLayerUpload", app_repository), policy),
    ]
    allowed = [
        (Request("s3:DeleteObject", stores.artifact, stores.owned), stores.bucket_policy),
        (Request("s3:DeleteObjectVersion", stores.artifact, stores.owned), stores.bucket_policy),
        (Request("ecr:BatchDeleteImage", app_repository), policy),
        (Request("ecr:DeleteRepository", app_repository), policy),
    ]
    if stores.table:
        own = {"dynamodb:LeadingKeys": ["production"]}
        refused.append((Request("dynamodb:PutItem", stores.table, own), stores.table_policy))
        allowed.append((Request("dynamodb:DeleteTable", stores.table), stores.table_policy))
    for request, resource_policy_document in refused:
        assert not deployer.allows_through(request, resource_policy_document, stores.account), request
    for request, resource_policy_document in allowed:
        assert deployer.allows_through(request, resource_policy_document, stores.account), request


def test_only_the_reviews_write_under_reviews(declared):
    # An approver reads the review's report from `reviews/`: the build and the pipeline, which
    # write artifacts elsewhere in the bucket, may not write one there.
    stores, roles = Stores(declared), declared_roles(declared)
    report = Request("s3:PutObject", f"{stores.bucket}/reviews/production/exec/report.html", stores.owned)
    for name in ("build-role", "delivery-role"):
        role = roles[name]
        assert role.allows_through(
            Request("s3:PutObject", stores.artifact, stores.owned), stores.bucket_policy, stores.account
        ), name
        assert not role.allows_through(report, stores.bucket_policy, stores.account), name


def test_each_recorder_writes_its_own_environments_records_and_marks_images(declared):
    stores, roles = Stores(declared), declared_roles(declared)
    recorders = {
        name.removeprefix("record-").removesuffix("-role"): role
        for name, role in roles.items()
        if name.startswith("record-")
    }
    assert bool(recorders) == bool(stores.table)
    app_repository, policy = stores.repositories["app-image"]
    for environment, recorder in recorders.items():
        own = Request("dynamodb:PutItem", stores.table, {"dynamodb:LeadingKeys": [environment]})
        other = Request("dynamodb:PutItem", stores.table, {"dynamodb:LeadingKeys": ["someone-else"]})
        assert recorder.allows_through(own, stores.table_policy, stores.account), environment
        assert not recorder.allows_through(other, stores.table_policy, stores.account), environment
        assert not recorder.allows_through(
            Request("dynamodb:DeleteTable", stores.table), stores.table_policy, stores.account
        )
        for action in ("ecr:PutImage", "ecr:BatchDeleteImage", "ecr:ListImages"):
            assert recorder.allows_through(Request(action, app_repository), policy, stores.account), action
        assert not recorder.allows_through(
            Request("s3:PutObject", stores.artifact, stores.owned), stores.bucket_policy, stores.account
        )
        assert not recorder.allows_through(
            Request("ecr:DeleteRepository", app_repository), policy, stores.account
        )


def test_each_review_reads_its_own_environments_records_and_writes_only_its_reports(declared):
    stores, roles = Stores(declared), declared_roles(declared)
    reviews = {
        name.removeprefix("review-").removesuffix("-role"): role
        for name, role in roles.items()
        if name.startswith("review-")
    }
    for environment, review in reviews.items():
        own = Request("dynamodb:GetItem", stores.table, {"dynamodb:LeadingKeys": [environment]})
        other = Request("dynamodb:GetItem", stores.table, {"dynamodb:LeadingKeys": ["someone-else"]})
        assert review.allows_through(own, stores.table_policy, stores.account)
        assert not review.allows_through(other, stores.table_policy, stores.account)
        assert not review.allows_through(
            Request("dynamodb:PutItem", stores.table, {"dynamodb:LeadingKeys": [environment]}),
            stores.table_policy,
            stores.account,
        )
        report = f"{stores.bucket}/reviews/{environment}/exec/report.html"
        assert review.allows_through(
            Request("s3:PutObject", report, stores.owned), stores.bucket_policy, stores.account
        )
        assert not review.allows_through(
            Request("s3:PutObject", stores.artifact, stores.owned), stores.bucket_policy, stores.account
        )


def test_approvers_may_answer_their_environments_approval_and_no_other(declared):
    from tests.support.permissions import approver_roles

    pipeline = only(declared, "aws:codepipeline/pipeline:Pipeline").state["arn"]
    approvers = approver_roles(declared)
    gated = [
        env
        for env, _ in deployed_environments(declared)
        if any(
            s["name"] == f"{env}-approval"
            for s in only(declared, "aws:codepipeline/pipeline:Pipeline").inputs["stages"]
        )
    ]
    assert bool(approvers) == bool(gated)
    for approver in approvers.values():
        answerable = [
            env
            for env in gated
            if approver.allows(
                Request("codepipeline:PutApprovalResult", f"{pipeline}/{env}-approval/Approve")
            )
        ]
        assert answerable, approver.name
        assert not approver.allows(Request("codepipeline:PutApprovalResult", f"{pipeline}/Build/Approve"))
        assert not approver.allows(Request("codepipeline:UpdatePipeline", pipeline))
        assert not approver.allows(
            Request("codepipeline:PutApprovalResult", f"{pipeline}-other/{gated[0]}-approval/Approve")
        )


# -- the lifecycle-hook test: the delivery system's, not an environment's ------------------------
# What rewrites, disables or removes a function or its logs (Service Authorization Reference for
# AWS Lambda and CloudWatch Logs): a test rewritten to answer SUCCEEDED would pass every release.
HOOK_CHANGES = (
    "lambda:UpdateFunctionCode",
    "lambda:UpdateFunctionConfiguration",
    "lambda:PutFunctionConcurrency",
    "lambda:DeleteFunction",
    "lambda:AddPermission",
    "lambda:PublishVersion",
    "lambda:TagResource",
)
HOOK_LOG_CHANGES = (
    "logs:DeleteLogGroup",
    "logs:PutLogEvents",
    "logs:PutRetentionPolicy",
    "logs:DeleteLogStream",
)


# cross-account: the hook is declared in production's account, and so is the pattern that
# keeps production's deploy role and its stack's roles off it.
@pytest.mark.parametrize("stack", ["prod", "progressive", "cross-account"])
def test_no_role_an_environment_controls_can_rewrite_or_remove_a_lifecycle_hook(stack):
    mocks = any_stack(stack).mocks
    roles = declared_roles(mocks)
    hook = arn(mocks, "aws:lambda/function:Function", "hook-production-function")
    log_group = arn(mocks, "aws:cloudwatch/logGroup:LogGroup", "hook-production-logs")
    requests = [Request(action, hook) for action in HOOK_CHANGES] + [
        Request(action, resource)
        for action in HOOK_LOG_CHANGES
        for resource in (log_group, f"{log_group}:log-stream:2026/12/07/[$LATEST]abc")
    ]
    for environment, stack_name in deployed_environments(mocks):
        for role in (roles[f"deploy-{environment}-role"], minted_admin(mocks, environment, stack_name)):
            let_through = [str(r) for r in requests if role.allows(r)]
            assert let_through == [], (environment, role.name)
    # Both ways: what the hook needs still works (ECS invokes it through its invoke role; the
    # function writes its own logs).
    assert roles["hook-production-invoke-role"].allows(Request("lambda:InvokeFunction", hook))
    assert roles["hook-production-role"].allows(
        Request("logs:PutLogEvents", f"{log_group}:log-stream:2026/12/07/[$LATEST]abc")
    )


# The patterns name every account as `*` (components/lifecycle_hook.py `protected_patterns`): the
# list every deploy role and boundary carries no longer grows with the accounts that have a hook.
# Both ways: wider in account, the deny reaches the delivery system's hooks in every account,
# and nothing else of an environment's own (its stack's functions and log groups).
@pytest.mark.parametrize("stack", ["prod", "cross-account"])
def test_the_hook_deny_covers_every_account_and_nothing_an_environment_owns(stack):
    mocks = any_stack(stack).mocks
    roles = declared_roles(mocks)
    for environment, stack_name in deployed_environments(mocks):
        for role in (roles[f"deploy-{environment}-role"], minted_admin(mocks, environment, stack_name)):
            account = role.arn.split(":")[4]
            # A hook of this delivery system in the role's own account, whichever account that is
            # (cross-account: dev's, in the pipeline's account, where no hook is declared today).
            prefix = f"todobackend-{stack}"
            hook = f"arn:aws:lambda:eu-west-1:{account}:function:{prefix}-hook-{environment}"
            hook_logs = f"arn:aws:logs:eu-west-1:{account}:log-group:/ecs-delivery/{prefix}/{environment}/lifecycle-hook"
            assert not [a for a in HOOK_CHANGES if role.allows(Request(a, hook))], (environment, role.name)
            assert not [a for a in HOOK_LOG_CHANGES if role.allows(Request(a, hook_logs))], (
                environment,
                role.name,
            )
            # Its own stack's function and logs (CloudFormation's generated names) stay its own.
            own = f"arn:aws:lambda:eu-west-1:{account}:function:{stack_name}-Migrations-1A2B3C4D5E6F"
            own_logs = f"arn:aws:logs:eu-west-1:{account}:log-group:/ecs/{stack_name}"
            assert [a for a in HOOK_CHANGES if not role.allows(Request(a, own))] == [], (
                environment,
                role.name,
            )
            assert [a for a in HOOK_LOG_CHANGES if not role.allows(Request(a, own_logs))] == [], (
                environment,
                role.name,
            )


def test_the_hook_function_has_the_name_the_environments_are_kept_off():
    mocks = any_stack("prod").mocks
    function = only(mocks, "aws:lambda/function:Function", "hook-production-function")
    # `<application.name>-<stack>-hook-<environment>`, as tests/fixtures/stacks/Pulumi.prod.yaml names them.
    assert function.inputs["name"] == "todobackend-prod-hook-production"
