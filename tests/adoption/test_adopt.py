"""Adopting ecs-delivery for another application: a copy of this repository whose root stack
files are rewritten (another application, other repositories and branches, other
environments, a stack removed and one added, a gated environment in a second AWS account, a
region no fixture uses) passes every tier that reads stack files.

Slow (the copy runs lint, unit, provider and scenarios: a few minutes), so a tier of its own:
`make adoption`. The container tier reads no stack file and does not run in the copy.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[2]

# Neither is used by any fixture (tests/fixtures/stacks, offline/mocks.py): a check that
# compared with a fixture's account or region instead of the stack's own would fail here.
LIVE_ACCOUNT = "730335218394"
PIPELINE_ACCOUNT = "418295720346"
REGION = "ap-southeast-2"

ANOTHER_APPLICATION = f"""\
# Another team's application: three environments, two gated, live in an account of its own.
config:
  aws:region: {REGION}
  ecs-delivery:application:
    name: shop
    repository: acme/shop
    branch: main
  ecs-delivery:infrastructure:
    repository: acme/shop-infra
    branch: release
    templatePath: cfn/service.yml
  ecs-delivery:environments:
    - name: integration
      stackName: shop-integration
      verify: {{}}
    - name: staging
      stackName: shop-staging
      approval: true
      approvers: [arn:aws:iam::{PIPELINE_ACCOUNT}:role/shop-release-managers]
      onFailure:
        result: ROLLBACK
    - name: live
      stackName: shop-live
      templateConfiguration: live.json
      approval: true
      approverGroup: true
      account: "{LIVE_ACCOUNT}"
      deploymentWindow:
        cron: "* * 8-17 ? * MON-FRI"
        timeZone: Australia/Sydney
      alarms: [shop-live-5xx]
      bakeMinutes: 15
      verify: {{}}
      onFailure:
        result: ROLLBACK
  ecs-delivery:targetAccounts:
    "{LIVE_ACCOUNT}":
      roleArn: arn:aws:iam::{LIVE_ACCOUNT}:role/platform/shop-delivery-bootstrap
  ecs-delivery:notifications:
    emails:
      - releases@acme.example
"""

ONE_ENVIRONMENT = """\
config:
  aws:region: us-west-2
  ecs-delivery:application:
    name: shop-qa
    repository: acme/shop
  ecs-delivery:infrastructure:
    repository: acme/shop-infra
  ecs-delivery:environments:
    - name: qa
      stackName: shop-qa
  ecs-delivery:protectStatefulResources: false
"""


def _files() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=PROJECT_DIR,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return [f for f in listed.split("\0") if f and (PROJECT_DIR / f).is_file()]


def run_streaming(
    command: list[str], cwd: Path, environment: dict[str, str], say, timeout: float
) -> tuple[int, str]:
    """(exit status, output) of `command`, its output shown as it comes (the tiers of the copy
    take minutes: silence would look hung), stderr merged into stdout in the order written."""
    output: list[str] = []
    timed_out = threading.Event()
    with subprocess.Popen(  # noqa: S603 - make in the copy, fixed arguments
        command,
        cwd=cwd,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        # A group of its own: at the deadline make and every process it started are stopped.
        start_new_session=True,
    ) as running:
        assert running.stdout is not None

        def stop() -> None:
            timed_out.set()
            os.killpg(running.pid, signal.SIGKILL)

        deadline = threading.Timer(timeout, stop)
        deadline.start()
        try:
            # Chunks as they come, not lines: pytest's progress dots end no line.
            for chunk in iter(lambda: running.stdout.read1(4096), b""):
                text = chunk.decode(errors="replace")
                output.append(text)
                say(text, end="")
        finally:
            deadline.cancel()
        status = running.wait()
    if timed_out.is_set():
        raise TimeoutError(f"{' '.join(command)} ran over {timeout:.0f} s:\n{''.join(output)[-3000:]}")
    return status, "".join(output)


def test_rewritten_root_stacks_keep_every_tier_that_reads_them_green(tmp_path, say):
    copy = tmp_path / "shop-delivery"
    for name in _files():
        target = copy / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(PROJECT_DIR / name, target)  # mtimes kept: the venv is not rebuilt
    (copy / "venv").symlink_to(PROJECT_DIR / "venv")
    for stack in copy.glob("Pulumi.*.yaml"):
        stack.unlink()
    (copy / "Pulumi.prod.yaml").write_text(ANOTHER_APPLICATION)
    (copy / "Pulumi.qa.yaml").write_text(ONE_ENVIRONMENT)
    # A fresh top-level run, as yours would be: not a sub-make of the `make adoption` running us.
    environment = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PYTEST") and k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS", "MAKEOVERRIDES")
    }
    # Every Python of the copy writes as it goes, so its progress reaches us as it is made.
    environment["PYTHONUNBUFFERED"] = "1"
    say(f"adoption: lint, unit, provider and scenarios in a copy at {copy}")
    status, output = run_streaming(
        ["make", "-o", "venv/bin/.installed", "lint", "unit", "provider", "scenarios"],
        copy,
        environment,
        say,
        timeout=1500,
    )
    assert status == 0, output[-6000:]
    # The rewritten stacks were the ones checked, each by name.
    collected = subprocess.run(
        ["venv/bin/python", "-m", "pytest", "--collect-only", "-q", "tests/test_your_stacks.py"],
        cwd=copy,
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for stack in ("prod", "qa"):
        assert f"test_your_stack_loads_and_its_config_validates[{stack}]" in collected
    assert "[dev]" not in collected
    # The proofs that hold for any stack ran on the adopted one, and the live account's
    # bootstrap role was generated and proven with the real provider's calls.
    collected = subprocess.run(
        [
            "venv/bin/python",
            "-m",
            "pytest",
            "--collect-only",
            "-q",
            "tests/test_permissions.py",
            "tests/test_least_privilege.py",
            "tests/test_bootstrap_policy.py",
            "tests/test_bootstrap_policy_provider.py",
        ],
        cwd=copy,
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for expected in (
        "test_permissions.py::test_no_deploy_role_can_touch_another_environments_roles[yours:prod]",
        "test_least_privilege.py::test_boundaries_allow_no_iam_but_passing_their_own_stack_roles[yours:prod]",
        f"test_your_target_accounts_role_covers_what_is_declared_there_and_nothing_elsewhere[prod-{LIVE_ACCOUNT}]",
        f"test_every_call_is_allowed_by_the_generated_policy[yours:prod-{LIVE_ACCOUNT}]",
    ):
        assert expected in collected, expected
