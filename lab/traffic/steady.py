"""A light, steady load through the gateway on its own thread (`invoke rollout --traffic`,
`invoke watch --traffic`), so metrics have something to count while a learner sends none."""

import http.client
import threading
import time
from urllib.parse import urlsplit

RATE = 50   # requests/s: light, and enough for a 10% canary to get a few per second


class SteadyTraffic:
    """`with SteadyTraffic(url, host, path):` sends GETs at about RATE per second until the block ends."""

    def __init__(self, gateway_url: str, host: str, path: str = "/", rate: float = RATE):
        address = urlsplit(gateway_url)
        self.address = (address.hostname or "127.0.0.1", address.port or 80)
        self.host, self.path, self.pause = host, path, 1.0 / rate
        self.stop = threading.Event()
        self.sent = 0
        self.thread = threading.Thread(target=self._send, name="steady-traffic", daemon=True)

    def __enter__(self) -> "SteadyTraffic":
        self.thread.start()
        return self

    def __exit__(self, *_) -> None:
        self.stop.set()
        self.thread.join(timeout=5)

    def _send(self) -> None:
        connection = None
        next_at = time.monotonic()
        while not self.stop.is_set():
            try:
                connection = connection or http.client.HTTPConnection(*self.address, timeout=5)
                connection.request("GET", self.path, headers={"Host": self.host})
                connection.getresponse().read()
                self.sent += 1
            except (OSError, http.client.HTTPException):
                if connection is not None:
                    connection.close()
                connection = None     # a new connection next time, after the pause
            next_at = max(next_at + self.pause, time.monotonic())
            self.stop.wait(next_at - time.monotonic())
        if connection is not None:
            connection.close()
