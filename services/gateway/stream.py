"""``helpdesk-stream``: live notices, ``GET /api/v1/notifications/stream`` (Server-Sent Events).

An ASGI process (Falcon's ASGI app under uvicorn), apart from the gateway's gunicorn
whose threads each hold one connection: here an open stream is a coroutine and a
queue, so thousands of idle streams fit in one small process. Any number of these
processes can run; each one:

- authenticates exactly as the gateway does (``auth.TokenVerifier``, the gateway's
  settings) and closes a stream when its token stops being accepted (``exp`` plus
  the leeway): the client reconnects with a fresh token;
- binds its own exclusive, auto-delete queue to the notice announcements
  (``shared.announcements``), consumed by one thread of its own, and hands each
  announcement to the event loop; an announcement for a recipient connected here
  costs two RPC calls (the notice through ``get_notice``, which checks the
  recipient, and the unread count), any other a dict lookup;
- sends ``event: notice`` (``id:`` the notice id, data the notice as
  ``GET /api/v1/notifications`` lists it) then ``event: unread_count``
  (``{"unread_count": n}``); on connect the current ``unread_count``, and with
  ``Last-Event-ID`` first the notices stored after that id
  (``notifications.list_notices_after``); a heartbeat comment every
  ``HEARTBEAT`` seconds.

The RPC client and token verification are blocking (threads, like the gateway's);
they run in a bounded executor, so the event loop never waits on them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import threading
import time
import uuid
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor

import falcon
import falcon.asgi
import uvicorn
from kombu import Connection, Consumer, Queue

from services.gateway import errors
from services.gateway.auth import TokenVerifier
from services.gateway.middleware import LAST_EVENT_ID_HEADER, Cors, NoStoreNoSniff
from services.gateway.rpc import NOTIFICATIONS, RpcClients
from services.gateway.settings import FrontSettings
from shared.announcements import ANNOUNCEMENTS, NOTICE_STORED, parse_announcement
from shared.errors import HelpdeskError, NotFound
from shared.ids import row_id
from shared.logging import configure_logging

log = logging.getLogger("gateway.stream")

PATH = "/api/v1/notifications/stream"
# Seconds between heartbeat comments: well inside any proxy's idle timeout.
HEARTBEAT = 15.0
# Events waiting for one slow stream; past this the stream is closed (the client
# reconnects and replays with Last-Event-ID) instead of holding memory for it.
BACKLOG = 100
# Pause before the announcement consumer reconnects to a broker it lost.
RECONNECT_PAUSE = 1.0
# How long a client waits before reconnecting (the SSE ``retry`` field), in ms.
RETRY_MS = 2000


class Streams:
    """The open streams of this process, by recipient; only the event loop touches it."""

    def __init__(self):
        self._by_recipient: dict[str, set[asyncio.Queue]] = defaultdict(set)

    def open(self, recipient_id: str) -> asyncio.Queue:
        """A new stream's queue of events to send."""
        events: asyncio.Queue = asyncio.Queue(BACKLOG)
        self._by_recipient[recipient_id].add(events)
        return events

    def close(self, recipient_id: str, events: asyncio.Queue) -> None:
        """Forget a stream that ended."""
        streams = self._by_recipient.get(recipient_id)
        if streams is not None:
            streams.discard(events)
            if not streams:
                del self._by_recipient[recipient_id]

    def connected(self, recipient_id: str) -> bool:
        """Whether any stream of ``recipient_id`` is open here."""
        return recipient_id in self._by_recipient

    def count(self) -> int:
        """How many streams are open here."""
        return sum(len(s) for s in self._by_recipient.values())

    def send(self, recipient_id: str, items: list) -> None:
        """Queue ``items`` on every stream of the recipient; a full stream is closed."""
        for events in list(self._by_recipient.get(recipient_id, ())):
            if events.maxsize - events.qsize() < len(items) + 1:
                self._end(events)
                self.close(recipient_id, events)  # nothing more is queued for it
                continue
            for item in items:
                events.put_nowait(item)

    def close_all(self) -> None:
        """End every stream (its client reconnects and replays with Last-Event-ID)."""
        for streams in self._by_recipient.values():
            for events in streams:
                self._end(events)
        self._by_recipient.clear()

    @staticmethod
    def _end(events: asyncio.Queue) -> None:
        # Make room for the closing marker; the client replays what it missed.
        while not events.empty():
            events.get_nowait()
        events.put_nowait(None)


class Announcements:
    """Consumes this process's own announcement queue in one thread; hands each
    announcement to ``on_announced`` on the event loop."""

    def __init__(
        self,
        settings: FrontSettings,
        loop: asyncio.AbstractEventLoop,
        on_announced,
        ready=None,
        on_rebound=None,
    ):
        self.settings = settings
        self.loop = loop
        self.on_announced = on_announced
        # Called (on the loop) when the queue is bound again after the broker was
        # lost: announcements of the gap went nowhere.
        self.on_rebound = on_rebound
        self._bound_before = False
        self.queue_name = f"notices.stream-{uuid.uuid4()}"
        # Set while the queue is bound and consumed.
        self.ready = ready or threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="announcements", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=5)

    def _on_message(self, body, message) -> None:
        parsed = parse_announcement(body)
        if parsed is not None:
            self.loop.call_soon_threadsafe(self.on_announced, *parsed)

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self._consume()
            except Exception:  # a lost broker: reconnect; streams replay on their reconnect
                log.warning("announcement consumer lost the broker", exc_info=True)
                self.ready.clear()
                self._stopping.wait(RECONNECT_PAUSE)

    def _consume(self) -> None:
        queue = Queue(
            self.queue_name,
            exchange=ANNOUNCEMENTS,
            routing_key=NOTICE_STORED,
            durable=False,
            exclusive=True,
            auto_delete=True,
        )
        ssl = self.settings.amqp_ssl or False
        with Connection(self.settings.amqp_url, connect_timeout=5, ssl=ssl) as conn:
            channel = conn.channel()
            # The queue only: helpdesk-setup and the notifications service declare the
            # exchange, which this login may read but not declare.
            queue.maybe_bind(channel)
            queue.queue_declare()
            queue.queue_bind()
            consumer = Consumer(
                channel, [queue], callbacks=[self._on_message], no_ack=True, auto_declare=False
            )
            with consumer:
                if self._bound_before and self.on_rebound is not None:
                    self.loop.call_soon_threadsafe(self.on_rebound)
                self._bound_before = True
                self.ready.set()
                log.info("listening for announcements", extra={"queue": self.queue_name})
                while not self._stopping.is_set():
                    with contextlib.suppress(TimeoutError):
                        conn.drain_events(timeout=1)


def _sse(event: str, data: dict, event_id: int | None = None):
    return falcon.asgi.SSEvent(
        event=event, json=data, event_id=None if event_id is None else str(event_id)
    )


def last_event_id(header: str | None) -> int | None:
    """The notice id a reconnecting client saw last; None when absent or not an id."""
    if header is None:
        return None
    # 0: every stored notice (a client that has seen none yet).
    return 0 if header.strip() == "0" else row_id(header.strip())


class NoticeStream:
    """``GET /api/v1/notifications/stream``: the caller's new notices as they are stored."""

    def __init__(self, settings: FrontSettings, clients, verifier: TokenVerifier):
        self.clients = clients
        self.verifier = verifier
        self.streams = Streams()
        # Set while announcements reach this process (``Announcements.ready``).
        self.listening = threading.Event()
        # Bounded: a burst of announcements or connections queues here, never more
        # threads (each RPC call also waits for one of the pool's clients).
        self.executor = ThreadPoolExecutor(settings.rpc_pool_size, thread_name_prefix="stream-rpc")

    async def _blocking(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    def announced(self, notice_id: int, recipient_id: str) -> None:
        """An announcement reached this process (on the event loop)."""
        if self.streams.connected(recipient_id):
            asyncio.ensure_future(self._deliver(notice_id, recipient_id))

    async def _deliver(self, notice_id: int, recipient_id: str) -> None:
        try:
            notice = await self._blocking(
                self.clients.call, NOTIFICATIONS, "get_notice", recipient_id, notice_id
            )
            unread = await self._blocking(
                self.clients.call, NOTIFICATIONS, "unread_count", recipient_id
            )
        except NotFound:
            return
        except Exception:  # the notice stays stored; the client's next replay or poll has it
            log.warning("notice not pushed", extra={"notice_id": notice_id}, exc_info=True)
            return
        self.streams.send(
            recipient_id,
            [_sse("notice", notice, notice["id"]), _sse("unread_count", unread)],
        )

    async def on_get(self, req, resp):
        actor, expires = await self._blocking(
            self.verifier.verify_until, req.get_header("Authorization")
        )
        after = last_event_id(req.get_header(LAST_EVENT_ID_HEADER))
        # Joined before the replay is read: a notice stored meanwhile is then queued
        # live, not lost between the two (and sent once: see _events).
        events = self.streams.open(actor.id)
        try:
            if after is not None:
                replay = await self._blocking(
                    self.clients.call, NOTIFICATIONS, "list_notices_after", actor.id, after
                )
                first = [_sse("notice", n, n["id"]) for n in replay["items"]]
                unread = {"unread_count": replay["unread_count"]}
            else:
                first = []
                unread = await self._blocking(
                    self.clients.call, NOTIFICATIONS, "unread_count", actor.id
                )
        except BaseException:
            self.streams.close(actor.id, events)
            raise
        first.append(_sse("unread_count", unread))
        resp.set_header("Cache-Control", "no-store")
        # Tells nginx-like proxies not to buffer the stream.
        resp.set_header("X-Accel-Buffering", "no")
        resp.sse = self._events(actor.id, events, first, expires)

    async def _events(self, recipient_id: str, events: asyncio.Queue, first: list, expires):
        sent = {int(e.event_id) for e in first if e.event_id is not None}
        try:
            yield falcon.asgi.SSEvent(retry=RETRY_MS, comment="notices")
            for event in first:
                yield event
            while True:
                left = expires - time.time()
                if left <= 0:
                    return  # the token expired: the client reconnects with a new one
                try:
                    event = await asyncio.wait_for(events.get(), min(HEARTBEAT, left))
                except TimeoutError:
                    yield None  # Falcon sends a ": ping" comment: the heartbeat
                    continue
                if event is None:  # overflowed: closed, the client replays
                    return
                if event.event_id is not None:
                    if int(event.event_id) in sent:
                        continue  # already sent in the replay
                    sent.add(int(event.event_id))
                yield event
        finally:
            self.streams.close(recipient_id, events)


class Health:
    """``GET /healthz``: 200 while announcements reach this process (503 before its
    queue is bound, or while the broker is lost), with how many streams it holds."""

    def __init__(self, stream: NoticeStream):
        self.stream = stream

    async def on_get(self, req, resp):
        listening = self.stream.listening.is_set()
        resp.status = falcon.HTTP_200 if listening else falcon.HTTP_503
        resp.media = {
            "status": "ok" if listening else "not listening",
            "streams": self.stream.streams.count(),
        }


class _Async:
    """Runs one of the gateway's (non-blocking) WSGI middleware in the ASGI app."""

    def __init__(self, component):
        self.component = component
        for name in ("process_request", "process_response"):
            if not hasattr(component, name):
                setattr(self, f"{name}_async", None)

    async def process_request_async(self, req, resp):
        self.component.process_request(req, resp)

    async def process_response_async(self, req, resp, resource, req_succeeded):
        self.component.process_response(req, resp, resource, req_succeeded)


def _async_handler(handler):
    async def handle(req, resp, ex, params):
        handler(req, resp, ex, params)

    return handle


def create_app(settings: FrontSettings, clients, verifier: TokenVerifier | None = None) -> Lifespan:
    """The ASGI app of a stream server on top of ``clients`` (``rpc.RpcClients``),
    its announcement consumer started and stopped with the event loop."""
    app = falcon.asgi.App(
        middleware=[_Async(NoStoreNoSniff()), _Async(Cors(settings.cors_origins))],
        cors_enable=False,
    )
    app.req_options.strip_url_path_trailing_slash = True
    app.add_error_handler(Exception, _async_handler(errors.handle_unexpected))
    app.add_error_handler(falcon.HTTPError, _async_handler(errors.handle_http_error))
    app.add_error_handler(HelpdeskError, _async_handler(errors.handle_remote_error))
    app.add_error_handler(errors.ApiError, _async_handler(errors.handle_api_error))
    stream = NoticeStream(settings, clients, verifier or TokenVerifier(settings))
    app.add_route(PATH, stream)
    app.add_route("/healthz", Health(stream))
    return Lifespan(app, settings, stream)


class Lifespan:
    """Starts the announcement consumer with the event loop, stops it after."""

    def __init__(self, app, settings: FrontSettings, stream: NoticeStream):
        self.app = app
        self.settings = settings
        self.stream = stream
        self.announcements = None

    async def __call__(self, scope, receive, send):
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                loop = asyncio.get_running_loop()
                self.announcements = Announcements(
                    self.settings,
                    loop,
                    self.stream.announced,
                    self.stream.listening,
                    # Streams open across the gap end, and replay what it hid.
                    on_rebound=self.stream.streams.close_all,
                )
                self.announcements.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await asyncio.get_running_loop().run_in_executor(None, self.announcements.stop)
                await send({"type": "lifespan.shutdown.complete"})
                return


# Seconds a stopping server waits for its connections after ending its streams.
SHUTDOWN_GRACE = 5


class StreamServer(uvicorn.Server):
    """uvicorn, ending every open stream as it starts to shut down.

    uvicorn waits for open responses before it exits, and a stream does not end by
    itself: a stopping stream server (a deploy, a scale-in) held its clients until it
    was killed. Ended, each client reconnects through the load balancer to another
    stream server, and Last-Event-ID replays what it missed.
    """

    def __init__(self, config: uvicorn.Config, streams: Streams):
        super().__init__(config)
        self.streams = streams

    async def shutdown(self, sockets=None):
        """End the streams, then uvicorn's own shutdown (which waits for them)."""
        self.streams.close_all()
        await super().shutdown(sockets)


def main(argv=None) -> int:
    """Serve the stream on ``HELPDESK_HTTP_HOST``/``HELPDESK_STREAM_PORT`` (uvicorn)."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="helpdesk-stream",
        description="Serve live notices (GET /api/v1/notifications/stream); "
        "every setting comes from the environment, as the gateway's do.",
    )
    parser.add_argument(
        "--check", action="store_true", help="validate the settings and exit without serving"
    )
    args = parser.parse_args(argv)
    settings = FrontSettings.from_env_or_exit("helpdesk-stream")
    configure_logging("stream", settings.log_level)
    app = create_app(settings, RpcClients(settings))
    if args.check:
        print(f"helpdesk-stream: configuration ok ({settings.env})")
        return 0
    config = uvicorn.Config(
        app,
        host=settings.http_host,
        port=settings.stream_port,
        lifespan="on",
        access_log=False,
        log_config=None,
        # Idle streams are the point: keep-alive and concurrency are not capped here,
        # the heartbeat keeps proxies from cutting them.
        timeout_keep_alive=5,
        # X-Forwarded-For/-Proto from the load balancers only, as the gateway's gunicorn.
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=list(settings.trusted_proxies),
        ssl_certfile=settings.tls_cert_file,
        ssl_keyfile=settings.tls_key_file,
        # A stream that has not ended this long after its close is cut.
        timeout_graceful_shutdown=SHUTDOWN_GRACE,
    )
    StreamServer(config, app.stream.streams).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
