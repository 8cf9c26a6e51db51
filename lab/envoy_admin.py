"""Reading a running Envoy through its admin API.

Both backends use this: the local gateway is an Envoy, and so is Istio's
ingress gateway (admin port 15000, reached by port-forward). What the gateway
serves is read here, not what was asked for.
"""

import json
import urllib.error
import urllib.parse
import urllib.request

from lab import loopback
from lab.live_routes import LiveRoute, RouteDestination
from lab.traffic.envoy_stats import STATS_FILTER, parse_stats

ISTIO_DEFAULT_RETRIES = 2   # pilot/pkg/networking/core/route/retry/retry.go DefaultPolicy: 2 attempts


class EnvoyAdmin:
    def __init__(self, base_url: str, timeout: float = 2.0):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def _get(self, path: str) -> str:
        with loopback.urlopen(self.base_url + path, timeout=self.timeout) as response:   # no proxy
            return response.read().decode()

    def ready(self) -> bool:
        try:
            return self._get("/ready").strip() == "LIVE"
        except (OSError, urllib.error.URLError):
            return False

    def stats(self, filter_regex: str = "") -> dict[str, str]:
        """Counters, gauges and text readouts as strings (text readouts unquoted)."""
        query = f"?filter={urllib.parse.quote(filter_regex)}" if filter_regex else ""
        result = {}
        for line in self._get("/stats" + query).splitlines():
            name, sep, value = line.partition(": ")
            if sep:
                result[name] = value.strip().strip('"')
        return result

    def upstream_counts(self) -> dict[str, tuple[int, int]]:
        """Per outbound cluster: (requests, errors) since Envoy started, read as the rollout's
        metrics read them (lab/traffic/envoy_stats.py: one parser of /stats, origin splits left out)."""
        return {name: (c.requests, c.errors) for name, c in parse_stats(self.stats_text(STATS_FILTER)).items()}

    def route_configs(self) -> list[dict]:
        dump = json.loads(self._get("/config_dump?resource=dynamic_route_configs"))
        return [entry["route_config"] for entry in dump.get("configs", []) if "route_config" in entry]

    def live_routes(self) -> list[LiveRoute]:
        return routes_of(self.route_configs())

    def outlier_clusters(self) -> set[str]:
        """The clusters that eject failing pods (outlier detection: a DestinationRule's outlierDetection,
        which istiod writes into the Service's clusters, not its routes)."""
        dump = json.loads(self._get("/config_dump?resource=dynamic_active_clusters"))
        return {entry["cluster"]["name"] for entry in dump.get("configs", [])
                if "outlier_detection" in (entry.get("cluster") or {})}

    def stats_text(self, filter_regex: str, histogram_buckets: str = "") -> str:
        """/stats as Envoy prints it; histogram_buckets "detailed" gives each histogram's buckets."""
        query = {"filter": filter_regex, **({"histogram_buckets": histogram_buckets} if histogram_buckets else {})}
        return self._get("/stats?" + urllib.parse.urlencode(query))

    def ready_endpoints(self) -> dict[tuple[str, str], int]:
        """Healthy endpoints per (Service name.namespace, subset) from /clusters, for Istio-named clusters
        (`outbound|port|subset|fqdn`); the most over the Service's ports."""
        counts: dict[tuple[str, str], int] = {}
        for cluster in json.loads(self._get("/clusters?format=json")).get("cluster_statuses", []):
            if len(cluster.get("name", "").split("|")) != 4:
                continue   # not a Service's cluster (Envoy's own, or an admin one)
            destination = _destination(cluster["name"], 0)
            healthy = sum(1 for host in cluster.get("host_statuses", [])
                          if (host.get("health_status") or {}).get("eds_health_status", "HEALTHY") == "HEALTHY"
                          and not _failed_health_check(host.get("health_status") or {}))
            key = (destination.service, destination.subset)
            counts[key] = max(counts.get(key, 0), healthy)
        return counts


    def endpoint_addresses(self) -> dict[tuple[str, str], frozenset[str]]:
        """The pods (host:port, each endpoint Envoy knows) per (Service name.namespace, subset), from
        /clusters: two subsets that should split versions must not pick the same pods."""
        found: dict[tuple[str, str], set[str]] = {}
        for cluster in json.loads(self._get("/clusters?format=json")).get("cluster_statuses", []):
            if len(cluster.get("name", "").split("|")) != 4:
                continue
            destination = _destination(cluster["name"], 0)
            for host in cluster.get("host_statuses", []):
                address = (host.get("address") or {}).get("socket_address") or {}
                found.setdefault((destination.service, destination.subset), set()).add(
                    f"{address.get('address', '')}:{address.get('port_value', '')}")
        return {key: frozenset(value) for key, value in found.items()}

    def host_requests(self) -> dict[tuple[str, str], dict[str, int]]:
        """Requests each pod got since Envoy started (the host's rq_total in /clusters), per (Service
        name.namespace, subset): which pods a session's requests reached (sticky sessions)."""
        found: dict[tuple[str, str], dict[str, int]] = {}
        for cluster in json.loads(self._get("/clusters?format=json")).get("cluster_statuses", []):
            if len(cluster.get("name", "").split("|")) != 4:
                continue
            destination = _destination(cluster["name"], 0)
            pods = found.setdefault((destination.service, destination.subset), {})
            for host in cluster.get("host_statuses", []):
                address = (host.get("address") or {}).get("socket_address") or {}
                total = next((int(s.get("value", 0)) for s in host.get("stats", []) if s.get("name") == "rq_total"), 0)
                key = f"{address.get('address', '')}:{address.get('port_value', '')}"
                pods[key] = pods.get(key, 0) + total
        return found


def _failed_health_check(status: dict) -> bool:
    return any(status.get(flag) for flag in ("failed_active_health_check", "failed_outlier_check",
                                             "failed_active_degraded_check", "pending_dynamic_removal"))


def routes_of(route_configs: list[dict]) -> list[LiveRoute]:
    """Envoy RouteConfigurations as routes a learner would write (also used on configs the lab
    builds itself, to know what a gateway will show)."""
    routes = []
    for config in route_configs:
        # Istio names its HTTPS route configs "https.443...", the local lab "https-gateway".
        scheme = "https" if config.get("name", "").startswith("https") else "http"
        for vhost in config.get("virtual_hosts", []):
            host, domains = _host_of(vhost), tuple(vhost.get("domains", []))
            for route in vhost.get("routes", []):
                routes.append(LiveRoute(host=host, match=describe_match(route.get("match", {})),
                                        destinations=_destinations(route.get("route", {})), scheme=scheme,
                                        domains=domains, conditions=route.get("match", {}),
                                        name=route.get("name", ""),
                                        status=int((route.get("direct_response") or {}).get("status", 0)),
                                        origin=_origin(route), policies=route_policies(route)))
    return routes

def route_policies(route: dict) -> tuple[str, ...]:
    """What a check measures of a route besides its destinations, where it differs from what istiod
    writes for a VirtualService that says nothing (route.go: timeout 0s, retry.go DefaultPolicy: 2
    retries): its timeout, its retries, its mirrors (route.go TranslateRequestMirrorPolicy) and one
    hash policy per destination whose DestinationRule hashes (route.go consistentHashToHashPolicy).
    Durations as seconds and fractions as percents, however Envoy spells them."""
    if "route" not in route:
        return ()
    action = route["route"]
    found = []
    timeout = _seconds(action.get("timeout", "0s"))
    if timeout:
        found.append(f"timeout {timeout:g}s")
    retries = action.get("retry_policy")
    if retries is None:
        found.append("no retries")
    elif int(retries.get("num_retries", 1)) != ISTIO_DEFAULT_RETRIES:
        found.append(f"retries {int(retries.get('num_retries', 1))}")
    for mirror in action.get("request_mirror_policies") or []:
        found.append(f"mirror {destination_name(str(mirror.get('cluster', '')))} {_mirror_percent(mirror):g}%")
    for policy in action.get("hash_policy") or []:
        for kind in ("cookie", "header", "query_parameter"):
            if kind in policy:
                found.append(f"hash {kind} {policy[kind].get('name') or policy[kind].get('header_name', '')}")
    return tuple(found)


def _mirror_percent(mirror: dict) -> float:
    """A mirror's runtime fraction as a percent (no fraction: every request; Envoy's FractionalPercent
    denominators: HUNDRED, the default, TEN_THOUSAND, MILLION)."""
    fraction = (mirror.get("runtime_fraction") or {}).get("default_value")
    if fraction is None:
        return 100.0
    per = {"HUNDRED": 100, "TEN_THOUSAND": 10_000, "MILLION": 1_000_000}[fraction.get("denominator", "HUNDRED")]
    return round(100.0 * int(fraction.get("numerator", 0)) / per, 4)


def _seconds(duration: str) -> float:
    return float(str(duration).removesuffix("s") or 0)


def _origin(route: dict) -> str:
    """The object a route comes from, as istiod records it on each route: `metadata.filter_metadata.istio.config`
    is "/apis/GROUP/VERSION/namespaces/NS/KIND/NAME" (pilot/pkg/networking/util/util.go AddConfigInfoMetadata)."""
    config = str((((route.get("metadata") or {}).get("filter_metadata") or {}).get("istio") or {}).get("config", ""))
    parts = config.strip("/").split("/")
    if len(parts) != 7 or parts[0] != "apis" or parts[3] != "namespaces":
        return ""
    kind = "".join(word.capitalize() for word in parts[5].split("-"))   # virtual-service → VirtualService
    return f"{kind} {parts[4]}/{parts[6]}"


def _host_of(vhost: dict) -> str:
    domains = [d for d in vhost.get("domains", []) if not d.endswith(":*")]
    return ", ".join(domains) or vhost.get("name", "?")


def describe_match(match: dict) -> str:
    if "path" in match:
        parts = [f"uri = {match['path']}"]
    elif "safe_regex" in match:
        parts = [f"uri ~ {match['safe_regex'].get('regex')}"]
    elif "path_separated_prefix" in match:   # a Gateway API PathPrefix: whole segments
        parts = [f"uri {match['path_separated_prefix']} or {match['path_separated_prefix']}/*"]
    else:
        parts = [f"uri {match.get('prefix', '/')}*"]
    for header in match.get("headers", []):
        cond = header.get("string_match") or {}
        if "exact" in cond:
            parts.append(f"{header['name']} = {cond['exact']}")
        elif "prefix" in cond:
            parts.append(f"{header['name']} = {cond['prefix']}*")
        elif "safe_regex" in cond:
            parts.append(f"{header['name']} ~ {cond['safe_regex'].get('regex')}")
        else:
            parts.append(f"{header['name']} present")
    return ", ".join(parts)


def _destinations(action: dict) -> list[RouteDestination]:
    if "cluster" in action:
        return [_destination(action["cluster"], 100)]
    clusters = (action.get("weighted_clusters") or {}).get("clusters", [])
    total = sum(int(c.get("weight", 0)) for c in clusters) or 1
    # Shares to 1/10,000 of a percent, not whole percents: a backendRef of weight 1 beside 1999 gets 0.05%, not
    # nothing; and the same ratio of other weights (1/3, 33/99) reads the same.
    return [_destination(c["name"], round(100 * int(c.get("weight", 0)) / total, 4)) for c in clusters]


def destination_name(cluster: str) -> str:
    """`outbound|80|v1|httpbin.ns.svc.cluster.local` → `httpbin.ns (v1)`, as routes show it."""
    return str(_destination(cluster, 0)).rsplit(":", 1)[0]


def _destination(cluster: str, weight: float) -> RouteDestination:
    """`outbound|80|v1|httpbin.ns.svc.cluster.local` → httpbin.ns (v1)."""
    parts = cluster.split("|")
    if len(parts) == 4:
        service = ".".join(parts[3].split(".")[:2])
        return RouteDestination(service=service, subset=parts[2], weight=weight)
    return RouteDestination(service=cluster, subset="", weight=weight)
