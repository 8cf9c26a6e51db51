"""A Kubernetes API emulator on 127.0.0.1 (kmock) for the cluster path's real HTTP calls."""

import asyncio
import threading

import kmock
from kmock._internal import parsing
from kubernetes import client

from lab.backends.cluster.kube import Kube
from lab.manifests import Ref

_kmock_parse_path = parsing.parse_path


def _parse_path(path: str) -> parsing.ParsedPath:
    """kmock reads /api/v1/namespaces[/NAME] as the prefix of a namespaced path and fails on it;
    there it is the Namespace resource itself (cluster-scoped)."""
    parts = path.split("?")[0].strip("/").split("/")
    if parts[:3] == ["api", "v1", "namespaces"] and len(parts) <= 4:
        return parsing.ParsedPath("", "v1", "namespaces", None, parts[3] if len(parts) == 4 else None, None)
    return _kmock_parse_path(path)


parsing.parse_path = _parse_path


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


class Controller:
    """Plays the cluster's controllers for Deployments: once one exists, its replicas become ready
    (`scale` sets how many a Deployment has, as an autoscaler would)."""

    def __init__(self, kube: Kube):
        self.kube = kube
        self.scaled: dict[Ref, int] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def watch(self, *refs: Ref) -> "Controller":
        for ref in refs:
            self.scaled.setdefault(ref, 0)
        return self

    def scale(self, ref: Ref, replicas: int) -> None:
        self.scaled[ref] = replicas

    def __enter__(self) -> "Controller":
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(5)

    def _run(self):
        while not self.stop.wait(0.2):
            for ref, scaled in list(self.scaled.items()):
                obj = self.kube.get(ref)
                if obj is None:
                    continue
                replicas = scaled or (obj.get("spec") or {}).get("replicas", 1)
                status = {"replicas": replicas, "readyReplicas": replicas, "availableReplicas": replicas}
                if obj.get("status") != status:
                    self.kube.json_patch(ref, [{"op": "add", "path": "/status", "value": status}])
