"""What ``make run`` starts: every service and the gateway, in the foreground.

``process_specs`` is the one description of the local process set; both this
supervisor (``python -m tools.localrun``, after ``helpdesk-migrate``) and the test
suite's ``Stack`` start processes from it, after declaring every service's queues as
``helpdesk-setup`` does (``declare_queues``): each registered service's
``helpdesk-<name>`` command, ``HELPDESK_<NAME>_INSTANCES`` times (1 by default),
then ``helpdesk-gateway`` and ``helpdesk-stream`` (live notices, on
``HELPDESK_STREAM_PORT``); with ``HELPDESK_METRICS_PORT`` set, each service process
serves its metrics on its own port, counting up from it. ``make run`` also starts ``tools.localfront`` on
``HELPDESK_HTTP_PORT``, the browser's one address, routing the stream path to the
stream process and the rest to the gateway (moved to a free port), as HAProxy does
in a deployment; the tests talk to the gateway and the stream process directly.
Ctrl-C (or SIGTERM) stops all of them; if one dies, the
rest are stopped too.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from services.gateway.settings import GatewaySettings
from tools import registry
from tools.setup import declare_queues

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class ProcessSpec:
    """One process to start: a group name (service), an instance number, a command."""

    service: str
    instance: int
    argv: tuple
    # Settings of this process only, over the environment's (name, value) pairs.
    env: tuple = ()

    @property
    def label(self) -> str:
        return f"{self.service}.{self.instance}"


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def settings_class() -> type:
    """The settings of everything a local stack runs: every registered service's
    and the gateway's (which include the stream's)."""
    return registry.settings_class(GatewaySettings)


def process_specs(
    settings: GatewaySettings | None = None, front_gateway_port: int | None = None
) -> list[ProcessSpec]:
    """The processes a local stack runs under ``settings`` (``settings_class()``'s; its
    defaults when None).

    With ``front_gateway_port`` (``make run``), the gateway listens there and
    ``tools.localfront`` takes ``HELPDESK_HTTP_PORT``, routing to both.
    """
    settings = settings_class()() if settings is None else settings
    specs = [
        ProcessSpec(service.name, i, (str(BIN / service.command),))
        for service in registry.services()
        for i in range(1, service.instances(settings) + 1)
    ]
    if settings.metrics_port is not None:
        # One metrics endpoint per process, on one host: consecutive ports from the
        # setting's, in this order (tickets.1, then the next instance or service).
        specs = [
            dataclasses.replace(spec, env=(("HELPDESK_METRICS_PORT", str(port)),))
            for port, spec in enumerate(specs, start=settings.metrics_port)
        ]
    gateway_env = ()
    if front_gateway_port is not None:
        gateway_env = (("HELPDESK_HTTP_PORT", str(front_gateway_port)),)
    specs.append(ProcessSpec("gateway", 1, (str(BIN / "helpdesk-gateway"),), gateway_env))
    specs.append(ProcessSpec("stream", 1, (str(BIN / "helpdesk-stream"),)))
    if front_gateway_port is not None:
        host = settings.http_host
        front = (
            sys.executable,
            "-m",
            "tools.localfront",
            "--listen",
            f"{host}:{settings.http_port}",
            "--gateway",
            f"{host}:{front_gateway_port}",
            "--stream",
            f"{host}:{settings.stream_port}",
        )
        specs.append(ProcessSpec("front", 1, front))
    return specs


def start(spec: ProcessSpec, env, stdout=None, stderr=None, cwd: Path = ROOT) -> subprocess.Popen:
    """Start one process of the stack in its own process group (in ``cwd``: another
    source tree's, for a benchmark's baseline, with ``PYTHONPATH`` there in ``env``)."""
    env = {**env, **dict(spec.env)} if spec.env else env
    return subprocess.Popen(
        spec.argv, cwd=cwd, env=env, stdout=stdout, stderr=stderr, start_new_session=True
    )


def stop(proc: subprocess.Popen, timeout: float = 15.0) -> None:
    """SIGTERM, then SIGKILL after ``timeout`` seconds; waits for the exit."""
    stop_all([proc], timeout)


def stop_all(procs, timeout: float = 15.0) -> None:
    """SIGTERM to every process first, so they shut down side by side; then one
    deadline, ``timeout`` seconds from now, for all of them, and SIGKILL for any still
    running after it: the slowest alone is waited for, not the sum of them."""
    procs = [proc for proc in procs if proc.poll() is None]
    for proc in procs:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for proc in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(max(0.0, deadline - time.monotonic()))
    for proc in procs:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def main() -> int:
    """Start everything; return when Ctrl-C is pressed or a process dies."""
    env = dict(os.environ)
    env.setdefault("HELPDESK_ENV", "development")
    settings = settings_class().from_env_or_exit("make run", env)
    # Before any service runs, as helpdesk-setup does in a deployment: an event
    # published before its consumer first starts then waits for it.
    declare_queues(settings)
    running = []
    stopping = False

    def _stop(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    for spec in process_specs(settings, front_gateway_port=free_port(settings.http_host)):
        running.append((spec, start(spec, env)))
    url = f"http://{settings.http_host}:{settings.http_port}"
    print(f"Help Center ({settings.env}) starting: {url}/help-center", file=sys.stderr)
    if settings.development:
        print(f"  sign in for local use: {url}/help-center/dev/sign-in", file=sys.stderr)
    print("  Ctrl-C stops every service.", file=sys.stderr)
    code = 0
    while not stopping:
        for spec, proc in running:
            if proc.poll() is not None:
                print(
                    f"make run: {spec.label} exited with {proc.returncode}; stopping all",
                    file=sys.stderr,
                )
                stopping, code = True, 1
                break
        time.sleep(0.3)
    stop_all([proc for _, proc in running])
    return code


if __name__ == "__main__":
    sys.exit(main())
