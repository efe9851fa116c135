"""todobackend: the example application, a small todo API kept in Redis.

The book's todobackend is a Django app with MySQL; this one keeps what the delivery system
relies on and nothing else: an HTTP service in a container image, a test suite that needs a
second service (the database) under docker-compose, and the `/todos` path the smoke test asks.

    GET  /todos          the todos, oldest first
    POST /todos          {"title": "..."} adds one; answers 201 with it
    GET  /health         200 once Redis answers
"""

from __future__ import annotations

import json
import os
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import redis

TODOS_KEY = "todos"


def connect() -> redis.Redis:
    return redis.Redis(
        host=os.environ.get("REDIS_HOST", "localhost"),
        port=int(os.environ.get("REDIS_PORT", "6379")),
        decode_responses=True,
        socket_timeout=5,
    )


class TodoHandler(BaseHTTPRequestHandler):
    store: redis.Redis

    def _answer(self, status: HTTPStatus, body: object) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:
        if self.path == "/todos":
            self._answer(HTTPStatus.OK, [json.loads(item) for item in self.store.lrange(TODOS_KEY, 0, -1)])
        elif self.path == "/health":
            self.store.ping()
            self._answer(HTTPStatus.OK, {"status": "ok"})
        else:
            self._answer(HTTPStatus.NOT_FOUND, {"error": f"no such path: {self.path}"})

    def do_POST(self) -> None:
        if self.path != "/todos":
            self._answer(HTTPStatus.NOT_FOUND, {"error": f"no such path: {self.path}"})
            return
        try:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
            title = body["title"]
        except (ValueError, KeyError, TypeError):
            self._answer(HTTPStatus.BAD_REQUEST, {"error": 'expected {"title": "..."}'})
            return
        todo = {"id": self.store.incr("todo-ids"), "title": str(title), "completed": False}
        self.store.rpush(TODOS_KEY, json.dumps(todo))
        self._answer(HTTPStatus.CREATED, todo)

    def log_message(self, format: str, *args: object) -> None:
        print(f"{self.address_string()} {format % args}", flush=True)


def serve(port: int, store: redis.Redis) -> ThreadingHTTPServer:
    handler = type("BoundTodoHandler", (TodoHandler,), {"store": store})
    return ThreadingHTTPServer(("0.0.0.0", port), handler)  # noqa: S104 - a container's service port


if __name__ == "__main__":
    server = serve(int(os.environ.get("PORT", "8000")), connect())
    print(f"todobackend listening on :{server.server_address[1]}", flush=True)
    server.serve_forever()
