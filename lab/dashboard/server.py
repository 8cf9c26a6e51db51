"""The dashboard's web server: the standard library's ThreadingHTTPServer on 127.0.0.1 only.

It serves the page and its two assets from the package (lab/dashboard/assets/, shipped in the
wheel: no internet, no CDN) and the newest snapshot as JSON at /api/state, which the page polls.
Any other path is 404; only GET and HEAD are answered.
"""

import json
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources

from lab import ui
from lab.config import Paths
from lab.dashboard.snapshot import Live
from lab.errors import LabError

ASSETS = {"/": ("index.html", "text/html; charset=utf-8"),
          "/app.js": ("app.js", "text/javascript; charset=utf-8"),
          "/style.css": ("style.css", "text/css; charset=utf-8")}


def asset(name: str) -> bytes:
    return resources.files("lab.dashboard").joinpath("assets", name).read_bytes()


class Handler(BaseHTTPRequestHandler):
    server_version = "canary-lab-dashboard"

    def __init__(self, *args: object, live: Live, **kwargs: object) -> None:
        self.live = live
        super().__init__(*args, **kwargs)   # type: ignore[arg-type]   # handles the request

    def do_GET(self) -> None:
        self._answer(head=False)

    def do_HEAD(self) -> None:
        self._answer(head=True)

    def _answer(self, head: bool) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/api/state":
            body, kind = json.dumps(self.live.latest()).encode(), "application/json"
        elif path in ASSETS:
            name, kind = ASSETS[path]
            body = asset(name)
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        # The page is the lab's own: no script or style from anywhere else, and no framing.
        self.send_header("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'")
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:   # noqa: A002 - the stdlib's signature
        pass   # a request a second is no news


def make_server(live: Live, port: int = 0) -> ThreadingHTTPServer:
    """Bound to 127.0.0.1 only, on `port` (0: a free one the kernel picks)."""
    server = ThreadingHTTPServer(("127.0.0.1", port), partial(Handler, live=live))
    server.daemon_threads = True
    return server


def run(paths: Paths, port: int = 0, window: float = 10.0) -> None:
    """Serve the dashboard until Ctrl-C (a KeyboardInterrupt for the edge: exit 130)."""
    live = Live(paths, window=window).start()
    try:
        server = make_server(live, port)
    except OSError as e:
        live.stop()
        raise LabError(f"the dashboard cannot listen on 127.0.0.1:{port} ({e.strerror or e})",
                       "give another --port, or leave it out for a free one") from None
    ui.info(f"canary-lab dashboard: [bold]http://127.0.0.1:{server.server_address[1]}/[/]  (Ctrl-C stops it)")
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        live.stop()
