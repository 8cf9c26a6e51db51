"""The check of a resilience step: what clients got against what one destination's own counters say.

Retries, timeouts and outlier detection change what the gateway's Envoy does with a destination's
answers, and it counts each attempt on the destination's cluster (/stats, both backends):
`upstream_rq_total` every attempt, retries included; `upstream_rq_5xx` the 5xx answers it passed on
and `retry.upstream_rq_5xx` those it retried instead (Envoy 1.40 splits them: measured with the
resilience exercise); `upstream_rq_timeout` the requests the route's timeout cut (a 504 to the
client); `outlier_detection.ejections_active` the pods outlier detection holds out now. So a check
can say "clients saw 0.2% errors while v2 failed 38% of its attempts": the retries hid it. On a
cluster, the sidecar beside v2 counts the same failed attempts (istio_requests_total with
reporter="destination"); the gateway's own reporter="source" counts only what clients got.
"""

import re
from dataclasses import dataclass

from rich.console import RenderableType
from rich.text import Text

from lab.backends.base import Backend
from lab.exercises.catalogue import Exercise
from lab.exercises.check_specs import RESILIENCE_DIAGNOSES, ResilienceCheck
from lab.traffic.classify import ERROR, Classifier
from lab.traffic.metrics import Destination
from lab.traffic.sampler import RequestSpec, collect

STATS_FILTER = (r"^cluster\.outbound\|.*\.(upstream_rq_total|upstream_rq_5xx|upstream_rq_timeout"
                r"|outlier_detection\.ejections_active)$")
# cluster.<outbound|port|subset|fqdn>.<stat>: the FQDN ends in the cluster domain, so the stat is what follows.
_STAT = re.compile(r"^cluster\.(outbound\|[^|]*\|[^|]*\|[^|]*?\.svc\.cluster\.local)\.(retry\.)?"
                   r"(upstream_rq_total|upstream_rq_5xx|upstream_rq_timeout|outlier_detection\.ejections_active)$")


@dataclass(frozen=True)
class Counters:
    """One destination's clusters, summed: attempts, failed attempts (5xx, retried or not), requests its
    route's timeout cut, and pods held out by outlier detection (a gauge: now, not a total)."""
    attempts: int = 0
    failed: int = 0
    timed_out: int = 0
    ejected: int = 0

    def since(self, earlier: "Counters") -> "Counters":
        return Counters(self.attempts - earlier.attempts, self.failed - earlier.failed,
                        self.timed_out - earlier.timed_out, self.ejected)


def read_counters(stats: dict[str, str], destination: Destination) -> Counters:
    """The destination's counters from an Envoy /stats reading (name → value)."""
    totals = {"upstream_rq_total": 0, "upstream_rq_5xx": 0, "upstream_rq_timeout": 0,
              "outlier_detection.ejections_active": 0}
    for name, value in stats.items():
        found = _STAT.match(name)
        if found and value.isdigit() and destination.owns(found.group(1)):
            totals[found.group(3)] += int(value)
    return Counters(totals["upstream_rq_total"], totals["upstream_rq_5xx"], totals["upstream_rq_timeout"],
                    totals["outlier_detection.ejections_active"])


NO_TRAFFIC, CLIENTS_SEE_ERRORS, NO_OWN_ERRORS, NOT_TIMED_OUT, NOT_EJECTED = RESILIENCE_DIAGNOSES


def _read(backend: Backend, destination: Destination) -> Counters:
    """Summed over the gateways: a destination's clusters count only where its routes are served."""
    readings = backend.read_gateways(lambda admin: read_counters(admin.stats(STATS_FILTER), destination))
    return Counters(*(sum(getattr(r, f) for r in readings) for f in ("attempts", "failed", "timed_out", "ejected")))


class Counting:
    """A destination's counters from now on: `done()` gives what they counted since (ejections: now)."""

    def __init__(self, backend: Backend, destination: Destination):
        self.backend, self.destination = backend, destination
        self.start = _read(backend, destination)

    def done(self) -> Counters:
        return _read(self.backend, self.destination).since(self.start)


def destination_counters(exercise: Exercise, name: str, backend: Backend) -> Counting:
    """Start counting for one of the exercise's destinations, on every gateway (on a cluster the Gateway
    API track's host is on a gateway of its own)."""
    target = exercise.destinations[name]
    return Counting(backend, Destination(target.service, target.subset))


@dataclass(frozen=True)
class Outcome:
    passed: bool
    message: str
    details: list[RenderableType]
    diagnosis: str = ""


def resilience_check(exercise: Exercise, spec: ResilienceCheck, backend: Backend, request: RequestSpec,
                     classifier: Classifier) -> Outcome:
    """Send `warmup` then `requests` requests through the gateway; judge what clients got and what the
    destination's own counters say over the counted requests."""
    base, _ = backend.gateway_endpoint("http", request.host)
    if spec.warmup:
        collect(base, request, classifier, spec.warmup)
    counting = destination_counters(exercise, spec.destination, backend)
    answers = collect(base, request, classifier, spec.requests)
    own = counting.done()
    client_errors = sum(1 for a in answers if a.outcome == ERROR)
    client_rate = 100.0 * client_errors / len(answers) if answers else 0.0
    own_rate = 100.0 * own.failed / own.attempts if own.attempts else 0.0
    timed_out = 100.0 * own.timed_out / own.attempts if own.attempts else 0.0
    name = spec.destination
    seen = (f"clients got {client_errors} error{'' if client_errors == 1 else 's'} in {len(answers)} answers "
            f"({client_rate:.1f}%); the gateway "
            f"counted for {name}: {own.attempts} attempts, {own.failed} answered 5xx ({own_rate:.1f}%), "
            f"{own.timed_out} cut by the route's timeout, {own.ejected} pod(s) ejected now")
    details: list[RenderableType] = [Text(f"Through the gateway: {seen}.")]
    if warmup := spec.warmup:
        details.append(Text(f"({warmup} requests first, not counted: outlier detection needs errors to act on.)",
                            style="dim"))
    if not own.attempts:
        return Outcome(False, f"{name} got no requests through the gateway (the numbers below)", details, NO_TRAFFIC)
    if spec.client_errors_at_most is not None and client_rate > spec.client_errors_at_most:
        return Outcome(False, f"{client_rate:.1f}% of clients' answers were errors, more than "
                              f"{spec.client_errors_at_most:g}% (the numbers below)", details, CLIENTS_SEE_ERRORS)
    if spec.own_errors_at_least is not None and own_rate < spec.own_errors_at_least:
        return Outcome(False, f"{name}'s own attempts failed {own_rate:.1f}% of the time, less than the "
                              f"{spec.own_errors_at_least:g}% this step is about (the numbers below)",
                       details, NO_OWN_ERRORS)
    if spec.timeouts_at_least is not None and timed_out < spec.timeouts_at_least:
        return Outcome(False, f"the route's timeout cut {timed_out:.1f}% of {name}'s requests, less than "
                              f"{spec.timeouts_at_least:g}%: its slow answers still reach clients late "
                              "(the numbers below)",
                       details, NOT_TIMED_OUT)
    if spec.ejected_at_least is not None and own.ejected < spec.ejected_at_least:
        return Outcome(False, f"outlier detection holds {own.ejected} of {name}'s pods out, fewer than "
                              f"{spec.ejected_at_least} (the numbers below)", details, NOT_EJECTED)
    return Outcome(True, seen, details)
