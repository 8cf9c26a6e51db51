"""Small HTTP servers on 127.0.0.1 that tests start and stop: stand-ins for a Service in the
cluster, the Docker Engine API, a tool's release page."""

import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class QuietHandler(http.server.BaseHTTPRequestHandler):
    """A handler that keeps the test output clean and answers with one call."""

    def log_message(self, *args):
        pass

    def reply(self, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(200)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@contextmanager
def serving(handler) -> Iterator[str]:
    """Serve `handler` on a free loopback port; yields the base URL (no trailing slash). The
    server is stopped and its socket closed on the way out."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
