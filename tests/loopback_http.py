"""A real HTTP server on 127.0.0.1 for the download tests: it serves ``files`` and misbehaves on request.

The first path segment chooses the behaviour, the rest names the file (``/<mode>/<path>``):
``plain`` (or any unknown word) serves it; ``short`` announces the whole length and sends half;
``no-length`` sends half without a length; ``slow`` trickles it; ``redirect-external`` and
``redirect-local`` send plain-HTTP redirects to an outside host or to this server by address;
``to-port/<port>`` and ``to-host/<host>`` redirect to another port or host; ``same`` redirects to the
same server by a relative location.
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Server(ThreadingHTTPServer):
    files: dict[str, bytes]
    requests: list[str]


class _Handler(BaseHTTPRequestHandler):
    server: Server

    def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:
        self.server.requests.append(self.path)
        mode, _, rest = self.path.lstrip("/").partition("/")
        port = self.server.server_port
        if mode == "redirect-external":
            return self._redirect(f"http://example.invalid/{rest}")
        if mode == "redirect-local":
            return self._redirect(f"http://127.0.0.1:{port}/{rest}")
        if mode == "to-port":
            other, _, rest = rest.partition("/")
            return self._redirect(f"http://127.0.0.1:{other}/{rest}")
        if mode == "to-host":
            host, _, rest = rest.partition("/")
            return self._redirect(f"http://{host}:{port}/{rest}")
        if mode == "same":
            return self._redirect(f"/{rest}")
        body = self.server.files.get("/" + rest)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        if mode != "no-length":
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if mode in ("short", "no-length"):
            self.wfile.write(body[: len(body) // 2])  # then close: the transfer stops early
        elif mode == "slow":
            for i in range(0, len(body), 1 << 16):
                self.wfile.write(body[i:i + (1 << 16)])
                time.sleep(0.05)
        else:
            self.wfile.write(body)

    def _redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()


def serve(files: dict[str, bytes]) -> Server:
    """A server on a free loopback port, answering from a thread until :func:`stop`."""
    srv = Server(("127.0.0.1", 0), _Handler)
    srv.files, srv.requests = dict(files), []
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def stop(srv: Server) -> None:
    srv.shutdown()
    srv.server_close()


def server_url(srv: Server, path: str) -> str:
    return f"http://127.0.0.1:{srv.server_port}{path}"
