"""Waiting until a cluster's gateway serves what was applied.

What istiod will serve is modelled by the lab's own translator (lab/backends/local/translate.py,
the one model of istiod the lab has), then compared with the routes read back from the ingress
gateway's Envoy: per host and listener, each route's destinations — Service, subset and weight.
Two rules of istiod on top: a weight-0 destination is dropped when a route has others
(pilot/pkg/networking/core/route/route.go: "Ignore 0 weighted clusters"), and only the hosts a
Gateway serves are on the gateway (a mesh-only host never is).
"""

import copy
from collections.abc import Callable

from lab.backends.base import LiveRoute
from lab.backends.local.endpoints import service_named
from lab.backends.local.schema import check_supported
from lab.backends.local.translate import translate
from lab.config import LOCAL_CREDENTIAL
from lab.envoy_admin import routes_of
from lab.errors import LabError
from lab.manifests import Ref, ref_of
from lab.polling import poll

# (scheme, host) → each route's destinations (Service, subset, weight), then one (POLICY, what, 0) per
# policy it has that is not Istio's default (envoy_admin.route_policies: a timeout, retries, a hash):
# an apply that changes only a timeout, or a DestinationRule's hashing, is served when those are.
Served = dict[tuple[str, str], list[list[tuple[str, str, float]]]]
POLICY = "(policy)"    # no Service is named so: a DNS label has no parentheses


# pkg/config/protocol/instance.go, Instance.IsHTTP; pkg/config/gateway/gateway.go, IsPassThroughServer
HTTP_PROTOCOLS = ("HTTP", "HTTP2", "HTTP_PROXY", "GRPC", "GRPC-WEB")
PASSTHROUGH = ("PASSTHROUGH", "AUTO_PASSTHROUGH")   # PASSTHROUGH is the mode left out (TLSmode's zero)


def as_modelled(obj: dict) -> dict:
    """A Gateway as the translator takes it: only the servers istiod builds HTTP routes for
    (pkg/config/gateway/gateway.go, IsHTTPServer: an HTTP protocol, or HTTPS that terminates TLS — a
    PASSTHROUGH server's traffic never meets a route), the HTTPS ones on the one certificate the model
    knows (the model needs only which hosts each listener serves; the cluster has the real TLS)."""
    if obj.get("kind") != "Gateway":
        return obj
    obj = copy.deepcopy(obj)
    spec = obj.get("spec") or {}
    servers = []
    for server in spec.get("servers") or []:
        protocol = str((server.get("port") or {}).get("protocol", "")).upper()
        if protocol in HTTP_PROTOCOLS:
            server["port"]["protocol"] = "HTTP"
            server.pop("tls", None)   # httpsRedirect: the routes are still the host's
        elif (protocol == "HTTPS"
              and str((server.get("tls") or {}).get("mode", "PASSTHROUGH")).upper() not in PASSTHROUGH):
            server["tls"] = {"mode": "SIMPLE", "credentialName": LOCAL_CREDENTIAL}
        else:
            continue
        servers.append(server)
    if spec:
        spec["servers"] = servers
    return obj


def _runs(routes: list[list[tuple[str, str, float]]]) -> list[list[tuple[str, str, float]]]:
    """One http route may become several Envoy routes (one per match entry): compare distinct runs."""
    return [r for i, r in enumerate(routes) if i == 0 or routes[i - 1] != r]


def _by_host(routes: list[LiveRoute]) -> Served:
    served: Served = {}
    for route in routes:
        destinations = sorted((d.service, d.subset, d.weight) for d in route.destinations if d.weight > 0)
        destinations += [(POLICY, what, 0.0) for what in route.policies]
        for host in (h.strip() for h in route.host.split(",")):
            served.setdefault((route.scheme, host), []).append(destinations)
    return {key: _runs(value) for key, value in served.items()}


def expected_routes(virtual_services: list[dict], objects: list[dict]) -> Served:
    """What istiod will serve for these VirtualServices, given the Gateways, Services and
    DestinationRules they use (`objects`)."""
    model = {ref_of(o): as_modelled(o) for o in objects}
    model.update({ref_of(vs): vs for vs in virtual_services})
    _only_modelled_rules(model.values())
    config = translate(model, pods={})
    return _by_host(routes_of(config.all_route_configs()))   # the ingress gateway's, and each Gateway API Gateway's


def served(expected: Served, routes: list[LiveRoute]) -> bool:
    live = _by_host(routes)
    return all(live.get(key, []) == wanted for key, wanted in expected.items())


def _destinations_only(served: Served) -> Served:
    return {key: _runs([[d for d in route if d[0] != POLICY] for route in routes]) for key, routes in served.items()}


def wait_until_served(expected: Served, read_routes: Callable[[], list[LiveRoute]], timeout: float = 30.0,
                      interval: float = 0.5, policy_grace: float = 10.0) -> str:
    """Wait until the gateway serves the expected destinations (else one line, after `timeout`), then
    up to `policy_grace` for the expected route policies: the model of a DestinationRule can miss
    what istiod does (a subset's own policy, which rule wins), so a difference there ends in a note
    returned, not a failure of an apply the cluster took."""
    unreadable: list[str] = []

    def served_now(wanted: Served) -> bool:
        # A gateway's Envoy that is just starting (a Gateway API gateway deployed by this very apply)
        # or restarting can answer its admin with nothing or drop the connection: not served yet.
        try:
            live = read_routes()
        except (OSError, ValueError) as error:   # URLError, a reset connection; JSON that is not there
            unreadable[:] = [f"{type(error).__name__}: {error}"]
            return False
        except LabError as error:                # a cluster's forwards, tried and tried again
            unreadable[:] = [error.message]
            return False
        return served(wanted, live) if wanted is expected else \
            all(_destinations_only(_by_host(live)).get(k, []) == v for k, v in wanted.items())

    if not poll(lambda: served_now(_destinations_only(expected)), timeout, interval):
        hosts = ", ".join(sorted({host for _, host in expected}))
        last = f" (its Envoy's admin last answered {unreadable[0]})" if unreadable else ""
        raise LabError(f"the gateway does not serve the new routes for {hosts} after {timeout:.0f}s{last}",
                       "`invoke status` shows what it serves; is the VirtualService bound to the "
                       "ingress gateway?")
    if poll(lambda: served_now(expected), policy_grace, interval):   # a policy removed is waited for too
        return ""
    return (f"the gateway serves the new destinations, but not the timeout, retries or hashing the lab "
            f"predicted after {policy_grace:.0f}s more: `invoke status` shows what it serves")


def referenced(virtual_service: dict) -> list[Ref]:
    """The Gateways and Services a VirtualService names (DestinationRules are found by listing)."""
    ref = ref_of(virtual_service)
    spec = virtual_service.get("spec") or {}
    refs = []
    for name in spec.get("gateways") or []:
        if name != "mesh":
            namespace, _, gateway = name.rpartition("/")
            refs.append(Ref("Gateway", namespace or ref.namespace, gateway))
    for http in spec.get("http") or []:
        for route in http.get("route") or []:
            parts = str((route.get("destination") or {}).get("host", "")).split(".")
            refs.append(Ref("Service", parts[1] if len(parts) > 1 else ref.namespace, parts[0]))
    return refs


def rule_service(rule: dict) -> Ref | None:
    """The Service a DestinationRule's host names, as istiod resolves it (None: no Service)."""
    return service_named(str((rule.get("spec") or {}).get("host", "")), ref_of(rule).namespace)


def ejecting_clusters(services: set[Ref], objects: list[dict]) -> tuple[set[str], set[str]]:
    """What istiod will make of these Services' DestinationRules (`objects`: the Services and rules):
    (every cluster of the Services — one per port and subset —, those that eject failing pods)."""
    _only_modelled_rules(objects)
    clusters = translate({ref_of(o): o for o in objects}, pods={}).clusters
    mine = {c["name"] for c in clusters if _cluster_service(c["name"]) in services}
    return mine, {c["name"] for c in clusters if c["name"] in mine and "outlier_detection" in c}


def _cluster_service(cluster: str) -> Ref | None:
    """`outbound|80|v1|shop.ns.svc.cluster.local` → Service ns/shop."""
    parts = cluster.split("|")
    return service_named(parts[3], "") if len(parts) == 4 else None


def _only_modelled_rules(objects) -> None:
    """A DestinationRule with a field the model leaves out (a subset's or a port's own trafficPolicy,
    exportTo, workloadSelector: istiod reads them, route.go HashForHTTPDestination among others) makes
    the prediction unsure: ManifestError, so the cluster path says it does not wait rather than
    waiting for what istiod will not write."""
    for obj in objects:
        if obj.get("kind") == "DestinationRule":
            check_supported({**obj, "metadata": {k: v for k, v in (obj.get("metadata") or {}).items()
                                                 if k in ("name", "namespace", "labels", "annotations",
                                                          "creationTimestamp")}, "status": {}})
