"""A Kubernetes API emulator on 127.0.0.1 (kmock) for the cluster path's real HTTP calls."""

import asyncio
import threading

import kmock
from kubernetes import client

from lab.backends.cluster.kube import Kube


class Emulator:
    """Runs kmock's KubernetesEmulator in a thread of its own; `.kube` talks to it over HTTP."""

    def __init__(self):
        self.ready = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._serve()), daemon=True)

    async def _serve(self):
        async with kmock.KubernetesEmulator() as emulator, kmock.Server(emulator) as server:
            self.emulator, self.port = emulator, server.port
            self.loop, self.stop = asyncio.get_running_loop(), asyncio.Event()
            self.ready.set()
            await self.stop.wait()

    def __enter__(self) -> "Emulator":
        self.thread.start()
        if not self.ready.wait(10):
            raise RuntimeError("the Kubernetes emulator did not start")
        configuration = client.Configuration()
        configuration.host = f"http://127.0.0.1:{self.port}"
        self.kube = Kube(client.ApiClient(configuration))
        return self

    def __exit__(self, *exc):
        self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(10)

    def requests(self) -> list:
        return list(self.emulator._requests)  # every request the emulator saw, in order
