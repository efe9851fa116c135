"""The buildspec runner follows CodeBuild's documented semantics, checked case by case
before any buildspec is judged with it."""

from __future__ import annotations

import pytest

from tests.support.buildspec import UnsupportedBuildspec, run_buildspec, stub_environment


def run(tmp_path, spec: str):
    source = tmp_path / "src"
    source.mkdir(exist_ok=True)
    return run_buildspec(
        spec, source_dir=source, environment=stub_environment(tmp_path, {}), state_dir=tmp_path / "state"
    )


def test_one_shell_per_build_variables_and_directory_persist(tmp_path):
    result = run(
        tmp_path,
        """
version: 0.2
env:
  variables: {GREETING: hello}
  exported-variables: [WORD, WHERE, GREETING]
phases:
  pre_build:
    commands:
      - WORD=world
      - mkdir -p sub && cd sub
  build:
    commands:
      - WORD="$WORD!"
      - WHERE=$(basename "$PWD")
""",
    )
    assert result.succeeded
    assert result.exported == {"WORD": "world!", "WHERE": "sub", "GREETING": "hello"}


def test_a_failed_build_still_runs_post_build_with_succeeding_0_and_attempts_the_upload(tmp_path):
    result = run(
        tmp_path,
        """
version: 0.2
env: {exported-variables: [SEEN, AFTER]}
phases:
  build:
    commands:
      - "false"
      - AFTER=ran
  post_build:
    commands:
      - SEEN=$CODEBUILD_BUILD_SUCCEEDING
      - echo x > out.txt
artifacts: {files: [out.txt]}
""",
    )
    assert result.phases == {"build": "FAILED", "post_build": "SUCCEEDED"}
    assert result.exported == {"SEEN": "0", "AFTER": ""}  # the phase stopped at the failure
    assert list(result.artifacts) == ["out.txt"]
    assert not result.succeeded


def test_a_pre_build_failure_skips_build_post_build_and_upload_but_runs_finally(tmp_path):
    result = run(
        tmp_path,
        """
version: 0.2
env: {exported-variables: [CLEANED]}
phases:
  pre_build:
    commands:
      - exit 3
    finally:
      - CLEANED=yes
  build:
    commands: [echo never]
  post_build:
    commands: [echo never]
artifacts: {files: [anything]}
""",
    )
    assert result.phases == {"pre_build": "FAILED", "build": "SKIPPED", "post_build": "SKIPPED"}
    assert result.upload == "SKIPPED"
    assert result.exported == {"CLEANED": "yes"}
    assert "never" not in result.output


def test_artifact_paths_are_globs_without_variable_expansion(tmp_path):
    result = run(
        tmp_path,
        """
version: 0.2
env: {variables: {VERSION_FILE: version.json}}
phases:
  build:
    commands: ['echo {} > "$VERSION_FILE"']
artifacts: {files: [$VERSION_FILE]}
""",
    )
    assert result.phases == {"build": "SUCCEEDED"}
    assert result.upload == "FAILED"
    assert "no matching artifact paths found" in result.output


def test_what_the_runner_does_not_model_is_refused(tmp_path):
    with pytest.raises(UnsupportedBuildspec, match=r"phases.build: \['on-failure'\] not modelled"):
        run(tmp_path, "version: 0.2\nphases:\n  build:\n    on-failure: CONTINUE\n    commands: [echo]\n")
    with pytest.raises(UnsupportedBuildspec, match=r"env: \['secrets-manager'\]"):
        run(
            tmp_path,
            "version: 0.2\nenv:\n  secrets-manager: {X: y}\nphases:\n  build:\n    commands: [echo]\n",
        )
