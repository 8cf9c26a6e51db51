"""Known failures as data: a code, a message, the fix and the first hint (istioctl analyze's codes
are the model). A rule is a small function that finds its facts in what the gateway serves; the
first rule that finds any decides. Adding a diagnosis is adding one entry here.
"""

import difflib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from lab.backends.base import LiveRoute
from lab.backends.local.gateway_api import BREAKS_ROUTE, takes_host
from lab.backends.local.gateway_api_routes import rule_matches
from lab.backends.local.gateway_vhosts import is_catch_all, route_match, sent_routes
from lab.exercises.request_classes import METHOD, RequestClass
from lab.exercises.served import (
    Served,
    Target,
    header_matches,
    picked_route,
    route_matches,
    served_shares,
)
from lab.manifests import ref_of


@dataclass
class Situation:
    """Everything the rules look at: the request, what the step expects, what the gateway serves."""
    host: str
    path: str
    headers: dict[str, str]                    # what the request carries (the method apart)
    expected: dict[str, float]                 # destination → percent
    targets: dict[str, Target]
    routes: list[LiveRoute]                    # the routes of the virtual host Envoy picks, in order
    endpoints: dict[tuple[str, str], int]
    applied: list[dict] = field(default_factory=list)   # VirtualServices the lab holds for this host
    httproutes: list[dict] = field(default_factory=list)   # the exercise's HTTPRoutes as held, status included
    addresses: dict[tuple[str, str], frozenset[str]] = field(default_factory=dict)   # pods per (Service, subset)
    gateway_api: bool = False                  # the exercise routes with HTTPRoutes: fixes in that API's words
    about: RequestClass = field(default_factory=RequestClass)   # the requests the expectation is about
    by: str = "weights"                        # "weights-or-pods": a split by ready pods is right too
    # the lab's objects whose routes the gateway does not serve yet (lab/exercises/propagation.py)
    unserved: str = ""
    unmade: str = ""        # no route object of the exercise is held: which step makes them (skipped, if so)
    method: str = "GET"
    near_host: str = ""     # no route serves the host: a close one the exercise's routes name (a typo?)
    served: Served | None = None

    def __post_init__(self):
        route = picked_route(self.routes, self.path, self.envoy_headers)
        if route is not None and route.destinations:
            self.served = served_shares(route, self.targets, self.endpoints)

    def right(self, served: Served | None) -> bool:
        """The split the step expects, made as it asks (by weights, unless a split by pods will do)."""
        return served is not None and _same(served, self.expected) and \
            (self.by == "weights-or-pods" or not served.pods)

    @property
    def envoy_headers(self) -> dict[str, str]:
        """The headers as Envoy matches them: the method as `:method`."""
        return {**self.headers, METHOD: self.method}

    @property
    def request(self) -> str:
        sent = "".join(f", {k}: {v}" for k, v in self.headers.items())
        return f"{self.method + ' ' if self.method != 'GET' else ''}{self.host}{self.path}{sent}"

    def split(self, shares: dict[str, float]) -> str:
        return " / ".join(f"{name} {shares.get(name, 0):g}" for name in self.expected)


@dataclass(frozen=True)
class Diagnosis:
    code: str
    message: str          # str.format with the rule's facts
    fix: str
    hint: str
    finds: Callable[[Situation], dict | None]
    gateway_fix: str = ""     # the fix and hint in the Gateway API's words, where they differ
    gateway_hint: str = ""


@dataclass
class Finding:
    code: str
    message: str
    fix: str
    hint: str


def _same(served: Served, expected: dict[str, float]) -> bool:
    names = set(served.shares) | set(expected)
    return all(abs(served.shares.get(n, 0) - expected.get(n, 0)) < 0.5 for n in names) and \
        not any(share for _, share in served.others)


def _facts(s: Situation, **more) -> dict:
    pods = s.served.pods if s.served else {}
    how = f" (plain load balancing over ready pods: {', '.join(f'{n} {p}' for n, p in pods.items())})" if pods else ""
    return {"request": s.request, "host": s.host, "expected": s.split(s.expected), "how": how,
            "served": s.served.describe(list(s.expected)) if s.served else "nothing", **more}


# -- the rules, in the order they are tried ----------------------------------------------------

def _routes_not_made(s: Situation) -> dict | None:
    """None of the exercise's routes is in the lab: a step that makes them was skipped or not reached."""
    return _facts(s, unmade=s.unmade) if s.unmade else None


def _not_served(s: Situation) -> dict | None:
    """The gateway serves other routes for the host than the lab's objects make (by the lab's model of
    istiod): the one evidence that it has not caught up yet, or refused them."""
    return _facts(s, name=s.unserved) if s.unserved else None


def _route_not_accepted(s: Situation) -> dict | None:
    """An HTTPRoute of the exercise whose parent refuses it (status.parents[].conditions: Accepted
    False) serves nothing, on a cluster as here."""
    if s.right(s.served):
        return None
    for route in s.httproutes:
        for parent in (route.get("status") or {}).get("parents") or []:
            accepted = next((c for c in parent.get("conditions") or [] if c.get("type") == "Accepted"), None)
            if accepted and accepted.get("status") == "False":
                meta = route.get("metadata") or {}
                return _facts(s, name=f"{meta.get('namespace', 'default')}/{meta.get('name')}",
                              parent=(parent.get("parentRef") or {}).get("name", "?"),
                              reason=accepted.get("reason", ""), why=accepted.get("message", ""))
    return None


def _host_not_served(s: Situation) -> dict | None:
    if s.routes:
        return None
    mesh_only = [vs for vs in s.applied if not [g for g in (vs.get("spec") or {}).get("gateways") or [] if g != "mesh"]]
    why = (f"; VirtualService {mesh_only[0]['metadata'].get('name')} names it but is bound only to `mesh`"
           if mesh_only else f"; your routes name {s.near_host}: a typo of {s.host}?" if s.near_host else "")
    field = "hostnames" if s.gateway_api else "hosts"
    first_fix = f"write {s.host} where your route says {s.near_host} ({field}); " \
        if s.near_host and not mesh_only else ""
    broken = None if mesh_only or s.near_host else _unresolved(s, BREAKS_ROUTE)
    if broken:   # the route is there and accepted, but istiod builds it into nothing (its status says why)
        name, condition = broken
        why = f"; HTTPRoute {name} serves nothing: ResolvedRefs False, {condition.get('reason')}"
        first_fix = f"fix what HTTPRoute {name}'s status says ({condition.get('message', '')}); otherwise "
    return _facts(s, why=why, first_fix=first_fix)


def _reference_not_permitted(s: Situation) -> dict | None:
    """An HTTPRoute names a Service in another namespace that no ReferenceGrant there allows: the route's
    status says so (ResolvedRefs False, RefNotPermitted), on a cluster as on the local lab."""
    if s.right(s.served):
        return None
    found = _unresolved(s, ("RefNotPermitted",))
    if found is None:
        return None
    name, condition = found
    return _facts(s, name=name, route_namespace=name.split("/")[0], said=condition.get("message", ""))


def _unresolved(s: Situation, reasons: tuple[str, ...]) -> tuple[str, dict] | None:
    """The first held HTTPRoute whose status says ResolvedRefs for one of `reasons`: its namespace/name,
    and that condition."""
    for route in s.httproutes:
        meta = route.get("metadata") or {}
        for parent in (route.get("status") or {}).get("parents") or []:
            for condition in parent.get("conditions") or []:
                if condition.get("type") == "ResolvedRefs" and condition.get("reason") in reasons:
                    return f"{meta.get('namespace', 'default')}/{meta.get('name')}", condition
    return None


def _header_mismatch(s: Situation) -> dict | None:
    """A header the step sends (not one a probe added), against a route's condition on a header named so."""
    step_sends = dict(s.about.headers)
    if not step_sends or s.right(s.served):
        return None
    for route in s.routes:
        for condition in route.conditions.get("headers", []):
            if header_matches(condition, s.envoy_headers):
                continue
            name = condition.get("name", "")
            wanted = (condition.get("string_match") or {}).get("exact", "")
            for sent, value in step_sends.items():
                close_name = difflib.SequenceMatcher(None, sent.lower(), name.lower()).ratio() >= 0.75
                if sent.lower() == name.lower() or close_name:
                    return _facts(s, route=route.name or route.match, condition=f"{name} = {wanted}" if wanted
                                  else route.match, sent=f"{sent}: {value}")
    return None


def _no_header_route(s: Situation) -> dict | None:
    """The step sends a header, but no route matches on any header: it takes the catch-all."""
    if not s.about.headers or s.right(s.served) or s.served is None:
        return None
    if any(route.conditions.get("headers") for route in s.routes + _unsent(s)):
        return None   # there is one: behind a catch-all (route-shadowed)
    sent = ", ".join(f"{k}: {v}" for k, v in s.about.headers)
    return _facts(s, sent=sent, route=s.served.route.name or s.served.route.match)


def _no_path_route(s: Situation) -> dict | None:
    """The step is about some paths (/websocket), but the route they take matches every path: the route
    of their own is missing, or comes after a catch-all."""
    if not s.about.specific_path or s.served is None or s.right(s.served):
        return None
    conditions = s.served.route.conditions
    if conditions.get("prefix") != "/" and not _regex_for_every_path(conditions):
        return None
    return _facts(s, route=_route_name(s.served.route, with_object=True), about=s.about.describe())


def _regex_for_every_path(conditions: dict) -> bool:
    return str((conditions.get("safe_regex") or {}).get("regex", "")) in ("/.*", ".*", "/.+", "^/.*")


def _no_backend(s: Situation) -> dict | None:
    """A route matches, but has nothing to send to: every backendRef at weight 0, or none that resolves
    (the Gateway API answers 500 for it: HTTPRoute spec, BackendRef weight and ResolvedRefs)."""
    route = picked_route(s.routes, s.path, s.envoy_headers)
    if route is None or route.destinations or route.status != 500:
        return None
    return _facts(s, route=route.name or route.match)


def _no_route(s: Situation) -> dict | None:
    route = picked_route(s.routes, s.path, s.envoy_headers)
    if route is not None and route.destinations:
        return None
    return _facts(s, status=f"HTTP {route.status}" if route is not None else "404 (Envoy's NR)")


def _shadowed(s: Situation, served: Served) -> dict | None:
    if s.right(served):
        return None
    first = served.route
    later = s.routes[s.routes.index(first) + 1:]
    for route in later:
        if _catch_all(route) and not _catch_all(first):
            continue   # a route for some requests before the one for all: an exception on purpose, not a shadow
        if (route_matches(route.conditions, s.path, s.envoy_headers)
                and s.right(served_shares(route, s.targets, s.endpoints))):
            across = bool(first.origin) and first.origin != route.origin   # name the objects only when two
            remedy = (f"take the catch-all out of {first.origin} (the older one), or keep one VirtualService for "
                      "the host" if across and _catch_all(first) else
                      "put the specific route (with the match) above the catch-all")
            return _facts(s, first=_route_name(first, across), route=_route_name(route, across),
                          across=_across(first, route) if across else "", remedy=remedy)
    for route in _unsent(s):   # behind a catch-all: istiod never sends it
        if route_matches(route.conditions, s.path, s.envoy_headers):
            return _facts(s, first=_route_name(first), route=_route_name(route, bool(route.origin)), across="",
                          remedy="put the specific route (with the match) above the catch-all")
    return None


def _unsent(s: Situation) -> list[LiveRoute]:
    """The held routes that come after a catch-all: istiod never sends them to the gateway (pilot
    route.go, BuildHTTPRoutesForVirtualService; an HTTPRoute's rules for a host are one VirtualService
    to it), so only the objects show them."""
    found = []
    for vs in s.applied:
        https = (vs.get("spec") or {}).get("http") or []
        sent = {index for index, _, _ in sent_routes(https)}
        found += [LiveRoute(host=s.host, match="", conditions=route_match(entry),
                            name=str(http.get("name") or f"http[{i}]"))
                  for i, http in enumerate(https) if i not in sent for entry in http.get("match") or [None]]
    # HTTPRoutes: a rule name held more often than served is left out, the youngest route's first (the
    # older route's rule sorts first: conversion.go sortHTTPRoutes).
    served = Counter(route.name for route in s.routes)
    oldest_first = sorted(s.httproutes, key=lambda r: (str(r["metadata"].get("creationTimestamp", "")),
                                                       str(r["metadata"].get("namespace", "")), r["metadata"]["name"]))
    for httproute in oldest_first:
        if not takes_host(httproute, s.host):
            continue
        ref = ref_of(httproute)
        for name, match in rule_matches(ref, httproute):
            if served[name] > 0:
                served[name] -= 1
                continue
            found.append(LiveRoute(host=s.host, match="", conditions=match, name=name,
                                   origin=f"HTTPRoute {ref.namespace}/{ref.name}"))
    return found


def _route_for_some(s: Situation, served: Served) -> dict | None:
    """The request takes a route by a header the step's requests do not name (a route the learner added
    for some requests): the split is wrong for those, whatever the weights of the route for the rest."""
    if s.right(served):
        return None
    named = {str(h.get("name", "")).lower() for h in served.route.conditions.get("headers") or []} - {METHOD}
    extra = sorted(named - {name.lower() for name, _ in s.about.headers})
    if not extra:
        return None
    return _facts(s, route=_route_name(served.route), condition=", ".join(extra))


def _catch_all(route: LiveRoute) -> bool:
    """A route for every request, as istiod tells one (gateway_vhosts.is_catch_all: route.go IsCatchAllRoute)."""
    return is_catch_all(route.conditions)


def _route_name(route: LiveRoute, with_object: bool = False) -> str:
    """A route as the learner wrote it: its name (or match), and its object when the gateway says."""
    name = route.name or route.match
    return f"{name} of {route.origin}" if route.origin and with_object else name


def _across(first: LiveRoute, later: LiveRoute) -> str:
    """Two objects merged for one host: istiod puts the older one's routes first (catch-alls last)."""
    return (f" ({first.origin} and {later.origin} share the host: the gateway merges them, the older one's "
            "routes first, and each one's catch-all after every route with a match)")


def _split_by_pods(s: Situation, served: Served) -> dict | None:
    """The numbers are right, but only because of how many pods run: the route names a whole Service."""
    if s.by != "weights" or not served.pods or not _same(served, s.expected):
        return None
    return _facts(s)


def _swapped(s: Situation, served: Served) -> dict | None:
    if s.right(served) or len(s.expected) != 2 or any(share for _, share in served.others):
        return None
    a, b = s.expected
    if abs(served.shares.get(a, 0) - s.expected[b]) < 0.5 and abs(served.shares.get(b, 0) - s.expected[a]) < 0.5:
        return _facts(s)
    return None


def _backend_not_found(s: Situation, served: Served) -> dict | None:
    """A weighted destination names a Service the lab (or cluster) does not have: a typo, usually."""
    if s.right(served):
        return None
    known = {t.service for t in s.targets.values()}
    missing = [d for d in served.route.destinations if d.weight and d.service not in known
               and (d.service, "") not in s.endpoints]
    if not missing:
        return None
    name = missing[0].service
    close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
    return _facts(s, missing=name, share=f"{missing[0].weight:g}",
                  close=f" (did you mean {close[0].split('.')[0]}?)" if close else "")


def _extra(s: Situation, served: Served) -> dict | None:
    extra = [(n, p) for n, p in served.shares.items() if p and not s.expected.get(n)] + \
        [(label, p) for label, p in served.others if p]
    if not extra:
        return None
    return _facts(s, extra=", ".join(f"{p:g}% to {n}" for n, p in extra))


def _missing(s: Situation, served: Served) -> dict | None:
    missing = [n for n, p in s.expected.items() if p and not served.shares.get(n)]
    return _facts(s, missing=", ".join(missing)) if missing else None


def _wrong_weights(s: Situation, served: Served) -> dict | None:
    return None if s.right(served) else _facts(s)


def _no_endpoints(s: Situation, served: Served) -> dict | None:
    if not served.empty:
        return None
    return _facts(s, empty=", ".join(d.service + (f" (subset {d.subset})" if d.subset else "") for d in served.empty))


def _subsets_overlap(s: Situation, served: Served) -> dict | None:
    """Two versions the step splits, as subsets of one Service, whose labels pick some of the same pods:
    the weights are right, but part of one version's share goes to the other's pods."""
    split = [s.targets[n] for n, p in s.expected.items() if p and n in s.targets and s.targets[n].subset]
    for i, target in enumerate(split):
        for theirs in split[i + 1:]:
            if target.service != theirs.service:
                continue
            mine, its = (s.addresses.get((target.service, t.subset), frozenset()) for t in (target, theirs))
            if mine & its:
                wide, narrow = (target, theirs) if len(mine) >= len(its) else (theirs, target)
                return _facts(s, service=target.service, wide=wide.subset, narrow=narrow.subset,
                              picked=max(len(mine), len(its)), shared=len(mine & its))
    return None


def _needs_route(rule: Callable[[Situation, Served], dict | None]) -> Callable[[Situation], dict | None]:
    """A rule about the route the request takes: tried only when one with destinations matches."""
    return lambda s: rule(s, s.served) if s.served is not None else None


CATALOGUE: tuple[Diagnosis, ...] = (
    Diagnosis("not-applied", "your working copy differs from what the lab runs",
              "apply it with the command shown above", "Did you run the apply command after saving the file?",
              lambda s: None),   # found by the walkthrough, which knows the working copy
    Diagnosis("routes-not-made", "the lab holds none of the routes this exercise makes for {host}: {unmade}",
              "do that step first: `invoke exercise` offers it again (`--step NAME` goes straight to it)",
              "The routes come from an earlier step: was it skipped, or did it fail?", _routes_not_made),
    Diagnosis("not-served", "the gateway does not serve what the lab holds for {host} yet ({name}): it serves "
                            "{served} for {request}",
              "wait a moment and check again; if it stays, the gateway refused it: `invoke status` shows what "
              "is live", "Run the check again in a few seconds: a gateway takes a moment to serve a change.",
              _not_served),
    Diagnosis("route-not-accepted", "HTTPRoute {name} is not Accepted by its parent Gateway {parent}: {reason} "
                                    "({why}), so it serves nothing; the gateway serves {served} for {request}",
              "make the route's parentRefs name the Gateway (and sectionName a listener of it), and its "
              "hostnames ones the listener's hostname allows",
              "`invoke get httproute NAME -n NAMESPACE` shows why in status.parents[].conditions: compare "
              "parentRefs and hostnames with the Gateway's listeners.", _route_not_accepted),
    Diagnosis("host-not-served", "no route of the gateway serves host {host}: a request gets 404 (Envoy's NR){why}",
              "{first_fix}bind the VirtualService to the Gateway (spec.gateways) and list the host in both",
              "Compare spec.hosts and spec.gateways of your VirtualService with the Gateway's servers[].hosts.",
              _host_not_served,
              gateway_fix="{first_fix}apply an HTTPRoute whose parentRefs name the Gateway and whose hostnames "
                          "list the host (a hostname the Gateway's listener allows)",
              gateway_hint="`invoke get httproute -A` lists the routes the lab holds: is yours there, with this host "
                           "in hostnames and the Gateway in parentRefs?"),
    Diagnosis("header-mismatch", "route {route} matches {condition}, but the step sends {sent}: the request does "
                                 "not take it (header values compare exactly, case included), so it gets {served}",
              "make the match's header name and value exactly what the step sends",
              "Header names ignore case, values do not: `canary` and `Canary` are different values.",
              _header_mismatch),
    Diagnosis("header-route-missing", "no route of host {host} matches on a header, so requests with {sent} "
                                      "take route {route} like everyone else: they get {served}, expected {expected}",
              "add a route whose match names that header, above the catch-all (with a Helm chart: the value "
              "that turns that route on, kept with your values file or --reuse-values)",
              "A request with the header needs a route that matches it: is the header route still there?",
              _no_header_route),
    Diagnosis("path-route-missing", "requests to {request} ({about}) take route {route}, which matches every "
                                    "path: they get {served}, expected {expected}",
              "give those paths a route of their own (a uri prefix match), above the catch-all",
              "A route with a match for that path must come before the route for every path.",
              _no_path_route,
              gateway_fix="give those paths a rule of their own (a PathPrefix match): a rule with a longer path "
                          "comes before the rule for every path",
              gateway_hint="`invoke get httproute -A`: is there a rule whose matches name that path?"),
    Diagnosis("reference-not-permitted", "HTTPRoute {name} names a Service in another namespace that no "
                                         "ReferenceGrant there allows: its status says ResolvedRefs False, "
                                         "RefNotPermitted, \"{said}\"; those requests get 500",
              "add a ReferenceGrant in the Service's namespace (not the route's) with from: HTTPRoute of namespace "
              "{route_namespace} and to: that Service",
              "A ReferenceGrant lives beside what it lets others name: in the Service's namespace, naming the "
              "route's namespace in `from`.", _reference_not_permitted),
    Diagnosis("no-backend", "route {route} matches {request}, but has no backend to send it to (every backend at "
                            "weight 0, or none that resolves): the gateway answers HTTP 500 itself",
              "give the version that should get traffic a weight above 0; a backendRef that does not resolve "
              "says why in `invoke get httproute NAME`",
              "Weights are shares of their sum: with every weight 0 there is nothing to share.",
              _no_backend),
    Diagnosis("no-route", "host {host} is served, but no route matches {request}: it gets {status}",
              "add a route without a match (a catch-all) last, or a match this request meets",
              "Every request needs a route: a last http entry without `match` catches the rest.", _no_route),
    Diagnosis("route-shadowed", "route {first} comes before route {route} and matches {request} too, so {route} "
                                "never gets it: it gets {served}, expected {expected}{across}",
              "{remedy}",
              "Routes are tried from top to bottom; the first that matches wins: put the one with the match first.",
              _needs_route(_shadowed),
              gateway_fix="rules are ordered by their matches, not by file: a rule with the same match as another "
                          "goes after it when its HTTPRoute is younger — delete the duplicate route, or edit the "
                          "original",
              gateway_hint="`invoke get httproute -A`: two routes for this host with the same match? The older one "
                           "wins (Gateway API rule precedence)."),
    Diagnosis("route-for-some", "requests with {condition} ({request}) take route {route}, which matches them, and "
                                "get {served}; the step expects {expected} for them too, as for every request",
              "remove route {route}, or make it send what the step expects",
              "The step is about every request: a route that matches some of them by a header takes those out "
              "of the split.",
              _needs_route(_route_for_some),
              gateway_fix="remove the rule {route} (its matches take these requests), or give it the backendRefs "
                          "the step expects"),
    # IST0173 DestinationRuleSubsetNotSelectPods: istio release-1.31 pkg/config/analysis/msg/messages.yaml,
    # emitted by analyzers/destinationrule/subset.go since Istio 1.27.
    Diagnosis("no-endpoints", "the route sends traffic to {empty}, which has no ready pod: those requests get 503 "
                              "(Envoy's UH; for a DestinationRule subset that selects no pod, istioctl analyze "
                              "reports IST0173 since Istio 1.27)",
              "check the subset's labels against the pods' labels, and that the Deployment has replicas",
              "A subset picks pods by labels: do the DestinationRule's labels match the Deployment's template?",
              _needs_route(_no_endpoints)),
    Diagnosis("subsets-overlap", "subset {wide} of {service} picks {picked} pods, {shared} of which subset {narrow} "
                                 "picks too: the weights are right, but part of {wide}'s share reaches {narrow}'s pods",
              "make each subset's labels pick its own version's pods only (e.g. version: {wide})",
              "A subset is a label selector over the Service's pods: does it name a label only that version has?",
              _needs_route(_subsets_overlap)),
    Diagnosis("split-by-pods", "the gateway serves {served}{how}, as the step expects, but only because of how "
                               "many pods run: the route names the whole Service, not each version",
              "route to each version by its own destination (a subset) with a weight, as the step asks",
              "A split by weights holds whatever the replica counts: name a subset per version in the route.",
              _needs_route(_split_by_pods),
              gateway_fix="give each version's own Service a backendRef with its weight, not the Service over both",
              gateway_hint="A split by weights holds whatever the replica counts: a backendRef per version's Service."),
    Diagnosis("weights-swapped", "the weights look swapped: the gateway serves {served}, the step expects {expected}",
              "give each destination the other's weight",
              "Each weight belongs to the destination it sits under: check which destination got which number.",
              _needs_route(_swapped)),
    Diagnosis("backend-not-found", "the route sends {share}% to {missing}, a Service that does not exist{close}: "
                                   "those requests fail (an HTTPRoute backendRef: ResolvedRefs False, "
                                   "BackendNotFound, 500; a VirtualService destination: 503)",
              "fix the Service's name (and namespace) in the route",
              "A backend is a Service by name: check the spelling against `invoke get svc`.",
              _needs_route(_backend_not_found)),
    Diagnosis("destination-extra", "the gateway sends {extra}, which should get none: it serves {served}, "
                                   "the step expects {expected}",
              "remove that destination from the route, or give it weight 0 and the others the rest (weights "
              "adding up to 0 are refused)",
              "A destination that should get nothing can go, or stay with weight 0.", _needs_route(_extra)),
    Diagnosis("destination-missing", "no destination of the route reaches {missing}: the gateway serves {served}, "
                                     "the step expects {expected}",
              "add the missing destination (host, and subset if the step uses subsets) with its weight",
              "Each version that should get traffic needs a destination of its own in the route.",
              _needs_route(_missing),
              gateway_fix="give the missing version's Service a backendRef with a weight above 0 (a backendRef "
                          "with weight 0 gets nothing)"),
    Diagnosis("wrong-weights", "the gateway serves {served}{how}, the step expects {expected}",
              "set the weights to what the step asks (the lab asks for a sum of 100; Istio itself takes each as a "
              "share of the sum); a split by pods follows replicas",
              "Read the step's numbers again and put each on its destination's weight.", _needs_route(_wrong_weights),
              gateway_fix="set the weights so each backendRef's share of their sum is what the step asks (a "
                          "backendRef without a weight counts 1); a split by pods follows replicas"),
)
BY_CODE = {d.code: d for d in CATALOGUE}

TRAFFIC_DISAGREES = Diagnosis(
    "traffic-disagrees", "the gateway's config is right ({served}), but live traffic does not follow it: {reason}",
    "{fix}", "The routes are right; look at the pods behind them (`invoke status`).", lambda s: None)


def diagnose(situation: Situation) -> Finding | None:
    """The first known failure whose rule finds its facts; None when the config is what the step expects."""
    for diagnosis in CATALOGUE:
        facts = diagnosis.finds(situation)
        if facts is not None:
            gateway = situation.gateway_api
            fix = (diagnosis.gateway_fix if gateway and diagnosis.gateway_fix else diagnosis.fix).format(**facts)
            hint = diagnosis.gateway_hint if gateway and diagnosis.gateway_hint else diagnosis.hint
            return Finding(diagnosis.code, diagnosis.message.format(**facts), fix, hint)
    return None


def traffic_disagrees(served: str, reason: str, fix: str, hint: str = "") -> Finding:
    d = TRAFFIC_DISAGREES
    return Finding(d.code, d.message.format(served=served, reason=reason), d.fix.format(fix=fix), hint or d.hint)
