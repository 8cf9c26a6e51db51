"""Gateway API (gateway.networking.k8s.io/v1) → the local gateway's Envoy, as istiod converts it.

A Gateway of class `istio` is served on the lab's own gateway ports, like an Istio Gateway: HTTP
listeners on the HTTP port, HTTPS on the HTTPS one. An HTTPRoute attaches to its parentRefs'
listeners (sectionName, allowedRoutes, hostnames); every attached route's rules for a hostname
go into one virtual host, most specific match first across routes, then the oldest route, then
namespace/name — the spec's order (apis/v1/httproute_types.go, HTTPRouteRule.Matches), in the way
Istio sorts them (pilot/pkg/config/kube/gateway/conversion.go, sortHTTPRoutes). Weights follow
Istio's buildHTTPDestination: default 1, zero-weight backends dropped, none left → 500; a
backendRef that does not resolve keeps its share and answers 500 (cluster not found → 500, as
route.go sets for gateway routes).
"""

import copy
from dataclasses import dataclass, field
from datetime import datetime, timezone

from lab.backends.local.gateway_api_schema import GROUP
from lab.backends.local.translate import CLUSTER_DOMAIN, LOCAL_CREDENTIAL, _cluster
from lab.errors import ManifestError
from lab.manifests import Ref

CLASS = "istio"
CONTROLLER = "istio.io/gateway-controller"
HTTPROUTE = "HTTPRoute"
SCHEMES = {"HTTP": "http", "HTTPS": "https"}
NOT_PERMITTED = "not-permitted"   # prefix of the (absent) cluster a forbidden backendRef routes to


def gateway_ref(namespace: str, name: str) -> Ref:
    return Ref("Gateway", namespace, name, GROUP)


# -- what an API server adds -------------------------------------------------------------------

def admit(obj: dict, old: dict | None) -> dict:
    """The object as the API server stores it: CRD defaults filled in, creationTimestamp kept from the
    first apply, generation counting spec changes. Other groups' objects pass through unchanged."""
    if not str(obj.get("apiVersion", "")).startswith(GROUP + "/"):
        return obj
    obj = copy.deepcopy(obj)
    _defaults(obj["kind"], obj.setdefault("spec", {}))
    meta, old_meta = obj["metadata"], (old or {}).get("metadata") or {}
    meta["creationTimestamp"] = old_meta.get("creationTimestamp") or \
        datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    generation = int(old_meta.get("generation", 0))
    meta["generation"] = generation if old and old.get("spec") == obj["spec"] else generation + 1
    return obj


def _defaults(kind: str, spec: dict) -> None:
    """The `+kubebuilder:default` values of the v1.4.0 standard-channel CRDs."""
    if kind == "Gateway":
        for listener in spec.get("listeners") or []:
            listener.setdefault("allowedRoutes", {}).setdefault("namespaces", {}).setdefault("from", "Same")
            if "tls" in listener:
                listener["tls"].setdefault("mode", "Terminate")
                for cert in listener["tls"].get("certificateRefs") or []:
                    cert.setdefault("group", "")
                    cert.setdefault("kind", "Secret")
    elif kind == HTTPROUTE:
        for parent in spec.get("parentRefs") or []:
            parent.setdefault("group", GROUP)
            parent.setdefault("kind", "Gateway")
        for rule in spec.setdefault("rules", [{}]):
            for match in rule.setdefault("matches", [{}]):
                path = match.setdefault("path", {})
                path.setdefault("type", "PathPrefix")
                path.setdefault("value", "/")
                for header in match.get("headers") or []:
                    header.setdefault("type", "Exact")
            for backend in rule.get("backendRefs") or []:
                backend.setdefault("group", "")
                backend.setdefault("kind", "Service")
                backend.setdefault("weight", 1)


# -- attachment: which listeners take a route, which backends resolve ---------------------------

@dataclass
class ParentResult:
    """One parentRef of a route, as the Gateway's controller judged it."""
    parent_ref: dict
    listeners: list[dict] = field(default_factory=list)   # the listeners that accepted the route
    hostnames: dict[str, list[str]] = field(default_factory=dict)   # scheme → hostnames served
    denied: tuple[str, str] | None = None                  # (reason, message): Accepted is False


@dataclass
class RouteResult:
    parents: list[ParentResult]
    unresolved: tuple[str, str] | None = None   # (reason, message): ResolvedRefs is False

    @property
    def accepted(self) -> bool:
        return any(p.denied is None for p in self.parents)


def attach(objects: dict[Ref, dict]) -> dict[Ref, RouteResult]:
    """Each HTTPRoute's parents, as far as they are Gateways this lab's controller (istio) runs:
    a parentRef to a Gateway of another class gets no entry, as no controller writes one."""
    results = {}
    for ref, route in sorted(objects.items()):
        if ref.group != GROUP or ref.kind != HTTPROUTE:
            continue
        spec = route.get("spec") or {}
        parents = []
        for parent_ref in spec.get("parentRefs") or []:
            gateway = objects.get(gateway_ref(parent_ref.get("namespace") or ref.namespace, parent_ref["name"]))
            if gateway is not None and (gateway.get("spec") or {}).get("gatewayClassName") != CLASS:
                continue
            parents.append(_attach_to(ref, spec, parent_ref, gateway, objects))
        unresolved = None
        for rule in spec.get("rules") or []:
            for backend in rule.get("backendRefs") or []:
                unresolved = _backend_problem(ref, backend, objects) or unresolved   # Istio reports the last
        results[ref] = RouteResult(parents, unresolved)
    return results


def _attach_to(ref: Ref, spec: dict, parent_ref: dict, gateway: dict | None, objects) -> ParentResult:
    result = ParentResult(parent_ref)
    namespace = parent_ref.get("namespace") or ref.namespace
    if gateway is None:
        result.denied = ("NoMatchingParent", f"parent Gateway {namespace}/{parent_ref['name']} not found")
        return result
    listeners = (gateway.get("spec") or {}).get("listeners") or []
    section = parent_ref.get("sectionName")
    if section:
        listeners = [listener for listener in listeners if listener.get("name") == section]
        if not listeners:
            result.denied = ("NoMatchingParent", f'sectionName "{section}" not found')
            return result
    denials = []
    for listener in listeners:
        hostnames = intersect(listener.get("hostname"), spec.get("hostnames") or [])
        if not hostnames:
            denials.append(("NoMatchingListenerHostname",
                            f'no hostnames matched parent hostname "{listener.get("hostname")}"'))
        elif not _namespace_allowed(listener, namespace, ref.namespace, objects):
            denials.append(("NotAllowedByListeners", f'hostnames matched parent hostname '
                            f'"{listener.get("hostname") or "*"}", but namespace "{ref.namespace}" is not '
                            "allowed by the parent"))
        elif not _kind_allowed(listener):
            denials.append(("NotAllowedByListeners", f"kind {GROUP}/v1, Kind={HTTPROUTE} is not allowed"))
        else:
            result.listeners.append(listener)
            scheme = SCHEMES[listener["protocol"]]
            result.hostnames[scheme] = sorted(set(result.hostnames.get(scheme, [])) | set(hostnames))
    if not result.listeners:
        # Istio reports the least severe reason among the listeners (conditions.go, rankParentError).
        result.denied = min(denials, key=lambda d: ["NotAllowedByListeners", "NoMatchingListenerHostname"].index(d[0]))
    return result


def intersect(listener_hostname: str | None, route_hostnames: list[str]) -> list[str]:
    """The hostnames both allow (the spec's HTTPRoute.hostnames rules); "*" means any."""
    if not listener_hostname:
        return list(route_hostnames) or ["*"]
    if not route_hostnames:
        return [listener_hostname]
    served = []
    for host in route_hostnames:
        if host == listener_hostname or _wildcard_covers(listener_hostname, host):
            served.append(host)
        elif _wildcard_covers(host, listener_hostname):
            served.append(listener_hostname)
    return sorted(set(served))


def _wildcard_covers(pattern: str, host: str) -> bool:
    """`*.example.com` covers `a.example.com` and `a.b.example.com`, not `example.com`."""
    return pattern.startswith("*.") and host.endswith(pattern[1:]) and len(host) > len(pattern) - 1 \
        and not (host.startswith("*.") and len(host) == len(pattern))


def _namespace_allowed(listener: dict, gateway_namespace: str, route_namespace: str, objects) -> bool:
    namespaces = (listener.get("allowedRoutes") or {}).get("namespaces") or {}
    where = namespaces.get("from", "Same")
    if where == "All":
        return True
    if where == "Selector":
        wanted = (namespaces.get("selector") or {}).get("matchLabels") or {}
        namespace = objects.get(Ref("Namespace", "", route_namespace)) or {}
        labels = {**((namespace.get("metadata") or {}).get("labels") or {}),
                  "kubernetes.io/metadata.name": route_namespace}
        return all(labels.get(k) == v for k, v in wanted.items())
    return route_namespace == gateway_namespace


def _kind_allowed(listener: dict) -> bool:
    kinds = (listener.get("allowedRoutes") or {}).get("kinds")
    if not kinds:
        return True   # an HTTP/HTTPS listener takes HTTPRoutes by default
    return any(k.get("kind") == HTTPROUTE and k.get("group", GROUP) == GROUP for k in kinds)


def _backend_problem(ref: Ref, backend: dict, objects) -> tuple[str, str] | None:
    namespace = backend.get("namespace") or ref.namespace
    if namespace != ref.namespace and not reference_granted(ref, namespace, backend["name"], objects):
        return ("RefNotPermitted", f"backendRef {backend['name']}/{namespace} not accessible to a {HTTPROUTE} "
                f'in namespace "{ref.namespace}" (missing a ReferenceGrant?)')
    if Ref("Service", namespace, backend["name"]) not in objects:
        return ("BackendNotFound", f"backend({backend['name']}.{namespace}.{CLUSTER_DOMAIN}) not found")
    return None


def reference_granted(ref: Ref, namespace: str, service: str, objects) -> bool:
    """A ReferenceGrant in the Service's namespace lets HTTPRoutes of the route's namespace name it."""
    for grant_ref, grant in objects.items():
        if grant_ref.group != GROUP or grant_ref.kind != "ReferenceGrant" or grant_ref.namespace != namespace:
            continue
        spec = grant.get("spec") or {}
        if any(f.get("group") == GROUP and f.get("kind") == HTTPROUTE and f.get("namespace") == ref.namespace
               for f in spec.get("from") or []) and \
                any(t.get("group", "") == "" and t.get("kind") == "Service" and t.get("name", service) == service
                    for t in spec.get("to") or []):
            return True
    return False


# -- Envoy routes ---------------------------------------------------------------------------------

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
            action = _action(ref, rule, objects, pods, clusters)
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
    problem = _backend_problem(ref, backend, objects)
    if problem and problem[0] == "RefNotPermitted":
        return f"{NOT_PERMITTED}|{backend['name']}.{namespace}"
    name = f"outbound|{backend['port']}||{backend['name']}.{namespace}.{CLUSTER_DOMAIN}"
    service = objects.get(Ref("Service", namespace, backend["name"]))
    ports = [int(p["port"]) for p in ((service or {}).get("spec") or {}).get("ports") or [] if "port" in p]
    if service is None or int(backend["port"]) not in ports:
        return name   # no such cluster in Envoy: this share answers 500
    if name not in clusters:
        selector = (service.get("spec") or {}).get("selector") or {}
        members = [p for p in pods.values() if p.namespace == namespace and selector
                   and all(p.labels.get(k) == v for k, v in selector.items())]
        clusters[name] = _cluster(name, members)
    return name
