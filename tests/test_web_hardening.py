"""The web lab under hostile or heavy use: no cross-site changes, HEAD answered, expensive
requests queued so the server stays responsive, slow clients disconnected."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator

import pytest

pytest.importorskip("fastapi")
import httpx
import uvicorn

from rnnlab.web.app import ComputeQueue, create_app
from rnnlab.web.command import bind, timely_protocol
from rnnlab.web.lab import Lab
from tests.test_web_api import CORPUS, client, lab, make  # noqa: F401 (fixtures)


# -- cross-site requests -------------------------------------------------------------------
@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site", "Origin": "http://testserver"},
    ],
)
def test_a_request_from_another_site_cannot_change_the_lab(client, headers):  # noqa: F811
    model = make(client)["id"]
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    answer = client.post(f"/api/models/{model}/stop", headers=headers | form, content=b"x=1")
    assert answer.status_code == 403 and "another site" in answer.json()["error"]
    answer = client.post("/api/models", headers=headers, json={"hidden_size": 16})
    assert answer.status_code == 403


def test_the_lab_page_itself_and_scripts_may_change_it(client):  # noqa: F811
    model = make(client)["id"]
    same = {"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"}
    assert client.post(f"/api/models/{model}/stop", headers=same).status_code == 200
    assert client.post(f"/api/models/{model}/stop").status_code == 200  # curl: no headers
    reading = {"Origin": "http://evil.example"}  # reading is not changing: CORS guards it
    assert client.get("/api/health", headers=reading).status_code == 200


# -- HEAD --------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/", "/api/health", "/api/lab", "/static/js/main.js"])
def test_head_is_answered_as_get_without_a_body(client, path):  # noqa: F811
    get, head = client.get(path), client.head(path)
    assert get.status_code == head.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"] == get.headers["content-type"]


# -- the queue of expensive requests -------------------------------------------------------
def test_expensive_requests_wait_in_a_bounded_queue_and_the_rest_pass():
    async def scenario() -> list[int]:
        release = asyncio.Event()
        computing = []

        async def slow_app(scope, receive, send):
            if scope["path"] == "/slow":
                computing.append(1)
                await release.wait()
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"done"})

        queue = ComputeQueue(slow_app, frozenset({"/slow"}), workers=1, max_waiting=2)
        transport = httpx.ASGITransport(app=queue)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            slow = [asyncio.create_task(http.get("/slow")) for _ in range(3)]
            while queue.waiting < 2:  # one computes, two wait
                await asyncio.sleep(0)
            refused = await http.get("/slow")  # the queue is full
            quick = await http.get("/health")  # not an expensive path: answered at once
            assert len(computing) == 1
            release.set()
            done = await asyncio.gather(*slow)
        return [refused.status_code, quick.status_code, *(r.status_code for r in done)]

    assert asyncio.run(scenario()) == [503, 200, 200, 200, 200]


# -- slow clients ------------------------------------------------------------------------
@pytest.fixture
def server() -> Iterator[tuple[str, int]]:
    """A real server (uvicorn, the lab's protocol) whose requests must arrive in 0.5 s."""
    lab_ = Lab(corpus=lambda: CORPUS)
    sock = bind("127.0.0.1", 0)
    config = uvicorn.Config(
        create_app(lab_), log_level="warning", access_log=False, http=timely_protocol(0.5)
    )
    served = uvicorn.Server(config)
    thread = threading.Thread(target=served.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    host, port = sock.getsockname()[:2]
    try:
        yield host, port
    finally:
        served.should_exit = True
        thread.join(10)
        sock.close()
        lab_.close()


def ask(address: tuple[str, int], data: bytes) -> bytes:
    """Send ``data`` and read until the server closes (or 10 s pass: then b"timeout")."""
    with socket.create_connection(address, timeout=10) as conn:
        conn.sendall(data)
        received = b""
        try:
            while chunk := conn.recv(65536):
                received += chunk
        except TimeoutError:
            return b"timeout"
        return received


def test_a_client_that_sends_its_request_slowly_is_disconnected(server):
    started = b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "  # never finished
    assert ask(server, started) == b""  # closed by the server, well before 10 s


def test_a_whole_request_is_answered_and_then_the_idle_connection_closed(server):
    answer = ask(server, b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b'{"ok":true}')
