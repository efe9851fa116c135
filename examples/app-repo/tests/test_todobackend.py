"""The application against a real Redis (the compose `db` service): what it stores is what
it answers, and bad input is refused."""

from __future__ import annotations

import json
import threading
import unittest
import urllib.error
import urllib.request

import todobackend


class TodoApiTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.store = todobackend.connect()
        cls.store.delete(todobackend.TODOS_KEY)
        cls.server = todobackend.serve(0, cls.store)
        threading.Thread(target=cls.server.serve_forever, daemon=True).start()
        cls.url = f"http://127.0.0.1:{cls.server.server_address[1]}"

    @classmethod
    def tearDownClass(cls) -> None:
        cls.server.shutdown()

    def request(self, method: str, path: str, body: object = None) -> tuple[int, object]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)  # noqa: S310 - loopback http
        try:
            with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310 - loopback
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def test_a_created_todo_is_listed_from_the_database(self) -> None:
        status, created = self.request("POST", "/todos", {"title": "ship it"})
        self.assertEqual(status, 201)
        self.assertEqual(created["title"], "ship it")
        self.assertIn(json.dumps(created), self.store.lrange(todobackend.TODOS_KEY, 0, -1))
        status, todos = self.request("GET", "/todos")
        self.assertEqual(status, 200)
        self.assertIn(created, todos)

    def test_a_todo_without_a_title_is_refused(self) -> None:
        status, _ = self.request("POST", "/todos", {"name": "no title"})
        self.assertEqual(status, 400)

    def test_health_answers_once_the_database_does(self) -> None:
        self.assertEqual(self.request("GET", "/health"), (200, {"status": "ok"}))


if __name__ == "__main__":
    unittest.main()
