"""Istio objects → Envoy config, the job istiod does for the ingress gateway.

Gateways and the VirtualServices bound to them become virtual hosts and routes;
each (Service, subset) a route names becomes an Envoy cluster whose endpoints
are the pods the Service's selector and the subset's labels pick. Cluster
names follow Istio's `outbound|port|subset|fqdn`, so the same reader shows
live routes on both backends.
"""

from dataclasses import dataclass, field

from lab.backends.local.destination_policies import with_traffic_policy
from lab.backends.local.endpoints import (
    CLUSTER_DOMAIN,
    serves,
    service_named,
    target_port_notes,
)
from lab.backends.local.envoy_clusters import static_cluster
from lab.backends.local.gateway_api_routes import GatewayListener, gateway_listeners
from lab.backends.local.gateway_vhosts import (
    ROUTE_CONFIG_FLAGS,
    intersecting_hosts,
    sent_routes,
    server_hosts_for,
    sort_vhost_routes,
    virtual_host_domains,
)
from lab.backends.local.pods import Pod
from lab.backends.local.route_policies import (
    DEFAULT_RETRY_POLICY,
    virtual_service_route,
)
from lab.backends.local.unreachable_rules import (
    unreachable_rule_indexes,
    unreachable_rule_notes,
)
from lab.config import LOCAL_CREDENTIAL
from lab.errors import ManifestError
from lab.manifests import Ref, creation_order
from lab.validate import route_weights

# One route config per gateway listener; like Istio's, the HTTPS one's name starts with "https".
ROUTE_CONFIGS = {"http": "http-gateway", "https": "https-gateway"}
# The labels of the one gateway the local lab has: those of Istio's default ingress gateway pods.
LOCAL_GATEWAY_LABELS = {"istio": "ingressgateway", "app": "istio-ingressgateway"}
SERVED_PROTOCOLS = ("HTTP", "HTTPS")
# Istio's default retry policy on every route without `retries`, exactly: route_policies.py
# (retry.go DefaultPolicy: no `reset`, no 5xx; a connection the app drops midway fails, as on a cluster).
RETRY_POLICY = DEFAULT_RETRY_POLICY


@dataclass
class EnvoyConfig:
    clusters: list[dict]
    route_configs: dict[str, dict]   # scheme → RouteConfiguration of the ingress gateway (the Istio API)
    notes: list[tuple[Ref, str]] = field(default_factory=list)   # accepted, but served unlike the learner may think
    # what Istio's webhook itself warns of on a cluster's apply (kubectl prints them as `Warning:`)
    warnings: list[tuple[Ref, str]] = field(default_factory=list)
    # The Gateway API Gateways' listeners (gateway_api_routes.GatewayListener), one per Gateway and port.
    gateway_listeners: list["GatewayListener"] = field(default_factory=list)

    def all_route_configs(self) -> list[dict]:
        """Every route config the gateways serve: the ingress gateway's, then each Gateway API listener's."""
        return [*self.route_configs.values(), *(listener.route_config for listener in self.gateway_listeners)]


def translate(objects: dict[Ref, dict], pods: dict[str, Pod]) -> EnvoyConfig:
    clusters: dict[str, dict] = {}
    virtual_hosts: dict[str, dict[str, dict]] = {scheme: {} for scheme in ROUTE_CONFIGS}
    owners: dict[tuple[str, str], Ref] = {}
    notes: list[tuple[Ref, str]] = []
    for ref, gateway in sorted(objects.items()):
        if ref.kind == "Gateway":
            check_gateway(ref, gateway)
            if not selects_local_gateway(gateway):
                notes.append((ref, _unselected_note(ref, gateway)))
    for ref, vs in _merge_order(objects):
        spec = vs.get("spec") or {}
        served = _gateway_hosts(ref, spec, objects)
        if not served and not _mesh_only(spec) and _binds_a_serving_gateway(ref, spec, objects):
            # Istio accepts it and serves none of its hosts there: requests get 404 (NR), and
            # istioctl analyze warns IST0132 (VirtualServiceHostNotFoundInGateway).
            notes.append((ref, f"{ref}: none of its hosts ({', '.join(map(str, spec.get('hosts') or []))}) is "
                               "one its Gateways serve; as on a cluster (istioctl analyze: IST0132) it is kept "
                               "and the gateway answers 404 for it. Fix the host, or the Gateway's servers[].hosts"))
        if not served:
            # Mesh-only (or bound only to Gateways that select no gateway): nothing to serve here, but
            # its references are checked as istioctl analyze would (IST0101), since a cluster's
            # sidecars would send traffic by them.
            for i, http in enumerate(spec.get("http") or []):
                _route_action(ref, i, http, objects, pods, {})
            if _mesh_only(spec):
                notes.append((ref, f"{ref} is bound only to the mesh: its routes are checked, but the local lab "
                                   "carries no mesh traffic (no sidecars), so only a cluster serves them"))
            continue
        routes, unsent = _virtual_service_routes(ref, spec, objects, pods, clusters)
        # A route Istio's webhook already warns of (unreachable_rules: a route below one without
        # `match`) gets that warning alone; this note is for what only istiod's route building drops
        # (below a `prefix: /` or `regex: .*` catch-all).
        warned = {index for index, _ in unreachable_rule_indexes(spec.get("http") or [])}
        unsent = [index for index in unsent if index not in warned]
        if unsent:
            notes.append((ref, _unsent_note(ref, [_rule_name(spec["http"][j], j) for j in unsent])))
        for scheme, host in served:
            if (scheme, host) in owners:
                # Istio's gateway merges them (pilot core/gateway.go, vHostDedupMap): each later
                # VirtualService's routes are appended after the earlier ones', then sorted below.
                virtual_hosts[scheme][host]["routes"] = virtual_hosts[scheme][host]["routes"] + routes
                notes.append((ref, (f"{ref} shares host {host} with {owners[scheme, host]}: as Istio does, its "
                                    "routes are merged after those of the VirtualServices created before it, "
                                    "and catch-all routes (no match, prefix /) go last")))
                continue
            owners[scheme, host] = ref
            virtual_hosts[scheme][host] = {"name": f"{host}|{ref.namespace}/{ref.name}",
                                           "domains": virtual_host_domains(host), "routes": routes}
    for by_host in virtual_hosts.values():
        for vhost in by_host.values():   # gateway.go: SortVHostRoutes on every virtual host
            vhost["routes"] = sort_vhost_routes(vhost["routes"])
    _service_clusters(objects, pods, clusters)
    # Gateway API Gateways: each its own gateway (listeners of their own), beside the ingress gateway's.
    listeners = gateway_listeners(objects, pods, clusters)
    notes += target_port_notes(objects, pods)
    route_configs = {scheme: {"name": name, **ROUTE_CONFIG_FLAGS, "virtual_hosts": list(virtual_hosts[scheme].values())}
                     for scheme, name in ROUTE_CONFIGS.items()}
    return EnvoyConfig(clusters=[clusters[name] for name in sorted(clusters)], route_configs=route_configs,
                       notes=notes, warnings=unreachable_rule_notes(objects), gateway_listeners=listeners)


def _config_info(ref: Ref) -> dict:
    """Which VirtualService a route comes from, as istiod records it on every route
    (pilot/pkg/networking/util/util.go AddConfigInfoMetadata): `invoke check` names it."""
    return {"filter_metadata": {"istio": {"config": f"/apis/networking.istio.io/v1/namespaces/{ref.namespace}/"
                                                    f"virtual-service/{ref.name}"}}}


def _merge_order(objects: dict[Ref, dict]) -> list[tuple[Ref, dict]]:
    """VirtualServices as Istio takes them for a gateway: oldest first, then by name and namespace
    (pilot model configCompareByCreationTime)."""
    services = [(ref, vs) for ref, vs in objects.items() if ref.kind == "VirtualService"]
    return sorted(services, key=lambda item: creation_order(*item))


def selects_local_gateway(gateway: dict) -> bool:
    """Istio applies a Gateway to the gateway pods its selector matches; an empty selector matches all."""
    selector = (gateway.get("spec") or {}).get("selector") or {}
    return all(LOCAL_GATEWAY_LABELS.get(k) == v for k, v in selector.items())


def _unselected_note(ref: Ref, gateway: dict) -> str:
    selector = (gateway.get("spec") or {}).get("selector") or {}
    shown = ", ".join(f"{k}: {v}" for k, v in selector.items())
    return (f"{ref} selects no gateway ({shown}; the ingress gateway's labels are istio: ingressgateway), "
            "so as on a cluster it is ignored and requests for its hosts get 404")


def _mesh_only(spec: dict) -> bool:
    return all(g == "mesh" for g in spec.get("gateways") or ["mesh"])


def check_gateway(ref: Ref, gateway: dict) -> None:
    for index, server in enumerate((gateway.get("spec") or {}).get("servers") or []):
        tls = server.get("tls") or {}
        protocol = str((server.get("port") or {}).get("protocol", "HTTP")).upper()
        if protocol not in SERVED_PROTOCOLS:
            raise ManifestError(f"{ref}: spec.servers[{index}].port.protocol is {protocol}; the local gateway serves "
                                "only HTTP and HTTPS (TCP, TLS passthrough and others need a cluster)",
                                "use protocol HTTP or HTTPS, or k3d or minikube")
        if _is_https(server):
            # The mode left out is PASSTHROUGH, the enum's zero (istio/api gateway.proto ServerTLSSettings.TLSmode)
            if tls.get("mode", "PASSTHROUGH") != "SIMPLE" or tls.get("credentialName") != LOCAL_CREDENTIAL:
                raise ManifestError(f"{ref}: spec.servers[{index}].tls must be mode SIMPLE with credentialName "
                                    f"{LOCAL_CREDENTIAL} on the local lab",
                                    "the local gateway has only the lab CA's certificate; other TLS setups "
                                    "need k3d or minikube")


def _gateway_hosts(ref: Ref, spec: dict, objects: dict[Ref, dict]) -> list[tuple[str, str]]:
    """(scheme, virtual host) pairs the VirtualService gets on the gateway: per server of its Gateways,
    the server's hosts open to its namespace intersected with its own hosts (gateway.go). Other hosts
    are for the mesh only."""
    found: list[tuple[str, str]] = []
    vs_hosts = [str(host) for host in spec.get("hosts") or []]
    for name in spec.get("gateways") or []:
        if name == "mesh":
            continue
        namespace, _, gw_name = name.rpartition("/")
        gw_ref = Ref("Gateway", namespace or ref.namespace, gw_name)
        gateway = objects.get(gw_ref)
        if gateway is None:
            raise ManifestError(f"{ref}: spec.gateways names {name}, but no such Gateway is applied (a cluster "
                                "would store it and serve nothing for it; the local lab refuses)",
                                f"apply the Gateway {gw_ref.namespace}/{gw_ref.name} first, or fix the name")
        if not selects_local_gateway(gateway):
            continue   # Istio ignores a Gateway that selects no gateway pod: its hosts get 404
        for server in (gateway.get("spec") or {}).get("servers") or []:
            scheme = "https" if _is_https(server) else "http"
            hosts = server_hosts_for(server.get("hosts") or [], gw_ref.namespace, ref.namespace)
            found += [(scheme, host) for host in intersecting_hosts(hosts, vs_hosts) if (scheme, host) not in found]
    return found


def _binds_a_serving_gateway(ref: Ref, spec: dict, objects: dict[Ref, dict]) -> bool:
    """Bound to a Gateway that selects the gateway: so its hosts were meant to be served there."""
    for name in spec.get("gateways") or []:
        namespace, _, gw_name = name.rpartition("/")
        gateway = objects.get(Ref("Gateway", namespace or ref.namespace, gw_name))
        if name != "mesh" and gateway is not None and selects_local_gateway(gateway):
            return True
    return False


def _is_https(server: dict) -> bool:
    return str((server.get("port") or {}).get("protocol", "HTTP")).upper() == "HTTPS" or bool(server.get("tls"))


def _virtual_service_routes(ref: Ref, spec: dict, objects: dict[Ref, dict], pods: dict[str, Pod],
                            clusters: dict[str, dict]) -> tuple[list[dict], list[int]]:
    """The Envoy routes istiod sends for a VirtualService (gateway_vhosts.sent_routes), and the indexes
    of the http routes it leaves out after a catch-all."""
    https = spec.get("http") or []
    sent = sent_routes(https)
    actions = {i: _route_action(ref, i, https[i], objects, pods, clusters) for i in sorted({i for i, _, _ in sent})}
    routes = [{"match": match, "route": actions[i], "metadata": _config_info(ref), **({"name": name} if name else {})}
              for i, name, match in sent]
    unsent = [j for j in range(len(https)) if j not in actions]
    for j in unsent:
        _route_action(ref, j, https[j], objects, pods, {})   # still checked, as istioctl analyze would
    return routes, unsent


def _rule_name(http: dict, index: int) -> str:
    return str(http.get("name") or f"http[{index}]")


def _unsent_note(ref: Ref, unsent: list[str]) -> str:
    # Only for what route building alone drops: Istio's webhook warns of a route below one without
    # `match` (unreachable_rules.py) and of a path prefix an earlier prefix covers (IST0131), never of a
    # header-only route below `prefix: /` (pkg/config/validation/validation.go analyzeUnreachableHTTPRules,
    # genMatchHTTPRoutes skips a match without uri).
    return (f"{ref}: {', '.join(unsent)} come after a catch-all route (prefix / or regex .*, with no header "
            "or query match); istiod does not send them to the gateway and no request reaches them. A cluster "
            "may not warn of it (Istio's webhook checks only path prefixes here); `istioctl proxy-config routes` "
            "shows them missing. Put the routes with a match first")


def _route_action(ref: Ref, index: int, http: dict, objects, pods, clusters: dict) -> dict:
    routes = http.get("route") or []
    weighted = []
    for route, weight in zip(routes, route_weights(routes), strict=True):
        name = _destination_cluster(ref, index, route["destination"], objects, pods, clusters)
        # istiod leaves weight-0 destinations out (route.go: "Ignore 0 weighted clusters")
        if weight or len(routes) == 1:
            weighted.append({"name": name, "weight": weight})
    # timeout (none: 0s, WebSockets stay open), retries and mirror, as istiod writes them
    policies = virtual_service_route(ref, index, http,
                                     lambda d: _destination_cluster(ref, index, d, objects, pods, clusters), objects)
    if len(weighted) == 1:
        return {"cluster": weighted[0]["name"], **policies}
    return {"weighted_clusters": {"clusters": weighted}, **policies}


def _destination_cluster(ref: Ref, index: int, destination: dict, objects, pods, clusters: dict) -> str:
    """The Envoy cluster of a destination (Service, subset, port), made on first use."""
    service_ref, service = _service(ref, destination["host"], objects)
    subset = destination.get("subset") or ""
    labels = dict((service.get("spec") or {}).get("selector") or {})
    if subset:
        labels.update(_subset_labels(ref, index, service_ref, subset, objects))
    port, service_port = _service_port(ref, service_ref, service, destination)
    name = f"outbound|{port}|{subset}|{service_ref.name}.{service_ref.namespace}.{CLUSTER_DOMAIN}"
    if name not in clusters:
        members = [p for p in pods.values() if p.namespace == service_ref.namespace
                   and labels and all(p.labels.get(k) == v for k, v in labels.items()) and serves(p, service_port)]
        clusters[name] = with_traffic_policy(static_cluster(name, members), service_ref, objects)
    return name


def _service_clusters(objects: dict[Ref, dict], pods: dict[str, Pod], clusters: dict[str, dict]) -> None:
    """Every Service's clusters, whatever the routes name, as istiod builds them for a gateway
    (pilot/pkg/networking/core/cluster.go buildOutboundClusters: a default cluster for each port that
    is not UDP, and through applyDestinationRule one for each subset of the Service's DestinationRule):
    the gateway's /clusters then lists a subset no route names yet, with its endpoints, as on a cluster."""
    subsets: dict[Ref, list[str]] = {}
    for rule_ref, rule in sorted(objects.items()):
        if rule_ref.kind == "DestinationRule":
            service_ref = service_named(str((rule.get("spec") or {}).get("host", "")), rule_ref.namespace)
            if service_ref is not None:
                subsets.setdefault(service_ref, []).extend(
                    str(entry["name"]) for entry in (rule.get("spec") or {}).get("subsets") or [] if entry.get("name"))
    for ref, service in sorted(objects.items()):
        if ref.kind != "Service" or ref.group:
            continue
        for entry in (service.get("spec") or {}).get("ports") or []:
            if "port" not in entry or str(entry.get("protocol", "TCP")).upper() == "UDP":
                continue
            for subset in ["", *dict.fromkeys(subsets.get(ref, []))]:
                destination = {"host": f"{ref.name}.{ref.namespace}.{CLUSTER_DOMAIN}", "subset": subset,
                               "port": {"number": int(entry["port"])}}
                _destination_cluster(ref, 0, destination, objects, pods, clusters)


def _service(ref: Ref, host: str, objects) -> tuple[Ref, dict]:
    service_ref = service_named(host, ref.namespace) or Ref("Service", ref.namespace, host)
    service = objects.get(service_ref)
    if service is None:
        raise ManifestError(f"{ref}: destination host {host} matches no Service "
                            f"(looked for {service_ref.namespace}/{service_ref.name}); a cluster would accept it "
                            "(istioctl analyze: IST0101) and answer 503, the local lab refuses",
                            "apply the Service first, or fix the host")
    return service_ref, service


def _subset_labels(ref: Ref, index: int, service_ref: Ref, subset: str, objects) -> dict:
    defined = []
    for rule_ref, rule in objects.items():
        if rule_ref.kind != "DestinationRule":
            continue
        spec = rule.get("spec") or {}
        if service_named(str(spec.get("host", "")), rule_ref.namespace) != service_ref:
            continue
        for entry in spec.get("subsets") or []:
            defined.append(entry.get("name"))
            if entry.get("name") == subset:
                return entry.get("labels") or {}
    known = f" (defined: {', '.join(defined)})" if defined else ""
    where = (f"add subset {subset} to the DestinationRule for host {service_ref.name}" if defined else
             f"apply a DestinationRule for host {service_ref.name} with subset {subset} (its pods' labels)")
    raise ManifestError(
        f"{ref}: spec.http[{index}] routes to subset {subset} of {service_ref.name}, "
        f"but no DestinationRule defines it{known}; a cluster would accept it (istioctl analyze: IST0101) "
        "and answer 503, the local lab refuses", f"{where}, or fix the subset name")


def _service_port(ref: Ref, service_ref: Ref, service: dict, destination: dict) -> tuple[int, dict]:
    """The Service port a destination names (or its only one): the number and its entry."""
    entries = {int(p["port"]): p for p in (service.get("spec") or {}).get("ports") or [] if "port" in p}
    ports = list(entries)
    wanted = (destination.get("port") or {}).get("number")
    if wanted is not None:
        if int(wanted) not in ports:
            raise ManifestError(f"{ref}: destination port {wanted} is not a port of Service {service_ref.name} "
                                f"({', '.join(map(str, ports)) or 'none'}); a cluster would accept it and "
                                "answer 503, the local lab refuses", "fix destination.port.number")
        return int(wanted), entries[int(wanted)]
    if len(ports) != 1:
        raise ManifestError(f"{ref}: Service {service_ref.name} has {len(ports)} ports and the route names none",
                            "set destination.port.number")
    return ports[0], entries[ports[0]]
