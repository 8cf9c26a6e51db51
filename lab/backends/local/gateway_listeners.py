"""A Gateway API Gateway's listeners as Istio programs them: which route kinds each takes, which
listeners conflict, and which hostnames a route attached to a listener is served under.

Hostnames are compared as Istio compares them (pkg/config/host/name.go: Matches both ways,
SubsetOf one way, Names.Intersection for the virtual host), not by DNS labels.
"""

from lab.backends.local.gateway_api_schema import GROUP
from lab.hosts import hosts_overlap, subset_of

# What Istio's HTTP and HTTPS listeners take (gatewaycommon/conversion.go
# GenerateGatewaySupportedKinds): the lab serves HTTPRoutes only (schema.py refuses a GRPCRoute), but
# the status says what a cluster says.
LISTENER_KINDS = ({"group": GROUP, "kind": "HTTPRoute"}, {"group": GROUP, "kind": "GRPCRoute"})


def intersection(listener_hostname: str, route_hostname: str) -> str | None:
    """The virtual host a route hostname gets on a listener: the more specific of the two when one
    covers the other (host.Names.Intersection, as gateway.go buildGatewayHTTPRouteConfig uses it)."""
    server = listener_hostname or "*"
    if route_hostname == server or subset_of(route_hostname, server):
        return route_hostname
    if subset_of(server, route_hostname):
        return server
    return None


def supported_kinds(listener: dict) -> tuple[list[dict], bool]:
    """The route kinds a listener takes, and whether its allowedRoutes.kinds name only kinds Istio
    supports (False: ResolvedRefs False, InvalidRouteKinds; gatewaycommon/conversion.go)."""
    allowed = (listener.get("allowedRoutes") or {}).get("kinds") or []
    if not allowed:
        return [dict(kind) for kind in LISTENER_KINDS], True
    taken = [dict(kind) for kind in LISTENER_KINDS
             if any(a.get("kind") == kind["kind"] and a.get("group", GROUP) == kind["group"] for a in allowed)]
    return taken, len(taken) == len(allowed)


def listener_conflicts(listeners: list[dict]) -> dict[str, str]:
    """Listener name → why it conflicts with an earlier one (HostnameConflict, ProtocolConflict): HTTP-like
    listeners on one port are distinct only by hostname (gatewaycommon/listener_conflict.go
    listenersDistinct, listenerConflictReason). Istio programs none of a conflicted listener."""
    conflicted: dict[str, str] = {}
    accepted: list[dict] = []
    for listener in listeners:
        prior = next((p for p in accepted if p["port"] == listener["port"]
                      and (p.get("hostname") or "*") == (listener.get("hostname") or "*")), None)
        if prior is None:
            accepted.append(listener)
        else:
            conflicted[listener["name"]] = \
                "ProtocolConflict" if prior["protocol"] != listener["protocol"] else "HostnameConflict"
    return conflicted


def allowed_by_isolation(route_hostname: str, listener: dict, neighbours: list[dict]) -> bool:
    """Listener isolation (GEP-1713; conformance GatewayHTTPListenerIsolation): a route attached to a
    broader listener is not served under hostnames that a more specific listener of the same Gateway, on
    the same port and protocol, owns. Istio's rule: conversion.go hostnameAllowedByIsolation, with the
    other listeners' hostnames as BannedHostnames (extractParentReferenceInfo)."""
    ours = listener.get("hostname") or ""
    if ours and not ours.startswith("*"):
        return True   # an exact listener hostname: nothing more specific exists
    if ours and not hosts_overlap(route_hostname, ours):
        return False
    banned = {n.get("hostname") or "" for n in neighbours if n is not listener and n["port"] == listener["port"]
              and n["protocol"] == listener["protocol"]} - {ours}
    for other in banned:
        if len(ours) > len(other):
            continue   # ours is the more specific one
        if subset_of(route_hostname, other):
            return False
    return True


def hostnames_served(listener: dict, programmed: list[dict], route_hostnames: list[str]) -> list[str]:
    """The virtual hosts a route (its hostnames, "*" for none) gets on one listener: each hostname the
    isolation rule lets through, intersected with the listener's (route_collections.go: one
    VirtualService per route hostname, bound to the listener's own Istio Gateway)."""
    served = []
    for hostname in route_hostnames:
        if not allowed_by_isolation(hostname, listener, programmed):
            continue
        host = intersection(listener.get("hostname") or "", hostname)
        if host is not None and host not in served:
            served.append(host)
    return served
