"""The HTTP server porch's listeners run on: waitress, held to porch's limits.

Why waitress (and not cheroot, the other production server in pure Python): waitress reads
every request whole, headers and body, in one event loop before a worker thread sees it. A
client that sends half a request, or one byte a second, costs a socket and a buffer, never a
thread, so ``threads`` only bounds the requests porch is really working on. cheroot hands a
connection to a worker thread that then blocks reading it, so a few hundred slow clients hold
every thread until their timeout.

On top of waitress's own limits (``connection_limit``; ``channel_timeout``, which closes a
connection silent for that long), porch closes a connection whose request has not arrived whole
within ``read_timeout`` of its first byte: a client that drips one byte before each silence
runs out would otherwise keep its connection for ever.

The body limit is waitress's: a ``Content-Length`` over it is answered 413 from the headers
alone, before any of the body is read, and a chunked body is cut off with 413 once it passes
it. https://docs.pylonsproject.org/projects/waitress/en/stable/arguments.html
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from waitress import wasyncore
from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.server import TcpWSGIServer

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

log = logging.getLogger(__name__)

#: Seconds between two sweeps for connections past their timeouts (waitress's default is 30,
#: which would let a half-sent request outlive ``read_timeout`` by that much).
_SWEEP_EVERY = 1


class _TimedParser(HTTPRequestParser):
    """A request being read, stamped with when its first byte came."""

    def __init__(self, adj: Adjustments) -> None:
        super().__init__(adj)
        self.started = time.monotonic()


class _TimedChannel(HTTPChannel):
    parser_class = _TimedParser


class _Server(TcpWSGIServer):
    """waitress's TCP server with porch's whole-request deadline added to its sweep."""

    channel_class = _TimedChannel
    #: set by :class:`HttpServer`
    porch_name = "web"
    request_timeout = 30

    def maintenance(self, now: float) -> None:
        # waitress's own sweep closes connections silent for ``channel_timeout``.
        super().maintenance(now)  # type: ignore[arg-type]
        cutoff = time.monotonic() - self.request_timeout
        channels: dict[int, Any] = self.active_channels  # type: ignore[assignment]
        for channel in list(channels.values()):
            request = channel.request
            late = isinstance(request, _TimedParser) and request.started < cutoff
            if late and not request.completed:
                log.info(
                    "porch %s: closing a connection whose request did not arrive within %ds",
                    self.porch_name,
                    self.request_timeout,
                )
                channel.will_close = True


class HttpServer:
    """One listener: a WSGI app served by waitress on ``host``:``port``.

    Args:
        app: the WSGI application.
        host, port: where to listen (port 0: any free port; :attr:`port` tells which).
        threads: requests handled at once.
        connection_limit: open connections at most; past it, new connections wait in the
            kernel's accept queue until one closes.
        read_timeout: seconds a connection may stay silent, and seconds a request may take to
            arrive whole from its first byte.
        max_body_bytes: largest request body accepted (413 above it, before reading it).
        name: names the listener in log lines ("web", "ops").
    """

    def __init__(
        self,
        app: WSGIApplication,
        *,
        host: str,
        port: int,
        threads: int,
        connection_limit: int,
        read_timeout: int,
        max_body_bytes: int,
        name: str = "web",
    ) -> None:
        self.name = name
        self.read_timeout = read_timeout
        adj = Adjustments(
            host=host,
            port=port,
            threads=threads,
            # waitress counts its own listening socket and wake-up pipe among the connections.
            connection_limit=connection_limit + 2,
            channel_timeout=read_timeout,
            cleanup_interval=_SWEEP_EVERY,
            # waitress refuses a body of exactly its limit; porch's limit is the largest
            # accepted.
            max_request_body_size=max_body_bytes + 1,
            # poll(), not select(): select cannot watch file descriptors above 1023.
            asyncore_use_poll=True,
            # The Server header names no software for a scanner to look up.
            ident="porch",
            # One listening socket (never an IPv4 and an IPv6 one for "localhost").
            ipv6=":" in host,
            ipv4=":" not in host,
        )
        server: Any = _Server(app, map={}, adj=adj)
        server.porch_name = name
        server.request_timeout = read_timeout
        self._server = server
        self._listening = True
        self._running = False
        self._closed = threading.Event()

    @property
    def host(self) -> str:
        return str(self._server.effective_host)

    @property
    def port(self) -> int:
        """The port really listened on (useful with port 0)."""
        return int(self._server.effective_port)

    def serve_forever(self) -> None:
        """Run the server's loop until :meth:`close`."""
        self._running = True
        try:
            self._server.run()
        finally:
            self._closed.set()

    def stop_listening(self) -> None:
        """Take no new connection (a stopping porch); requests in hand go on."""
        if self._listening:
            self._listening = False
            self._in_loop(self._close_listener)

    def wait_idle(self, timeout: float) -> bool:
        """Wait at most ``timeout`` seconds until no request read whole waits for a thread
        or is in one; True when none is. (A stopping porch answers what it already read.)"""
        dispatcher = self._server.task_dispatcher
        deadline = time.monotonic() + max(timeout, 0.0)
        while True:
            with dispatcher.lock:
                if not dispatcher.queue and dispatcher.active_count == 0:
                    return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)

    def close(self, timeout: float = 5.0) -> None:
        """Hang up every connection, end the loop and the threads (at most ``timeout`` s)."""
        self._listening = False
        if self._running:
            self._in_loop(self._close_everything)
            self._closed.wait(timeout)
        else:
            self._close_everything()
        self._server.task_dispatcher.shutdown(timeout=int(timeout) + 1)

    def _in_loop(self, action: Any) -> None:
        # waitress's state belongs to its loop thread; the trigger runs ``action`` there.
        with contextlib.suppress(OSError):  # the loop already ended (its trigger is closed)
            self._server.trigger.pull_trigger(action)

    def _close_listener(self) -> None:
        server = self._server
        server.accepting = False
        # The listening socket only; the trigger stays to wake the loop for close().
        wasyncore.dispatcher.close(server)

    def _close_everything(self) -> None:
        wasyncore.close_all(self._server._map)
