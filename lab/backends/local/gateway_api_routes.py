"""Attached HTTPRoutes → Envoy listeners and routes, one listener per Gateway listener port, as
istiod builds them for the gateway it deploys per Gateway.

Every attached route's rules for a hostname go into one virtual host, most specific match first
across routes, then the oldest route, then namespace/name — the spec's order (apis/v1/
httproute_types.go, HTTPRouteRule.Matches), sorted the way Istio sorts them (pilot/pkg/config/
kube/gateway/conversion.go, sortHTTPRoutes). Nothing after the first catch-all is sent (route.go
BuildHTTPRoutesForVirtualService). Weights follow Istio's buildHTTPDestination: default 1,
zero-weight backends dropped, none left → 500. A backendRef that does not resolve keeps its share
and answers 500: it names a cluster Envoy lacks, and gateway routes answer a missing cluster with
500 (pilot/pkg/networking/core/route/route.go, ClusterNotFoundResponseCode). PathPrefix becomes
Envoy's path_separated_prefix (whole segments), as route.go does for gateways.
"""

from dataclasses import dataclass
from typing import Any

from lab.backends.local.destination_policies import with_traffic_policy
from lab.backends.local.endpoints import CLUSTER_DOMAIN, serves
from lab.backends.local.envoy_clusters import static_cluster
from lab.backends.local.gateway_api import (
    SCHEMES,
    RouteResult,
    attach,
    backend_problem,
    is_istio_gateway,
)
from lab.backends.local.gateway_vhosts import (
    ROUTE_CONFIG_FLAGS,
    is_catch_all,
    sort_vhost_routes,
    virtual_host_domains,
)
from lab.backends.local.pods import Pod
from lab.backends.local.route_policies import with_http_route_rule
from lab.config import LOCAL_CREDENTIAL
from lab.errors import ManifestError
from lab.manifests import Ref

NOT_PERMITTED = "not-permitted"   # prefix of the (absent) cluster a forbidden backendRef routes to
Objects = dict[Ref, dict]


@dataclass
class GatewayListener:
    """One port of a Gateway API Gateway: an Envoy listener of its own, as on the gateway Istio
    deploys for the Gateway (one Service port per listener port: deploymentcontroller.go
    extractServicePorts)."""
    gateway: Ref
    port: int            # the listener port, as the Gateway names it (the deployed Service's port)
    scheme: str          # http | https
    route_config: dict   # its RouteConfiguration (name starts with the scheme, as Istio's do)

    @property
    def key(self) -> str:
        return listener_key(self.gateway, self.port)


def listener_key(gateway: Ref, port: int) -> str:
    """A Gateway listener port's name, stable across applies: `namespace/name:port`."""
    return f"{gateway.namespace}/{gateway.name}:{port}"


def route_config_name(gateway: Ref, port: int, scheme: str) -> str:
    """Istio names a gateway's route configs `http.PORT` and `https.PORT....`; here one Envoy holds
    every Gateway, so the Gateway's name follows."""
    return f"{scheme}.{port}.{gateway.name}.{gateway.namespace}"


def gateway_listeners(objects: Objects, pods: dict[str, Pod], clusters: dict[str, dict]) -> list[GatewayListener]:
    """An Envoy listener for each port of each Gateway of class istio, with the routes of every
    accepted HTTPRoute there. New Envoy clusters are added to `clusters`."""
    ports: dict[tuple[Ref, int], str] = {}
    for ref, obj in sorted(objects.items()):
        if is_istio_gateway(ref, obj):
            ports.update(check_listeners(ref, obj))
    # (gateway, port) → host → listener name → [(sort key, route)]
    entries: dict[tuple[Ref, int], dict[str, dict[str, list[tuple[tuple, dict]]]]] = {k: {} for k in ports}
    for ref, result in attach(objects).items():
        for served, routes in _routes_of(ref, objects[ref], result, objects, pods, clusters):
            for host in served.hostnames:
                by_listener = entries[served.gateway, served.port].setdefault(host, {})
                by_listener.setdefault(served.listener["name"], []).extend(routes)
    listeners = []
    for (gateway, port), hosts in sorted(entries.items()):
        scheme = ports[gateway, port]
        virtual_hosts = [{"name": f"{host}|{gateway.namespace}/{gateway.name}", "domains": virtual_host_domains(host),
                          "routes": _virtual_host_routes(by_listener)} for host, by_listener in sorted(hosts.items())]
        config = {"name": route_config_name(gateway, port, scheme), **ROUTE_CONFIG_FLAGS,
                  "virtual_hosts": virtual_hosts}
        listeners.append(GatewayListener(gateway, port, scheme, config))
    return listeners


def _routes_of(ref: Ref, route: dict, result: RouteResult, objects: Objects, pods: dict[str, Pod],
               clusters: dict) -> list[tuple]:
    """(the listener that took it, its Envoy routes with their sort keys) for each accepted parent."""
    accepted = [served for parent in result.parents if parent.denied is None for served in parent.served]
    if not accepted or result.broken:
        return []   # not Accepted, or not buildable: serves nothing, as on a cluster
    age = (route["metadata"].get("creationTimestamp", ""), ref.namespace, ref.name)
    routes = []

    def cluster_for(backend: dict) -> str:
        return _cluster_for(ref, backend, objects, pods, clusters)

    for i, rule in enumerate(route["spec"].get("rules") or []):
        action = with_http_route_rule(ref, i, rule, _action(ref, rule, objects, pods, clusters), cluster_for,
                                      clusters, objects)
        for j, match in enumerate(rule.get("matches") or [{}]):
            envoy_match, rank = _match(match)
            routes.append(((*rank, *age, i, j), {"match": envoy_match, **action, "name": rule_name(ref, rule, i)}))
    return [(served, routes) for served in accepted]


def rule_name(ref: Ref, rule: dict, index: int) -> str:
    """A rule's route name at the gateway: its own name, else Istio's `namespace.name.index`."""
    return str(rule.get("name") or f"{ref.namespace}.{ref.name}.{index}")


def rule_matches(ref: Ref, route: dict) -> list[tuple[str, dict]]:
    """(route name, Envoy route match) for each match of each rule of an HTTPRoute, as built above:
    what a rule would serve, for the rules istiod leaves out (nothing after a catch-all)."""
    return [(rule_name(ref, rule, i), _match(match)[0])
            for i, rule in enumerate((route.get("spec") or {}).get("rules") or [])
            for match in rule.get("matches") or [{}]]


def _virtual_host_routes(by_listener: dict[str, list[tuple[tuple, dict]]]) -> list[dict]:
    """One host's routes. Each listener's routes for it are one VirtualService to istiod (route_collections.go
    mergeHTTPRoutes, sortHTTPRoutes), sent up to its first catch-all; several listeners' are merged with
    the catch-alls moved last (gateway.go buildGatewayHTTPRouteConfig → route.go SortVHostRoutes)."""
    merged: list[dict] = []
    for _, found in sorted(by_listener.items()):
        for _, route in sorted(found, key=lambda entry: entry[0]):
            merged.append(route)
            if is_catch_all(route["match"]):
                break
    return sort_vhost_routes(merged)


def check_listeners(ref: Ref, gateway: dict) -> dict[tuple[Ref, int], str]:
    """The Gateway's listener ports and the scheme each serves; what the local gateway cannot do is an error.
    It has one certificate, the lab CA's: an HTTPS listener must terminate TLS with it."""
    ports: dict[tuple[Ref, int], str] = {}
    for i, listener in enumerate((gateway.get("spec") or {}).get("listeners") or []):
        tls = listener.get("tls") or {}
        certs = [(c.get("kind", "Secret"), c.get("namespace") or ref.namespace, c.get("name"))
                 for c in tls.get("certificateRefs") or []]
        if listener.get("protocol") == "HTTPS" and (tls.get("mode", "Terminate") != "Terminate"
                                                    or certs != [("Secret", ref.namespace, LOCAL_CREDENTIAL)]):
            raise ManifestError(f"{ref}: spec.listeners[{i}].tls must be mode Terminate with certificateRefs "
                                f"[{{kind: Secret, name: {LOCAL_CREDENTIAL}}}] in the Gateway's namespace on the "
                                "local lab",
                                "the local gateway has only the lab CA's certificate; other TLS setups "
                                "need k3d or minikube")
        scheme = SCHEMES[listener["protocol"]]
        if ports.setdefault((ref, int(listener["port"])), scheme) != scheme:
            raise ManifestError(f"{ref}: spec.listeners[{i}] serves {listener['protocol']} on port {listener['port']}, "
                                "where another listener serves the other protocol; the local gateway serves one "
                                "protocol per port (a cluster's gateway tells them apart by TLS)",
                                "put HTTP and HTTPS listeners on ports of their own (80 and 443)")
    return ports


def _match(match: dict) -> tuple[dict, tuple]:
    """An Envoy route match, and its precedence (smaller sorts first): path kind Exact > PathPrefix >
    RegularExpression, longer value, a method, more headers (Istio's getURIRank, getURILength)."""
    path = match.get("path") or {"type": "PathPrefix", "value": "/"}
    value = str(path.get("value", "/"))
    kind = path.get("type", "PathPrefix")
    envoy: dict[str, Any]
    if kind == "Exact":
        envoy, rank = {"path": value}, 3
    elif kind == "RegularExpression":
        envoy, rank = {"safe_regex": {"regex": value}}, 1
    else:
        # PathPrefix matches whole segments: /app matches /app and /app/x, not /apple. A trailing / is ignored.
        value = value.rstrip("/") or "/"
        envoy, rank = ({"prefix": "/"} if value == "/" else {"path_separated_prefix": value}), 2
    headers: list[dict[str, Any]] = [{"name": str(h["name"]).lower(),
                "string_match": {"safe_regex": {"regex": str(h["value"])}}
                if h.get("type") == "RegularExpression" else {"exact": str(h["value"])}}
               for h in match.get("headers") or []]
    if match.get("method"):
        headers.append({"name": ":method", "string_match": {"exact": match["method"]}})
    if headers:
        envoy["headers"] = sorted(headers, key=lambda h: h["name"])
    return envoy, (-rank, -len(value), not match.get("method"), -len(match.get("headers") or []))


def _action(ref: Ref, rule: dict, objects: Objects, pods: dict[str, Pod], clusters: dict) -> dict:
    backends = [b for b in rule.get("backendRefs") or [] if b.get("weight", 1) > 0]
    if not backends:
        return {"direct_response": {"status": 500}}   # "no backends with weight > 0": 500, as the spec says
    weighted = [{"name": _cluster_for(ref, b, objects, pods, clusters), "weight": b.get("weight", 1)}
                for b in backends]
    # timeout 0: no route timeout, as on an Istio gateway; an unresolved backend's share gets 500.
    action = {"timeout": "0s", "cluster_not_found_response_code": "INTERNAL_SERVER_ERROR"}
    if len(weighted) == 1:
        return {"route": {"cluster": weighted[0]["name"], **action}}
    return {"route": {"weighted_clusters": {"clusters": weighted}, **action}}


def _cluster_for(ref: Ref, backend: dict, objects: Objects, pods: dict[str, Pod], clusters: dict) -> str:
    namespace = backend.get("namespace") or ref.namespace
    problem = backend_problem(ref, backend, objects)
    if problem and problem[0] == "RefNotPermitted":
        return f"{NOT_PERMITTED}|{backend['name']}.{namespace}"
    name = f"outbound|{backend['port']}||{backend['name']}.{namespace}.{CLUSTER_DOMAIN}"
    service = objects.get(Ref("Service", namespace, backend["name"]))
    ports = {int(p["port"]): p for p in ((service or {}).get("spec") or {}).get("ports") or [] if "port" in p}
    if service is None or int(backend["port"]) not in ports:
        return name   # no such cluster in Envoy: this share answers 500
    if name not in clusters:
        # A Service without a selector has no endpoints Kubernetes fills in: none of the pods.
        selector = (service.get("spec") or {}).get("selector") or {}
        members = [p for p in pods.values() if p.namespace == namespace and selector
                   and all(p.labels.get(k) == v for k, v in selector.items())
                   and serves(p, ports[int(backend["port"])])]
        clusters[name] = with_traffic_policy(static_cluster(name, members),
                                             Ref("Service", namespace, backend["name"]), objects)
    return name
