"""The version app: one app, several versions, for v1/v2 canary exercises.

Every answer says its version in the body and in `x-version` (how checks tell
versions apart) and names the replica in `x-instance`. ERROR_RATE makes a
share of requests fail with 500, to play a bad canary; LATENCY_MS makes answers
that much slower, to play a slow one: every answer, or only the share LATENCY_SHARE
(0-1) of them, a regression that shows in the tail (p95) and not in the median.
"""

import argparse
import asyncio
import os
import random
import signal
import socket

import tornado.web

VERSION = os.environ.get("VERSION", "v1")
ERROR_RATE = float(os.environ.get("ERROR_RATE", "0") or 0)
LATENCY = float(os.environ.get("LATENCY_MS", "0") or 0) / 1000
LATENCY_SHARE = float(os.environ.get("LATENCY_SHARE", "1") or 1)


def instance_name() -> str:
    return os.environ.get("POD_NAME") or socket.gethostname()


class VersionHandler(tornado.web.RequestHandler):
    def set_default_headers(self) -> None:
        self.set_header("x-version", VERSION)
        self.set_header("x-instance", instance_name())
        self.set_header("content-type", "text/plain; charset=utf-8")

    async def get(self, _path: str) -> None:
        if LATENCY and random.random() < LATENCY_SHARE:
            await asyncio.sleep(LATENCY)
        if random.random() < ERROR_RATE:
            self.set_status(500)
            self.write(f"version {VERSION} failed\n")
            return
        self.write(f"version {VERSION} from {instance_name()}\n")


class HealthHandler(tornado.web.RequestHandler):
    def get(self) -> None:
        self.write("ok")


def make_app() -> tornado.web.Application:
    return tornado.web.Application([(r"/healthz", HealthHandler), (r"/(.*)", VersionHandler)])


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
