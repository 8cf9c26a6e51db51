"""Gateway API (gateway.networking.k8s.io/v1) objects as istiod sees them: admitted with the CRDs'
defaults, HTTPRoutes attached to Gateway listeners, backendRefs resolved (or not).

A Gateway of class `istio` is Istio's to run. An HTTPRoute attaches to the listeners its
parentRefs name (sectionName) that allow its namespace and kind (allowedRoutes) and share a
hostname with it; the reasons it may not, and a backendRef that does not resolve or is not
granted (ReferenceGrant), are the ones Istio reports (pilot/pkg/config/kube/gateway/
conversion.go referenceAllowed and buildDestination, conditions.go). gateway_api_routes.py turns
attached routes into Envoy routes; gateway_status.py writes the status; gateway_listeners.py
says which hostnames each listener serves (listener isolation).
"""

import copy
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from lab.backends.local.endpoints import CLUSTER_DOMAIN
from lab.backends.local.gateway_api_schema import BACKEND_HEADER_FILTERS, GROUP
from lab.backends.local.gateway_listeners import hostnames_served, listener_conflicts, supported_kinds
from lab.gateway_api_crds import spec_schema
from lab.hosts import hosts_overlap, subset_of
from lab.manifests import Ref

CLASS = "istio"
CONTROLLER = "istio.io/gateway-controller"
HTTPROUTE = "HTTPRoute"
SCHEMES = {"HTTP": "http", "HTTPS": "https"}

Objects = dict[Ref, dict]


def gateway_ref(namespace: str, name: str) -> Ref:
    return Ref("Gateway", namespace, name, GROUP)


def is_istio_gateway(ref: Ref, obj: dict | None) -> bool:
    """A Gateway API Gateway of class istio: the ones Istio deploys a gateway for."""
    return obj is not None and ref.group == GROUP and ref.kind == "Gateway" \
        and (obj.get("spec") or {}).get("gatewayClassName") == CLASS


# -- what an API server adds -------------------------------------------------------------------

def admit(obj: dict, old: dict | None) -> dict:
    """The object as the API server stores it: CRD defaults filled in, creationTimestamp kept from the
    first apply, generation counting spec changes. A VirtualService or DestinationRule gets its
    creationTimestamp (the order Istio merges them in); other objects pass through unchanged."""
    if obj.get("kind") in ("VirtualService", "DestinationRule"):   # Istio merges these oldest first
        obj = copy.deepcopy(obj)
        obj["metadata"]["creationTimestamp"] = _created(obj, old)
        return obj
    if not str(obj.get("apiVersion", "")).startswith(GROUP + "/"):
        return obj
    obj = copy.deepcopy(obj)
    version = str(obj["apiVersion"]).rpartition("/")[2]
    obj["spec"] = with_defaults(obj.get("spec") or {}, spec_schema(obj["kind"], version))
    meta, old_meta = obj["metadata"], (old or {}).get("metadata") or {}
    meta["creationTimestamp"] = _created(obj, old)
    generation = int(old_meta.get("generation", 0))
    meta["generation"] = generation if old and old.get("spec") == obj["spec"] else generation + 1
    return obj


def _created(obj: dict, old: dict | None) -> str:
    """The first apply's time, in whole seconds as an API server keeps it."""
    return ((old or {}).get("metadata") or {}).get("creationTimestamp") or \
        datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def with_defaults(value: Any, schema: dict) -> Any:
    """Structural defaulting as the API server does it for a CRD (k8s.io/apiextensions-apiserver
    pkg/apiserver/schema/defaulting: a missing property whose schema has a `default` gets it, then
    defaulting goes on inside it), from the vendored CRDs' own schemas: no default typed twice."""
    if isinstance(value, dict):
        for name, sub in (schema.get("properties") or {}).items():
            if name not in value and "default" in sub:
                value[name] = copy.deepcopy(sub["default"])
            if name in value:
                value[name] = with_defaults(value[name], sub)
    elif isinstance(value, list) and "items" in schema:
        value = [with_defaults(item, schema["items"]) for item in value]
    return value


# -- attachment: which listeners take a route, which backends resolve ---------------------------

@dataclass
class Served:
    """One listener that accepted a route, and the hostnames the route gets there."""
    gateway: Ref
    listener: dict
    hostnames: list[str]

    @property
    def port(self) -> int:
        return int(self.listener["port"])


@dataclass
class ParentResult:
    """One parentRef of a route, as the Gateway's controller judged it."""
    parent_ref: dict
    gateway: Ref
    served: list[Served] = field(default_factory=list)   # the listeners that accepted the route
    denied: tuple[str, str] | None = None                  # (reason, message): Accepted is False


@dataclass
class RouteResult:
    parents: list[ParentResult]
    unresolved: tuple[str, str] | None   # (reason, message): ResolvedRefs is False
    # A backendRef istiod cannot build at all (conversion.go buildDestination's hard errors, e.g. a
    # Service named by hostname): the route yields no routes anywhere.
    broken: bool

    @property
    def accepted(self) -> bool:
        return any(p.denied is None for p in self.parents)


# Istio reports one reason per parentRef: the least severe among its listeners (conditions.go
# createRouteStatus, rankParentError), the messages of equally ranked ones joined with "; ".
_RANK = {"NotAllowedByListeners": 1, "NoMatchingListenerHostname": 2, "NoMatchingParent": 4}


def attach(objects: Objects) -> dict[Ref, RouteResult]:
    """Each HTTPRoute's parents, as far as they are Gateways this lab's controller (istio) runs. A
    parentRef to a Gateway that is not there, or of another class, gets no entry: istiod finds no
    listener for it (gateway_collection.go RouteParents.fetch) and writes no status for it."""
    results = {}
    for ref, route in sorted(objects.items()):
        if ref.group != GROUP or ref.kind != HTTPROUTE:
            continue
        spec = route.get("spec") or {}
        parents = []
        for parent_ref in spec.get("parentRefs") or []:
            gw_ref = gateway_ref(parent_ref.get("namespace") or ref.namespace, parent_ref["name"])
            if is_istio_gateway(gw_ref, objects.get(gw_ref)):
                parents.extend(_attach_to(ref, spec, parent_ref, gw_ref, objects))
        results[ref] = RouteResult(parents, *_resolve(ref, spec, objects))
    return results


def route_hostnames(spec: dict) -> list[str]:
    """An HTTPRoute's hostnames; none is every host (`*`)."""
    return [str(h) for h in spec.get("hostnames") or []] or ["*"]


def takes_host(route: dict, host: str) -> bool:
    """Whether one of an HTTPRoute's hostnames covers `host` (host.Name.SubsetOf)."""
    return any(subset_of(host, hostname) for hostname in route_hostnames(route.get("spec") or {}))


# ResolvedRefs reasons of conversion.go's hard errors: the whole route is built into nothing.
BREAKS_ROUTE = ("InvalidDestination", "InvalidFilter")


def _resolve(ref: Ref, spec: dict, objects: Objects) -> tuple[tuple[str, str] | None, bool]:
    """ResolvedRefs: the last backendRef that does not resolve, over rules and their matches in order
    (route_collections.go computeRoute keeps the last error); weight-0 backendRefs are never looked
    at (conversion.go buildHTTPDestination skips them)."""
    unresolved = None
    for rule in spec.get("rules") or []:
        for backend in rule.get("backendRefs") or []:
            if backend.get("weight", 1) == 0:
                continue
            problem = backend_problem(ref, backend, objects)
            if problem and problem[0] == "InvalidDestination":
                return problem, True
            unresolved = problem or unresolved
            for backend_filter in backend.get("filters") or []:   # buildHTTPDestination: a hard error
                if backend_filter.get("type") not in BACKEND_HEADER_FILTERS:
                    return ("InvalidFilter", f'unsupported filter type "{backend_filter.get("type")}"'), True
    return unresolved, False


def _attach_to(ref: Ref, spec: dict, parent_ref: dict, gw_ref: Ref, objects: Objects) -> list[ParentResult]:
    """Istio judges a parentRef against each listener of its Gateway (conversion.go
    extractParentReferenceInfo, referenceAllowed) and reports them as one (createRouteStatus)."""
    gateway = objects[gw_ref]
    listeners = (gateway.get("spec") or {}).get("listeners") or []
    conflicted = listener_conflicts(listeners)
    programmed = [listener for listener in listeners if listener["name"] not in conflicted]
    if not programmed:
        return []
    result = ParentResult(parent_ref, gw_ref)
    denials: list[tuple[str, str]] = []
    hostnames = route_hostnames(spec)
    for listener in programmed:
        denial = _denial(ref, parent_ref, listener, hostnames, gw_ref.namespace, objects)
        if denial:
            denials.append(denial)
            continue
        result.served.append(Served(gw_ref, listener, hostnames_served(listener, programmed, hostnames)))
    if not result.served:
        rank = min(_RANK[reason] for reason, _ in denials)
        same = [d for d in denials if _RANK[d[0]] == rank]
        result.denied = (same[0][0], "; ".join(message for _, message in same))
    return [result]


def _denial(ref: Ref, parent_ref: dict, listener: dict, route_hostnames: list[str], gateway_namespace: str,
            objects: Objects) -> tuple[str, str] | None:
    """Why this listener does not take the route (conversion.go referenceAllowed, in its order), or None."""
    section = parent_ref.get("sectionName")
    if section and section != listener["name"]:
        return "NoMatchingParent", f'sectionName "{section}" not found'
    listener_hostname = listener.get("hostname") or ""
    host_matched = any(hosts_overlap(listener_hostname or "*", host) for host in route_hostnames)
    if not host_matched:
        return "NoMatchingListenerHostname", f'no hostnames matched parent hostname "{listener_hostname}"'
    if not _namespace_allowed(listener, gateway_namespace, ref.namespace, objects):
        return "NotAllowedByListeners", (f'hostnames matched parent hostname "{listener_hostname}", but namespace '
                                         f'"{ref.namespace}" is not allowed by the parent')
    kinds, _ = supported_kinds(listener)
    if not any(k["kind"] == HTTPROUTE and k["group"] == GROUP for k in kinds):
        return "NotAllowedByListeners", f"kind {GROUP}/v1/{HTTPROUTE} is not allowed"
    return None


def _namespace_allowed(listener: dict, gateway_namespace: str, route_namespace: str, objects: Objects) -> bool:
    """allowedRoutes.namespaces (conversion.go namespacesFromSelector): Same, All, or a Selector run
    against the namespaces that exist."""
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


def backend_problem(ref: Ref, backend: dict, objects: Objects) -> tuple[str, str] | None:
    """Why a backendRef does not resolve, worded as conversion.go buildDestination words it."""
    namespace = backend.get("namespace") or ref.namespace
    if namespace != ref.namespace and not reference_granted(ref, namespace, backend["name"], objects):
        return ("RefNotPermitted", f"backendRef {backend['name']}/{namespace} not accessible to a {HTTPROUTE} "
                f'in namespace "{ref.namespace}" (missing a ReferenceGrant?)')
    if "." in str(backend["name"]):
        return ("InvalidDestination", "service name invalid; the name of the Service must be used, not the hostname.")
    if Ref("Service", namespace, backend["name"]) not in objects:
        return ("BackendNotFound", f"backend({backend['name']}.{namespace}.{CLUSTER_DOMAIN}) not found")
    return None


def reference_granted(ref: Ref, namespace: str, service: str, objects: Objects) -> bool:
    """A ReferenceGrant in the Service's namespace lets HTTPRoutes of the route's namespace name it
    (gatewaycommon/references.go BackendAllowed: `to.name` left out allows every Service there)."""
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
