"""The Istio-API serving cases (istio_serving.yaml): what istiod sends an ingress gateway for a set
of Gateways, VirtualServices and DestinationRules, and what requests then get — as Istio's own
tests say, written in this project's words. Loaded into plain values; compared with what a gateway
serves (live routes read back from Envoy) and with the cluster path's prediction (lab/routes.py).

A case's expected routes, per virtual host in the order Envoy tries them:
`{prefix|exact|regex: PATH, headers: {NAME: {exact|prefix|regex: V} or {}}, name: N, to: DEST}`,
DEST being `service[/subset]` (all of the traffic) or `{service[/subset]: weight, ...}`.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lab.backends.base import LiveRoute
from lab.manifests import Ref, parse_manifests, ref_of

CASES_FILE = Path(__file__).with_name("istio_serving.yaml")
NAMESPACE = "conf"
VERSIONS = ("v1", "v2", "v3")

Route = dict[str, Any]                     # normalised: path kind and value, headers, name, to
Served = dict[tuple[str, str], list[Route]]  # (scheme, host) → routes in order


def _deployment(version: str) -> str:
    return f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: app-{version}, namespace: {NAMESPACE}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: app, version: {version}}}}}
  template:
    metadata: {{labels: {{app: app, version: {version}}}}}
    spec:
      containers:
        - name: app
          image: canary-lab.invalid/version-app:1.0
          env: [{{name: VERSION, value: {version}}}]
          ports: [{{containerPort: 8888}}]
"""


def _service(name: str, selector: str) -> str:
    return f"""
apiVersion: v1
kind: Service
metadata: {{name: {name}, namespace: {NAMESPACE}}}
spec:
  selector: {selector}
  ports: [{{name: http, port: 80, targetPort: 8888}}]
"""


# One app in three versions; Service `app` over all of them with subsets v1..v3, and Services `a`,
# `b`, `c` over one version each (the sources' distinct destination hosts). Gateway `gw` serves
# every host, so a case's VirtualService gets exactly its own hosts (gateway.go: the intersection).
BASE_YAML = "\n---\n".join([
    f"apiVersion: v1\nkind: Namespace\nmetadata: {{name: {NAMESPACE}}}\n",
    *(_deployment(v) for v in VERSIONS),
    _service("app", "{app: app}"),
    *(_service(name, f"{{app: app, version: {v}}}") for name, v in zip("abc", VERSIONS, strict=True)),
    f"""
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: app, namespace: {NAMESPACE}}}
spec:
  host: app
  subsets:
  - {{name: v1, labels: {{version: v1}}}}
  - {{name: v2, labels: {{version: v2}}}}
  - {{name: v3, labels: {{version: v3}}}}
""",
    f"""
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: gw, namespace: {NAMESPACE}}}
spec:
  selector: {{istio: ingressgateway}}
  servers: [{{port: {{number: 80, name: http, protocol: HTTP}}, hosts: ['*']}}]
"""])


def base_objects() -> list[dict]:
    return parse_manifests(BASE_YAML, "conformance base")


@dataclass(frozen=True)
class Request:
    host: str
    path: str = "/"
    headers: dict[str, str] = field(default_factory=dict)
    scheme: str = "http"
    method: str = "GET"
    answer: tuple[str, ...] = ()           # versions any of which may answer; empty: `status` alone
    status: int = 200


@dataclass(frozen=True)
class Case:
    id: str
    source: str
    batches: list[list[dict]]              # objects, in the order they are created
    serves: Served | None                  # None: a refused case that says nothing of serving
    requests: list[Request]
    refused: str = ""                      # the field the local lab names when it refuses the case
    note: str = ""

    def __str__(self) -> str:
        return self.id

    @property
    def objects(self) -> list[dict]:
        return [obj for batch in self.batches for obj in batch]

    @property
    def refs(self) -> list[Ref]:
        return [ref_of(obj) for obj in self.objects]


def _destination(text: str) -> str:
    service, _, subset = text.partition("/")
    return f"{service}/{subset}" if subset else service


def _expected_route(entry: dict) -> Route:
    to = entry["to"]
    weights = {_destination(to): 100} if isinstance(to, str) else {_destination(k): int(v) for k, v in to.items()}
    path = next((kind, str(entry[kind])) for kind in ("prefix", "exact", "regex") if kind in entry) \
        if any(kind in entry for kind in ("prefix", "exact", "regex")) else ("prefix", "/")
    headers = {str(name).lower(): _condition(cond) for name, cond in (entry.get("headers") or {}).items()}
    return {"path": path, "headers": headers, "to": weights, **({"name": entry["name"]} if "name" in entry else {})}


def _condition(cond: dict | None) -> tuple[str, str]:
    if not cond:
        return ("present", "")
    [(kind, value)] = cond.items()
    return (str(kind), str(value))


def _served(block: dict) -> Served:
    served: Served = {}
    for key, routes in block.items():
        scheme, _, host = str(key).rpartition("://")
        served[(scheme or "http", host)] = [_expected_route(r) for r in routes or []]
    return served


def _request(entry: dict) -> Request:
    answer = entry.get("answer", 200)
    said = {"host": str(entry["host"]), "path": entry.get("path", "/"), "headers": entry.get("headers") or {},
            "scheme": entry.get("scheme", "http"), "method": entry.get("method", "GET")}
    if isinstance(answer, int):
        return Request(**said, status=answer)
    return Request(**said, answer=(answer,) if isinstance(answer, str) else tuple(answer))


def _batches(entry: dict) -> list[list[dict]]:
    texts = entry["apply"] if isinstance(entry["apply"], list) else [entry["apply"]]
    return [parse_manifests(text, entry["id"]) for text in texts]


def load_cases() -> list[Case]:
    raw = yaml.safe_load(CASES_FILE.read_text())
    return [Case(id=e["id"], source=e["source"], batches=_batches(e), refused=e.get("refused", ""),
                 serves=_served(e["serves"]) if "serves" in e else None, note=e.get("note", ""),
                 requests=[_request(r) for r in e.get("requests") or []]) for e in raw]


# -- what a gateway serves, in the cases' terms -----------------------------------------------------

def _live_destination(service: str, subset: str) -> str:
    name, _, namespace = service.partition(".")
    base = name if namespace == NAMESPACE else service
    return f"{base}/{subset}" if subset else base


def _live_condition(header: dict) -> tuple[str, str]:
    if header.get("present_match"):
        return ("present", "")
    [(kind, value)] = (header.get("string_match") or {}).items()
    return ("regex", value["regex"]) if kind == "safe_regex" else (kind, str(value))


def live_route(route: LiveRoute) -> Route:
    conditions = route.conditions
    path = (("exact", conditions["path"]) if "path" in conditions
            else ("regex", conditions["safe_regex"]["regex"]) if "safe_regex" in conditions
            else ("prefix", conditions.get("prefix", "")))
    headers = {h["name"]: _live_condition(h) for h in conditions.get("headers") or []}
    return {"path": path, "headers": headers, "name": route.name,
            "to": {_live_destination(d.service, d.subset): d.weight for d in route.destinations if d.weight}}


def live_served(routes: list[LiveRoute]) -> Served:
    served: Served = {}
    for route in routes:
        served.setdefault((route.scheme, route.host), []).append(live_route(route))
    return served


def comparable(expected: Served, live: Served) -> Served:
    """`live` with route names kept only where the case names one (the sources assert a name at times)."""
    result: Served = {}
    for key, routes in live.items():
        wanted = expected.get(key, [])
        result[key] = [{k: v for k, v in route.items() if k != "name" or (i < len(wanted) and "name" in wanted[i])}
                       for i, route in enumerate(routes)]
    return result


def _service_of(destination: str) -> tuple[str, str]:
    """`svc[/subset]` or `svc.ns[/subset]` → (Service name.namespace, subset), as lab/routes.py names them."""
    service, _, subset = destination.partition("/")
    return (service if "." in service else f"{service}.{NAMESPACE}"), subset


def as_predicted(expected: Served) -> dict[tuple[str, str], list[list[tuple[str, str, int]]]]:
    """The expected routes in lab/routes.py's terms: per host, each route's sorted (Service
    name.namespace, subset, weight), one entry per run of equal neighbours."""
    predicted: dict[tuple[str, str], list[list[tuple[str, str, int]]]] = {}
    for key, routes in expected.items():
        runs: list[list[tuple[str, str, int]]] = []
        for route in routes:
            destinations = sorted((*_service_of(d), weight) for d, weight in route["to"].items())
            if not runs or runs[-1] != destinations:
                runs.append(destinations)
        predicted[key] = runs
    return predicted
