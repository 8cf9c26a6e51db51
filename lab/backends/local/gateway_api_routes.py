"""Attached HTTPRoutes → Envoy routes for the local gateway, as istiod builds them.

Every attached route's rules for a hostname go into one virtual host, most specific match first
across routes, then the oldest route, then namespace/name — the spec's order (apis/v1/
httproute_types.go, HTTPRouteRule.Matches), sorted the way Istio sorts them (pilot/pkg/config/
kube/gateway/conversion.go, sortHTTPRoutes). Weights follow Istio's buildHTTPDestination: default
1, zero-weight backends dropped, none left → 500. A backendRef that does not resolve keeps its
share and answers 500: it names a cluster Envoy lacks, and gateway routes answer a missing
cluster with 500 (pilot/pkg/networking/core/route/route.go, ClusterNotFoundResponseCode).
PathPrefix becomes Envoy's path_separated_prefix (whole segments), as route.go does for gateways.
"""

from lab.backends.local.gateway_api import GROUP, attach, backend_problem
from lab.backends.local.endpoints import serves
from lab.backends.local.destination_policies import with_traffic_policy
from lab.backends.local.route_policies import with_http_route_rule
from lab.backends.local.translate import CLUSTER_DOMAIN, LOCAL_CREDENTIAL, _cluster
from lab.errors import ManifestError
from lab.manifests import Ref

NOT_PERMITTED = "not-permitted"   # prefix of the (absent) cluster a forbidden backendRef routes to


def http_routes(objects: dict[Ref, dict], pods, clusters: dict[str, dict]) -> dict[tuple[str, str], list]:
    """(scheme, hostname) → Envoy routes of every accepted HTTPRoute there, in the spec's order.
    New Envoy clusters are added to `clusters`."""
    for ref, gateway in objects.items():
        if ref.group == GROUP and ref.kind == "Gateway":
            check_tls(ref, gateway)
    entries: dict[tuple[str, str], list[tuple[tuple, dict]]] = {}
    for ref, result in attach(objects).items():
        route = objects[ref]
        served = {(scheme, host) for parent in result.parents if parent.denied is None
                  for scheme, hosts in parent.hostnames.items() for host in hosts}
        if not served:
            continue   # not Accepted: serves nothing, as on a cluster
        age = (route["metadata"].get("creationTimestamp", ""), ref.namespace, ref.name)
        for i, rule in enumerate(route["spec"].get("rules") or []):
            action = with_http_route_rule(ref, i, rule, _action(ref, rule, objects, pods, clusters),
                                          lambda b, r=ref: _cluster_for(r, b, objects, pods, clusters), clusters,
                                          objects)
            for j, match in enumerate(rule.get("matches") or [{}]):
                envoy_match, rank = _match(match)
                name = rule.get("name") or f"{ref.namespace}.{ref.name}.{i}"   # Istio's auto name
                for key in served:
                    entries.setdefault(key, []).append(((*rank, *age, i, j), {"match": envoy_match, **action,
                                                                             "name": name}))
    return {key: [route for _, route in sorted(found, key=lambda e: e[0])] for key, found in entries.items()}


def check_tls(ref: Ref, gateway: dict) -> None:
    """The local gateway has one certificate, the lab CA's: an HTTPS listener must terminate TLS with it."""
    for i, listener in enumerate((gateway.get("spec") or {}).get("listeners") or []):
        tls = listener.get("tls") or {}
        certs = [(c.get("kind", "Secret"), c.get("namespace") or ref.namespace, c.get("name"))
                 for c in tls.get("certificateRefs") or []]
        if listener.get("protocol") == "HTTPS" and (tls.get("mode", "Terminate") != "Terminate"
                                                    or certs != [("Secret", ref.namespace, LOCAL_CREDENTIAL)]):
            raise ManifestError(f"{ref}: spec.listeners[{i}].tls must be mode Terminate with certificateRefs "
                                f"[{{kind: Secret, name: {LOCAL_CREDENTIAL}}}] in the Gateway's namespace on the local lab",
                                "the local gateway has only the lab CA's certificate; other TLS setups "
                                "need k3d or minikube")


def _match(match: dict) -> tuple[dict, tuple]:
    """An Envoy route match, and its precedence (smaller sorts first): path kind Exact > PathPrefix >
    RegularExpression, longer value, a method, more headers (Istio's getURIRank, getURILength)."""
    path = match.get("path") or {"type": "PathPrefix", "value": "/"}
    value = str(path.get("value", "/"))
    kind = path.get("type", "PathPrefix")
    if kind == "Exact":
        envoy, rank = {"path": value}, 3
    elif kind == "RegularExpression":
        envoy, rank = {"safe_regex": {"regex": value}}, 1
    else:
        # PathPrefix matches whole segments: /app matches /app and /app/x, not /apple. A trailing / is ignored.
        value = value.rstrip("/") or "/"
        envoy, rank = ({"prefix": "/"} if value == "/" else {"path_separated_prefix": value}), 2
    headers = [{"name": str(h["name"]).lower(),
                "string_match": {"safe_regex": {"regex": str(h["value"])}}
                if h.get("type") == "RegularExpression" else {"exact": str(h["value"])}}
               for h in match.get("headers") or []]
    if match.get("method"):
        headers.append({"name": ":method", "string_match": {"exact": match["method"]}})
    if headers:
        envoy["headers"] = sorted(headers, key=lambda h: h["name"])
    return envoy, (-rank, -len(value), not match.get("method"), -len(match.get("headers") or []))


def _action(ref: Ref, rule: dict, objects, pods, clusters: dict) -> dict:
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


def _cluster_for(ref: Ref, backend: dict, objects, pods, clusters: dict) -> str:
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
        selector = (service.get("spec") or {}).get("selector") or {}
        members = [p for p in pods.values() if p.namespace == namespace and selector
                   and all(p.labels.get(k) == v for k, v in selector.items())
                   and serves(p, ports[int(backend["port"])])]
        clusters[name] = with_traffic_policy(_cluster(name, members), Ref("Service", namespace, backend["name"]), objects)
    return name
