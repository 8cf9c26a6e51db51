"""Gateway API (gateway.networking.k8s.io/v1) objects as istiod sees them: admitted with the CRDs'
defaults, HTTPRoutes attached to Gateway listeners, backendRefs resolved (or not).

A Gateway of class `istio` is Istio's to run. An HTTPRoute attaches to the listeners its
parentRefs name (sectionName) that allow its namespace and kind (allowedRoutes) and share a
hostname with it; the reasons it may not, and a backendRef that does not resolve or is not
granted (ReferenceGrant), are the ones Istio reports (pilot/pkg/config/kube/gateway/
conversion.go referenceAllowed and buildDestination, conditions.go). gateway_api_routes.py turns
attached routes into Envoy routes; gateway_status.py writes the status.
"""

import copy
from dataclasses import dataclass, field
from datetime import datetime, timezone

from lab.backends.local.gateway_api_schema import GROUP
from lab.backends.local.translate import CLUSTER_DOMAIN
from lab.manifests import Ref

CLASS = "istio"
CONTROLLER = "istio.io/gateway-controller"
HTTPROUTE = "HTTPRoute"
SCHEMES = {"HTTP": "http", "HTTPS": "https"}


def gateway_ref(namespace: str, name: str) -> Ref:
    return Ref("Gateway", namespace, name, GROUP)


# -- what an API server adds -------------------------------------------------------------------

def admit(obj: dict, old: dict | None) -> dict:
    """The object as the API server stores it: CRD defaults filled in, creationTimestamp kept from the
    first apply, generation counting spec changes. A VirtualService gets its creationTimestamp (the
    order Istio merges them in); other objects pass through unchanged."""
    if obj.get("kind") == "VirtualService":   # Istio merges VirtualServices of one host oldest first
        obj = copy.deepcopy(obj)
        obj["metadata"]["creationTimestamp"] = _created(obj, old)
        return obj
    if not str(obj.get("apiVersion", "")).startswith(GROUP + "/"):
        return obj
    obj = copy.deepcopy(obj)
    _defaults(obj["kind"], obj.setdefault("spec", {}))
    meta, old_meta = obj["metadata"], (old or {}).get("metadata") or {}
    meta["creationTimestamp"] = _created(obj, old)
    generation = int(old_meta.get("generation", 0))
    meta["generation"] = generation if old and old.get("spec") == obj["spec"] else generation + 1
    return obj


def _created(obj: dict, old: dict | None) -> str:
    """The first apply's time, in whole seconds as an API server keeps it."""
    return ((old or {}).get("metadata") or {}).get("creationTimestamp") or \
        datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _defaults(kind: str, spec: dict) -> None:
    """The `+kubebuilder:default` values of the v1.6.0 standard-channel CRDs (the pinned GATEWAY_API)."""
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
                unresolved = backend_problem(ref, backend, objects) or unresolved   # Istio reports the last
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


def backend_problem(ref: Ref, backend: dict, objects) -> tuple[str, str] | None:
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
