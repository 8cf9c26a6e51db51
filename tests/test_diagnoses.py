"""Wrong configurations across the exercises, each through the real Envoy of a local lab: each
fails with its diagnosis code (and, when the config is wrong, with no traffic sent); each right
configuration passes."""

import os
from dataclasses import dataclass, field

import pytest

from lab.backends.select import current_backend
from lab.config import EXERCISES_DIR, lab_paths
from lab.exercises.catalogue import load_exercise
from lab.exercises.checks import run_check
from lab.exercises.diagnoses import BY_CODE, Situation, diagnose
from lab.exercises.walkthrough import Walkthrough
from lab.files import write_json
from lab.helm import render
from lab.manifests import ref_of
from tests.conftest import objects
from tests.lab_process import new_lab

pytestmark = pytest.mark.slow


def vs(namespace: str, name: str, host: str, gateway: str, http: list[dict]) -> list[dict]:
    return [{"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
             "metadata": {"name": name, "namespace": namespace},
             "spec": {"hosts": [host], "gateways": [gateway], "http": http}}]


def to(host: str, weight: int | None = None, subset: str = "", port: int = 0) -> dict:
    destination = {"host": host, **({"subset": subset} if subset else {}), **({"port": {"number": port}} if port else {})}
    return {"destination": destination, **({"weight": weight} if weight is not None else {})}


def canary(route: list[dict], gateway: str = "canary-gateway") -> list[dict]:
    return vs("canary-lab", "canary", "canary.lab.local", gateway, [
        {"name": "websocket", "match": [{"uri": {"prefix": "/websocket"}}], "route": [to("tornado", port=8888)]},
        {"name": "main", "route": route}])


def apps(httpbin: int, tornado: int) -> list[dict]:
    return [to("httpbin", httpbin, port=8000), to("tornado", tornado, port=8888)]


def shop(v1: int, other: str, weight: int, namespace: str = "shop", host: str = "shop.lab.local") -> list[dict]:
    return vs(namespace, "shop", host, "shop-gateway",
              [{"route": [to("shop", v1, "v1"), to("shop", weight, other)]}])


def rollback_shop(v1: int, weight: int) -> list[dict]:
    """rollback's VirtualService: its own namespace and host, beside autoscale's `shop`."""
    return shop(v1, "v3", weight, namespace="shop-rollback", host="rollback.lab.local")


def gateway_api_route(namespace: str, name: str, gateway: str, host: str, rules: list[dict]) -> list[dict]:
    return [{"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
             "metadata": {"name": name, "namespace": namespace},
             "spec": {"parentRefs": [{"name": gateway}], "hostnames": [host], "rules": rules}}]


def backend_ref(service: str, weight: int | None = None, port: int = 80, namespace: str = "") -> dict:
    return {"name": service, "port": port, **({"weight": weight} if weight is not None else {}),
            **({"namespace": namespace} if namespace else {})}


def autoscale_route(v1: int | None, v2: int | None) -> list[dict]:
    """autoscale-gateway-api's HTTPRoute: one Service per version."""
    return gateway_api_route("shop-gateway-api", "shop", "shop-gateway", "shop-gateway-api.lab.local",
                     [{"name": "main", "backendRefs": [backend_ref("shop-v1", v1), backend_ref("shop-v2", v2)]}])


def search_route(*rules: dict) -> list[dict]:
    """cross-namespace-gateway-api's HTTPRoute, written by hand: in search-traffic, backends in search-v1/-v2."""
    return gateway_api_route("search-traffic", "traffic-manager", "traffic-manager", "search-gateway-api.lab.local", list(rules))


def grant(namespace: str, from_namespace: str = "search-traffic") -> list[dict]:
    return [{"apiVersion": "gateway.networking.k8s.io/v1", "kind": "ReferenceGrant",
             "metadata": {"name": "by-hand", "namespace": namespace},
             "spec": {"from": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "namespace": from_namespace}],
                      "to": [{"group": "", "kind": "Service", "name": "search"}]}}]


def traffic_manager(*http: dict) -> list[dict]:
    return vs("traffic", "traffic-manager", "search.lab.local", "traffic-manager", list(http))


STABLE = {"name": "stable", "route": [to("search.services-v1.svc.cluster.local")]}
BY_HEADER = {"name": "canary-by-header", "match": [{"headers": {"x-track": {"exact": "canary"}}}],
             "route": [to("search.services-v2.svc.cluster.local")]}
SENTENCES_V2_TWICE = """\
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: sentences-v2, namespace: sentences}
    spec:
      replicas: 2
      selector: {matchLabels: {app: sentences, version: v2}}
      template:
        metadata: {labels: {app: sentences, version: v2}}
        spec:
          containers:
            - name: sentences
              image: canary-lab.invalid/version-app:1.0
              env: [{name: VERSION, value: v2}]
              ports: [{containerPort: 8888}]
    """


def shop_subsets(v1_labels: dict, v3_labels: dict) -> list[dict]:
    return [{"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
             "metadata": {"name": "shop", "namespace": "shop-rollback"},
             "spec": {"host": "shop", "subsets": [{"name": "v1", "labels": v1_labels},
                                                  {"name": "v3", "labels": v3_labels}]}}]


def debug_shop(*http: dict) -> list[dict]:
    """The debug exercise's VirtualService, as the learner's fix makes it."""
    return vs("shop-debug", "shop", "debug.lab.local", "shop-gateway", list(http))


def everyone(v1: int, v2: int) -> dict:
    return {"name": "everyone", "route": [to("shop", v1, "v1"), to("shop", v2, "v2")]}


def testers_route(value: str = "canary") -> dict:
    return {"name": "testers", "match": [{"headers": {"x-track": {"exact": value}}}],
            "route": [to("shop", subset="v2")]}


def debug_subsets(v2_labels: dict) -> list[dict]:
    return [{"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
             "metadata": {"name": "shop", "namespace": "shop-debug"},
             "spec": {"host": "shop", "subsets": [{"name": "v1", "labels": {"version": "v1"}},
                                                  {"name": "v2", "labels": v2_labels}]}}]


@dataclass
class Case:
    exercise: str
    step: str
    diagnosis: str              # "" for a right configuration: it passes
    objects: list[dict] = field(default_factory=list)   # applied over the lab as the step finds it
    values: str = ""            # or: the exercise's chart, rendered with these values
    held_only: bool = False     # stored as applied, but never pushed to the gateway
    traffic: bool = False       # the config is right: the verdict runs on live traffic
    says: str = ""              # a part of the message: what is served and what was expected

    def __str__(self):
        return f"{self.exercise}/{self.step}/{self.diagnosis or 'passes'}"


def httproute(namespace: str, name: str, host: str, gateway: str, *backends: tuple[str, int | None]) -> list[dict]:
    """One HTTPRoute with one rule: backendRefs (Service, weight; None leaves the weight out), port 80."""
    refs = [{"name": service, "port": 80, **({"weight": weight} if weight is not None else {})}
            for service, weight in backends]
    return [{"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
             "metadata": {"name": name, "namespace": namespace},
             "spec": {"parentRefs": [{"name": gateway}], "hostnames": [host], "rules": [{"backendRefs": refs}]}}]


def app_route(stable: int, canary: int, gateway: str = "app-gateway") -> list[dict]:
    return httproute("app-gateway-api", "app-example", "app-gateway-api.lab.local", gateway,
                     ("app-stable", stable), ("app-canary", canary))


def shop_route(*backends, host: str = "rollback-gateway-api.lab.local") -> list[dict]:
    return httproute("shop-rollback-gateway-api", "shop", host, "shop-gateway", *backends)


def sentences_route(*backends) -> list[dict]:
    return httproute("sentences-gateway-api", "sentences", "sentences-gateway-api.lab.local", "sentences-gateway",
                     *backends)


GATEWAY_API_ROLLBACK = (EXERCISES_DIR / "canary-gateway-api" / "solutions" / "httproute-100.yaml").read_text()

CASES = [
    Case("canary", "rollback", "destination-extra", canary(apps(99, 1)),
         says="serves httpbin 99 / tornado 1, the step expects httpbin 100"),
    Case("canary", "shift-20", "weights-swapped", canary(apps(20, 80)),
         says="serves httpbin 20 / tornado 80, the step expects httpbin 80 / tornado 20"),
    Case("canary", "shift-20", "wrong-weights", canary(apps(70, 30))),
    Case("canary", "shift-20", "destination-missing"),                     # the step as the learner finds it
    Case("canary", "shift-20", "not-served", canary(apps(80, 20)), held_only=True),
    Case("canary", "baseline", "host-not-served", canary([to("httpbin", port=8000)], gateway="mesh")),
    Case("canary", "shift-20", "", canary(apps(80, 20)), traffic=True),
    Case("canary-gateway-api", "rollback", "backend-not-found",
         objects(GATEWAY_API_ROLLBACK.replace("name: httpbin", "name: httpbn")),
         says="100% to httpbn.canary-lab, a Service that does not exist (did you mean httpbin?)"),
    Case("progressive-gateway-api", "canary-50", "wrong-weights", app_route(60, 40),
         says="serves stable 60 / canary 40, the step expects stable 50 / canary 50"),
    Case("progressive-gateway-api", "canary-50", "route-not-accepted", app_route(50, 50, gateway="app-gatway"),
         says="HTTPRoute app-gateway-api/app-example is not Accepted by its parent Gateway app-gatway: "
              "NoMatchingParent"),
    Case("progressive-gateway-api", "canary-100", "", app_route(0, 100), traffic=True),
    Case("promote-gateway-api", "canary-10", "weights-swapped", sentences_route(("sentences-v1", 10), ("sentences-v2", 90))),
    Case("promote-gateway-api", "canary-10", "wrong-weights",          # unset weights count 1 each: 50/50
         sentences_route(("sentences-v1", None), ("sentences-v2", None)), says="serves v1 50 / v2 50"),
    Case("promote-gateway-api", "promote", "no-backend", sentences_route(("sentences-v1", 0), ("sentences-v2", 0)),
         says="has no backend to send it to"),   # every weight 0: the gateway's own 500, not "no route"
    Case("promote-gateway-api", "replica-split", "", traffic=True),   # one backendRef over 3 + 1 pods: 75/25
    Case("rollback-gateway-api", "shift-10", "route-not-accepted",
         shop_route(("shop-v1", 90), ("shop-v3", 10), host="rollback.lab.local"),
         says="NoMatchingListenerHostname"),
    Case("rollback-gateway-api", "shift-10", "backend-not-found", shop_route(("shop-v1", 90), ("shop-v4", 10)),
         says="10% to shop-v4.shop-rollback-gateway-api, a Service that does not exist (did you mean shop-v3?)"),
    Case("rollback-gateway-api", "roll-back", "destination-extra", shop_route(("shop-v1", 90), ("shop-v3", 10))),
    Case("autoscale-gateway-api", "all-to-v2", "weights-swapped", autoscale_route(100, 0),
         says="serves v1 100 / v2 0, the step expects v1 0 / v2 100"),
    Case("autoscale-gateway-api", "all-to-v2", "destination-extra", autoscale_route(None, 100),   # no weight counts 1
         says="it serves v1 1 / v2 99, the step expects v1 0 / v2 100"),
    Case("autoscale-gateway-api", "all-to-v2", "", autoscale_route(0, 1), traffic=True),    # weights are shares of their sum
    Case("cross-namespace-gateway-api", "grant", "reference-not-permitted",    # the step as the learner finds it
         says='ResolvedRefs False, RefNotPermitted, "backendRef search/search-v1 not accessible'),
    Case("cross-namespace-gateway-api", "grant", "reference-not-permitted",    # a grant beside the route allows nothing
         grant("search-traffic")),
    Case("cross-namespace-gateway-api", "grant", "reference-not-permitted",    # from the wrong namespace
         grant("search-v1", from_namespace="traffic")),
    Case("cross-namespace-gateway-api", "grant", "", grant("search-v1"), traffic=True),   # in the Service's namespace
    Case("cross-namespace-gateway-api", "header-only", "reference-not-permitted",   # v2 not granted: v1's grant is not enough
         search_route({"name": "canary-by-header", "matches": [{"headers": [{"name": "x-track", "value": "canary"}]}],
                       "backendRefs": [backend_ref("search", namespace="search-v2")]},
                      {"name": "stable", "backendRefs": [backend_ref("search", namespace="search-v1")]})),
    Case("cross-namespace-gateway-api", "header-only", "header-mismatch",
         values="referenceGrant: {enabled: true}\ncanary: {enabled: true, header: {name: x-track, value: Canary}}\n"),
    Case("cross-namespace-gateway-api", "header-only", "", traffic=True,
         values="referenceGrant: {enabled: true}\ncanary: {enabled: true}\n"),
    Case("cross-namespace-gateway-api", "canary-10", "header-route-missing", values="canary: {weight: 10}\n",
         says="requests with X-Track: canary take route stable like everyone else"),   # enabled lost; applied over
                                                                                            # the release: its grants stay
    Case("cross-namespace-gateway-api", "canary-10", "wrong-weights", traffic=True,
         values="referenceGrant: {enabled: true}\ncanary: {enabled: true, weight: 3}\n",
         says="serves v1 97 / v2 3, the step expects v1 90 / v2 10"),
    Case("progressive", "canary-50", "wrong-weights", vs("app-example", "app-example", "app.lab.local", "app-gateway", [
        {"route": [to("app-example", 60, "stable"), to("app-example", 40, "canary")]}])),
    Case("promote", "replica-split", "wrong-weights", objects(SENTENCES_V2_TWICE),   # 3 and 2 pods: 60/40
         says="serves v1 60 / v2 40 (plain load balancing over ready pods: v1 3, v2 2), the step expects v1 75 / v2 25"),
    Case("promote", "replica-split", "", traffic=True),                               # 3 and 1 pods: 75/25
    Case("autoscale", "all-to-v2", "weights-swapped", shop(100, "v2", 0)),
    Case("rollback", "shift-10", "no-endpoints",
         shop_subsets({"version": "v1"}, {"version": "v3-typo"}) + rollback_shop(90, 10)),
    Case("rollback", "roll-back", "destination-extra", rollback_shop(90, 10)),
    Case("rollback", "baseline", "traffic-disagrees",                      # subset v1 picks v3's pods too
         shop_subsets({"app": "shop"}, {"version": "v3"}), traffic=True),
    Case("cross-namespace", "canary-10", "wrong-weights", values="canary: {enabled: true, weight: 3}\n",
         traffic=True,                           # the step's first check (testers, by header) is right and runs
         says="serves v1 97 / v2 3, the step expects v1 90 / v2 10"),
    Case("cross-namespace", "header-only", "header-mismatch",
         values="canary: {enabled: true, header: {name: x-track, value: Canary}}\n"),
    Case("cross-namespace", "header-only", "header-mismatch",
         values="canary: {enabled: true, header: {name: x-trak, value: canary}}\n",
         says="route canary-by-header matches x-trak = canary, but the step sends X-Track: canary"),
    Case("cross-namespace", "header-only", "route-shadowed", traffic_manager(STABLE, BY_HEADER)),
    Case("cross-namespace", "canary-10", "header-route-missing", values="canary: {weight: 10}\n",   # enabled lost
         says="requests with X-Track: canary take route stable like everyone else"),
    Case("cross-namespace", "header-only", "no-route", traffic_manager(BY_HEADER),
         traffic=True),                          # the step's first check (with the header) is right and runs
    Case("cross-namespace", "header-only", "", traffic_manager(BY_HEADER, STABLE), traffic=True),
    # debug: each release as the learner finds it fails with its own diagnosis, and each wrong fix
    # (the symptom made to go away, the wrong thing changed) fails too.
    Case("debug", "fix-subset", "no-endpoints", says="shop.shop-debug (subset v2), which has no ready pod"),
    Case("debug", "fix-subset", "destination-missing", debug_shop({"route": [to("shop", subset="v1")]}),
         says="no destination of the route reaches v2"),                  # the 503s stop: v2 is out
    Case("debug", "fix-subset", "subsets-overlap", debug_subsets({"app": "shop"}),   # every pod: 2 of v1's too
         says="subset v2 of shop.shop-debug picks 3 pods, 2 of which subset v1 picks too"),
    Case("debug", "fix-subset", "subsets-overlap", debug_subsets({"version": "v1"}),   # v2 picks v1's pods
         says="subset v1 of shop.shop-debug picks 2 pods, 2 of which subset v2 picks too"),
    Case("debug", "fix-host", "host-not-served"),   # the typo release as found: accepted, 404 for the host
    Case("debug", "fix-order", "route-shadowed",
         says="route everyone comes before route testers and matches debug.lab.local/, X-Track: canary too"),
    Case("debug", "fix-order", "header-route-missing", debug_shop(everyone(90, 10)),   # testers route deleted
         says="requests with X-Track: canary take route everyone like everyone else"),
    Case("debug", "fix-order", "header-mismatch", debug_shop(testers_route("Canary"), everyone(90, 10))),
    Case("debug", "fix-order", "", debug_shop(testers_route(), everyone(90, 10)), traffic=True),
    Case("debug", "fix-weights", "weights-swapped", traffic=True,         # the testers' check is right and runs
         says="serves v1 10 / v2 90, the step expects v1 90 / v2 10"),
    Case("debug", "fix-weights", "wrong-weights", debug_shop(testers_route(), everyone(50, 50)), traffic=True),
    Case("debug", "fix-weights", "route-shadowed", debug_shop(everyone(90, 10), testers_route())),
    Case("debug", "fix-weights", "header-route-missing", debug_shop(everyone(90, 10))),
]


@pytest.fixture(scope="module")
def backend(tmp_path_factory):
    lab = new_lab(tmp_path_factory.mktemp("diagnoses"))
    lab.invoke("up", "--provider", "local")
    os.environ["CANARY_LAB_ROOT"] = str(lab.root)
    yield current_backend(lab_paths())
    del os.environ["CANARY_LAB_ROOT"]
    lab.cleanup()


def requests_served(backend) -> int:
    stats = backend._admin().stats("downstream_rq_total")
    return sum(int(v) for k, v in stats.items() if k.startswith("http.") and not k.startswith("http.admin.") and k.endswith("downstream_rq_total"))


def set_up(backend, case: Case, tmp_path):
    exercise = load_exercise(case.exercise)
    paths = lab_paths()
    walkthrough = Walkthrough(exercise, backend, paths, yes=True)
    index = [s.name for s in exercise.steps].index(case.step)
    walkthrough.reset()
    for earlier in exercise.steps[:index]:
        walkthrough.progress.mark_done(exercise.name, earlier.name)
    walkthrough.restore(index)                       # the lab as the learner finds the step
    objects = case.objects
    if case.values:
        step = exercise.step(case.step)
        values = tmp_path / "values.yaml"
        values.write_text(case.values)
        objects = render(step.helm.chart, step.helm.release, step.helm.namespace, [values])
    if case.held_only:   # the lab holds it (as a cluster's API server would) but the gateway never got it
        held = backend._objects() | {ref_of(o): {**o, "metadata": {**o["metadata"]}} for o in objects}
        write_json(backend.objects_file, {ref.key: obj for ref, obj in held.items()})
    elif objects:
        backend.apply(objects)
    return exercise


@pytest.mark.parametrize("case", CASES, ids=str)
def test_each_wrong_config_fails_with_its_diagnosis_and_each_right_one_passes(backend, case, tmp_path):
    exercise = set_up(backend, case, tmp_path)
    before = requests_served(backend)
    result = run_check(exercise, exercise.step(case.step), backend)
    sent = requests_served(backend) - before
    assert result.diagnosis == case.diagnosis, result.message
    assert result.passed == (not case.diagnosis), result.message
    assert case.says in result.message
    if case.diagnosis:
        known = BY_CODE.get(case.diagnosis)
        own = dict(exercise.step(case.step).hints_for).get(case.diagnosis)   # the step's word first
        assert result.hint and result.hint == (own or (known.hint if known else result.hint))
        if case.exercise.endswith("-gateway-api"):   # no Istio-API advice in the Gateway API track
            assert "VirtualService" not in result.message.split("fix:")[-1] + result.hint, result.message
        assert "fix:" in result.message
    # A wrong config fails at once, with no traffic; a right one still gets the traffic verdict.
    assert (sent > 0) == case.traffic, f"{sent} requests sent"


def test_the_cases_cover_every_diagnosis_the_checks_can_find():
    found = {c.diagnosis for c in CASES if c.diagnosis}
    assert len([c for c in CASES if c.diagnosis]) >= 12
    assert set(BY_CODE) - {"not-applied"} <= found, set(BY_CODE) - found   # not-applied: the walkthrough's


def test_the_gateways_own_endpoint_counts_agree_with_the_local_lab(backend, tmp_path):
    """A cluster's backend reads ready endpoints from its gateway's /clusters; the same reader, on the
    local gateway's Envoy, agrees with what the local lab counts from its pods."""
    typo = Case("rollback", "shift-10", "no-endpoints",
                shop_subsets({"version": "v1"}, {"version": "v3-typo"}) + rollback_shop(90, 10))
    set_up(backend, typo, tmp_path)
    from_envoy, local = backend._admin().ready_endpoints(), backend.ready_endpoints()
    assert from_envoy[("shop.shop-rollback", "v3")] == local[("shop.shop-rollback", "v3")] == 0
    assert from_envoy[("shop.shop-rollback", "v1")] == local[("shop.shop-rollback", "v1")] > 0


@pytest.mark.parametrize("gateway_api, says, never", [(False, "spec.gateways", "HTTPRoute"),
                                                     (True, "HTTPRoute whose parentRefs", "VirtualService")])
def test_a_host_nothing_serves_is_fixed_in_the_words_of_the_tracks_api(gateway_api, says, never):
    finding = diagnose(Situation(host="canary.lab.local", path="/", headers={}, expected={"v1": 100}, targets={},
                                 routes=[], endpoints={}, gateway_api=gateway_api))
    assert finding.code == "host-not-served" and says in finding.fix
    assert never not in finding.fix + finding.hint
