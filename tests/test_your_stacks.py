"""Your stacks: whichever root Pulumi.<stack>.yaml files exist, checked without a single
literal name, count or value, so that rewriting them for your own application, adding or
removing environments, or deleting one keeps `make test` green.

Each stack loads and validates, the program declares the whole delivery system for exactly the
environments it configures, the offline synth renders it, and (in the modules that own those
proofs, parametrized with `yours:<stack>`) it passes the policy pack, the permission and
isolation proofs and the least-privilege lint. tests/adoption/ proves the claim above in a copy
of the repository whose root stacks are rewritten.
"""

from __future__ import annotations

import pytest

from components.blueprint import approval_stage_name, plan_stage_name
from components.config import load_config, raw_config_from_pulumi
from offline import synth
from offline.program import load_stack_config
from tests.conftest import PROJECT_DIR, run_user_stack, stage_names, user_stacks

STACKS = user_stacks()


def test_there_is_a_stack_to_check():
    # Without one there is nothing to deploy; each file found is checked below.
    assert STACKS, "no Pulumi.<stack>.yaml at the project root"


@pytest.mark.parametrize("stack", STACKS)
def test_your_stack_loads_and_its_config_validates(stack):
    loaded = load_stack_config(stack, PROJECT_DIR)
    load_config(raw_config_from_pulumi(loaded.values), stack=stack)


@pytest.mark.parametrize("stack", STACKS)
def test_your_stack_declares_a_pipeline_for_exactly_its_environments(stack):
    loaded = load_stack_config(stack, PROJECT_DIR)
    config = load_config(raw_config_from_pulumi(loaded.values), stack=stack)
    expected = ["Source", "Build"]
    for env in config.environments:
        expected += (
            [plan_stage_name(env.name), approval_stage_name(env.name), env.name]
            if env.approval
            else [env.name]
        )
    run = run_user_stack(stack)
    assert stage_names(run.mocks) == expected
    types = {r.type for r in run.mocks.resources}
    assert {
        "ecs-delivery:build_image:BuildImage",
        "ecs-delivery:build_project:BuildProject",
        "ecs-delivery:pipeline:DeliveryPipeline",
        "ecs-delivery:artifact_store:ArtifactStore",
    } <= types
    deploy_roles = [r for r in run.mocks.resources if r.type == "ecs-delivery:deploy_role:DeployRole"]
    assert len(deploy_roles) == len(config.environments)
    assert run.outputs["pipeline_url"].startswith(f"https://{loaded.region}.console.aws.amazon.com/")


@pytest.mark.parametrize("stack", STACKS)
def test_your_stack_synthesises_for_review(stack, tmp_path):
    target, records, _ = synth.synth(stack, tmp_path, PROJECT_DIR)
    assert records
    assert (target / "pipeline.md").read_text().startswith(f"# ecs-delivery — stack `{stack}`")
