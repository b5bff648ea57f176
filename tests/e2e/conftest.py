"""Helpers for end-to-end tests through the running gateway (the ``stack`` fixture)."""

import http.client
import socket
import time
import uuid
from urllib.parse import urlsplit

import pytest
import requests

DESCRIPTION = "Every time I open the dashboard the charts stay empty, on Firefox and Chrome alike."


def ticket_body(**overrides) -> dict:
    """A valid new-ticket body: a bug on the dashboard, a fresh subject unless given."""
    body = {
        "issue_type": "bug",
        "feature": "dashboard",
        "subject": f"Charts empty {uuid.uuid4().hex[:6]}",
        "description": DESCRIPTION,
    }
    return body | overrides


class Api:
    """HTTP calls to the stack's gateway as one identity."""

    def __init__(self, stack, sub, role="user", name=None):
        self.stack = stack
        self.sub = sub
        self.token = stack.token(sub, role, name or sub)
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {self.token}"

    def request(self, method, path, **kwargs):
        kwargs.setdefault("timeout", 15)
        return self.session.request(method, self.stack.base_url + path, **kwargs)

    def get(self, path, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path, json=None, **kwargs):
        return self.request("POST", path, json=json, **kwargs)

    def create(self, headers=None, **overrides):
        return self.made("/api/v1/tickets", ticket_body(**overrides), headers=headers)

    def made(self, path, body, id_field="id", **kwargs):
        """POST ``body`` to the collection ``path``; what it made, after checking the
        answer is a 201 located at ``path/<its id_field>``."""
        result = self.post(path, body, **kwargs)
        assert result.status_code == 201, result.text
        thing = result.json()
        assert result.headers["Location"] == f"{path}/{thing[id_field]}"
        return thing


def unique(prefix: str) -> str:
    """A user id no other test uses (the daily limit is per user)."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def poll(fetch, until, timeout=8.0, interval=0.2):
    """Call ``fetch`` until ``until(result)`` holds; return the last result."""
    deadline = time.monotonic() + timeout
    while True:
        result = fetch()
        if until(result) or time.monotonic() > deadline:
            return result
        time.sleep(interval)


@pytest.fixture
def user(stack):
    return Api(stack, unique("user"), "user", "Alice Example")


@pytest.fixture
def other_user(stack):
    return Api(stack, unique("user"), "user", "Bob Example")


@pytest.fixture
def admin(stack):
    return Api(stack, unique("admin"), "admin", "Sam Support")


SERVICES = ("gateway", "tickets", "notifications")


def log_marks(stack) -> dict:
    """Where each service's logs end now; pass it to ``faults_logged_since``."""
    return {service: len(stack.logs(service)) for service in SERVICES}


def faults_logged_since(stack, marks: dict) -> list[str]:
    """The log lines written since ``marks`` that tell of a fault: an ERROR, or a
    traceback other than nameko's for an expected (typed) error, which it logs as
    a WARNING with its traceback for every 4xx a service raises."""
    faults = []
    for service in SERVICES:
        for line in stack.logs(service)[marks[service] :].splitlines():
            expected = "(expected) error handling worker" in line
            if '"level": "ERROR"' in line or ("Traceback" in line and not expected):
                faults.append(line[:2000])
    return faults


def raw_http(stack, request: bytes) -> tuple[int, object, bytes]:
    """Send ``request`` bytes as they are (no client cleans them); (status, headers, body)."""
    url = urlsplit(stack.base_url)
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(request)
        response = http.client.HTTPResponse(sock)
        response.begin()
        return response.status, response.headers, response.read()
