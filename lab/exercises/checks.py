"""Checks: did the step work? Config first (what the gateway serves, read from its Envoy), then
live traffic through the gateway, and a diagnosis when either is wrong.

A check returns a CheckResult (passed or not, and why). An exception means
broken infrastructure (the lab is down), not a wrong answer.
"""


from rich.console import Group, RenderableType
from rich.text import Text

from lab.backends.base import Backend, LiveRoute
from lab.config import check_alpha, check_beta, runs_on
from lab.exercises.argo_check import argo_rollout_check
from lab.exercises.catalogue import Exercise, Step
from lab.exercises.check_result import CheckResult
from lab.exercises.check_specs import (
    About,
    ArgoRolloutCheck,
    Check,
    ErrorsCheck,
    MirrorCheck,
    MtlsCheck,
    RequestOverride,
    ResilienceCheck,
    RolloutCheck,
    StickyCheck,
    TrafficCheck,
    WebsocketCheck,
)
from lab.exercises.diagnoses import Finding, Situation, traffic_disagrees
from lab.exercises.last_check import recorded
from lab.exercises.mirror_check import mirror_check
from lab.exercises.resilience_check import resilience_check
from lab.exercises.rollout_check import rollout_check
from lab.exercises.route_table import Table, check_table
from lab.exercises.scale_check import scale_check
from lab.exercises.sticky_check import sticky_check
from lab.traffic.chart import verdict_chart
from lab.traffic.classify import ERROR, UNCLASSIFIED, Classifier
from lab.traffic.error_rates import Rate, measurably_worse, rates_by_source
from lab.traffic.sampler import Answer, RequestSpec, collect, run_verdict, verdict_in_batches
from lab.traffic.verdict import (
    INCONCLUSIVE,
    PASS,
    Expectation,
    Verdict,
    one_in,
    plural,
    rates_in_words,
)
from lab.traffic.websocket import echo_check

MAX_SAMPLED = 8   # kinds of request live traffic takes in turn (the config check tries every one)


def run_check(exercise: Exercise, step: Step, backend: Backend, skipped: tuple[str, ...] = ()) -> CheckResult:
    """A step's checks, in order; it passes when every one does, and stops at the first that fails (a
    wrong config sends no traffic). A check with `backends:` runs only there; elsewhere it is skipped,
    and the message says so. `skipped`: the steps the learner skipped (a check blames nothing they made)."""
    here = [c for c in step.check if runs_on(backend.name, _check_backends(c, exercise))]
    elsewhere = sorted({b for c in step.check if c not in here for b in _check_backends(c, exercise)})
    # Every check's config first: a wrong route table anywhere in the step sends no traffic at all.
    results = [r for r in (config_failure(exercise, c, backend, skipped) for c in here) if r is not None][:1]
    for check in [] if results else here:
        results.append(_one_check(exercise, check, backend, skipped))
        if not results[-1].passed:
            break
    failed = next((r for r in results if not r.passed), None)
    message = failed.message if failed else "; ".join(r.message for r in results)
    if elsewhere:
        message += (f" ({len(step.check) - len(here)} more check(s) need {' or '.join(elsewhere)}; "
                    f"skipped on the {backend.name} lab)")
    diagnosis = failed.diagnosis if failed else ""
    # The step's own word on a known failure (hints_for) before the catalogue's general hint.
    hint = dict(step.hints_for).get(diagnosis, failed.hint) if failed else ""
    result = CheckResult(failed is None, message, [d for r in results for d in r.details], diagnosis=diagnosis,
                         hint=hint)
    return recorded(exercise.name, step.name, result)   # kept for `invoke dashboard`


def _check_backends(check: Check, exercise: Exercise) -> tuple[str, ...]:
    return tuple(check.spec.backends or exercise.backends)


def _one_check(exercise: Exercise, check: Check, backend: Backend, skipped: tuple[str, ...]) -> CheckResult:
    spec = check.spec
    if isinstance(spec, TrafficCheck):
        return traffic_check(exercise, spec, backend, skipped)
    if isinstance(spec, ErrorsCheck):
        return errors_check(exercise, spec, backend)
    if isinstance(spec, MtlsCheck):
        return mtls_check(spec, backend)
    if isinstance(spec, WebsocketCheck):
        return websocket_check(exercise, spec, backend, skipped)
    if isinstance(spec, (ResilienceCheck, MirrorCheck, StickyCheck)):   # resilience_, mirror_, sticky_check.py
        asked, classifier = request_spec(exercise, spec.request), classifier_of(exercise)
        outcome = (resilience_check(exercise, spec, backend, asked, classifier) if isinstance(spec, ResilienceCheck)
                   else mirror_check(exercise, spec, backend, asked, classifier) if isinstance(spec, MirrorCheck)
                   else sticky_check(exercise, spec, backend, asked, classifier))
        return CheckResult(outcome.passed, outcome.message, outcome.details, diagnosis=outcome.diagnosis)
    if isinstance(spec, ArgoRolloutCheck):
        return argo_rollout_check(spec, backend)
    if isinstance(spec, RolloutCheck):
        return rollout_check(spec, backend)
    return scale_check(exercise, spec.model_dump(), backend)


def config_failure(exercise: Exercise, check: Check, backend: Backend, skipped: tuple[str, ...]) -> CheckResult | None:
    """The check's config half, for the checks that have one: a failure, or None when the routes are right."""
    spec = check.spec
    if isinstance(spec, TrafficCheck) and spec.from_ == "gateway":
        request = request_spec(exercise, spec.request)
        table = check_table(exercise, backend, request, dict(spec.expect), spec.about, spec.by, skipped)
    elif isinstance(spec, WebsocketCheck) and spec.expect:
        request = _websocket_request(exercise, spec)
        table = check_table(exercise, backend, request, dict(spec.expect),
                            About.model_validate({"paths": (spec.path,)}), skipped=skipped)
    else:
        return None
    return _config_failed(table, request) if table.finding else None


def _websocket_request(exercise: Exercise, spec: WebsocketCheck) -> RequestSpec:
    request = request_spec(exercise, spec.request)
    return RequestSpec(host=request.host, path=spec.path, headers=request.headers, scheme=request.scheme)


def request_spec(exercise: Exercise, override: RequestOverride | None) -> RequestSpec:
    request = exercise.request.model_copy(update=(override.model_dump(exclude_none=True) if override else {}))
    return RequestSpec(host=request.host, path=request.path, headers=tuple(request.headers.items()),
                       scheme=request.scheme)


def classifier_of(exercise: Exercise) -> Classifier:
    return Classifier.from_spec({name: d.fingerprint() for name, d in exercise.destinations.items()})


def expectation_of(spec: TrafficCheck) -> Expectation:
    return Expectation(shares=dict(spec.expect), tolerance=spec.tolerance, alpha=check_alpha(), beta=check_beta(),
                       count_failed_answers=spec.count_failed_answers)


def traffic_check(exercise: Exercise, spec: TrafficCheck, backend: Backend,
                  skipped: tuple[str, ...] = ()) -> CheckResult:
    request = request_spec(exercise, spec.request)
    expectation = expectation_of(spec)
    classifier = classifier_of(exercise)
    if spec.from_ == "mesh":
        return _mesh_traffic_check(spec, request, classifier, expectation, backend)
    where = _where(request)
    # Config first: every request the step is about, routed by the whole table the gateway serves.
    table = check_table(exercise, backend, request, dict(spec.expect), spec.about, spec.by, skipped)
    if table.finding:
        return _config_failed(table, request)
    # Then traffic: the sequential verdict on live answers, over the requests of the class it can tell apart.
    kinds = _sampled(exercise, request, table)
    base, ca_file = backend.gateway_endpoint(request.scheme, request.host)
    verdict, examples = run_verdict(base, kinds[0], classifier, expectation, ca_file, also=kinds[1:])
    over = ", ".join(k.path + "".join(f" with {n}: {v}" for n, v in k.headers if (n, v) not in request.headers)
                     for k in kinds)
    served = table.situation.served
    assert served is not None
    details: list[RenderableType] = [
        Text(f"Through the gateway, to {where}:"),
        Text(f"config: for {table.about.describe()} ({plural(len(table.probes), 'kind')} of request tried on the "
             f"routes), the gateway serves {served.describe(list(spec.expect))}, as the step expects; "
             f"live traffic over {over}:"),
        verdict_chart(verdict, expectation),
        Text(rates_in_words(expectation.alpha, expectation.beta, expectation.tolerance), style="dim")]
    if verdict.decision != PASS:
        details.append(_served_text(request.host, table))
        if examples:
            details.append(_examples_text(examples))
        finding = _why_traffic_disagrees(table.situation, verdict, examples, expectation)
        return _failed(table, request, [Group(*details)], finding, verdict.reason)
    said = _with_headers(request)
    return CheckResult(True, f"{said.strip()}: {verdict.reason}" if said else verdict.reason, [Group(*details)])


def _where(request: RequestSpec) -> str:
    return f"{request.scheme}://{request.host}{request.path}{_with_headers(request)}"


def _with_headers(request: RequestSpec) -> str:
    return f" with {', '.join(f'{k}: {v}' for k, v in request.headers)}" if request.headers else ""


def _config_failed(table: Table, request: RequestSpec) -> CheckResult:
    assert table.finding is not None
    said = Text(f"Through the gateway, to {_where(request)}: the config is wrong, so no traffic was sent.")
    return _failed(table, request, [Group(said, _served_text(request.host, table))], table.finding)


def _sampled(exercise: Exercise, request: RequestSpec, table: Table) -> list[RequestSpec]:
    """The probes live traffic can be judged on: GET requests, and other paths only when every
    destination says who it is by a header (a page title is on the app's own page only)."""
    any_path = all(d.header is not None for d in exercise.destinations.values())
    kinds = [RequestSpec(host=request.host, path=p.path, headers=p.headers, scheme=request.scheme)
             for p in table.probes if p.method == "GET" and (any_path or p.path == request.path)]
    return kinds[:MAX_SAMPLED] or [request]


def _served_text(host: str, table: Table) -> Text:
    return Text(f"The gateway's routes for {host}, in the order it tries them:\n{_routes_text(table.routes)}"
                if table.routes else f"The gateway has no route for host {host}.")


def _failed(table: Table, request: RequestSpec, details: list, finding: Finding,
            verdict_reason: str = "") -> CheckResult:
    said = f"{_with_headers(request).strip()}: " if request.headers else ""
    if not table.first:   # the check's own request is fine: say which request of the step's shows it
        said = f"for {table.probe.shown(request.host)} (the step is about {table.about.describe()}): "
    message = f"{said}{verdict_reason + ' — ' if verdict_reason else ''}{finding.message}\n  fix: {finding.fix}"
    return CheckResult(False, message, details, diagnosis=finding.code, hint=finding.hint)


def _why_traffic_disagrees(situation: Situation, verdict: Verdict, examples: list[Answer],
                           expectation: Expectation) -> Finding:
    """The likeliest reason live traffic does not follow a config that is right."""
    assert situation.served is not None
    served = situation.served.describe(list(expectation.shares))
    if verdict.decision == INCONCLUSIVE:
        return traffic_disagrees(served, "the split sits between right and off by the tolerance, so the verdict "
                                         "could not decide", "run the check again")
    stray = [n for n, count in verdict.counts.items() if count and n not in (ERROR, UNCLASSIFIED)
             and not expectation.shares.get(n)]
    no_upstream = [a for a in examples if a.status == 503 and "no healthy upstream" in a.detail]
    if no_upstream or (verdict.counts.get(ERROR) and situation.served.empty):
        return traffic_disagrees(served, "Envoy answers 503 (no healthy upstream): pods behind the route are not "
                                         "ready", "wait for the pods (`invoke status`), or `invoke up` to restart them")
    if stray or verdict.counts.get(UNCLASSIFIED):
        who = ", ".join(stray) or "an app none of the destinations matches"
        return traffic_disagrees(served, f"answers come from {who}, which the route does not send to: a subset's "
                                         "or Service's labels pick pods of another version (or old pods still "
                                         "answer)", "make each subset's labels pick only its own version's pods")
    failing = sorted({a.source for a in examples if a.outcome == ERROR and a.source})
    if verdict.counts.get(ERROR):
        who = f" from {', '.join(failing)}" if failing else ""
        return traffic_disagrees(served, f"answers fail{who}", "look at that version's pods (`invoke status`)")
    # Envoy draws a weighted destination for every request, so nothing sticks to a connection: with right
    # weights and no errors, the sample fell outside by the chance the verdict states.
    return traffic_disagrees(served, "the answers fell outside the split by chance, which a right split does at "
                                     f"most {one_in(expectation.alpha)} (α = {expectation.alpha:g})",
                             "run the check again: a right split passes it with probability "
                             f"≥ {100 * (1 - expectation.alpha):g}%",
                             "Nothing is wrong that the lab can see: a right split misses now and then by chance. "
                             "Check again.")


def _mesh_traffic_check(spec: TrafficCheck, request: RequestSpec, classifier: Classifier, expectation: Expectation,
                        backend: Backend) -> CheckResult:
    """The split as another service sees it: curl from a client pod with a sidecar, to the Service's URL."""
    def ask(n: int):
        return [(r.status, r.headers, r.body) for r in backend.send_from_pod("mesh", spec.url or "",
                                                                             dict(request.headers), n)]

    verdict, examples = verdict_in_batches(ask, classifier, expectation)
    details: list[RenderableType] = [Text(f"From a client pod inside the mesh, to {spec.url}:"),
                                     verdict_chart(verdict, expectation)]
    if examples:
        details.append(_examples_text(examples))
    if verdict.decision != PASS:
        details.append(Text("Inside the mesh, sidecars route by the VirtualServices bound to `mesh` and naming "
                            "the Service's host: is yours bound there?"))
    return CheckResult(verdict.decision == PASS, "inside the mesh: " + verdict.reason, [Group(*details)])


def _examples_text(examples: list[Answer]) -> Text:
    return Text("Examples of unexpected answers:\n" + "\n".join(f"  {a.detail}" for a in examples))


def mtls_check(spec: MtlsCheck, backend: Backend) -> CheckResult:
    """STRICT mutual TLS: the mesh client gets answers, a plaintext client outside the mesh is refused."""
    url, n = spec.url, spec.requests
    inside = sum(r.status > 0 for r in backend.send_from_pod("mesh", url, {}, n))
    outside = [r for r in backend.send_from_pod("outside", url, {}, n) if r.status > 0]
    if inside < n:
        return CheckResult(False, f"{url} answered the mesh client only {inside} of {n} times: it must work "
                                  "inside the mesh before refusing outsiders means anything")
    if outside:
        return CheckResult(False, f"a plaintext client outside the mesh got {len(outside)} of {n} answers "
                                  f"(HTTP {outside[0].status}) from {url}: mTLS is not STRICT there yet")
    return CheckResult(True, f"{url} answered the mesh client {n} of {n} times and refused the plaintext client "
                             f"outside the mesh {n} of {n} times: STRICT mTLS holds")


def websocket_check(exercise: Exercise, spec: WebsocketCheck, backend: Backend,
                    skipped: tuple[str, ...] = ()) -> CheckResult:
    request = request_spec(exercise, spec.request)
    check = Check(websocket=spec)
    failed = config_failure(exercise, check, backend, skipped)   # where the routes send the WebSocket path
    if failed:
        return failed
    result = echo_check(backend.gateway_endpoint("http", request.host)[0], request.host, spec.path, spec.connections,
                        spec.messages)
    if result.passed:
        where = ", ".join(f"{name} ({n})" for name, n in sorted(result.instances.items()))
        return CheckResult(True, f"{result.echoed} of {result.connections} WebSocket connections echoed every "
                                 f"message; answered by: {where}")
    lines = "\n".join(f"  {line}" for line in result.failures[:5])
    return CheckResult(False, f"{result.connections - result.echoed} of {result.connections} WebSocket "
                              f"connections failed", [Text(lines)])


def errors_check(exercise: Exercise, spec: ErrorsCheck, backend: Backend) -> CheckResult:
    """Sample, then compare the error rate of `canary` with that of `stable` (99% intervals)."""
    canary, stable = spec.canary, spec.stable
    request = request_spec(exercise, spec.request)
    answers = collect(backend.gateway_endpoint("http", request.host)[0], request, classifier_of(exercise),
                      spec.requests)
    rates = rates_by_source(answers)
    table = "\n".join(f"  {name}: errors {rate}" for name, rate in sorted(rates.items()))
    details: list[RenderableType] = [
        Text(f"Error rate per version over {len(answers)} requests (99% intervals):\n{table}")]
    got_canary = rates.get(canary)
    if got_canary is None:
        return CheckResult(False, f"{canary} got no traffic, so its errors cannot be measured", details)
    if measurably_worse(got_canary, rates.get(stable, Rate(0, 0))):
        return CheckResult(True, f"{canary} fails more often than {stable}: {got_canary} against "
                                 f"{rates[stable]} — a canary to roll back", details)
    return CheckResult(False, f"{canary} is not measurably worse than {stable} yet ({got_canary}); "
                              "send it traffic, or sample more", details)


def _routes_text(routes: list[LiveRoute]) -> str:
    return "\n".join(f"  {r.match} → " + (", ".join(str(d) for d in r.destinations) or f"HTTP {r.status}")
                     for r in routes)
