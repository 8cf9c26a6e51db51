"""The check of a sticky-session step: one client's requests, and the pods they reached per version.

With consistent hashing on a cookie (a DestinationRule's `loadBalancer.consistentHash`), the gateway
sends every request of one session to the same pod *within* the version the weights drew; without
it, Istio's default LEAST_REQUEST spreads them over the version's pods. The gateway's Envoy counts
each pod's requests (the host's rq_total in /clusters), so the check reads, per version, which pods
this client's requests reached — on every gateway, as the counts of a cluster live where it is served.
"""

from rich.console import RenderableType
from rich.text import Text

from lab.backends.base import Backend
from lab.envoy_admin import EnvoyAdmin
from lab.exercises.catalogue import Exercise
from lab.exercises.check_specs import STICKY_DIAGNOSES, StickyCheck
from lab.exercises.resilience_check import Outcome
from lab.traffic.classify import Classifier
from lab.traffic.sampler import RequestSpec, collect

(NOT_STICKY,) = STICKY_DIAGNOSES
Pods = dict[tuple[str, str], dict[str, int]]


def sticky_check(exercise: Exercise, spec: StickyCheck, backend: Backend, request: RequestSpec,
                 classifier: Classifier) -> Outcome:
    base, _ = backend.gateway_endpoint("http", request.host)
    before = _pods(backend)
    # one connection at a time, as one browser: the session is the cookie, not the connection
    answers = collect(base, request, classifier, spec.requests, concurrency=1)
    after = _pods(backend)
    reached: dict[str, int] = {}
    lines = []
    for name, target in exercise.destinations.items():
        key = (target.service, target.subset)
        got = {pod: n - before.get(key, {}).get(pod, 0) for pod, n in after.get(key, {}).items()}
        pods = sorted(pod for pod, n in got.items() if n > 0)
        if pods:
            reached[name] = len(pods)
            lines.append(f"{name}: {sum(got.values())} requests, to {len(pods)} pod(s) ({', '.join(pods)})")
    sent = ", ".join(f"{k}: {v}" for k, v in request.headers)
    seen = f"one client{' sending ' + sent if sent else ''}, {len(answers)} requests: " + "; ".join(lines)
    details: list[RenderableType] = [Text(f"Through the gateway: {seen}.")]
    if answers and not reached:   # counters that saw none of them prove nothing: no pass on no evidence
        return Outcome(False, f"the gateway's Envoy counted none of these {len(answers)} requests for a pod of "
                              f"{', '.join(exercise.destinations)}: the lab cannot tell which pods answered; "
                              "check again", details)
    spread = [name for name, n in reached.items() if n > spec.pods_per_version]
    if spread:
        return Outcome(False, f"{seen} — {', '.join(spread)} spread this one session over more than "
                              f"{spec.pods_per_version} pod(s): nothing pins it", details, NOT_STICKY)
    return Outcome(True, seen, details)


def _pods(backend: Backend) -> Pods:
    found: Pods = {}
    for seen in backend.read_gateways(EnvoyAdmin.host_requests):
        for key, pods in seen.items():
            for pod, n in pods.items():
                found.setdefault(key, {})[pod] = found.get(key, {}).get(pod, 0) + n
    return found
