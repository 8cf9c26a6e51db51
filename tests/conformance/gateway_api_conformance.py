"""The Gateway API conformance cases (gateway_api_serving.yaml) as objects, requests and expectations,
and the two ways they are answered: by a real Envoy gateway of the local lab, and by the cluster
path's prediction of what istiod serves (the local translator, as lab/routes.py runs it)."""

import http.client
import ssl
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from lab.backends.base import LiveRoute
from lab.backends.cluster.gateway_api import _as_modelled
from lab.backends.local.translate import translate
from lab.envoy_admin import routes_of
from lab.exercises.served import host_routes, picked_route
from lab.manifests import Ref, ref_of

CASES_FILE = Path(__file__).with_name("gateway_api_serving.yaml")
INFRA = "gateway-conformance-infra"
WEB = "gateway-conformance-web-backend"
APP = "gateway-conformance-app-backend"
GROUP = "gateway.networking.k8s.io"
# A request's `to` → the backend Service (and the VERSION its pods answer with in x-version).
BACKENDS = {"v1": ("infra-backend-v1", INFRA), "v2": ("infra-backend-v2", INFRA), "v3": ("infra-backend-v3", INFRA),
            "web": ("web-backend", WEB), "app-v1": ("app-backend-v1", APP), "app-v2": ("app-backend-v2", APP)}
DEFAULT_HOST = "conformance.lab.local"


def _listener(name: str, allowed: dict) -> dict:
    return {"name": name, "port": 80, "protocol": "HTTP", "allowedRoutes": {"namespaces": allowed}}


def base_objects() -> list[dict]:
    """The conformance suite's base (conformance/base/manifests.yaml) as far as these cases use it:
    its namespaces, one pod per backend (the version app, saying its name in x-version), and the shared
    Gateways same-namespace, all-namespaces and backend-namespaces."""
    objects: list[dict] = [
        {"apiVersion": "v1", "kind": "Namespace",
         "metadata": {"name": INFRA, "labels": {"gateway-conformance": "infra"}}},
        {"apiVersion": "v1", "kind": "Namespace",
         "metadata": {"name": WEB, "labels": {"gateway-conformance": "backend"}}},
        {"apiVersion": "v1", "kind": "Namespace",
         "metadata": {"name": APP, "labels": {"gateway-conformance": "backend"}}},
    ]
    for version, (name, namespace) in BACKENDS.items():
        labels = {"app": name}
        objects.append({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": namespace},
                        "spec": {"selector": labels,
                                 "ports": [{"name": "first-port", "port": 8080, "targetPort": 8888}]}})
        objects.append({"apiVersion": "apps/v1", "kind": "Deployment",
                        "metadata": {"name": name, "namespace": namespace},
                        "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": {
                            "metadata": {"labels": labels},
                            "spec": {"containers": [{"name": "app", "image": "canary-lab.invalid/version-app:1.0",
                                                     "env": [{"name": "VERSION", "value": version}]}]}}}})
    for name, allowed in (("same-namespace", {"from": "Same"}), ("all-namespaces", {"from": "All"}),
                          ("backend-namespaces", {"from": "Selector",
                                                  "selector": {"matchLabels": {"gateway-conformance": "backend"}}})):
        objects.append({"apiVersion": f"{GROUP}/v1", "kind": "Gateway", "metadata": {"name": name, "namespace": INFRA},
                        "spec": {"gatewayClassName": "istio", "listeners": [_listener("http", allowed)]}})
    return objects


def _complete(obj: dict) -> dict:
    """The cases leave out apiVersion (the Gateway API's v1) and the namespace (gateway-conformance-infra)."""
    obj.setdefault("apiVersion", f"{GROUP}/v1")
    obj["metadata"].setdefault("namespace", INFRA)
    return obj


def objects_of(text: str) -> list[dict]:
    return [_complete(obj) for obj in yaml.safe_load_all(text) if obj]


@dataclass
class Request:
    host: str = DEFAULT_HOST
    path: str = "/"
    method: str = "GET"
    headers: dict[str, str] = field(default_factory=dict)
    port: int = 80
    scheme: str = "http"
    to: str = ""       # the backend that answers, or
    status: int = 0    # the gateway's own answer

    @property
    def expected(self) -> str | int:
        return self.to or self.status

    def __str__(self) -> str:
        sent = "".join(f" {k}: {v}" for k, v in self.headers.items())
        return f"{self.method} {self.scheme}://{self.host}{self.path}{sent} (port {self.port})"


@dataclass
class Case:
    name: str
    scenario: str
    source: str
    objects: list[dict]
    gateway: str = "same-namespace"
    requests: list[Request] = field(default_factory=list)
    routes: list[dict] = field(default_factory=list)      # route status expectations
    gateways: list[dict] = field(default_factory=list)    # Gateway listener status expectations
    weights: dict[str, int] = field(default_factory=dict)


@dataclass
class Refusal:
    name: str
    source: str
    field: str
    objects: list[dict]


def load() -> tuple[list[Case], list[Refusal]]:
    data = yaml.safe_load(CASES_FILE.read_text())
    scenarios = data["scenarios"]
    cases = []
    for entry in data["cases"]:
        scenario = scenarios[entry["scenario"]]
        cases.append(Case(name=entry["name"], scenario=entry["scenario"], source=scenario["source"],
                          objects=objects_of(scenario["objects"]), gateway=entry.get("gateway", "same-namespace"),
                          requests=[Request(**r) for r in entry.get("requests") or []],
                          routes=entry.get("routes") or [], gateways=entry.get("gateways") or [],
                          weights=entry.get("weights") or {}))
    refusals = [Refusal(e["name"], e["source"], e["field"], objects_of(e["objects"])) for e in data["refused"]]
    return cases, refusals


# -- asking a real gateway --------------------------------------------------------------------------

def send(url: str, request: Request) -> str | int:
    """Send one request; the backend that answered (its x-version), else the gateway's status."""
    port = int(url.rsplit(":", 1)[1])
    if request.scheme == "https":
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE   # the lab CA covers *.lab.local only
        connection: http.client.HTTPConnection = http.client.HTTPSConnection("127.0.0.1", port, timeout=5,
                                                                              context=context)
    else:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request(request.method, request.path, headers={"Host": request.host, **request.headers})
        answer = connection.getresponse()
        answer.read()
        return answer.headers.get("x-version") or answer.status
    finally:
        connection.close()


def condition(obj: dict, kind: str) -> list:
    """[status as a bool, reason] of a condition, as the cases write it."""
    [found] = [c for c in obj.get("conditions") or [] if c["type"] == kind]
    return [found["status"] == "True", found["reason"]]


# -- the cluster path's prediction -------------------------------------------------------------------

def model(objects: list[dict]) -> dict[Ref, dict]:
    """The objects as the cluster path models what istiod will make of them (cluster/gateway_api.py)."""
    return {ref_of(obj): _as_modelled(obj) for obj in objects}


def predicted(held: dict[Ref, dict], gateway: str, request: Request) -> str | int:
    """What the model says the request gets: the backend (by the version its Service's pods answer
    with), or the gateway's own status (404: no route; 500: no backend, or one that is not there)."""
    config = translate(held, pods={})
    [listener] = [entry for entry in config.gateway_listeners
                  if (entry.gateway.name, entry.port) == (gateway, request.port)]
    routes: list[LiveRoute] = routes_of([listener.route_config])
    route = picked_route(host_routes(routes, request.host, request.scheme), request.path,
                         {":method": request.method, **request.headers})
    if route is None:
        return 404
    if route.status or not route.destinations:
        return route.status or 500
    [destination] = route.destinations
    clusters = {c["name"] for c in config.clusters}
    names = {f"{name}.{namespace}": version for version, (name, namespace) in BACKENDS.items()}
    cluster = _cluster_name(listener.route_config, route)
    return names[destination.service] if cluster in clusters else 500


def _cluster_name(route_config: dict, route: LiveRoute) -> str:
    """The Envoy cluster a single-destination route names (routes_of keeps only its Service)."""
    for vhost in route_config["virtual_hosts"]:
        for entry in vhost["routes"]:
            if entry.get("name") == route.name and entry.get("match") == route.conditions:
                return (entry.get("route") or {}).get("cluster", "")
    return ""
