"""Fixtures every test tier shares: isolated real databases and broker vhosts.

Tests talk to the real PostgreSQL and RabbitMQ on this machine. Each test session
gets its own databases (``helpdesk_t<random>_<service>``) and its own RabbitMQ
virtual host, dropped at the end, so parallel runs and developers never collide.

The eventlet monkey patch (``shared.green``) is applied here, before anything
imports psycopg, as in every nameko process. Browser tests run in a separate
pytest process with ``HELPDESK_TEST_NO_GREEN=1``, since Playwright's sync API
needs an unpatched interpreter.
"""

import os

if os.environ.get("HELPDESK_TEST_NO_GREEN") != "1":
    import shared.green  # noqa: F401  (must precede psycopg)

import gc
import sys
import traceback
import uuid
import warnings
from pathlib import Path

import pytest

from tests.stack import fresh_vhost, migrated_database

# A test still running after this many seconds gets every green thread's stack
# written to stderr, before pytest-timeout (300 s) ends the run: its own dump shows
# only OS threads, and under eventlet the work is in green threads.
STALL_DUMP_AFTER = 150.0


def green_stacks() -> str:
    """Every green thread's stack, as text (a hang's evidence under eventlet)."""
    import greenlet

    out = []
    for obj in gc.get_objects():
        try:
            if not isinstance(obj, greenlet.greenlet) or obj.gr_frame is None:
                continue
        except ReferenceError:  # a dead weak proxy among the objects
            continue
        out.append(f"--- {obj!r}")
        out.append("".join(traceback.format_stack(obj.gr_frame)))
    return "\n".join(out)


def _dump_green_stacks(item) -> None:
    text = green_stacks()
    # Past pytest's capture, as pytest-timeout writes its own dump.
    capture = item.config.pluginmanager.getplugin("capturemanager")
    if capture is not None:
        capture.suspend_global_capture(in_=True)
    sys.stderr.write(
        f"\n===== {item.nodeid} still running after {STALL_DUMP_AFTER:.0f} s\n{text}\n"
    )
    sys.stderr.flush()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """Arm a real (not green) timer per test that dumps green stacks if the test stalls."""
    timer = None
    if os.environ.get("HELPDESK_TEST_NO_GREEN") != "1":
        import eventlet.patcher

        threading = eventlet.patcher.original("threading")
        timer = threading.Timer(STALL_DUMP_AFTER, _dump_green_stacks, (item,))
        timer.daemon = True
        timer.start()
    try:
        yield
    finally:
        if timer is not None:
            timer.cancel()


# nameko's own runner_factory kills its runners with no time limit, and in some CI
# runs that kill hung after test_rate_limit's racing creates (cause not yet found).
# Here a kill taking longer than this is abandoned: every green stack goes to
# artifacts/stalls/, a warning names the file, and the run goes on.
RUNNER_KILL_LIMIT = 20.0


@pytest.fixture
def runner_factory():
    """nameko's ``runner_factory`` as it is, but for its teardown kill, bounded (see above)."""
    from nameko.runners import ServiceRunner

    runners = []

    def make_runner(config, *service_classes):
        runner = ServiceRunner(config)
        for service_cls in service_classes:
            runner.add_service(service_cls)
        runners.append(runner)
        return runner

    yield make_runner
    import eventlet

    for runner in runners:
        with eventlet.Timeout(RUNNER_KILL_LIMIT, False):
            runner.kill()
            continue
        stalls = Path(__file__).resolve().parent / "artifacts" / "stalls"
        stalls.mkdir(parents=True, exist_ok=True)
        report = stalls / f"runner-kill-{uuid.uuid4().hex[:8]}.txt"
        report.write_text(green_stacks())
        warnings.warn(
            f"a nameko runner did not die in {RUNNER_KILL_LIMIT:.0f} s; stacks in {report}",
            stacklevel=2,
        )


@pytest.fixture(scope="session")
def run_id():
    """A short random tag naming this session's databases and vhost."""
    return uuid.uuid4().hex[:8]


@pytest.fixture(scope="session")
def amqp_url(run_id):
    """The URL of a fresh RabbitMQ vhost, deleted after the session."""
    with fresh_vhost(f"t{run_id}") as url:
        yield url


@pytest.fixture(scope="session")
def tickets_database_url(run_id):
    """A freshly migrated tickets database for this session."""
    with migrated_database(f"t{run_id}", "tickets") as url:
        yield url


@pytest.fixture(scope="session")
def notifications_database_url(run_id):
    """A freshly migrated notifications database for this session."""
    with migrated_database(f"t{run_id}", "notifications") as url:
        yield url


@pytest.fixture(scope="session")
def data_keys():
    """One at-rest data key for the session, so every container reads what others stored."""
    from shared.crypto import generate_key

    return f"t1={generate_key()}"


@pytest.fixture
def process_env(amqp_url, tickets_database_url, notifications_database_url, data_keys):
    """The environment a service's own process gets in this session (its settings
    from the session's vhost, databases and data key)."""
    return dict(
        os.environ,
        HELPDESK_ENV="test",
        HELPDESK_AMQP_URL=amqp_url,
        HELPDESK_TICKETS_DATABASE_URL=tickets_database_url,
        HELPDESK_NOTIFICATIONS_DATABASE_URL=notifications_database_url,
        HELPDESK_DATA_KEYS=data_keys,
    )


@pytest.fixture
def make_settings():
    """Build every process's settings (the services' and the gateway's) as each would,
    from an environment of overrides."""
    from tools.localrun import settings_class

    def make(**env):
        base = {"HELPDESK_ENV": "test"}
        base.update({k: str(v) for k, v in env.items()})
        return settings_class().from_env(base)

    return make
