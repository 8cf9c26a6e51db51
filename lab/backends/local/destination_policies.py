"""A DestinationRule's traffic policy on the clusters of its Service, as istiod applies it.

Outlier detection (istio release-1.31 pilot/pkg/networking/core/cluster_traffic_policy.go,
applyOutlierDetection) and consistent hashing — the cluster balances with Envoy's RING_HASH
(ApplyRingHashLoadBalancer: a ring of 1,024 at least, Envoy's default) and each route to it hashes on
the cookie, header or query parameter the rule names (pilot/pkg/networking/core/route/route.go,
ConsistentHashToHashPolicy, added per destination by processDestination/processWeightedDestination).
Only the rule's top-level `trafficPolicy` is served: a subset's or a port's own policy is refused by
schema.py, naming it.
"""

from lab.backends.local.endpoints import CLUSTER_DOMAIN, service_named
from lab.backends.local.policy_values import UINT32_MAX, count, envoy_duration, istio_duration
from lab.errors import ManifestError
from lab.manifests import Ref, creation_order

ROOT_NAMESPACE = "istio-system"   # the mesh's root namespace, the ingress gateway's own

# Envoy's ring size when none is given (Istio writes it: cluster_traffic_policy.go)
MINIMUM_RING_SIZE = 1024


def traffic_policy(service: Ref, objects: dict[Ref, dict]) -> tuple[Ref, dict] | None:
    """The trafficPolicy the ingress gateway applies to this Service's clusters, and the rule it is from.

    istio release-1.31 pilot/pkg/model/push_context.go destinationRule: for the gateway (in the root
    namespace, istio-system), the rules exported from the Service's own namespace, else those from the
    root namespace (every rule is, without exportTo); a rule in a third namespace never reaches it. In
    each, config.go MostSpecificHostMatch: the Service's own host, else the longest wildcard host that
    covers it. destination_rule.go mergeDestinationRule: of the rules for that host, in
    sortConfigBySelectorAndCreationTime's order, the first with a trafficPolicy keeps it."""
    fqdn = f"{service.name}.{service.namespace}.{CLUSTER_DOMAIN}"
    for namespace in dict.fromkeys((service.namespace, ROOT_NAMESPACE)):
        hosts: dict[str, list[tuple[Ref, dict]]] = {}
        for ref, rule in objects.items():
            host = str((rule.get("spec") or {}).get("host", ""))
            if ref.kind == "DestinationRule" and ref.namespace == namespace and \
                    (service_named(host, namespace) == service or _wildcard_covers(host, fqdn)):
                hosts.setdefault(host if host.startswith("*") else fqdn, []).append((ref, rule))
        if not hosts:
            continue
        best = fqdn if fqdn in hosts else max(hosts, key=len)     # exact, else the most specific wildcard
        for ref, rule in sorted(hosts[best], key=lambda item: creation_order(*item)):
            if (rule.get("spec") or {}).get("trafficPolicy") is not None:
                return ref, rule["spec"]["trafficPolicy"]
        return None
    return None


def _wildcard_covers(host: str, fqdn: str) -> bool:
    """`*` covers every host, `*.shop.svc.cluster.local` each one ending so (host.Name.Matches)."""
    return host == "*" or (host.startswith("*.") and fqdn.endswith(host[1:]))


def service_of(cluster: str) -> Ref:
    """The Service of an Istio-named cluster (outbound|port|subset|name.namespace.svc.cluster.local)."""
    name, namespace = cluster.split("|")[3].split(".")[:2]
    return Ref("Service", namespace, name)


def with_traffic_policy(cluster: dict, service: Ref, objects: dict[Ref, dict]) -> dict:
    """The cluster with the outlier detection and load balancing of the DestinationRule for its Service."""
    found = traffic_policy(service, objects)
    if found is None:
        return cluster
    ref, policy = found
    if policy.get("outlierDetection") is not None:
        detection, panic = _outlier_detection(ref, policy["outlierDetection"])
        cluster = {**cluster, "outlier_detection": detection, "common_lb_config": {"healthy_panic_threshold": panic}}
    if _consistent_hash(ref, policy) is not None:
        cluster = {**cluster, "lb_policy": "RING_HASH",
                   "ring_hash_lb_config": {"minimum_ring_size": MINIMUM_RING_SIZE}}
    return cluster


def hash_policy(service: Ref, objects: dict[Ref, dict]) -> dict | None:
    """The route's hash policy for a destination of this Service (route.go ConsistentHashToHashPolicy)."""
    found = traffic_policy(service, objects)
    if found is None:
        return None
    rule, policy = found
    hashed = _consistent_hash(rule, policy)
    if hashed is None:
        return None
    if "httpHeaderName" in hashed:
        return {"header": {"header_name": str(hashed["httpHeaderName"])}}
    if "httpQueryParameterName" in hashed:
        return {"query_parameter": {"name": str(hashed["httpQueryParameterName"])}}
    cookie = hashed["httpCookie"]
    cookie_policy: dict = {"name": str(cookie["name"])}
    if cookie.get("path"):
        cookie_policy["path"] = str(cookie["path"])
    if cookie.get("ttl") is not None:   # with a ttl, Envoy sets the cookie when the request has none
        cookie_policy["ttl"] = envoy_duration(istio_duration(rule, "spec.trafficPolicy.loadBalancer.consistentHash"
                                                             ".httpCookie.ttl", cookie["ttl"], zero=True))
    return {"cookie": cookie_policy}


def _consistent_hash(ref: Ref, policy: dict) -> dict | None:
    hashed = (policy.get("loadBalancer") or {}).get("consistentHash")
    if hashed is None:
        return None
    where = "spec.trafficPolicy.loadBalancer.consistentHash"
    keys = [k for k in ("httpCookie", "httpHeaderName", "httpQueryParameterName") if k in hashed]
    if len(keys) != 1:
        raise ManifestError(f"{ref}: {where} needs exactly one of httpCookie, httpHeaderName, httpQueryParameterName "
                            f"on the local lab (it has {', '.join(keys) or 'none'})",
                            "e.g. consistentHash: {httpCookie: {name: session, ttl: 0s}}")
    if keys == ["httpCookie"] and not (hashed["httpCookie"] or {}).get("name"):
        # validation.go validateLoadBalancer: "name required for HttpCookie"
        raise ManifestError(f"{ref}: {where}.httpCookie: name required for HttpCookie (Istio refuses it)",
                            "give the cookie's name, e.g. httpCookie: {name: session}")
    return hashed


def _outlier_detection(ref: Ref, outlier: dict) -> tuple[dict, dict]:
    where = "spec.trafficPolicy.outlierDetection"
    out: dict = {"enforcing_success_rate": 0}   # success-rate ejection off, as istiod sets it
    for field, counted, enforcing in (("consecutive5xxErrors", "consecutive_5xx", "enforcing_consecutive_5xx"),
                                    ("consecutiveGatewayErrors", "consecutive_gateway_failure",
                                     "enforcing_consecutive_gateway_failure")):
        if outlier.get(field) is not None:
            value = count(ref, f"{where}.{field}", outlier[field], UINT32_MAX)
            out[counted], out[enforcing] = value, 100 if value > 0 else 0
    for field, envoy in (("interval", "interval"), ("baseEjectionTime", "base_ejection_time")):
        if outlier.get(field) is not None:
            out[envoy] = envoy_duration(istio_duration(ref, f"{where}.{field}", outlier[field]))
    if outlier.get("maxEjectionPercent") is not None:
        percent = count(ref, f"{where}.maxEjectionPercent", outlier["maxEjectionPercent"], 100)
        if percent > 0:
            out["max_ejection_percent"] = percent
    # minHealthPercent (default 0) is Envoy's panic threshold: 0 turns panic off, so a cluster whose
    # hosts are all ejected answers 503 rather than sending to them anyway.
    minimum = count(ref, f"{where}.minHealthPercent", outlier.get("minHealthPercent", 0), 100)
    return out, {"value": float(minimum)}
