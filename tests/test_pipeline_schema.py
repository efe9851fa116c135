"""An independent check of the declared pipeline: the recorded CodePipeline inputs,
written as an `AWS::CodePipeline::Pipeline` CloudFormation resource, go through cfn-lint,
which knows the resource schema (required properties, enums, patterns, limits) and
CodePipeline's structure rules (source actions first, artifact names and counts, template
paths from input artifacts)."""

from __future__ import annotations

import copy
import functools
import json
from typing import Any

import pytest
from cfnlint.api import lint
from cfnlint.core import get_rules

from tests.conftest import config_with, pipeline_inputs, run_config, run_stack


def as_cloudformation(inputs: dict[str, Any]) -> dict[str, Any]:
    """Pulumi's (camelCase) pipeline inputs as CloudFormation properties."""

    def action(a: dict[str, Any]) -> dict[str, Any]:
        converted = {
            "Name": a["name"],
            "ActionTypeId": {
                "Category": a["category"],
                "Owner": a["owner"],
                "Provider": a["provider"],
                "Version": a["version"],
            },
            "Configuration": a.get("configuration", {}),
            "RunOrder": int(a.get("runOrder", 1)),
        }
        if a.get("inputArtifacts"):
            converted["InputArtifacts"] = [{"Name": n} for n in a["inputArtifacts"]]
        if a.get("outputArtifacts"):
            converted["OutputArtifacts"] = [{"Name": n} for n in a["outputArtifacts"]]
        if a.get("namespace"):
            converted["Namespace"] = a["namespace"]
        return converted

    (store,) = inputs["artifactStores"]
    artifact_store = {"Type": store["type"], "Location": store["location"]}
    if store.get("encryptionKey"):
        artifact_store["EncryptionKey"] = {
            "Id": store["encryptionKey"]["id"],
            "Type": store["encryptionKey"]["type"],
        }
    properties = {
        "Name": inputs["name"],
        "RoleArn": inputs["roleArn"],
        "PipelineType": inputs["pipelineType"],
        "ExecutionMode": inputs["executionMode"],
        "ArtifactStore": artifact_store,
        "Stages": [
            {"Name": s["name"], "Actions": [action(a) for a in s["actions"]]} for s in inputs["stages"]
        ],
        "Triggers": [
            {
                "ProviderType": t["providerType"],
                "GitConfiguration": {
                    "SourceActionName": t["gitConfiguration"]["sourceActionName"],
                    "Push": [
                        {"Branches": {"Includes": p["branches"]["includes"]}}
                        for p in t["gitConfiguration"]["pushes"]
                    ],
                },
            }
            for t in inputs["triggers"]
        ],
    }
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": {"Pipeline": {"Type": "AWS::CodePipeline::Pipeline", "Properties": properties}},
    }


@functools.cache
def cfn_lint_rules():
    """cfn-lint's own rules (all of them, its defaults), loaded once: `lint` without them
    loads every rule module again on each call, about half a second of CPU."""
    return get_rules([], [], [])


def errors(template: dict[str, Any]) -> list[str]:
    matches = lint(json.dumps(template), rules=cfn_lint_rules(), regions=["eu-west-1"])
    return [f"{m.rule.id} {m.message}" for m in matches if m.rule.id.startswith("E")]


THREE_ENVIRONMENTS = config_with(
    environments=[
        {"name": "dev", "stackName": "shop-dev"},
        {
            "name": "staging",
            "stackName": "shop-staging",
            "approval": True,
            "approvers": ["arn:aws:iam::123456789012:role/release-managers"],
        },
        {
            "name": "production",
            "stackName": "shop-prod",
            "approval": True,
            "approvers": ["arn:aws:iam::123456789012:role/release-managers"],
        },
    ],
    artifacts={"kmsKeyArn": "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"},
    executionMode="QUEUED",
)


@pytest.mark.parametrize("case", ["dev", "prod", "three-environments"])
def test_declared_pipeline_passes_cfn_lint(case):
    mocks = run_config(THREE_ENVIRONMENTS).mocks if case == "three-environments" else run_stack(case).mocks
    assert errors(as_cloudformation(pipeline_inputs(mocks))) == []


def test_cfn_lint_catches_a_broken_pipeline():
    template = as_cloudformation(pipeline_inputs(run_stack("prod").mocks))
    broken = copy.deepcopy(template)
    stages = broken["Resources"]["Pipeline"]["Properties"]["Stages"]
    stages[1]["Actions"].append(copy.deepcopy(stages[0]["Actions"][0]) | {"Name": "LateSource"})
    stages[2]["Actions"][0]["Configuration"]["TemplatePath"] = "Nowhere::stack.yml"
    found = errors(broken)
    assert any(e.startswith("E3700") for e in found), found  # source action outside the first stage
    assert any(e.startswith("E3703") for e in found), found  # template path from no input artifact
