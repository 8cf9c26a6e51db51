"""The tornado WebSocket example: a page and a WebSocket echo.

The page's <title> is how the lab recognises this app in traffic checks;
`x-instance` on every answer (the WebSocket upgrade included) says which
replica answered, so per-connection routing can be seen.
"""

import argparse
import asyncio
import os
import signal
import socket

import tornado.web
import tornado.websocket

PAGE = """<!doctype html>
<html>
<head>
<title>tornado WebSocket example</title>
</head>
<body>
<h1>tornado WebSocket example</h1>
<p>Type a line; the server echoes it back over a WebSocket.</p>
<input id="line" autofocus> <button onclick="send()">send</button>
<pre id="log"></pre>
<script>
  const scheme = location.protocol === "https:" ? "wss://" : "ws://";
  const ws = new WebSocket(scheme + location.host + "/websocket");
  const log = (text) => document.getElementById("log").textContent += text + "\\n";
  ws.onmessage = (event) => log("echo: " + event.data);
  function send() { ws.send(document.getElementById("line").value); }
</script>
</body>
</html>
"""


def instance_name() -> str:
    return os.environ.get("POD_NAME") or socket.gethostname()


class InstanceHeader:
    def set_default_headers(self) -> None:
        self.set_header("x-instance", instance_name())


class PageHandler(InstanceHeader, tornado.web.RequestHandler):
    def get(self) -> None:
        self.write(PAGE)


class HealthHandler(InstanceHeader, tornado.web.RequestHandler):
    def get(self) -> None:
        self.write("ok")


class EchoHandler(InstanceHeader, tornado.websocket.WebSocketHandler):
    def check_origin(self, origin: str) -> bool:
        return True  # reached through a gateway host name, not the page's own origin

    def on_message(self, message) -> None:
        self.write_message(message, binary=isinstance(message, bytes))


def make_app() -> tornado.web.Application:
    return tornado.web.Application([
        (r"/", PageHandler),
        (r"/healthz", HealthHandler),
        (r"/websocket", EchoHandler),
    ])


async def serve(address: str, port: int) -> None:
    server = make_app().listen(port, address=address)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", 8888)))
    parser.add_argument("--address", default="127.0.0.1")
    args = parser.parse_args()
    asyncio.run(serve(args.address, args.port))


if __name__ == "__main__":
    main()
