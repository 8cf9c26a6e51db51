"""The Kubernetes Gateway API's own conformance suite, held against the lab (gateway_api_serving.yaml).

Each case is one check of a conformance test of gateway-api v1.6.0 (conformance/tests/*.go and their
manifests), named in its scenario's `source`, restated in the lab's YAML. Each runs twice:

- on the local lab: applied to a real Envoy (each Gateway on its own loopback port), the requests sent
  through it, the status read back as `invoke get` shows it, and the routes Envoy serves compared with
  what the cluster path predicts for them (lab/routes.py expected_routes: what `apply` waits for on a
  cluster);
- through that prediction alone, request by request, so the cluster path's model of istiod is pinned
  by the conformance suite and not by the local lab agreeing with itself.

A case outside the lab's scope (filters, query parameters, TLS passthrough, ...) must be refused at
apply, naming the field. One module-scoped lab; a scenario is applied once for the cases that share it.
"""

import pytest

from lab.backends.local.backend import LocalBackend
from lab.backends.local.gateway_status import with_status
from lab.errors import LabError
from lab.manifests import Ref, ref_of
from lab.routes import _by_host, expected_routes, served
from lab.traffic.classify import Classifier
from lab.traffic.sampler import RequestSpec, count
from tests.conformance.gateway_api_conformance import (
    GROUP,
    INFRA,
    Case,
    base_objects,
    condition,
    load,
    model,
    predicted,
    send,
)
from tests.lab_process import new_lab

CASES, REFUSALS = load()
VERSIONS = Classifier.from_spec({v: {"header": {"x-version": v}} for v in ("v1", "v2", "v3")})


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    lab = new_lab(tmp_path_factory.mktemp("gateway-api-conformance"))
    lab.invoke("up", "--provider", "local")
    backend = LocalBackend(lab.paths, lab.port)
    backend.apply(base_objects())
    applied: dict[str, object] = {"scenario": None, "refs": []}
    yield lab, backend, applied
    lab.cleanup()


def _apply(lab_and_more, case: Case) -> LocalBackend:
    """The case's scenario on the lab, alone (the previous one deleted), once for the cases sharing it."""
    _, backend, applied = lab_and_more
    if applied["scenario"] != case.scenario:
        if applied["refs"]:
            backend.delete(applied["refs"])
        backend.apply(case.objects)
        applied.update(scenario=case.scenario, refs=[ref_of(obj) for obj in case.objects])
    return backend


def _urls(backend: LocalBackend) -> dict[tuple[str, int], str]:
    return {(ref.name, port): url for ref, _, port, url in backend.gateway_addresses()}


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_the_local_lab_serves_as_the_conformance_suite_says(lab, case):
    backend = _apply(lab, case)
    urls = _urls(backend)
    for request in case.requests:
        answer = send(urls[case.gateway, request.port], request)
        assert answer == request.expected, f"{case.source}: {request} got {answer}"
    _check_status(case, backend.get)
    if case.weights:
        _check_weights(backend, urls[case.gateway, 80], case)
    # What Envoy serves is what the cluster path predicts istiod serves (and waits for on a cluster).
    prediction = expected_routes([], list(model(base_objects() + case.objects).values()))
    live = backend.live_routes()
    assert served(prediction, live) and set(_by_host(live)) == set(prediction), case.source


def _check_weights(backend: LocalBackend, url: str, case: Case) -> None:
    """The route's weights exactly, then traffic: 400 requests, each share within 5 standard deviations
    of its weight (a right split fails this about 1 time in 1.7 million per share); weight 0 gets none."""
    [route] = [r for r in backend.live_routes() if r.host == "*" and r.destinations]
    weights = {d.service.split(".")[0].removeprefix("infra-backend-"): d.weight for d in route.destinations}
    assert weights == {k: v for k, v in case.weights.items() if v}, case.source
    answers = count(url, RequestSpec(host="conformance.lab.local"), VERSIONS, 400)
    for version, weight in case.weights.items():
        share = weight / 100
        spread = 5 * (400 * share * (1 - share)) ** 0.5
        assert abs(answers.get(version, 0) - 400 * share) <= spread, (case.source, answers)


@pytest.mark.parametrize("case", [c for c in CASES if c.requests or c.weights],
                         ids=[c.name for c in CASES if c.requests or c.weights])
def test_the_cluster_paths_prediction_answers_as_the_conformance_suite_says(case):
    held = model(base_objects() + case.objects)
    for request in case.requests:
        assert predicted(held, case.gateway, request) == request.expected, f"{case.source}: {request}"
    if case.weights:
        prediction = expected_routes([], list(held.values()))
        [destinations] = prediction["http", "*"]
        assert {s.split(".")[0].removeprefix("infra-backend-"): w for s, _, w in destinations} == \
            {k: v for k, v in case.weights.items() if v}


STATUS_CASES = [c for c in CASES if c.routes or c.gateways]


@pytest.mark.parametrize("case", STATUS_CASES, ids=[c.name for c in STATUS_CASES])
def test_the_status_the_lab_writes_is_the_conformance_suites(case):
    """The same status expectations, on the status the lab works out (gateway_status.py): what `invoke
    get` shows locally, and what the cluster tests' istiod writes."""
    held = model(base_objects() + case.objects)
    _check_status(case, lambda ref: with_status(ref, held[ref], held))


def _check_status(case: Case, read) -> None:
    for expected in case.routes:
        route = read(Ref("HTTPRoute", expected.get("namespace", INFRA), expected["name"], GROUP))
        parents = [p for p in route["status"]["parents"] if p["parentRef"]["name"] == expected["parent"]]
        assert len(parents) == 1, f"{case.source}: {expected['name']} has no status for {expected['parent']}"
        for kind in ("Accepted", "ResolvedRefs"):
            if kind in expected:
                assert condition(parents[0], kind) == expected[kind], f"{case.source}: {expected['name']} {kind}"
    for expected in case.gateways:
        gateway = read(Ref("Gateway", INFRA, expected["name"], GROUP))
        listeners = {entry["name"]: entry for entry in gateway["status"]["listeners"]}
        for name, wanted in expected["listeners"].items():
            listener = listeners[name]
            if "attachedRoutes" in wanted:
                assert listener["attachedRoutes"] == wanted["attachedRoutes"], f"{case.source}: {name} attachedRoutes"
            if "kinds" in wanted:
                assert [k["kind"] for k in listener["supportedKinds"]] == wanted["kinds"]
                assert all(k["group"] == GROUP for k in listener["supportedKinds"])
            for kind in ("Accepted", "Programmed", "ResolvedRefs", "Conflicted"):
                if kind in wanted:
                    assert condition(listener, kind) == wanted[kind], f"{case.source}: {name} {kind}"


@pytest.mark.slow
@pytest.mark.parametrize("refusal", REFUSALS, ids=[r.name for r in REFUSALS])
def test_what_the_local_lab_does_not_serve_is_refused_naming_the_field(lab, refusal):
    _, backend, _ = lab
    before = backend.live_routes()
    with pytest.raises(LabError) as refused:
        backend.apply(refusal.objects)
    assert refusal.field in refused.value.message, f"{refusal.source}: {refused.value.message}"
    assert backend.live_routes() == before
