"""The check of a mirroring step: users get no answer from the mirror's destination, and it gets copies.

A mirrored request is sent to the mirror's cluster besides the route's, and its answer is thrown
away: it never reaches the user. Envoy counts the copies on the mirror's cluster like any request
(`upstream_rq_total`, `upstream_rq_5xx`: measured on Envoy 1.40 with the mirror exercise), so the
destination's own counters show how many copies it got and how often they failed — a dark launch's
numbers, before any user meets the version. Shares are of the requests the check sent.
"""

from rich.console import RenderableType
from rich.text import Text

from lab.backends.base import Backend
from lab.exercises.catalogue import Exercise
from lab.exercises.check_specs import MIRROR_DIAGNOSES, MirrorCheck
from lab.exercises.resilience_check import Outcome, destination_counters
from lab.traffic.classify import Classifier
from lab.traffic.sampler import RequestSpec, collect

NOT_MIRRORED, STILL_MIRRORED, MIRROR_REACHES_USERS = MIRROR_DIAGNOSES


def mirror_check(exercise: Exercise, spec: MirrorCheck, backend: Backend, request: RequestSpec,
                 classifier: Classifier) -> Outcome:
    name = spec.destination
    base, _ = backend.gateway_endpoint("http", request.host)
    counting = destination_counters(exercise, name, backend)
    answers = collect(base, request, classifier, spec.requests)
    copies = counting.done()
    from_it = sum(1 for a in answers if a.source == name)
    share = 100.0 * copies.attempts / len(answers) if answers else 0.0
    failed = 100.0 * copies.failed / copies.attempts if copies.attempts else 0.0
    seen = (f"users got {from_it} of {len(answers)} answers from {name}; {name} got {copies.attempts} requests "
            f"({share:.0f}% of those sent), {copies.failed} of them answered 5xx ({failed:.1f}%)")
    details: list[RenderableType] = [Text(f"Through the gateway: {seen}.")]
    if from_it:
        return Outcome(False, f"{seen}: {name} answers users, so it is in the route, not mirrored", details,
                       MIRROR_REACHES_USERS)
    if spec.copies_at_least is not None and share < spec.copies_at_least:
        return Outcome(False, f"{seen}: fewer copies than {spec.copies_at_least:g}% of the requests", details,
                       NOT_MIRRORED)
    if spec.copies_at_most is not None and share > spec.copies_at_most:
        return Outcome(False, f"{seen}: more copies than {spec.copies_at_most:g}% of the requests", details,
                       STILL_MIRRORED)
    return Outcome(True, seen, details)
