"""Reading a running Envoy through its admin API.

Both backends use this: the local gateway is an Envoy, and so is Istio's
ingress gateway (admin port 15000, reached by port-forward). What the gateway
serves is read here, not what was asked for.
"""

import json
import urllib.error
import urllib.parse
import urllib.request

from lab.backends.base import LiveRoute, RouteDestination


class EnvoyAdmin:
    def __init__(self, base_url: str, timeout: float = 2.0):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def _get(self, path: str) -> str:
        with urllib.request.urlopen(self.base_url + path, timeout=self.timeout) as response:
            return response.read().decode()

    def ready(self) -> bool:
        try:
            return self._get("/ready").strip() == "LIVE"
        except (OSError, urllib.error.URLError):
            return False

    def stats(self, filter_regex: str = "") -> dict[str, str]:
        """Counters, gauges and text readouts as strings (text readouts unquoted)."""
        query = f"?filter={urllib.request.quote(filter_regex)}" if filter_regex else ""
        result = {}
        for line in self._get("/stats" + query).splitlines():
            name, sep, value = line.partition(": ")
            if sep:
                result[name] = value.strip().strip('"')
        return result

    def route_configs(self) -> list[dict]:
        dump = json.loads(self._get("/config_dump?resource=dynamic_route_configs"))
        return [entry["route_config"] for entry in dump.get("configs", []) if "route_config" in entry]

    def live_routes(self) -> list[LiveRoute]:
        routes = []
        for config in self.route_configs():
            # Istio names its HTTPS route configs "https.443...", the local lab "https-gateway".
            scheme = "https" if config.get("name", "").startswith("https") else "http"
            for vhost in config.get("virtual_hosts", []):
                host = _host_of(vhost)
                for route in vhost.get("routes", []):
                    routes.append(LiveRoute(host=host, match=describe_match(route.get("match", {})),
                                            destinations=_destinations(route.get("route", {})), scheme=scheme))
        return routes

    def stats_text(self, filter_regex: str, histogram_buckets: str = "") -> str:
        """/stats as Envoy prints it; histogram_buckets "detailed" gives each histogram's buckets."""
        query = {"filter": filter_regex, **({"histogram_buckets": histogram_buckets} if histogram_buckets else {})}
        return self._get("/stats?" + urllib.parse.urlencode(query))


def _host_of(vhost: dict) -> str:
    domains = [d for d in vhost.get("domains", []) if not d.endswith(":*")]
    return ", ".join(domains) or vhost.get("name", "?")


def describe_match(match: dict) -> str:
    if "path" in match:
        parts = [f"uri = {match['path']}"]
    elif "safe_regex" in match:
        parts = [f"uri ~ {match['safe_regex'].get('regex')}"]
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
    return [_destination(c["name"], round(100 * int(c.get("weight", 0)) / total)) for c in clusters]


def _destination(cluster: str, weight: int) -> RouteDestination:
    """`outbound|80|v1|httpbin.ns.svc.cluster.local` → httpbin.ns (v1)."""
    parts = cluster.split("|")
    if len(parts) == 4:
        service = ".".join(parts[3].split(".")[:2])
        return RouteDestination(service=service, subset=parts[2], weight=weight)
    return RouteDestination(service=cluster, subset="", weight=weight)
