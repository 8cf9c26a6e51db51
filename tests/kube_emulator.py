"""A Kubernetes API emulator on 127.0.0.1 (kmock) for the cluster path's real HTTP calls."""

import asyncio
import contextvars
import datetime
import json
import threading
import time
from pathlib import Path

import aiohttp.web
import kmock
from kmock._internal import k8s, parsing
from kmock._internal.references import ResourceInfo
from kubernetes import client

from lab.backends.cluster import gateway_api
from lab.backends.cluster.kube import Kube
from lab.backends.local.gateway_api import admit
from lab.backends.local.gateway_status import with_status
from lab.backends.local.translate import ROUTE_CONFIGS, translate
from lab.manifests import Ref, ref_of
from lab.routes import as_modelled

_kmock_parse_path = parsing.parse_path
_HANDLING: contextvars.ContextVar = contextvars.ContextVar("the request this task is answering")


def _parse_path(path: str) -> parsing.ParsedPath:
    """kmock reads /api/v1/namespaces[/NAME] as the prefix of a namespaced path and fails on it;
    there it is the Namespace resource itself (cluster-scoped)."""
    parts = path.split("?")[0].strip("/").split("/")
    if parts[:3] == ["api", "v1", "namespaces"] and len(parts) <= 4:
        return parsing.ParsedPath("", "v1", "namespaces", None, parts[3] if len(parts) == 4 else None, None)
    return _kmock_parse_path(path)


parsing.parse_path = _parse_path


VERBS = {"create", "delete", "get", "list", "patch", "update", "watch"}
SERVED = {
    "v1/namespaces": ("Namespace", False), "v1/services": ("Service", True), "v1/secrets": ("Secret", True),
    "v1/pods": ("Pod", True), "apps/v1/deployments": ("Deployment", True),
    "autoscaling/v2/horizontalpodautoscalers": ("HorizontalPodAutoscaler", True),
    "networking.istio.io/v1/gateways": ("Gateway", True),
    "networking.istio.io/v1/virtualservices": ("VirtualService", True),
    "networking.istio.io/v1/destinationrules": ("DestinationRule", True),
    "security.istio.io/v1/peerauthentications": ("PeerAuthentication", True),
    "cert-manager.io/v1/certificates": ("Certificate", True), "cert-manager.io/v1/issuers": ("Issuer", True),
    "cert-manager.io/v1/clusterissuers": ("ClusterIssuer", False),
    # The Gateway API has a Gateway too: a kind named without its group must still mean Istio's.
    "gateway.networking.k8s.io/v1/gateways": ("Gateway", True),
    "v1/configmaps": ("ConfigMap", True),
    "apiregistration.k8s.io/v1/apiservices": ("APIService", False),
    "apiextensions.k8s.io/v1/customresourcedefinitions": ("CustomResourceDefinition", False),
    # Argo Rollouts' CRDs, once the lab installed it
    "argoproj.io/v1alpha1/rollouts": ("Rollout", True),
    "argoproj.io/v1alpha1/analysistemplates": ("AnalysisTemplate", True),
}


class LabEmulator(kmock.KubernetesEmulator):
    """kmock's emulator taught two behaviours of a real API server the lab must wait for:

    - a deleted Namespace is Terminating (status.phase, deletionTimestamp) for a while before it
      and its objects are gone; creating anything in it meanwhile is 403 "being terminated", and
      creating it again is 409 (kube-apiserver's NamespaceLifecycle admission plugin);
    - a Deployment's metadata.generation starts at 1 and grows with each change of its spec (the
      Deployment controller reports the generation it has seen in status.observedGeneration);
    - a CustomResourceDefinition, once stored, adds its kind to discovery in each version it serves
      (kube-apiserver's apiextensions: the CRD's group/version/plural is served from then on).
    """

    termination_seconds = 1.0

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self.terminating: dict[str, float] = {}   # namespace → when it is gone
        # What discovery shows: the kinds a cluster with Istio and cert-manager serves.
        for key, (kind, namespaced) in SERVED.items():
            self.resources[key] = ResourceInfo(kind=kind, namespaced=namespaced, verbs=VERBS)

    def __iter__(self):
        """kmock picks a request's reaction by asking whether each reaction's filter yields that
        request, walking every request the server ever saw: a play's thousands of requests made
        each answer slower than the last (most of a play's time). While a request is answered only
        it is walked; outside a handler, the whole history, as kmock keeps it."""
        answering = _HANDLING.get(None)
        yield from [answering] if answering is not None else super().__iter__()

    async def _serve_list(self, request):
        """A list names its kind (KIND + "List") and apiVersion, as a real API server's does."""
        listed = await super()._serve_list(request)
        resource = request.resource
        kind = next((info.kind for key, info in self.resources.items() if key == resource and info.kind), None)
        api_version = f"{resource.group}/{resource.version}" if resource.group else resource.version
        return {"apiVersion": api_version, "kind": f"{kind or resource.plural.capitalize()}List", **listed}

    def _collect_terminated(self) -> None:
        for name, gone_at in list(self.terminating.items()):
            if time.monotonic() >= gone_at:
                del self.terminating[name]
                for (resource, namespace, obj_name), obj in list(self._objects.items()):
                    in_it = namespace == name or (resource.plural == "namespaces" and obj_name == name)
                    if in_it and not obj.deleted:
                        obj.delete()

    async def _refuse(self, status: int, reason: str, message: str):
        return await self._render_error(k8s.KubernetesError(status=status, reason=reason, message=message))

    async def _handle(self, request):
        _HANDLING.set(request)    # this request's own task (aiohttp runs one per request)
        resource = request.resource
        if resource is None:
            return await super()._handle(request)
        self._collect_terminated()
        data = request.data if isinstance(request.data, dict) else {}
        metadata = data.get("metadata") or {}
        namespace = request.namespace or metadata.get("namespace")
        name = request.name or metadata.get("name")
        key = (resource, namespace, name)
        stored = self._objects[key] if key in self._objects and not self._objects[key].deleted else None
        if resource.plural == "namespaces":
            if request.action == kmock.action.DELETE and stored is not None:
                if name not in self.terminating:
                    self.terminating[name] = time.monotonic() + self.termination_seconds
                    stored.patch({"metadata": {"deletionTimestamp": datetime.datetime.now(datetime.UTC).isoformat()},
                                  "status": {"phase": "Terminating"}})
                return aiohttp.web.json_response(stored.raw)
            if request.action == kmock.action.CREATE and name in self.terminating:
                return await self._refuse(409, "AlreadyExists",
                                          f'object is being deleted: namespaces "{name}" already exists')
        elif namespace in self.terminating and request.action in (kmock.action.CREATE, kmock.action.UPDATE) \
                and (request.action == kmock.action.CREATE or stored is None):
            return await self._refuse(403, "Forbidden",
                                      f'{resource.plural} "{name}" is forbidden: unable to create new content in '
                                      f"namespace {namespace} because it is being terminated")
        spec_before = (stored.raw.get("spec") if stored is not None else None)
        response = await super()._handle(request)
        if resource.plural == "customresourcedefinitions" and key in self._objects and not self._objects[key].deleted:
            self._serve_crd(self._objects[key].raw)
        if resource.plural == "deployments" and request.action in (kmock.action.CREATE, kmock.action.UPDATE) \
                and key in self._objects and not self._objects[key].deleted:
            obj = self._objects[key]
            generation = (obj.raw.get("metadata") or {}).get("generation") or 0
            if stored is None or generation == 0:
                obj.patch({"metadata": {"generation": 1}})
            elif obj.raw.get("spec") != spec_before:
                obj.patch({"metadata": {"generation": generation + 1}})
        return response


    def _serve_crd(self, crd: dict) -> None:
        spec = crd.get("spec") or {}
        names = spec.get("names") or {}
        for version in spec.get("versions") or []:
            if version.get("served"):
                self.resources[f"{spec['group']}/{version['name']}/{names['plural']}"] = ResourceInfo(
                    kind=names["kind"], namespaced=spec.get("scope") == "Namespaced", verbs=VERBS)


class Emulator:
    """Runs the lab's emulator in a thread of its own; `.kube` talks to it over HTTP."""

    def __init__(self):
        self.ready = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._serve()), daemon=True)

    async def _serve(self):
        async with LabEmulator() as emulator, kmock.Server(emulator) as server:
            self.emulator, self.port = emulator, server.port
            self.loop, self.stop = asyncio.get_running_loop(), asyncio.Event()
            self.ready.set()
            await self.stop.wait()

    def __enter__(self) -> "Emulator":
        self.thread.start()
        if not self.ready.wait(10):
            raise RuntimeError("the Kubernetes emulator did not start")
        self.kube = self.new_kube()
        return self

    def new_kube(self) -> Kube:
        """A client of its own (its own discovery cache), for a thread that plays a controller."""
        configuration = client.Configuration()
        configuration.host = f"http://127.0.0.1:{self.port}"
        return Kube(client.ApiClient(configuration))

    def write_kubeconfig(self, path: Path) -> Path:
        """A kubeconfig whose one context is this emulator, as `Kube.from_kubeconfig` reads one."""
        path.write_text(f"""
apiVersion: v1
kind: Config
clusters: [{{name: emulator, cluster: {{server: "http://127.0.0.1:{self.port}"}}}}]
users: [{{name: lab, user: {{token: x}}}}]
contexts: [{{name: lab, context: {{cluster: emulator, user: lab}}}}]
current-context: lab
""")
        return path

    def __exit__(self, *exc):
        self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(10)

    def requests(self) -> list:
        return list(self.emulator._requests)  # every request the emulator saw, in order


class Controller:
    """Plays the cluster's Deployment controller: a Deployment rolls out over a few polls, as a real
    one does — first it observes the new generation, then one replica at a time is updated, and
    only then is the new generation available (`scale` sets how many replicas a Deployment has, as
    an autoscaler would)."""

    def __init__(self, kube: Kube, interval: float = 0.1, every: bool = False):
        self.kube = kube
        self.interval = interval
        self.every = every      # every Deployment the cluster has, as they come
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
        while not self.stop.wait(self.interval):
            if self.every:
                try:
                    for deployment in self.kube.list_all("Deployment"):
                        self.scaled.setdefault(ref_of(deployment), 0)
                except Exception:   # noqa: BLE001 - a list racing a namespace's end: next round
                    continue
            for ref, scaled in list(self.scaled.items()):
                try:
                    obj = self.kube.get(ref)
                    if obj is not None:
                        self._step(ref, obj, scaled)
                except Exception:   # noqa: BLE001 - deleted under it (a namespace's end): next round
                    continue

    def _step(self, ref: Ref, obj: dict, scaled: int) -> None:
        replicas = scaled or (obj.get("spec") or {}).get("replicas", 1)
        generation = (obj.get("metadata") or {}).get("generation", 1)
        status = dict(obj.get("status") or {})
        if status.get("observedGeneration") != generation:    # a new template: start its rollout
            status.update(observedGeneration=generation, updatedReplicas=0)
        elif status.get("updatedReplicas", 0) < replicas:      # one more pod of the new template
            status["updatedReplicas"] = status.get("updatedReplicas", 0) + 1
        else:                                                   # all updated: available
            status.update(updatedReplicas=replicas, readyReplicas=replicas, availableReplicas=replicas)
        status["replicas"] = replicas
        if status != obj.get("status"):
            self.kube.json_patch(ref, [{"op": "add", "path": "/status", "value": status}])


INGRESS = "istio-system/istio-ingressgateway"


class Istiod:
    """Plays istiod from the lab's one model of istiod (the local translator and its Gateway API
    status): the ingress gateway (istio-ingressgateway) gets the routes of the VirtualServices bound
    to Istio Gateways; for a Gateway of class istio it deploys `<gateway>-istio` (a
    Deployment, available after `deploy_polls` polls, and a ClusterIP Service with one port per
    listener port: istio pilot/pkg/config/kube/gatewaycommon/deploymentcontroller.go and the
    istio-discovery chart's files/kube-gateway.yaml); writes the Gateways' and HTTPRoutes' status;
    and pushes each deployed gateway the routes of its Gateway (its Envoy admin's /config_dump,
    served by the fake port-forward to deployment/<gateway>-istio). `push_delay_polls`: polls between
    a change and the gateway serving it."""

    def __init__(self, cluster: "Emulator", tools, interval: float = 0.1, deploy_polls: int = 3,
                 push_delay_polls: int = 2, pushes_routes: bool = True):
        self.kube, self.tools, self.interval = cluster.new_kube(), tools, interval
        self.deploy_polls, self.push_delay_polls = deploy_polls, push_delay_polls
        # False where a data plane (tests/cluster_play.py) serves the translator's routes itself
        self.pushes_routes = pushes_routes
        self.seen: dict[str, int] = {}       # gateway key → polls since first seen
        self.pending: dict[str, tuple[str, int]] = {}   # gateway key → (dump to push, polls left)
        self.pushes: list[str] = []          # keys of the deployed gateways pushed, in order
        self.ingress_pushes: list[str] = []  # and of the ingress gateway's
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "Istiod":
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(5)

    def _run(self):
        while not self.stop.wait(self.interval):
            try:
                self._step()
            except Exception:   # noqa: BLE001 - a half-applied object: the next poll sees it whole
                pass

    def _model(self) -> dict:
        found = []
        for kind, group in (("Gateway", gateway_api.GROUP), ("HTTPRoute", gateway_api.GROUP),
                            ("ReferenceGrant", gateway_api.GROUP), ("Service", ""), ("Namespace", ""),
                            ("Gateway", ""), ("VirtualService", ""), ("DestinationRule", "")):
            try:
                found += self.kube.list_all(kind, group)
            except Exception:   # noqa: BLE001 - no CRDs yet
                pass
        return {ref_of(o): admit({k: v for k, v in o.items() if k != "status"}, None) for o in found}

    def _step(self):
        model = self._model()
        if self.pushes_routes:
            self._push_ingress(model)
        self._push(model)
        for ref, obj in model.items():
            if ref.group == gateway_api.GROUP and ref.kind in ("Gateway", "HTTPRoute"):
                status = with_status(ref, obj, model)["status"]
                stored = self.kube.get(ref) or {}
                if stored.get("status") != status:
                    self.kube.json_patch(ref, [{"op": "add", "path": "/status", "value": status}])

    def _push_ingress(self, model: dict) -> None:
        """The ingress gateway (istioctl's istio-ingressgateway): the routes of the VirtualServices
        bound to Istio Gateways; the Gateway API's Gateways get gateways of their own."""
        if self.kube.get(Ref("Deployment", "istio-system", "istio-ingressgateway")) is None:
            return
        istio = {r: as_modelled(o) for r, o in model.items() if r.group != gateway_api.GROUP}
        config = translate(istio, pods={})
        self._serve(INGRESS, [config.route_configs[scheme] for scheme in ROUTE_CONFIGS],
                    self.tools.admin_folder("istio-system", "deployment/istio-ingressgateway"), config.clusters)

    def _push(self, model: dict) -> None:
        for ref, gateway in model.items():
            if not gateway_api.is_gateway(gateway) or gateway["spec"].get("gatewayClassName") != gateway_api.CLASS:
                continue
            key = f"{ref.namespace}/{ref.name}"
            self.seen[key] = self.seen.get(key, 0) + 1
            if self.seen[key] < self.deploy_polls:
                continue
            self._deploy(ref.namespace, gateway)
            if not self.pushes_routes:
                continue
            alone = {r: o for r, o in model.items() if r.group == gateway_api.GROUP and not gateway_api.is_gateway(o)
                     or r == ref or r.kind in ("Service", "Namespace", "DestinationRule")}
            config = translate({r: gateway_api._as_modelled(o) for r, o in alone.items()}, pods={})
            # The deployed gateway serves its own Gateway's listeners only.
            self._serve(key,
                        [listener.route_config for listener in config.gateway_listeners if listener.gateway == ref],
                        self.tools.admin_folder(ref.namespace, f"deployment/{gateway_api.deployed_name(gateway)}"),
                        config.clusters)

    def _serve(self, key: str, route_configs: list[dict], folder: Path, clusters: list[dict]) -> None:
        """Push the routes and clusters to the gateway's Envoy admin folder (one /config_dump holds both
        here, whatever resource is asked) `push_delay_polls` polls after they changed."""
        dump = json.dumps({"configs": [*({"route_config": route_config} for route_config in route_configs),
                                       *({"cluster": cluster} for cluster in clusters)]})
        waiting = self.pending.get(key)
        served = (folder / "config_dump.json").read_text() if (folder / "config_dump.json").exists() else ""
        if dump == served:
            self.pending.pop(key, None)
        elif waiting is None or waiting[0] != dump:
            self.pending[key] = (dump, self.push_delay_polls)
        elif waiting[1] > 0:
            self.pending[key] = (dump, waiting[1] - 1)
        else:
            (folder / "clusters.json").write_text('{"cluster_statuses": []}')
            (folder / "config_dump.json").write_text(dump)
            (self.pushes if key != INGRESS else self.ingress_pushes).append(key)
            del self.pending[key]

    def _deploy(self, namespace: str, gateway: dict) -> None:
        name = gateway_api.deployed_name(gateway)
        labels = {gateway_api.GATEWAY_NAME_LABEL: gateway["metadata"]["name"],
                  "gateway.networking.k8s.io/gateway-class-name": gateway_api.CLASS}
        if self.kube.get(Ref("Deployment", namespace, name)) is None:
            admin = self.tools.admin_folder(namespace, f"deployment/{name}")   # a new gateway: no routes yet
            (admin / "config_dump.json").write_text('{"configs": []}')
            (admin / "clusters.json").write_text('{"cluster_statuses": []}')
            (admin / "stats.json").write_text("")
            self.kube.apply({"apiVersion": "apps/v1", "kind": "Deployment",
                             "metadata": {"name": name, "namespace": namespace, "labels": labels},
                             "spec": {"replicas": 1, "selector": {"matchLabels": labels}},
                             "status": {"availableReplicas": 1}})
            ports = sorted({int(listener["port"]) for listener in gateway["spec"].get("listeners") or []})
            self.kube.apply({"apiVersion": "v1", "kind": "Service",
                             "metadata": {"name": name, "namespace": namespace, "labels": labels},
                             "spec": {"type": "ClusterIP", "selector": labels,
                                      "ports": [{"name": f"port-{p}", "port": p} for p in ports]}})
