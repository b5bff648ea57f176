"""Live notices end to end: helpdesk-stream processes, the gateway and the services, real."""

from __future__ import annotations

import contextlib
import dataclasses
import http.client
import json
import os
import queue
import signal
import socket
import subprocess
import threading
import time
from urllib.parse import urlsplit

import pytest
import requests

from tests.e2e.conftest import Api, poll, unique
from tests.stack import free_port
from tools.localrun import ProcessSpec, start, stop

pytestmark = [pytest.mark.e2e]

PATH = "/api/v1/notifications/stream"


class EventStream:
    """One stream read as a browser's fetch reads it: events parsed as they arrive."""

    def __init__(self, base_url: str, token: str, last_event_id=None):
        headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = str(last_event_id)
        url = urlsplit(base_url)
        self.connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
        self.connection.request("GET", PATH, headers=headers)
        self.sock = self.connection.sock
        self.response = self.connection.getresponse()
        self.events: queue.Queue = queue.Queue()
        self.closed = threading.Event()
        if self.response.status == 200:
            threading.Thread(target=self._read, daemon=True).start()
        else:
            self.closed.set()

    def _read(self):
        event = {}
        try:
            while raw := self.response.readline():
                line = raw.decode().rstrip("\r\n")
                if not line:
                    if event:
                        self.events.put(event)
                    event = {}
                elif line.startswith(":"):
                    self.events.put({"comment": line[1:].strip()})
                else:
                    field, _, value = line.partition(":")
                    event[field] = value[1:] if value.startswith(" ") else value
        except (http.client.HTTPException, OSError, ValueError):
            pass  # closed by the server, or by close()
        finally:
            self.closed.set()

    def next(self, kind: str, timeout: float = 5.0) -> dict:
        """The next event named ``kind`` (others skipped): its id and parsed data."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {kind} event within {timeout}s")
            try:
                event = self.events.get(timeout=left)
            except queue.Empty:
                continue
            if event.get("event") == kind:
                return {"id": event.get("id"), "data": json.loads(event["data"])}

    def drain(self, seconds: float) -> list[dict]:
        """Every event (not comment) that arrives within ``seconds``."""
        got, deadline = [], time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                event = self.events.get(timeout=left)
            except queue.Empty:
                break
            if "comment" not in event:
                got.append(event)
        return got

    def close(self):
        # Shut down, not close: the reading thread is inside a read of this socket.
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def streams():
    opened = []

    def open_stream(base_url, token, last_event_id=None):
        stream = EventStream(base_url, token, last_event_id)
        opened.append(stream)
        return stream

    yield open_stream
    for stream in opened:
        stream.close()


def _reply(admin, ticket_id, text="Please try again now: the export job is fixed."):
    result = admin.post(f"/api/v1/admin/tickets/{ticket_id}/messages", {"body": text})
    assert result.status_code == 201, result.text


def _listed(user, notice_id):
    items = user.get("/api/v1/notifications").json()["items"]
    return next(n for n in items if n["id"] == notice_id)


def test_a_support_reply_reaches_the_owners_stream_within_a_second(stack, user, admin, streams):
    ticket = user.create()
    stream = streams(stack.stream_url, user.token)
    assert stream.response.headers["Content-Type"].startswith("text/event-stream")
    assert stream.next("unread_count")["data"] == {"unread_count": 0}
    _reply(admin, ticket["id"])
    replied = time.monotonic()
    notice = stream.next("notice", timeout=3)
    latency = time.monotonic() - replied
    assert latency < 1.0, f"notice took {latency:.3f}s"
    assert notice["data"]["ticket_id"] == ticket["id"]
    assert notice["data"]["kind"] == "support_reply"
    assert notice["id"] == str(notice["data"]["id"])
    assert stream.next("unread_count")["data"] == {"unread_count": 1}
    # The same shape as the list answers.
    assert notice["data"] == _listed(user, notice["data"]["id"])


def test_a_reconnect_with_last_event_id_replays_what_it_missed(stack, user, admin, streams):
    ticket = user.create()
    first = streams(stack.stream_url, user.token)
    first.next("unread_count")
    _reply(admin, ticket["id"])
    seen = first.next("notice")["data"]["id"]
    first.close()
    _reply(admin, ticket["id"], "A second answer while you were away.")
    _reply(admin, ticket["id"], "And a third one.")
    poll(
        lambda: user.get("/api/v1/notifications/unread-count").json()["unread_count"],
        lambda n: n == 3,
    )
    again = streams(stack.stream_url, user.token, last_event_id=seen)
    replayed = [again.next("notice")["data"]["id"] for _ in range(2)]
    assert all(i > seen for i in replayed) and replayed == sorted(replayed)
    assert again.next("unread_count")["data"] == {"unread_count": 3}
    # Replayed once: nothing more follows.
    assert [e for e in again.drain(1.0) if e.get("event") == "notice"] == []


def test_nothing_reaches_another_users_stream(stack, user, other_user, admin, streams):
    ticket = user.create()
    theirs = streams(stack.stream_url, other_user.token)
    mine = streams(stack.stream_url, user.token)
    theirs.next("unread_count")
    mine.next("unread_count")
    _reply(admin, ticket["id"])
    mine.next("notice")
    assert theirs.drain(1.5) == []


def test_no_token_or_a_bad_one_is_refused(stack):
    assert requests.get(stack.stream_url + PATH, timeout=10).status_code == 401
    expired = stack.token(unique("user"), lifetime=-60)
    answer = requests.get(
        stack.stream_url + PATH, headers={"Authorization": f"Bearer {expired}"}, timeout=10
    )
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "unauthorized"


def test_a_stream_closes_when_its_token_expires(stack, streams):
    from services.gateway.auth import LEEWAY

    # Expired 2 s before the leeway runs out: accepted now, refused in 2 s.
    token = stack.token(unique("user"), lifetime=2 - LEEWAY)
    opened = time.monotonic()
    stream = streams(stack.stream_url, token)
    assert stream.response.status == 200
    stream.next("unread_count")
    assert stream.closed.wait(8), "the stream outlived its token"
    assert 1.0 < time.monotonic() - opened < 8


@dataclasses.dataclass
class StreamServer:
    url: str
    process: subprocess.Popen


@pytest.fixture
def second_stream_server(stack):
    """Another helpdesk-stream process of the same stack, on its own port."""
    port = free_port()
    env = {**stack.env, "HELPDESK_STREAM_PORT": str(port)}
    spec = ProcessSpec("stream", 2, next(s for s in stack.specs if s.service == "stream").argv)
    with open(stack.log_path(spec.label), "ab") as log:
        proc = start(spec, env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    poll(lambda: _healthy(url), bool, timeout=20)
    assert _healthy(url), stack.logs("stream")[-3000:]
    yield StreamServer(url, proc)
    stop(proc)


def _healthy(url):
    try:
        return requests.get(url + "/healthz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def test_two_stream_servers_each_deliver_to_their_own_clients(
    stack, user, other_user, admin, streams, second_stream_server
):
    first_ticket, second_ticket = user.create(), other_user.create()
    on_first = streams(stack.stream_url, user.token)
    on_second = streams(second_stream_server.url, other_user.token)
    on_first.next("unread_count")
    on_second.next("unread_count")
    _reply(admin, first_ticket["id"])
    _reply(admin, second_ticket["id"])
    assert on_first.next("notice", timeout=3)["data"]["ticket_id"] == first_ticket["id"]
    assert on_second.next("notice", timeout=3)["data"]["ticket_id"] == second_ticket["id"]
    assert [e for e in on_first.drain(1.0) if e.get("event") == "notice"] == []


def test_a_stopping_stream_server_ends_its_streams_and_exits(
    stack, user, streams, second_stream_server
):
    # uvicorn alone waits for open responses, and a stream never ends by itself: the
    # server held its clients until it was killed (15 s here, a pod's grace period in
    # a cluster). Ended, a client reconnects elsewhere and replays with Last-Event-ID.
    stream = streams(second_stream_server.url, user.token)
    stream.next("unread_count")
    os.killpg(second_stream_server.process.pid, signal.SIGTERM)
    assert stream.closed.wait(3), "the stream stayed open while its server stopped"
    second_stream_server.process.wait(timeout=8)  # then raises SIGTERM again, as uvicorn does
    finished = f"Finished server process [{second_stream_server.process.pid}]"
    assert finished in stack.logs("stream"), stack.logs("stream")[-3000:]


IDLE_STREAMS = 200


@pytest.mark.slow
def test_one_stream_process_holds_200_idle_streams_while_the_gateway_serves(stack, admin):
    url = urlsplit(stack.stream_url)
    user = Api(stack, unique("user"))
    request = (
        f"GET {PATH} HTTP/1.1\r\nHost: {url.netloc}\r\n"
        f"Authorization: Bearer {user.token}\r\nAccept: text/event-stream\r\n\r\n"
    ).encode()
    held = []
    try:
        for _ in range(IDLE_STREAMS):
            sock = socket.create_connection((url.hostname, url.port), timeout=10)
            sock.sendall(request)
            held.append(sock)
        for sock in held:
            assert sock.recv(4096).startswith(b"HTTP/1.1 200"), "a stream was refused"
        health = requests.get(stack.stream_url + "/healthz", timeout=5).json()
        assert health["streams"] >= IDLE_STREAMS
        # More idle streams than the gateway has threads, and it still answers at once.
        for _ in range(20):
            started = time.monotonic()
            assert admin.get("/api/v1/notifications").status_code == 200
            assert time.monotonic() - started < 1.0
        # And every one of those streams still gets the owner's notice.
        ticket = user.create()
        _reply(admin, ticket["id"])
        deadline = time.monotonic() + 10
        for sock in held:
            sock.settimeout(max(0.1, deadline - time.monotonic()))
            seen = b""
            while b"event: notice" not in seen:
                chunk = sock.recv(65536)
                assert chunk, "a stream closed"
                seen += chunk
    finally:
        for sock in held:
            sock.close()


@pytest.fixture
def front(stack):
    """make run's front (tools.localfront) before the stack's gateway and stream process."""
    url, proc = stack.start_front()
    yield url
    stop(proc)


def test_make_run_serves_pages_api_and_stream_on_one_address(stack, user, admin, front, streams):
    session = requests.Session()  # one keep-alive client, as a browser's
    session.headers["Authorization"] = f"Bearer {user.token}"
    assert session.get(front + "/help-center", timeout=10).status_code == 200
    assert session.get(front + "/api/v1/notifications", timeout=10).json()["unread_count"] == 0
    ticket = user.create()
    stream = streams(front, user.token)
    assert stream.next("unread_count")["data"] == {"unread_count": 0}
    _reply(admin, ticket["id"])
    assert stream.next("notice", timeout=3)["data"]["ticket_id"] == ticket["id"]
    # The same client goes on with the API through the same address.
    assert session.get(front + "/api/v1/notifications", timeout=10).json()["unread_count"] == 1
