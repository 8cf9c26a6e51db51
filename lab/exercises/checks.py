"""Checks: did the step work, judged from live traffic through the gateway.

A check returns a CheckResult (passed or not, and why). An exception means
broken infrastructure (the lab is down), not a wrong answer.
"""

from dataclasses import dataclass, field

from rich.console import Group, RenderableType
from rich.text import Text

from lab.backends.base import Backend, LiveRoute
from lab.config import check_alpha, check_beta, runs_on
from lab.errors import LabError
from lab.exercises.catalogue import Exercise, Step
from lab.traffic.classify import Classifier
from lab.traffic.sampler import Answer, RequestSpec, run_verdict, verdict_in_batches
from lab.traffic.verdict import PASS, Expectation
from lab.traffic.websocket import echo_check

CHECK_KINDS = ("traffic", "websocket", "errors", "mtls", "scale")


@dataclass
class CheckResult:
    passed: bool
    message: str
    details: list[RenderableType] = field(default_factory=list)
    diagnosis: str = ""     # a known failure's code (e.g. "weights-swapped"); "" when none applies
    hint: str = ""          # the first hint for that failure, shown before the step's own hints


def run_check(exercise: Exercise, step: Step, backend: Backend) -> CheckResult:
    """A step's check, or all of its checks (a list); it passes when every one does. A check with
    `backends:` runs only there; elsewhere it is skipped, and the message says so."""
    checks = step.check if isinstance(step.check, list) else [step.check]
    here = [c for c in checks if runs_on(backend.name, _check_backends(c, exercise))]
    skipped = sorted({b for c in checks if c not in here for b in _check_backends(c, exercise)})
    results = [_one_check(exercise, step, check, backend) for check in here]
    failed = [r for r in results if not r.passed]
    message = "; ".join(r.message for r in (failed or results))
    if skipped:
        message += (f" ({len(checks) - len(here)} more check(s) need {' or '.join(skipped)}; "
                    f"skipped on the {backend.name} lab)")
    return CheckResult(not failed, message, [d for r in results for d in r.details])


def _check_backends(check: dict, exercise: Exercise) -> tuple[str, ...]:
    spec = next(iter(check.values()), None) if isinstance(check, dict) else None
    backends = spec.get("backends") if isinstance(spec, dict) else None
    return tuple(backends or exercise.backends)


def _one_check(exercise: Exercise, step: Step, check: dict, backend: Backend) -> CheckResult:
    if not isinstance(check, dict) or len(check) != 1 or next(iter(check)) not in CHECK_KINDS:
        raise LabError(f"exercise {exercise.name}, step {step.name}: a check is one of "
                       f"{', '.join(CHECK_KINDS)}", "fix exercise.yaml")
    kind, spec = next(iter(check.items()))
    if kind == "traffic":
        return traffic_check(exercise, spec, backend)
    if kind == "errors":
        return errors_check(exercise, spec, backend)
    if kind == "mtls":
        return mtls_check(spec, backend)
    if kind == "scale":
        from lab.exercises.scale_check import scale_check

        return scale_check(exercise, spec, backend)
    return websocket_check(exercise, spec, backend)


def request_spec(exercise: Exercise, spec: dict) -> RequestSpec:
    request = {**exercise.request, **(spec.get("request") or {})}
    return RequestSpec(host=request.get("host", "*"), path=request.get("path", "/"),
                       headers=tuple((str(k), str(v)) for k, v in (request.get("headers") or {}).items()),
                       scheme=request.get("scheme", "http"))


def traffic_check(exercise: Exercise, spec: dict, backend: Backend) -> CheckResult:
    from lab.traffic.chart import verdict_chart

    request = request_spec(exercise, spec)
    expectation = Expectation(shares={k: float(v) for k, v in spec["expect"].items()},
                              tolerance=float(spec.get("tolerance", 10)), alpha=check_alpha(),
                              beta=check_beta())
    classifier = Classifier.from_spec(exercise.destinations)
    if spec.get("from") == "mesh":
        return _mesh_traffic_check(spec, request, classifier, expectation, backend)
    # Config first: what the gateway serves for this host, shown beside the traffic.
    routes = [r for r in backend.live_routes() if _serves(r, request.host) and r.scheme == request.scheme]
    base, ca_file = backend.gateway_endpoint(request.scheme)
    verdict, examples = run_verdict(base, request, classifier, expectation, ca_file)
    # Say what was sent: a step may check the same host with and without a header.
    with_headers = f" with {', '.join(f'{k}: {v}' for k, v in request.headers)}" if request.headers else ""
    details: list[RenderableType] = [Text(f"Through the gateway, to {request.scheme}://{request.host}"
                                          f"{request.path}{with_headers}:"),
                                     verdict_chart(verdict, expectation)]
    if verdict.decision != PASS:
        details.append(Text("The gateway's live routes for " + request.host + ":\n" + _routes_text(routes)
                            if routes else f"The gateway has no route for host {request.host}: "
                                           "is the Gateway and VirtualService applied?"))
        if examples:
            details.append(_examples_text(examples))
    reason = f"{with_headers.strip()}: {verdict.reason}" if with_headers else verdict.reason
    return CheckResult(verdict.decision == PASS, reason, [Group(*details)])


def _mesh_traffic_check(spec: dict, request: RequestSpec, classifier: Classifier, expectation: Expectation,
                        backend: Backend) -> CheckResult:
    """The split as another service sees it: curl from a client pod with a sidecar, to the Service's URL."""
    from lab.traffic.chart import verdict_chart

    url = spec.get("url")
    if not url:
        raise LabError("a traffic check from the mesh needs the url to call, e.g. http://app.namespace/",
                       "add url to the check in exercise.yaml")

    def ask(n: int):
        return [(r.status, r.headers, r.body) for r in backend.send_from_pod("mesh", url, dict(request.headers), n)]

    verdict, examples = verdict_in_batches(ask, classifier, expectation)
    details: list[RenderableType] = [Text(f"From a client pod inside the mesh, to {url}:"),
                                     verdict_chart(verdict, expectation)]
    if examples:
        details.append(_examples_text(examples))
    if verdict.decision != PASS:
        details.append(Text("Inside the mesh, sidecars route by the VirtualServices bound to `mesh` and naming "
                            "the Service's host: is yours bound there?"))
    return CheckResult(verdict.decision == PASS, "inside the mesh: " + verdict.reason, [Group(*details)])


def _examples_text(examples: list[Answer]) -> Text:
    return Text("Examples of unexpected answers:\n" + "\n".join(f"  {a.detail}" for a in examples))


def mtls_check(spec: dict, backend: Backend) -> CheckResult:
    """STRICT mutual TLS: the mesh client gets answers, a plaintext client outside the mesh is refused."""
    url, n = spec.get("url"), int(spec.get("requests", 5))
    if not url:
        raise LabError("an mtls check needs the url of the Service to call, e.g. http://search.services-v1/",
                       "add url to the check in exercise.yaml")
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


def websocket_check(exercise: Exercise, spec: dict, backend: Backend) -> CheckResult:
    request = request_spec(exercise, spec)
    result = echo_check(backend.gateway_url(), request.host, spec.get("path", "/websocket"),
                        int(spec.get("connections", 10)), int(spec.get("messages", 3)))
    if result.passed:
        where = ", ".join(f"{name} ({n})" for name, n in sorted(result.instances.items()))
        return CheckResult(True, f"{result.echoed} of {result.connections} WebSocket connections echoed every "
                                 f"message; answered by: {where}")
    lines = "\n".join(f"  {line}" for line in result.failures[:5])
    return CheckResult(False, f"{result.connections - result.echoed} of {result.connections} WebSocket "
                              f"connections failed", [Text(lines)])


def errors_check(exercise: Exercise, spec: dict, backend: Backend) -> CheckResult:
    """Sample, then compare the error rate of `canary` with that of `stable` (99% intervals)."""
    from lab.traffic.error_rates import Rate, measurably_worse, rates_by_source
    from lab.traffic.sampler import collect

    canary, stable = spec["canary"], spec["stable"]
    answers = collect(backend.gateway_url(), request_spec(exercise, spec),
                      Classifier.from_spec(exercise.destinations), int(spec.get("requests", 1000)))
    rates = rates_by_source(answers)
    table = "\n".join(f"  {name}: errors {rate}" for name, rate in sorted(rates.items()))
    details = [Text(f"Error rate per version over {len(answers)} requests (99% intervals):\n{table}")]
    got_canary = rates.get(canary)
    if got_canary is None:
        return CheckResult(False, f"{canary} got no traffic, so its errors cannot be measured", details)
    if measurably_worse(got_canary, rates.get(stable, Rate(0, 0))):
        return CheckResult(True, f"{canary} fails more often than {stable}: {got_canary} against "
                                 f"{rates[stable]} — a canary to roll back", details)
    return CheckResult(False, f"{canary} is not measurably worse than {stable} yet ({got_canary}); "
                              "send it traffic, or sample more", details)


def _serves(route: LiveRoute, host: str) -> bool:
    return host in [h.strip() for h in route.host.split(",")] or route.host == "*"


def _routes_text(routes: list[LiveRoute]) -> str:
    return "\n".join(f"  {r.match} → " + ", ".join(str(d) for d in r.destinations) for r in routes)
