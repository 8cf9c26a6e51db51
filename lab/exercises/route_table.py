"""The config half of a traffic check: the whole route table the gateway serves for the step's host,
held against what the step expects for the requests it is about.

Every probe of the request class (lab/exercises/request_classes.py) is one request Envoy routes
by the live table; each must get the step's split. The first that does not is diagnosed
(lab/exercises/diagnoses.py) as a request of its own, so what fails is said for the request that
shows it (a route that covers only `/` fails for /other). Nothing here sends traffic.
"""

import difflib
from dataclasses import dataclass
from pathlib import Path

from lab.backends.base import Backend, LiveRoute
from lab.backends.local.gateway_api import takes_host
from lab.errors import LabError
from lab.exercises.catalogue import GATEWAY_API_SUFFIX, Exercise
from lab.exercises.check_specs import About
from lab.exercises.diagnoses import Finding, Situation, diagnose
from lab.exercises.propagation import unserved_objects
from lab.exercises.request_classes import Probe, RequestClass
from lab.exercises.served import Target, host_routes
from lab.kinds import GATEWAY_API_GROUP
from lab.manifests import Ref, load_manifest_file, ref_of
from lab.traffic.sampler import RequestSpec

ROUTE_KINDS = (("VirtualService", ""), ("HTTPRoute", GATEWAY_API_GROUP))


@dataclass
class Table:
    """What the config check saw: the host's routes, the request class, its probes, and the first probe
    the table gets wrong (with its finding), else the check's own request."""
    routes: list[LiveRoute]
    about: RequestClass
    probes: list[Probe]
    probe: Probe
    situation: Situation
    finding: Finding | None

    @property
    def first(self) -> bool:
        """The failing probe is the check's own request (nothing to explain about which request)."""
        return self.probe == self.probes[0]


def check_table(exercise: Exercise, backend: Backend, request: RequestSpec, expected: dict[str, float],
                about: About, by: str = "weights", skipped: tuple[str, ...] = ()) -> Table:
    routes = host_routes(backend.live_routes(), request.host, request.scheme)
    wanted = RequestClass(paths=about.paths, excluded=about.except_, headers=request.headers,
                          reserved=header_names(exercise), first_path=request.path)
    targets = {n: Target(d.service, d.subset, d.within) for n, d in exercise.destinations.items()}
    endpoints, addresses = backend.ready_endpoints(), backend.endpoint_addresses()
    applied = applied_virtualservices(exercise, request.host, backend)
    httproutes = held_http_routes(exercise, backend, request.host)
    unserved = _unserved(backend, request, routes)
    made = "" if routes else unmade(exercise, backend, skipped)   # served: something made routes
    near = "" if routes else _near_host(exercise, backend, request.host)
    probes = wanted.probes(routes) or [Probe(request.path, request.headers)]
    first = None
    for probe in probes:
        situation = Situation(host=request.host, path=probe.path, headers=dict(probe.headers), expected=expected,
                              routes=routes, targets=targets, endpoints=endpoints, addresses=addresses,
                              applied=applied, httproutes=httproutes, unserved=unserved, unmade=made,
                              gateway_api=exercise.name.endswith(GATEWAY_API_SUFFIX), about=wanted, by=by,
                              method=probe.method, near_host=near)
        first = first or situation
        finding = diagnose(situation)
        if finding:
            return Table(routes, wanted, probes, probe, situation, finding)
    assert first is not None
    return Table(routes, wanted, probes, probes[0], first, None)


def _near_host(exercise: Exercise, backend: Backend, host: str) -> str:
    """A host the exercise's held routes name that is close to the one nothing serves: a typo's likely source."""
    named: set[str] = set()
    for ref in refs_of_kind(exercise, "VirtualService"):
        named.update(str(h) for h in ((backend.get(ref) or {}).get("spec") or {}).get("hosts") or [])
    for route in held_http_routes(exercise, backend):
        named.update(str(h) for h in (route.get("spec") or {}).get("hostnames") or [])
    close = difflib.get_close_matches(host, sorted(named - {host}), n=1, cutoff=0.8)
    return close[0] if close else ""


def header_names(exercise: Exercise) -> frozenset[str]:
    """The headers the exercise routes on (any check's request names them), in lower case: a check's
    requests carry one only when its own request does."""
    requests = [exercise.request] + [getattr(check.spec, "request", None) for step in exercise.steps
                                     for check in step.check]
    return frozenset(name.lower() for r in requests if r is not None and r.headers for name in r.headers)


def _unserved(backend: Backend, request: RequestSpec, routes: list[LiveRoute]) -> str:
    try:
        return unserved_objects(backend, request.host, request.scheme, routes)
    except LabError:
        return ""    # a kind this lab cannot list (no Gateway API CRDs): no evidence either way


def unmade(exercise: Exercise, backend: Backend, skipped: tuple[str, ...]) -> str:
    """"" when the lab holds a route object of the exercise; else which step makes them (and that it was
    skipped), so the check blames no object the learner never had."""
    refs = [ref for kind, group in ROUTE_KINDS for ref in refs_of_kind(exercise, kind, group)]
    if not refs or any(backend.get(ref) is not None for ref in refs):
        return ""
    makers = [s.name for s in exercise.steps
              if (s.kind == "apply" and any(_makes_routes(m) for m in s.manifests))
              or (s.kind == "helm" and s.helm is not None
                  and any(_chart_renders(s.helm.chart, kind) for kind, _ in ROUTE_KINDS))]
    if not makers:
        return "no step of this exercise has made them yet"
    maker = makers[0]
    return f"step {maker} makes them" + (", and it was skipped" if maker in skipped else "")


def _makes_routes(manifest: Path) -> bool:
    try:
        return any(o.get("kind") in {kind for kind, _ in ROUTE_KINDS} for o in load_manifest_file(manifest))
    except LabError:
        return False


def applied_virtualservices(exercise: Exercise, host: str, backend: Backend) -> list[dict]:
    """The VirtualServices the lab holds that name this host: the exercise's, and any other the learner
    made (istiod merges every one bound to the host). None asked for when the exercise makes none."""
    own = refs_of_kind(exercise, "VirtualService")
    if not own:
        return []
    held = [backend.get(ref) for ref in own]
    held += [vs for vs in backend.list_objects("VirtualService") if ref_of(vs) not in own]
    return [vs for vs in held if vs and host in ((vs.get("spec") or {}).get("hosts") or [])]


def held_http_routes(exercise: Exercise, backend: Backend, host: str = "") -> list[dict]:
    """The HTTPRoutes the exercise's files and Helm releases make, as the lab holds them (with the status
    their Gateway wrote), whatever their hostnames: a route refused for its hostname is one to explain;
    and the learner's other HTTPRoutes for `host`. None asked for when the exercise makes none (a cluster
    without the Gateway API's CRDs cannot answer)."""
    own = refs_of_kind(exercise, "HTTPRoute", GATEWAY_API_GROUP)
    if not own:
        return []
    held = [route for route in (backend.get(ref) for ref in own) if route]
    others = [route for route in backend.list_objects("HTTPRoute", GATEWAY_API_GROUP) if ref_of(route) not in own]
    return held + [route for route in others
                   if host and takes_host(route, host)]


def refs_of_kind(exercise: Exercise, kind: str, group: str = "") -> list[Ref]:
    """Objects of this kind the exercise's files make, and its Helm releases' namesakes."""
    refs: set[Ref] = set()
    for path in sorted(exercise.folder.glob("*/*.yaml")):
        try:
            refs |= {Ref(kind, (o.get("metadata") or {}).get("namespace", "default"), o["metadata"]["name"], group)
                     for o in load_manifest_file(path) if o.get("kind") == kind
                     and str(o.get("apiVersion", "")).startswith(group)}
        except (LabError, KeyError, TypeError, AttributeError):
            continue   # a patch or values file, not a manifest
    # A release's objects carry its name; ask only for kinds its chart renders (a cluster without the
    # Gateway API's CRDs has no HTTPRoute to ask about).
    refs |= {Ref(kind, s.helm.namespace, s.helm.release, group) for s in exercise.steps
             if s.helm and _chart_renders(s.helm.chart, kind)}
    return sorted(refs, key=str)


def _chart_renders(chart: Path, kind: str) -> bool:
    return any(f"kind: {kind}\n" in template.read_text() for template in sorted((chart / "templates").glob("*.yaml")))
