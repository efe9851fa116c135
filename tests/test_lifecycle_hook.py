"""The lifecycle-hook test: its function's code run for real against a local HTTP server standing
in for the test listener, the answers ECS expects of it (AWS, "Lambda hooks for Amazon ECS
service deployments": hookStatus SUCCEEDED, FAILED or IN_PROGRESS with callBackDelay and
hookDetails), and the component's resources and least-privilege roles."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from typing import ClassVar

import pulumi
import pytest

from components import lifecycle_hook, lifecycle_hook_handler
from offline.mocks import RecordingMocks
from tests.conftest import only, run_stack


class _TestListener(http.server.BaseHTTPRequestHandler):
    """Answers each path with the status the test gives it (404 for the rest)."""

    statuses: ClassVar[dict[str, int]] = {}
    requests: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        type(self).requests.append(self.path)
        status = type(self).statuses.get(self.path, 404)
        body = b"[]"
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def listener() -> Iterator[tuple[str, type[_TestListener]]]:
    handler = type("Listener", (_TestListener,), {"statuses": {}, "requests": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()


def _event(test_url: str, **details: object) -> dict:
    # The shape of a POST_TEST_TRAFFIC_SHIFT invocation (AWS, "Lifecycle hooks for Amazon ECS
    # service deployments", lifecycle payloads), with the service's HookDetails.
    return {
        "serviceArn": "arn:aws:ecs:eu-west-1:123456789012:service/cluster/app",
        "targetServiceRevisionArn": "arn:aws:ecs:eu-west-1:123456789012:service-revision/cluster/app/1",
        "testTrafficWeights": {},
        "productionTrafficWeights": {},
        "hookDetails": {"testUrl": test_url, **details},
    }


def test_every_path_answering_2xx_lets_the_deployment_go_on(listener, monkeypatch):
    url, server = listener
    server.statuses.update({"/todos": 200, "/health": 204})
    monkeypatch.setenv("TEST_PATHS", json.dumps(["/todos", "/health"]))
    assert lifecycle_hook_handler.handler(_event(url)) == {"hookStatus": "SUCCEEDED"}
    assert server.requests == ["/todos", "/health"]


def test_a_failing_path_is_tried_again_then_fails_the_deployment(listener, monkeypatch):
    url, server = listener
    server.statuses.update({"/todos": 500})
    monkeypatch.setenv("TEST_PATHS", json.dumps(["/todos"]))
    monkeypatch.setenv("TEST_ATTEMPTS", "2")
    first = lifecycle_hook_handler.handler(_event(url))
    # ECS invokes again after callBackDelay seconds, handing back the details returned.
    assert first == {
        "hookStatus": "IN_PROGRESS",
        "callBackDelay": 15,
        "hookDetails": {"testUrl": url, "attempt": 1},
    }
    second = lifecycle_hook_handler.handler({"hookDetails": first["hookDetails"]})
    assert second == {"hookStatus": "FAILED"}
    assert server.requests == ["/todos", "/todos"]


def test_a_path_that_recovers_on_the_next_attempt_succeeds(listener, monkeypatch):
    url, server = listener
    monkeypatch.setenv("TEST_PATHS", json.dumps(["/todos"]))
    first = lifecycle_hook_handler.handler(_event(url))
    assert first["hookStatus"] == "IN_PROGRESS"
    server.statuses["/todos"] = 200
    assert lifecycle_hook_handler.handler({"hookDetails": first["hookDetails"]}) == {
        "hookStatus": "SUCCEEDED"
    }


def test_no_listener_is_a_failure_not_an_error(monkeypatch):
    # Nothing listens on port 9 of the loopback (discard): the connection is refused.
    monkeypatch.setenv("TEST_PATHS", json.dumps(["/"]))
    monkeypatch.setenv("TEST_ATTEMPTS", "1")
    assert lifecycle_hook_handler.handler(_event("http://127.0.0.1:9")) == {"hookStatus": "FAILED"}


def test_details_given_as_json_text_are_read(listener, monkeypatch):
    # The registry schema: HookDetails "must be a JSON object as a string" (or an object).
    url, server = listener
    server.statuses["/"] = 200
    monkeypatch.setenv("TEST_PATHS", json.dumps(["/"]))
    assert lifecycle_hook_handler.handler({"hookDetails": json.dumps({"testUrl": url})}) == {
        "hookStatus": "SUCCEEDED"
    }


@pytest.mark.parametrize("details", [{}, {"testUrl": ""}, {"testUrl": "file:///etc/passwd"}, "not json"])
def test_without_a_test_url_the_deployment_fails(details, monkeypatch):
    monkeypatch.setenv("TEST_PATHS", json.dumps(["/"]))
    assert lifecycle_hook_handler.handler({"hookDetails": details}) == {"hookStatus": "FAILED"}


def test_the_policies_are_its_logs_and_this_function_alone():
    log_group = (
        "arn:aws:logs:eu-west-1:123456789012:log-group:/ecs-delivery/app-prod/production/lifecycle-hook"
    )
    assert lifecycle_hook.function_policy(log_group_arn=log_group)["Statement"] == [
        {
            "Sid": "WriteOwnLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": [f"{log_group}:*"],
        }
    ]
    function = "arn:aws:lambda:eu-west-1:123456789012:function:hook"
    assert lifecycle_hook.invoke_policy(function_arn=function)["Statement"] == [
        {
            "Sid": "InvokeTestHook",
            "Effect": "Allow",
            "Action": ["lambda:InvokeFunction"],
            "Resource": [function],
        }
    ]


@pulumi.runtime.test
def test_the_component_declares_the_function_with_its_code_and_two_roles(mocks: RecordingMocks):
    hook = lifecycle_hook.LifecycleHook(
        "hook-production",
        lifecycle_hook.LifecycleHookArgs(
            name_prefix="todobackend-prod", environment="production", test_paths=("/todos",)
        ),
    )

    def check(_):
        function = only(mocks, "aws:lambda/function:Function")
        assert function.inputs["runtime"] == "python3.12"
        assert function.inputs["handler"] == "index.handler"
        assert json.loads(function.inputs["environment"]["variables"]["TEST_PATHS"]) == ["/todos"]
        archive = function.raw_inputs["code"]
        assert archive.assets["index.py"].path == str(lifecycle_hook.HANDLER_FILE)
        trusts = {
            role.name: json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]["Principal"]["Service"]
            for role in mocks.resources
            if role.type == "aws:iam/role:Role"
        }
        assert trusts == {
            "hook-production-role": "lambda.amazonaws.com",
            "hook-production-invoke-role": "ecs.amazonaws.com",
        }
        assert (
            function.inputs["loggingConfig"]["logGroup"]
            == "/ecs-delivery/todobackend-prod/production/lifecycle-hook"
        )

    return pulumi.Output.all(hook.function_arn, hook.invoke_role_arn).apply(check)


def test_the_prod_fixture_declares_one_hook_for_production():
    run = run_stack("prod")
    hooks = [r.name for r in run.mocks.resources if r.type == "ecs-delivery:lifecycle_hook:LifecycleHook"]
    assert hooks == ["hook-production"]
