"""What the gateway serves for one request, read from its live routes (config, not traffic).

Envoy picks a virtual host by the Host header (exact domain, then the longest `*.suffix`, then
`prefix.*`, then `*`), then the FIRST route of that host whose match holds (path prefix, exact or
regex; every header condition, the method as Envoy's `:method` header; every query parameter). The
route's weighted destinations are mapped to the exercise's destinations by Service and subset; a
route to a whole Service whose destinations are its subsets (or, in the Gateway API, narrower
Services of its pods: `within`) splits by ready endpoints, as plain load balancing does.
"""

from dataclasses import dataclass, field

from lab import re2
from lab.backends.base import LiveRoute, RouteDestination


@dataclass(frozen=True)
class Target:
    """How an exercise destination shows up in routes: a Service (name.namespace) and a subset, and
    the wider Service (name.namespace) whose pods include this one's, for a route to all versions."""
    service: str
    subset: str = ""
    within: str = ""

    def pods_key(self) -> tuple[str, str]:
        """Its key in the backend's ready endpoints."""
        return self.service, self.subset


@dataclass
class Served:
    route: LiveRoute
    shares: dict[str, float]                              # exercise destination → percent of requests
    others: list[tuple[str, float]] = field(default_factory=list)   # (what the route names, percent)
    empty: list[RouteDestination] = field(default_factory=list)     # weighted, with no ready endpoint
    pods: dict[str, int] = field(default_factory=dict)   # destination → ready pods, when the split follows them

    def describe(self, names: list[str]) -> str:
        """"httpbin 99 / tornado 1", in the order of `names`, then anything else the route names."""
        parts = [f"{name} {self.shares.get(name, 0):g}" for name in names]
        parts += [f"{name} {self.shares[name]:g}" for name in self.shares if name not in names and self.shares[name]]
        parts += [f"{label} {share:g}" for label, share in self.others if share]
        return " / ".join(parts)


def host_routes(routes: list[LiveRoute], host: str, scheme: str) -> list[LiveRoute]:
    """The routes of the virtual host Envoy picks for this Host header, in order."""
    routes = [r for r in routes if r.scheme == scheme]
    by_domains: dict[tuple[str, ...], list[LiveRoute]] = {}
    for route in routes:
        by_domains.setdefault(route.domains or tuple(d.strip() for d in route.host.split(",")), []).append(route)
    host = host.lower().split(":")[0]
    best, best_rank = None, None
    for domains, members in by_domains.items():
        for domain in (d.lower() for d in domains):
            rank = _domain_rank(domain, host)
            if rank is not None and (best_rank is None or rank > best_rank):
                best, best_rank = members, rank
    return best or []


def _domain_rank(domain: str, host: str) -> tuple[int, int] | None:
    domain = domain.removesuffix(":*")
    if domain == host:
        return 3, len(domain)
    if domain.startswith("*") and domain != "*" and host.endswith(domain[1:]):
        return 2, len(domain)
    if domain.endswith("*") and domain != "*" and host.startswith(domain[:-1]):
        return 1, len(domain)
    if domain == "*":
        return 0, 0
    return None


def picked_route(routes: list[LiveRoute], path: str, headers: dict[str, str]) -> LiveRoute | None:
    """The first route whose match holds for this path (query string included) and these headers."""
    return next((r for r in routes if route_matches(r.conditions, path, headers)), None)


def route_matches(conditions: dict, path: str, headers: dict[str, str]) -> bool:
    return path_matches(conditions, path) and all(header_matches(h, headers) for h in conditions.get("headers", [])) \
        and all(query_matches(q, path) for q in conditions.get("query_parameters", []))


def path_matches(conditions: dict, path: str) -> bool:
    bare = path.split("?")[0]
    sensitive = conditions.get("case_sensitive", True)
    fold = (lambda s: s) if sensitive else str.lower
    if "path" in conditions:
        return fold(bare) == fold(conditions["path"])
    if "safe_regex" in conditions:
        return re2.fullmatch(conditions["safe_regex"].get("regex", ""), bare)
    if "path_separated_prefix" in conditions:
        prefix = conditions["path_separated_prefix"]
        return fold(bare) == fold(prefix) or fold(bare).startswith(fold(prefix) + "/")
    return fold(path).startswith(fold(conditions.get("prefix", "/")))


def query_matches(condition: dict, path: str) -> bool:
    """One of Envoy's query parameter matchers (route.QueryParameterMatcher) against the path's query."""
    query = dict(part.partition("=")[::2] for part in path.partition("?")[2].split("&") if part)
    value = query.get(condition.get("name", ""))
    if "present_match" in condition:
        return (value is not None) == bool(condition["present_match"])
    return value is not None and string_matches(condition.get("string_match") or {}, value)


def header_matches(condition: dict, headers: dict[str, str]) -> bool:
    """One of Envoy's header matchers against the request's headers (names compare without case)."""
    value = next((v for k, v in headers.items() if k.lower() == condition.get("name", "").lower()), None)
    result = _header_holds(condition, value)
    return not result if condition.get("invert_match") else result


def _header_holds(condition: dict, value: str | None) -> bool:
    if "present_match" in condition:
        return (value is not None) == bool(condition["present_match"])
    if value is None:
        return False
    match = condition.get("string_match") or {}
    if "exact_match" in condition:
        match = {"exact": condition["exact_match"]}
    if not match:
        return True   # a name only: the header is there
    return string_matches(match, value)


def string_matches(match: dict, value: str) -> bool:
    """Envoy's StringMatcher: exact, prefix, suffix, contains or safe_regex, ignore_case for all but the regex."""
    if match.get("ignore_case"):
        value, match = value.lower(), {k: v.lower() if isinstance(v, str) else v for k, v in match.items()}
    if "exact" in match:
        return value == match["exact"]
    if "prefix" in match:
        return value.startswith(match["prefix"])
    if "suffix" in match:
        return value.endswith(match["suffix"])
    if "contains" in match:
        return match["contains"] in value
    if "safe_regex" in match:
        return re2.fullmatch(match["safe_regex"].get("regex", ""), value)
    return False


def served_shares(route: LiveRoute, targets: dict[str, Target],
                  endpoints: dict[tuple[str, str], int]) -> Served:
    """The share of this route's requests each destination gets, from its weights (and, for a route
    to a whole Service whose destinations are subsets, from ready endpoints)."""
    shares = {name: 0.0 for name in targets}
    served = Served(route, shares)
    for destination in route.destinations:
        weight = float(destination.weight)
        exact = [n for n, t in targets.items() if (t.service, t.subset) == (destination.service, destination.subset)]
        whole = [n for n, t in targets.items() if t.service == destination.service and not t.subset]
        # the destinations a route to this whole Service reaches: its subsets, or narrower Services
        subsets = [n for n, t in targets.items() if t.service == destination.service and t.subset] or \
            [n for n, t in targets.items() if t.within == destination.service]
        if weight and endpoints.get((destination.service, destination.subset), 1) == 0:
            served.empty.append(destination)
        if exact or whole:
            shares[(exact or whole)[0]] += weight
        elif subsets and not destination.subset and (destination.service, "") in endpoints:
            total = endpoints[destination.service, ""] or 1   # none ready: no share, and `empty` says why
            for name in subsets:
                served.pods[name] = endpoints.get(targets[name].pods_key(), 0)
                shares[name] += weight * served.pods[name] / total
            rest = weight - sum(weight * endpoints.get(targets[n].pods_key(), 0) / total
                                for n in subsets)
            if rest > 0.05:
                served.others.append((f"other pods of {destination.service}", rest))
        else:
            served.others.append((str(destination).rsplit(":", 1)[0], weight))
    served.shares = {name: round(share, 2) for name, share in shares.items()}
    served.others = [(label, round(share, 2)) for label, share in served.others]
    return served
