"""`make check-template TEMPLATE=<path> [STACK=<stack>]`: the template contract, checked where
you write the template, not at deploy time.

Runs cfn-lint (all of its own rules) with ecs-delivery's contract rules
(`policy/template_rules/`), one line per finding (`file:line:column:...:rule:message`), each
contract finding worded as how to fix the template. With a stack, the parameter names are that
stack's (`imageTagParameter`, ...); without, the defaults. Exit status: cfn-lint's (0 when
nothing is found; 2 errors, 4 warnings, or their sum).

In the infrastructure repository, without this project's venv, the same check is
`cfn-lint --append-rules <ecs-delivery>/policy/template_rules stack.yml`.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
RULES = PROJECT_DIR / "policy" / "template_rules"


def contract_parameters(stack: str | None, stacks_dir: Path) -> dict[str, str]:
    """The parameters the pipeline sets, by the config key that names each (the defaults
    without a stack)."""
    from components.config import DeliveryConfig, config_from_stack
    from offline.program import load_stack_config

    keys = (
        "image_tag_parameter",
        "image_digest_parameter",
        "image_repository_parameter",
        "image_registry_parameter",
        "permissions_boundary_parameter",
    )
    if stack is None:
        return {key: DeliveryConfig.model_fields[key].default for key in keys}
    config = config_from_stack(load_stack_config(stack, stacks_dir).values, stack=stack)
    # imageDigestParameter: '' sets no digest; the rules then ask for none.
    return {key: getattr(config, key) or "" for key in keys}


def has_gated_environment(stack: str | None, stacks_dir: Path) -> bool:
    """Whether the stack releases to a gated environment (true without a stack: the contract
    then holds the template to what a gated release accepts)."""
    from components.config import config_from_stack
    from offline.program import load_stack_config

    if stack is None:
        return True
    config = config_from_stack(load_stack_config(stack, stacks_dir).values, stack=stack)
    return any(env.approval for env in config.environments)


def deployment_contract(stack: str | None, stacks_dir: Path) -> tuple[list[str], bool]:
    """The ECS strategies a stack's environments deploy with (`deployment.strategy`), and
    whether one runs the lifecycle-hook test; without a stack, none (E9109 then asks a template
    that declares DeploymentStrategy for every strategy's parameters)."""
    from components.config import config_from_stack
    from offline.program import load_stack_config

    if stack is None:
        return [], False
    config = config_from_stack(load_stack_config(stack, stacks_dir).values, stack=stack)
    deployments = [env.deployment for env in config.environments if env.deployment is not None]
    strategies = list(dict.fromkeys(deployment.ecs_strategy for deployment in deployments))
    return strategies, any(deployment.has_test_hook for deployment in deployments)


def command(
    template: Path,
    parameters: dict[str, str],
    *,
    gated: bool = True,
    strategies: list[str] | None = None,
    test_hook: bool = False,
) -> list[str]:
    """cfn-lint with the contract's rules; E9108 (what a change set does not show) and W9111
    (services that do not roll back by themselves) only for a stack with a gated environment,
    the only release that refuses the one and the one that matters most for the other."""
    configured = [f"E9101:{key}={name}" for key, name in parameters.items()]
    if strategies:
        configured.append(f"E9109:strategies={'/'.join(strategies)}")
    if test_hook:
        configured.append("E9109:test_hook=true")
    configured.append(f"E9103:boundary_parameter={parameters['permissions_boundary_parameter']}")
    configured += [
        f"W9107:{key}={parameters[key]}"
        for key in (
            "image_tag_parameter",
            "image_digest_parameter",
            "image_registry_parameter",
            "image_repository_parameter",
        )
    ]
    return [
        # cfn-lint's own entry point, in this interpreter (its package has no __main__).
        sys.executable, "-c", "import sys; from cfnlint.runner import main; sys.exit(main())",
        "--format", "parseable",
        "--append-rules", str(RULES),
        "--configure-rule", *configured,
        *([] if gated else ["--ignore-checks", "E9108", "W9111"]),
        "--template", str(template),
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Check a CloudFormation template against ecs-delivery's contract."
    )
    parser.add_argument("template", type=Path)
    parser.add_argument("--stack", help="use this stack's parameter names (Pulumi.<stack>.yaml)")
    parser.add_argument("--stacks-dir", type=Path, default=PROJECT_DIR)
    args = parser.parse_args(argv)
    if not args.template.is_file():
        print(f"check-template: no template at {args.template}", file=sys.stderr)
        return 2
    strategies, test_hook = deployment_contract(args.stack, args.stacks_dir)
    linter = command(
        args.template,
        contract_parameters(args.stack, args.stacks_dir),
        gated=has_gated_environment(args.stack, args.stacks_dir),
        strategies=strategies,
        test_hook=test_hook,
    )
    done = subprocess.run(linter, check=False)  # noqa: S603 - this interpreter running cfn-lint
    if done.returncode == 0:
        print(f"check-template: {args.template} meets the template contract")
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
