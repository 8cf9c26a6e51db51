"""A gateway's virtual hosts as istiod builds them from VirtualServices (Istio 1.31, release-1.31).

Which hosts a VirtualService gets on a gateway server, the domains of each virtual host, which of
a VirtualService's routes istiod sends at all, and the order of a host's merged routes. Each rule
names the place in Istio's source it comes from.
"""

from collections.abc import Iterable

from lab.hosts import subset_of

# pilot/pkg/networking/core/gateway.go, buildGatewayHTTPRouteConfig: the gateway's RouteConfiguration
# says IgnorePortInHostMatching, and each virtual host's Domains is its one host. So `Host: a.b:80`
# (or any port) picks the virtual host of `a.b`, on both tracks (Gateway API routes take the same path).
ROUTE_CONFIG_FLAGS = {"ignore_port_in_host_matching": True}


def virtual_host_domains(host: str) -> list[str]:
    """The domains of a gateway virtual host: the host itself (gateway.go: `Domains: {hostname}`)."""
    return [host]


def server_hosts_for(hosts: Iterable[str], gateway_namespace: str, vs_namespace: str) -> list[str]:
    """A server's hosts that a VirtualService of `vs_namespace` may bind to. `./h` is the Gateway's own
    namespace (pilot/pkg/model/gateway.go, sanitizeServerHostNamespace); `ns/h` only that namespace,
    `*/h` and a bare `h` every one (pkg/config/host/names.go, NamesForNamespace)."""
    allowed = []
    for entry in hosts:
        namespace, slash, host = str(entry).partition("/")
        if not slash:
            namespace, host = "*", namespace
        if namespace == ".":
            namespace = gateway_namespace
        if namespace in ("*", vs_namespace):
            allowed.append(host)
    return allowed


def intersecting_hosts(server_hosts: Iterable[str], vs_hosts: Iterable[str]) -> list[str]:
    """The virtual hosts a VirtualService gets on a server (gateway.go: serverHosts.Intersection(vsHosts),
    pkg/config/host/names.go): for each pair the narrower of the two, when one covers the other, so
    `*.org` on a server of `example.org` gives `example.org`, and `a.lab` on a server of `*` gives
    `a.lab`. Lower-cased, as gateway.go keys its virtual hosts."""
    found: list[str] = []
    for server_host in server_hosts:
        for vs_host in vs_hosts:
            narrower = server_host if subset_of(server_host, vs_host) else \
                vs_host if subset_of(vs_host, server_host) else None
            if narrower is not None and narrower.lower() not in found:
                found.append(narrower.lower())
    return found


def is_catch_all(match: dict) -> bool:
    """route.go, IsCatchAllRoute: the path is prefix `/` (or path-separated prefix `/`, the Gateway
    API's PathPrefix) or the regex `.*`, and there is no header or query parameter match (a Gateway
    API method match is a `:method` header)."""
    path = match.get("prefix", match.get("path_separated_prefix"))
    regex = (match.get("safe_regex") or {}).get("regex")
    return (path == "/" or regex == ".*") and not match.get("headers") and not match.get("query_parameters") \
        and not match.get(CLUSTER_ONLY)


def sent_routes(http_routes: list[dict]) -> list[tuple[int, str, dict]]:
    """(index of the http route, route name, Envoy route match) of each route istiod sends for a
    VirtualService.

    route.go, BuildHTTPRoutesForVirtualService: one Envoy route per `match` entry (Istio ORs them),
    named `<http name>.<match name>` when the entry has a name (TranslateRoute); after the first
    catch-all (an http route without `match`, or an entry that IsCatchAllRoute) nothing more of this
    VirtualService is sent: no request could reach it."""
    sent: list[tuple[int, str, dict]] = []
    for index, http in enumerate(http_routes):
        for entry in http.get("match") or [None]:
            match = route_match(entry)
            name = str(http.get("name") or "")
            if entry and entry.get("name"):
                name = f"{name}.{entry['name']}"
            sent.append((index, name, match))
            if is_catch_all(match):   # no `match` at all translates to prefix /: a catch-all too
                return sent
    return sent


def sort_vhost_routes(routes: list[dict]) -> list[dict]:
    """route.go, SortVHostRoutes (called in gateway.go on every virtual host, after the VirtualServices'
    routes are appended): the catch-all routes move to the end, the others keep their order."""
    return [r for r in routes if not is_catch_all(r["match"])] + [r for r in routes if is_catch_all(r["match"])]


def route_match(entry: dict | None) -> dict:
    """route.go, TranslateRouteMatch: the path (prefix / when none), then the header matches by name."""
    entry = entry or {}
    match = string_match_path(entry.get("uri"))
    headers = [header_match(str(name), cond) for name, cond in sorted((entry.get("headers") or {}).items())]
    if headers:
        match["headers"] = headers
    others = [name for name in CLUSTER_ONLY_MATCHERS if entry.get(name)]
    if others:
        match[CLUSTER_ONLY] = others
    return match


# Matchers only a cluster serves (schema.py refuses them on the local lab). TranslateRouteMatch makes
# each a header or query parameter match, so a match with one is no catch-all: the cluster's
# prediction (lab/routes.py) needs to know that much of them, and no more.
CLUSTER_ONLY_MATCHERS = ("withoutHeaders", "method", "authority", "scheme", "queryParams")
CLUSTER_ONLY = "cluster_only_matchers"


def string_match_path(uri: dict | None) -> dict:
    if not uri:
        return {"prefix": "/"}
    if "exact" in uri:
        return {"path": str(uri["exact"])}
    if "prefix" in uri:
        return {"prefix": str(uri["prefix"])}
    return {"safe_regex": {"regex": str(uri["regex"])}}


def header_match(name: str, cond: dict | None) -> dict:
    if not cond:   # `{}`: the header is present, whatever its value (route.go canBeConvertedToPresentMatch)
        return {"name": name.lower(), "present_match": True}
    return {"name": name.lower(), "string_match": string_match(cond)}


def string_match(cond: dict) -> dict:
    if "exact" in cond:
        return {"exact": str(cond["exact"])}
    if "prefix" in cond:
        return {"prefix": str(cond["prefix"])}
    return {"safe_regex": {"regex": str(cond["regex"])}}
