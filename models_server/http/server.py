"""waitress, guarded: status routes on their own threads, connection caps, read deadlines, JSON errors.

waitress reads every request on one I/O thread and hands complete requests to a pool of worker
threads. Left as it is, a LAN client can take it off the air without reaching the app:
- one model's queue occupies every worker, and `/status` waits behind it;
- a hundred connections that trickle header lines fill `connection_limit` (they look active, so
  the idle timeout never closes them) and new connections are no longer accepted;
- an over-sized body is read and spooled to disk before the app can refuse it.

The design here, in waitress's own extension points:
- **Lanes** (lanes.py): status reads on a small pool of their own threads, each model's requests
  in that model's queue (OpenAI's, whose model is in the body, once a body thread has read it:
  body_models.py), the rest admitted up to `max_pending`.
- **Connections** (here): at most `connections_per_client` open connections per client address
  (the next is answered 503 and closed at accept) and `connection_limit` in all. At that limit a
  new connection takes the place of the oldest one with no request in progress (silent, idle, or
  still sending its header), so idle and silent connections can never lock the controller out;
  only when every connection is working is the next one answered 503.
- **Deadlines** (channel.py): for a request's header and body, for an answer its client does not
  read, and a pipelined request waiting for the answer before it.
- **Limits before work** (framing.py): bodies over `max_body_bytes`, requests framed two ways and
  endless chunk lines refused early; every answer waitress makes itself is JSON.
- **Graceful stop** (stop.py): on SIGTERM, no new connections and the requests in flight answered.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

from waitress import trigger
from waitress.adjustments import Adjustments
from waitress.server import TcpWSGIServer
from waitress.task import ThreadedTaskDispatcher

from models_server.errors import ConfigError
from models_server.http.channel import GuardedChannel
from models_server.http.framing import ServerBusy, WaitedTooLong, error_response
from models_server.http.lanes import Lanes
from models_server.http.model_queues import ModelQueues

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServingOptions:
    """The knobs of the HTTP server; see the module docstrings here and in lanes.py, channel.py and
    framing.py for what each one guards."""

    threads: int = 16  # work lane: inference and URL fetches
    status_threads: int = 4  # status lane
    body_threads: int = 2  # body lane: reading the model an OpenAI request's body names
    max_pending: int = 16  # requests no model queue took waiting for a work thread before new ones get 503
    connection_limit: int = 512  # open connections in all
    # open connections per client address: above threads + max_pending, so that a client whose own
    # requests fill the work lane and its queue (the controller itself) can still reach /status
    connections_per_client: int = 64
    header_timeout: float = 10.0  # from a request's first byte to the end of its header
    request_read_timeout: float = 120.0  # from a request's first byte to the end of its body
    idle_timeout: int = 60  # a keep-alive connection with no request in progress
    send_timeout: float = 30.0  # an answer making no progress to its client this long closes the connection
    max_body_bytes: int = 64 * 2**20


class ClosableTrigger(trigger.trigger):
    """waitress's wake-up pipe for the I/O loop, safe to pull from any thread before, during and
    after its close: a pull after the close does nothing (waitress's would write to a closed
    descriptor, or to whatever file reused its number)."""

    def __init__(self, map: Any) -> None:
        self.pipe_lock = threading.Lock()  # one job: no write to the pipe once it is closed
        super().__init__(map)

    def _physical_pull(self) -> None:
        with self.pipe_lock:
            if not self._closed:
                os.write(self.trigger, b"x")

    def _close(self) -> None:
        with self.pipe_lock:
            super()._close()


class GuardedServer(Lanes, TcpWSGIServer):
    """One listening socket; requests split between the work lane and the status lane."""

    channel_class = GuardedChannel
    trigger: trigger.trigger

    def __init__(self, application: Any, options: ServingOptions, adj: Adjustments,
                 work: ThreadedTaskDispatcher, status: ThreadedTaskDispatcher, body: ThreadedTaskDispatcher,
                 queues: ModelQueues[GuardedChannel] | None = None) -> None:
        self.options = options
        self.status_dispatcher = status
        self.body_dispatcher = body
        self.queues = queues
        self.client_connections: collections.Counter[str] = collections.Counter()
        self.refused_connections = 0
        super().__init__(application, map={}, dispatcher=work, adj=adj, sockinfo=adj.listen[0])
        self.trigger.close()
        self.trigger = ClosableTrigger(self._map)

    def handle_accept(self) -> None:
        try:
            accepted = self.accept()
        except OSError:
            return
        if accepted is None:
            return
        conn, addr = accepted
        if self.client_connections[addr[0]] >= self.options.connections_per_client:
            self._refuse(conn, f"this client has {self.options.connections_per_client} connections open, "
                               "the limit connections_per_client; close some or retry later")
            return
        if len(self.active_channels) >= self.options.connection_limit and not self._make_room():
            self._refuse(conn, f"the server has {self.options.connection_limit} connections open, all of them "
                               "working (connection_limit); retry shortly")
            return
        try:
            self.set_socket_options(conn)
        except OSError:
            conn.close()
            return
        self.channel_class(self, conn, self.fix_addr(addr), self.adj, map=self._map)

    def _make_room(self) -> bool:
        """Close the connection that gives way first (see GuardedChannel.eviction_rank), if any."""
        ranked = [(rank, channel) for channel in self.active_channels.values()
                  if isinstance(channel, GuardedChannel) and (rank := channel.eviction_rank()) is not None]
        if not ranked:
            return False
        _, channel = min(ranked, key=lambda item: item[0])
        log.debug("connection_limit reached: closing a connection from %s with no request in progress",
                  channel.addr[0])
        channel.abort()
        return True

    def _refuse(self, conn: socket.socket, message: str) -> None:
        """A best-effort 503 to a client we cannot take, then close; never blocks."""
        self.refused_connections += 1
        with contextlib.suppress(OSError):
            conn.setblocking(False)
            conn.send(error_response(ServerBusy(message), self.options))
            conn.shutdown(socket.SHUT_WR)
            conn.recv(65536)  # what the client sent already: closing over unread bytes resets
        conn.close()

    def maintenance(self, now: float) -> None:
        super().maintenance(now)  # idle keep-alive connections
        monotonic = time.monotonic()
        if self.queues is not None:
            for channel in self.queues.sweep(monotonic, gone=lambda channel: not channel.connected):
                channel.requests[0].error = WaitedTooLong(
                    f"the request waited request_timeout ({self.queues.deadline:g} s) for its model; retry later")
                self.status_dispatcher.add_task(channel)
        for channel in list(self.active_channels.values()):
            if isinstance(channel, GuardedChannel):
                if channel.linger_over(monotonic):
                    channel.handle_close()
                    continue
                if channel.send_overdue(monotonic, self.options):
                    log.info("closing a connection from %s: its client read nothing of the answer for "
                             "send_timeout (%g s)", channel.addr[0], self.options.send_timeout)
                    channel.abort()
                    continue
                reason = channel.read_overdue(monotonic, self.options)
                if reason:
                    level = logging.INFO if channel.received_any else logging.DEBUG
                    log.log(level, "closing a connection from %s: %s", channel.addr[0], reason)
                    channel.refuse_slow_request(reason, self.options)


def check_can_listen(host: str, port: int) -> None:
    """Raise ConfigError at once when (host, port) cannot be listened on (another server holds
    it, or no such address here), bound the way the server binds: rather than a traceback from
    deep in the start-up, or, under Ray, from a replica Serve retried three times."""
    if port == 0:
        return
    try:
        family, kind, proto, address = Adjustments(host=host, port=port).listen[0]  # as make_server resolves it
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except (OSError, ValueError) as exc:  # ValueError: waitress found no address for the host
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ConfigError(f"cannot listen on {host}:{port}: {reason} (is another server running there? "
                          "set `port` or --port)") from None


def make_server(application: Any, host: str, port: int, options: ServingOptions,
                queues: ModelQueues[GuardedChannel] | None = None) -> GuardedServer:
    """A guarded waitress server listening on (host, port); `run()` serves until closed. With
    `queues`, a request naming a model waits in that model's queue (see model_queues.py)."""
    adj = Adjustments(
        host=host, port=port, threads=options.threads,
        # GuardedServer.handle_accept keeps to connection_limit itself, making room at the limit;
        # waitress's own check (counting the listener and the trigger too) must not stop it first
        connection_limit=options.connection_limit + 3,
        channel_timeout=options.idle_timeout,
        cleanup_interval=1,  # the read deadlines are checked by the cleanup pass
        # waitress refuses a body of *at least* this size; ours is refused above max_body_bytes
        max_request_body_size=options.max_body_bytes + 1,
        asyncore_use_poll=True,  # select() stops at 1024 descriptors
        channel_request_lookahead=1,  # read on while a request runs, so a client leaving is seen (and it stops)
        ident="models_server",
    )
    if len(adj.listen) > 1:
        log.warning("%s resolves to %d addresses; listening on the first, %s", host, len(adj.listen),
                    adj.listen[0][3])
    work = ThreadedTaskDispatcher()
    work.set_thread_count(options.threads)
    status = ThreadedTaskDispatcher()
    status.set_thread_count(options.status_threads)
    body = ThreadedTaskDispatcher()
    body.set_thread_count(options.body_threads if queues is not None else 0)
    return GuardedServer(application, options, adj, work, status, body, queues)
