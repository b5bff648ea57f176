"""Health probes for the images (no curl in a slim image; nothing beyond the stdlib).

``python deploy/probe.py http URL``
    Exit 0 when ``URL`` answers 200 within the timeout (the gateway's ``/healthz``).

``python deploy/probe.py service helpdesk-tickets``
    Exit 0 when a process started as ``helpdesk-tickets`` is running and holds an
    established TCP connection to its broker: alive *and* connected, which is what a
    nameko service needs to receive work. The broker address is read from that
    process's own environment (``HELPDESK_AMQP_URL``), so the probe checks the
    connection the service actually made. Linux only (reads ``/proc``).
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import socket
import sys
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

PROC = Path("/proc")
TCP_ESTABLISHED = "01"
DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"


class Unhealthy(Exception):
    """The probe failed; the message says why."""


def check_http(url: str, timeout: float) -> str:
    """Return a short status when ``url`` answers 200; raise ``Unhealthy`` otherwise."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310
            if response.status != 200:
                raise Unhealthy(f"{url} answered {response.status}")
            return f"{url} answered 200"
    except urllib.error.HTTPError as exc:
        raise Unhealthy(f"{url} answered {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise Unhealthy(f"{url} unreachable: {getattr(exc, 'reason', exc)}") from None


def _runs(argv: list[str], command: str) -> bool:
    """Whether ``argv`` runs ``command``: ``helpdesk-tickets ...``, or the same
    ``main`` as ``python /opt/venv/bin/helpdesk-tickets`` or ``python -m services.tickets``
    (how ``make run`` starts it)."""
    if any(os.path.basename(arg) == command for arg in argv[:2]):
        return True
    module = "services." + command.removeprefix("helpdesk-")
    return len(argv) >= 3 and argv[1] == "-m" and argv[2] == module


def find_processes(command: str, proc: Path = PROC) -> list[int]:
    """Pids (not this one) running the entry command ``command``."""
    pids = []
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            raw = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if _runs([arg.decode(errors="replace") for arg in raw.split(b"\0")], command):
            pids.append(int(entry.name))
    return sorted(pids)


def process_state(pid: int, proc: Path = PROC) -> str:
    """The one-letter state of ``pid`` (``R``, ``S``, ``Z``, ...)."""
    stat = (proc / str(pid) / "stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0]


def process_environ(pid: int, proc: Path = PROC) -> dict[str, str]:
    """The environment ``pid`` was started with."""
    raw = (proc / str(pid) / "environ").read_bytes()
    pairs = (item.decode(errors="replace").partition("=") for item in raw.split(b"\0") if item)
    return {key: value for key, _, value in pairs}


def _socket_inodes(pid: int, proc: Path) -> set[str]:
    inodes = set()
    for fd in (proc / str(pid) / "fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def _address(hex_address: str) -> tuple[str, int]:
    """Decode ``/proc/net/tcp[6]``'s ``0100007F:1628`` form into (ip, port)."""
    host, port = hex_address.split(":")
    raw = bytes.fromhex(host)
    # The kernel prints each 32-bit word in host (little-endian) byte order.
    raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    ip = ipaddress.ip_address(raw)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return str(ip), int(port, 16)


def established_peers(pid: int, proc: Path = PROC) -> list[tuple[str, int]]:
    """(ip, port) of every established TCP connection that ``pid`` holds."""
    inodes = _socket_inodes(pid, proc)
    peers = []
    for table in ("tcp", "tcp6"):
        try:
            lines = (proc / str(pid) / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == TCP_ESTABLISHED and fields[9] in inodes:
                peers.append(_address(fields[2]))
    return peers


def broker_address(amqp_url: str) -> tuple[set[str], int]:
    """The broker's IP addresses (empty when its name does not resolve) and port."""
    parts = urlsplit(amqp_url)
    port = parts.port or (5671 if parts.scheme == "amqps" else 5672)
    host = parts.hostname or "localhost"
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except OSError:
        return set(), port
    return {info[4][0] for info in infos}, port


def check_service(command: str, pid: int | None = None, proc: Path = PROC) -> str:
    """Return a short status when ``command`` runs connected to its broker; else raise.

    ``pid`` limits the check to that process (when several run on one machine).
    """
    pids = [p for p in find_processes(command, proc) if pid in (None, p)]
    if not pids:
        raise Unhealthy(f"no {command} process is running")
    for pid in pids:
        try:
            if process_state(pid, proc) in ("Z", "X"):
                continue
            environ = process_environ(pid, proc)
            addresses, port = broker_address(environ.get("HELPDESK_AMQP_URL", DEFAULT_AMQP_URL))
            peers = established_peers(pid, proc)
        except OSError:
            continue  # it exited while we looked
        for ip, peer_port in peers:
            if peer_port == port and (not addresses or ip in addresses):
                return f"{command} (pid {pid}) is connected to the broker at {ip}:{port}"
    raise Unhealthy(f"{command} (pid {', '.join(map(str, pids))}) holds no broker connection")


def main(argv=None) -> int:
    """Run one probe; exit 0 when healthy, 1 with the reason on stderr when not."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="probe", required=True)
    http = sub.add_parser("http", help="an HTTP endpoint answers 200")
    http.add_argument("url")
    http.add_argument("--timeout", type=float, default=3.0)
    service = sub.add_parser("service", help="a nameko service runs and is connected")
    service.add_argument("command", help="its entry command, e.g. helpdesk-tickets")
    service.add_argument("--pid", type=int, help="check only this process")
    args = parser.parse_args(argv)
    try:
        if args.probe == "http":
            status = check_http(args.url, args.timeout)
        else:
            status = check_service(args.command, args.pid)
    except Unhealthy as exc:
        print(f"unhealthy: {exc}", file=sys.stderr)
        return 1
    print(f"healthy: {status}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
