"""Key rotation on a running stack, by the documented procedure (docs/security.md).

1. The services get the new key, active, beside the old one (restart).
2. ``python -m shared.rotate_keys`` re-encrypts both databases while the API keeps
   taking writes.
3. ``--check --without OLD`` says the old key is no longer needed.
4. The services restart with the new key only and every text reads back intact.
5. A service given only the old key refuses to start, naming the key it lacks.
"""

import subprocess
import sys
import threading
import time

import pytest

from shared.crypto import generate_key
from shared.localrun import ROOT
from tests.privacy.scenario import keys_in_use, read_back, seed

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SERVICES = ("tickets", "notifications")


def restart_services(stack, keys: str) -> None:
    stack.env["HELPDESK_DATA_KEYS"] = keys
    for service in SERVICES:
        stack.stop(service)
        stack.start(service)
    stack.wait_ready()


def rotate_keys(stack, *args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "shared.rotate_keys", *args],
        cwd=ROOT,
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_rotation_leaves_everything_readable_and_nothing_under_the_old_key(make_stack):
    stack = make_stack()
    seeded = seed(stack)
    old = stack.env["HELPDESK_DATA_KEYS"]
    assert old.startswith("t1=")
    new = f"t2={generate_key()}"
    assert keys_in_use(stack).keys() == {"t1"}

    # 1. Every service can read both keys; new text is sealed under t2 from now on.
    restart_services(stack, f"{new},{old}")

    # 2. Rotate online: the API keeps taking replies while the command runs.
    written, failures, done = [], [], threading.Event()

    def keep_writing():
        while not done.is_set() and len(written) < 40:
            text = f"written during rotation {len(written)} {seeded.marker}"
            response = seeded.user.post(
                f"/api/v1/tickets/{seeded.resolved_id}/messages", {"body": text}
            )
            (written if response.status_code == 201 else failures).append(
                text if response.status_code == 201 else response.text
            )
            time.sleep(0.02)

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        rotation = rotate_keys(stack, "--batch", "2")
    finally:
        done.set()
        writer.join()
    assert rotation.returncode == 0, rotation.stderr
    assert "messages.body: 2/" in rotation.stderr  # progress, batch by batch
    assert "notices.body: done" in rotation.stderr
    assert failures == [] and written

    # 3. Nothing is left under the old key; the check command says so.
    assert keys_in_use(stack).keys() == {"t2"}
    check = rotate_keys(stack, "--check", "--without", "t1")
    assert check.returncode == 0, check.stdout + check.stderr
    assert "key t1: 0 values: safe to remove" in check.stdout

    # 4. Only the new key: everything reads back, old text and new.
    restart_services(stack, new)
    read_back(seeded)
    messages = seeded.user.get(f"/api/v1/tickets/{seeded.resolved_id}").json()["messages"]
    assert [m["body"] for m in messages][3:] == written

    # 5. Only the old key: the services refuse to start and say why.
    stack.env["HELPDESK_DATA_KEYS"] = old
    for service in SERVICES:
        stack.stop(service)
        stack.start(service)
    deadline = time.monotonic() + 60
    labels = [label for label in stack.procs if label.split(".")[0] in SERVICES]
    while time.monotonic() < deadline and any(stack.procs[x].poll() is None for x in labels):
        time.sleep(0.3)
    for label in labels:
        assert stack.procs[label].poll() not in (None, 0), f"{label} started without its key"
    for service in SERVICES:
        logs = stack.logs(service)
        assert "refuses to start" in logs and "'t2'" in logs, logs[-2000:]
        assert seeded.marker not in logs
    for service in SERVICES:
        stack.stop(service)
    restart_services(stack, new)
    read_back(seeded)
