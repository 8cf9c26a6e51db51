"""Which requests an expectation is about, and the few requests that tell a right route table from a
wrong one.

A step expects a split for a class of requests (every path but /websocket; requests with X-Track:
canary; requests to /websocket). Whether the gateway's routes give every request of the class that
split cannot be read off one request: a route may cover only `/`, a header route may sit behind a
catch-all, a leftover route may catch requests with a header the step never sends. But the routes
decide by a handful of conditions, so a handful of probes decides for all: each path a class or a
served route names (itself, a path under it, a path that only starts like it), and each header,
method or query parameter a served route matches on, added one at a time. Every probe inside the
class must get the class's split.
"""

from dataclasses import dataclass

from lab import re2
from lab.backends.base import LiveRoute
from lab.exercises.served import header_matches, query_matches

OTHER = "other"            # the last segment of a path no route names: /other, /websocket/other
METHOD = ":method"         # Envoy matches the method as this pseudo-header
NOT_PROBED = {":authority", ":scheme", ":path", "host"}   # the gateway's own: not what a class varies
REGEX_METACHARACTERS = set(".^$*+?{}[]\\|()")


@dataclass(frozen=True)
class Probe:
    """One request: a path (with a query string, if any), headers and a method."""
    path: str
    headers: tuple[tuple[str, str], ...] = ()
    method: str = "GET"

    def shown(self, host: str) -> str:
        said = "".join(f", {name}: {value}" for name, value in self.headers)
        method = f"{self.method} " if self.method != "GET" else ""
        return f"{method}{host}{self.path}{said}"


@dataclass(frozen=True)
class RequestClass:
    """The requests one expectation is about."""
    paths: tuple[str, ...] = ("/*",)                 # path patterns (check_specs.About)
    excluded: tuple[str, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()        # every request of the class carries these
    reserved: frozenset[str] = frozenset()           # header names (lower case) absent unless in `headers`
    first_path: str = "/"                            # the check's own request path: probed first

    def contains(self, probe: Probe) -> bool:
        bare = probe.path.split("?")[0]
        if not any(_in_pattern(bare, pattern) for pattern in self.paths):
            return False
        # Generous: /websockets is not in "every path but /websocket" (an Istio prefix takes it, a
        # Gateway API PathPrefix does not; a right answer may do either), nor is /WebSocket.
        if any(bare.lower().startswith(pattern.removesuffix("/*").lower()) for pattern in self.excluded):
            return False
        sent = {name.lower(): value for name, value in probe.headers}
        required = {name.lower(): value for name, value in self.headers}
        if any(sent.get(name) != value for name, value in required.items()):
            return False
        return not any(name in sent for name in self.reserved - set(required))

    @property
    def specific_path(self) -> bool:
        """A class of some paths only (not every path): a route of its own must match them."""
        return "/*" not in self.paths

    def describe(self) -> str:
        paths = "every path" if not self.specific_path else \
            " and ".join(p.removesuffix("/*") + (" and under it" if p.endswith("/*") else "") for p in self.paths)
        but = f" but {', '.join(p.removesuffix('/*') for p in self.excluded)}" if self.excluded else ""
        said = f" with {', '.join(f'{n}: {v}' for n, v in self.headers)}" if self.headers else ""
        return f"{paths}{but}{said}"

    def probes(self, routes: list[LiveRoute]) -> list[Probe]:
        """The requests of this class that tell a right table from a wrong one, the check's own first."""
        paths = _unique([self.first_path, *(p for pattern in self.paths for p in _pattern_paths(pattern)),
                         *(p for route in routes for p in _condition_paths(route.conditions)), "/" + OTHER])
        required = {name.lower() for name, _ in self.headers}
        variants = [()] + _unique([extra for route in routes for extra in _condition_headers(route.conditions)
                                   if extra[0][0] not in required])
        queries = [""] + _unique([q for route in routes for q in _condition_queries(route.conditions)])
        found = []
        for extra in variants:
            method = dict(extra).get(METHOD, "GET")
            added = tuple((name, value) for name, value in extra if name != METHOD)
            for path in paths:
                for query in queries:
                    probe = Probe(path + query, tuple(self.headers) + added, method)
                    if self.contains(probe) and probe not in found:
                        found.append(probe)
        return found


def _in_pattern(path: str, pattern: str) -> bool:
    if pattern == "/*":
        return True
    if pattern.endswith("/*"):
        stem = pattern.removesuffix("/*")
        return path == stem or path.startswith(stem + "/")
    return path == pattern


def _pattern_paths(pattern: str) -> list[str]:
    if pattern == "/*":
        return ["/", "/" + OTHER]
    if pattern.endswith("/*"):
        stem = pattern.removesuffix("/*")
        return [stem, f"{stem}/{OTHER}"]
    return [pattern]


def _condition_paths(conditions: dict) -> list[str]:
    """A path the condition takes, one under it, and one that only starts like it."""
    for key in ("prefix", "path", "path_separated_prefix"):
        if key in conditions:
            base = str(conditions[key])
            return [base, base.rstrip("/") + "/" + OTHER, base + OTHER]
    if "safe_regex" in conditions:
        regex = str(conditions["safe_regex"].get("regex", ""))
        literal = _literal_start(regex)
        return [p for p in (literal, literal.rstrip("/") + "/" + OTHER) if p.startswith("/")
                and re2.fullmatch(regex, p)]
    return []


def _literal_start(regex: str) -> str:
    """The text a regex starts with before its first metacharacter: a path it may take."""
    out = ""
    for char in regex:
        if char in REGEX_METACHARACTERS:
            break
        out += char
    return out


def _condition_headers(conditions: dict) -> list[tuple[tuple[str, str], ...]]:
    """For each header (or method) a route matches on: a value it takes, as one header to add."""
    found: list[tuple[tuple[str, str], ...]] = []
    for condition in conditions.get("headers", []):
        name = str(condition.get("name", "")).lower()
        if name in NOT_PROBED or condition.get("invert_match"):
            continue
        value = _value_taken(condition)
        if value is not None and header_matches(condition, {name: value}):
            found.append(((name, value),))
    return found


def _condition_queries(conditions: dict) -> list[str]:
    found = []
    for condition in conditions.get("query_parameters", []):
        value = _value_taken(condition)
        query = f"?{condition.get('name', '')}={value}"
        if value is not None and query_matches(condition, query):
            found.append(query)
    return found


def _value_taken(condition: dict) -> str | None:
    """A value an Envoy header or query matcher takes (None: none found)."""
    if condition.get("present_match"):
        return "1"
    match = condition.get("string_match") or ({"exact": condition["exact_match"]} if "exact_match" in condition
                                              else {})
    for key in ("exact", "prefix", "suffix", "contains"):
        if key in match:
            return str(match[key])
    if "safe_regex" in match:
        return _literal_start(str(match["safe_regex"].get("regex", "")))
    return "1" if not match else None


def _unique(items: list) -> list:
    return list(dict.fromkeys(items))
