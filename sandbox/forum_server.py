"""A small threaded WSGI server with HTTP/1.1 keep-alive, for the sandbox forum.

A real forum sits behind nginx, which keeps connections open between requests; clients that
reuse connections (porch's client does) should meet that. werkzeug's development server
closes every connection, so the double uses this one: the standard library's ``wsgiref``
handler, looping over requests on one connection. Each request body is read in full before the
app runs, so the next request line is never mistaken for leftover body.
"""

from __future__ import annotations

import contextlib
import io
import socket
import threading
from collections.abc import Callable
from socketserver import TCPServer, ThreadingMixIn
from typing import IO, Any, cast
from wsgiref.simple_server import ServerHandler, WSGIRequestHandler, WSGIServer

WSGIApp = Callable[..., Any]

#: Seconds an idle keep-alive connection stays open (nginx's default is 75).
IDLE_TIMEOUT = 30.0
_MAX_REQUEST_LINE = 65536


class _Handler(ServerHandler):
    http_version = "1.1"

    def cleanup_headers(self) -> None:
        super().cleanup_headers()
        headers = self.headers  # type: ignore[attr-defined]  # set by start_response
        if "Content-Length" not in headers:
            # Without a length the client can only find the end by the connection closing.
            headers["Connection"] = "close"
            request_handler = getattr(self, "request_handler", None)
            if request_handler is not None:
                request_handler.close_connection = True


class _RequestHandler(WSGIRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = IDLE_TIMEOUT
    server: KeepAliveServer

    def setup(self) -> None:
        super().setup()
        # Headers and body leave in separate writes; without this, Nagle's algorithm and the
        # client's delayed ACK add ~40 ms to every response on a reused connection.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def handle(self) -> None:
        self.server.track(self.connection, True)
        try:
            self.close_connection = False
            while not self.close_connection:
                if not self._one_request():
                    return
        except OSError:  # the client went away, or stayed idle too long
            return
        finally:
            self.server.track(self.connection, False)

    def _one_request(self) -> bool:
        self.raw_requestline = self.rfile.readline(_MAX_REQUEST_LINE + 1)
        if not self.raw_requestline:
            return False
        if len(self.raw_requestline) > _MAX_REQUEST_LINE:
            self.send_error(414)
            return False
        if not self.parse_request():
            return False
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            self.send_error(411, "Length Required")
            return False
        length = int(self.headers.get("Content-Length") or 0)
        body = io.BytesIO(self.rfile.read(length) if length else b"")
        environ = self.get_environ()
        environ["REMOTE_PORT"] = str(self.client_address[1])
        handler = _Handler(
            body, cast(IO[bytes], self.wfile), self.get_stderr(), environ, multithread=True
        )
        handler.request_handler = self  # type: ignore[attr-defined]
        app = self.server.get_app()
        assert app is not None
        handler.run(app)
        return True

    def log_message(self, format: str, *args: Any) -> None:
        return None


class KeepAliveServer(ThreadingMixIn, WSGIServer):
    """Serves a WSGI app on a thread per connection; :meth:`close` drops open connections."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, host: str, port: int, app: WSGIApp) -> None:
        super().__init__((host, port), _RequestHandler)
        self.set_app(app)
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks the host up in DNS (getfqdn); loopback needs no name.
        TCPServer.server_bind(self)
        self.server_name = str(self.server_address[0])
        self.server_port = int(self.server_address[1])
        self.setup_environ()

    def track(self, connection: socket.socket, is_open: bool) -> None:
        with self._open_lock:
            if is_open:
                self._open.add(connection)
            else:
                self._open.discard(connection)

    def close(self) -> None:
        """Stop listening and hang up on every idle keep-alive connection."""
        self.server_close()
        with self._open_lock:
            connections = list(self._open)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    @property
    def port(self) -> int:
        return int(self.server_address[1])
