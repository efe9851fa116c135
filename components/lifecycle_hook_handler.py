"""The ECS lifecycle-hook function: the environment's test against the new revision, on the
test listener, before production traffic moves (components/lifecycle_hook.py declares it; the
template configures it at POST_TEST_TRAFFIC_SHIFT, docs/deployment-strategies.md).

Plain Python on the standard library only, so that Lambda's runtime runs it as it is (no
package to bundle) and the tests call `handler` directly against a local HTTP server.

What ECS asks of it (AWS, "Lambda hooks for Amazon ECS service deployments"): return a JSON
object with `hookStatus` SUCCEEDED (the deployment goes on), FAILED (ECS rolls back to the last
successful revision) or IN_PROGRESS (ECS invokes it again after `callBackDelay` seconds,
default 30, passing back the `hookDetails` returned with it); no valid `hookStatus`, or an
error, also rolls back. The service's own `HookDetails` are passed on every invocation; the
template puts the test listener's URL there as `testUrl`.

Assumptions (not run against ECS here): the invocation event carries the details under
`hookDetails`, as a mapping or as the JSON text the template's HookDetails may be; details
returned with IN_PROGRESS replace the service's on the next invocation, so they are returned
whole (the URL included).
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from typing import Any

SUCCEEDED, FAILED, IN_PROGRESS = "SUCCEEDED", "FAILED", "IN_PROGRESS"
# Seconds between attempts while the new revision's targets may still be registering.
CALLBACK_DELAY_SECONDS = 15
REQUEST_TIMEOUT_SECONDS = 10


def _details(event: dict[str, Any]) -> dict[str, Any]:
    details = event.get("hookDetails") or {}
    if isinstance(details, str):
        try:
            details = json.loads(details)
        except json.JSONDecodeError:
            return {}
    return details if isinstance(details, dict) else {}


def _status_of(url: str) -> tuple[int | None, str]:
    """The HTTP status of a GET (redirects followed), or None and why there was none."""
    request = urllib.request.Request(url, headers={"User-Agent": "ecs-delivery-lifecycle-hook"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_SECONDS) as response:  # noqa: S310 - the test URL is the template's http listener
            return response.status, ""
    except urllib.error.HTTPError as error:
        return error.code, error.reason
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        return None, str(getattr(error, "reason", error))


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    details = _details(event)
    base = str(details.get("testUrl") or "").rstrip("/")
    paths = json.loads(os.environ.get("TEST_PATHS", '["/"]'))
    attempts = int(os.environ.get("TEST_ATTEMPTS", "3"))
    attempt = int(details.get("attempt", 0)) + 1
    if not base.startswith(("http://", "https://")):
        print(
            f"no test URL: the service's HookDetails must give testUrl (got {base!r}); failing the deployment"
        )
        return {"hookStatus": FAILED}
    failures = []
    for path in paths:
        status, reason = _status_of(base + path)
        print(f"attempt {attempt}: GET {base + path} -> {status if status is not None else reason}")
        if status is None or not 200 <= status < 300:
            failures.append(f"{path}: {status if status is not None else reason}")
    if not failures:
        return {"hookStatus": SUCCEEDED}
    if attempt < attempts:
        return {
            "hookStatus": IN_PROGRESS,
            "callBackDelay": CALLBACK_DELAY_SECONDS,
            "hookDetails": {**details, "attempt": attempt},
        }
    print(f"the new revision failed its test after {attempt} attempts ({'; '.join(failures)}): rolling back")
    return {"hookStatus": FAILED}
