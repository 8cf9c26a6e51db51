"""Wrong configurations across the exercises, each through the real Envoy of a local lab: each
fails with its diagnosis code (and, when the config is wrong, with no traffic sent); each right
configuration passes."""


import pytest

from lab.backends.base import LiveRoute, RouteDestination
from lab.config import EXERCISES_DIR
from lab.exercises.diagnoses import BY_CODE, Situation, diagnose
from lab.exercises.request_classes import RequestClass
from lab.exercises.served import Target
from tests.check_cases import (
    BY_HEADER,
    SENTENCES_V2_TWICE,
    STABLE,
    Case,
    app_route,
    apps,
    autoscale_route,
    backend_ref,
    canary,
    debug_shop,
    debug_subsets,
    everyone,
    for_testers,
    grant,
    module_lab,
    rollback_shop,
    run_case,
    search_route,
    sentences_route,
    set_up,
    shop,
    shop_route,
    shop_subsets,
    to,
    traffic_manager,
    vs,
)
from tests.conftest import objects

pytestmark = pytest.mark.slow


GATEWAY_API_ROLLBACK = (EXERCISES_DIR / "canary-gateway-api" / "solutions" / "httproute-100.yaml").read_text()

CASES = [
    Case("canary", "rollback", "destination-extra", canary(apps(99, 1)),
         says="serves httpbin 99 / tornado 1, the step expects httpbin 100"),
    Case("canary", "shift-20", "weights-swapped", canary(apps(20, 80)),
         says="serves httpbin 20 / tornado 80, the step expects httpbin 80 / tornado 20"),
    Case("canary", "shift-20", "wrong-weights", canary(apps(70, 30))),
    Case("canary", "shift-20", "destination-missing"),                     # the step as the learner finds it
    Case("canary", "shift-20", "not-served", canary(apps(80, 20)), held_only=True),
    Case("canary", "baseline", "host-not-served", canary([to("httpbin", port=8000)], gateway="mesh"),
         says="VirtualService canary names it but is bound only to `mesh`"),
    Case("canary", "shift-20", "", canary(apps(80, 20)), traffic=True),
    Case("canary-gateway-api", "rollback", "backend-not-found",
         objects(GATEWAY_API_ROLLBACK.replace("name: httpbin", "name: httpbn")),
         says="100% to httpbn.canary-lab, a Service that does not exist (did you mean httpbin?)"),
    Case("progressive-gateway-api", "canary-50", "wrong-weights", app_route(60, 40),
         says="serves stable 60 / canary 40, the step expects stable 50 / canary 50"),
    # A parentRef to a Gateway that is not there gets no status from istiod (no listener to judge it):
    # nothing serves the host.
    Case("progressive-gateway-api", "canary-50", "host-not-served", app_route(50, 50, gateway="app-gatway"),
         says="whose parentRefs name the Gateway"),
    Case("progressive-gateway-api", "canary-100", "", app_route(0, 100), traffic=True),
    Case("promote-gateway-api", "canary-10", "weights-swapped",
         sentences_route(("sentences-v1", 10), ("sentences-v2", 90))),
    Case("promote-gateway-api", "canary-10", "wrong-weights",          # unset weights count 1 each: 50/50
         sentences_route(("sentences-v1", None), ("sentences-v2", None)), says="serves v1 50 / v2 50"),
    Case("promote-gateway-api", "promote", "no-backend", sentences_route(("sentences-v1", 0), ("sentences-v2", 0)),
         says="route sentences-gateway-api.sentences.0 matches sentences-gateway-api.lab.local/, but has no backend "
              "to send it to"),   # every weight 0: the gateway's own 500, not "no route"
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
         says="it serves v1 0.99 / v2 99.01, the step expects v1 0 / v2 100"),   # 1 of 101, not rounded
    # weights are shares of their sum
    Case("autoscale-gateway-api", "all-to-v2", "", autoscale_route(0, 1), traffic=True),
    Case("cross-namespace-gateway-api", "grant", "reference-not-permitted",    # the step as the learner finds it
         says='HTTPRoute search-traffic/traffic-manager names a Service in another namespace that no ReferenceGrant '
              'there allows: its status says ResolvedRefs False, RefNotPermitted, "backendRef search/search-v1 not '
              'accessible'),
    Case("cross-namespace-gateway-api", "grant", "reference-not-permitted",    # a grant beside the route allows nothing
         grant("search-traffic")),
    Case("cross-namespace-gateway-api", "grant", "reference-not-permitted",    # from the wrong namespace
         grant("search-v1", from_namespace="traffic")),
    Case("cross-namespace-gateway-api", "grant", "", grant("search-v1"), traffic=True),   # in the Service's namespace
    Case("cross-namespace-gateway-api", "header-only", "reference-not-permitted",
         # v2 not granted: v1's grant is not enough
         search_route({"name": "canary-by-header", "matches": [{"headers": [{"name": "x-track", "value": "canary"}]}],
                       "backendRefs": [backend_ref("search", namespace="search-v2")]},
                      {"name": "stable", "backendRefs": [backend_ref("search", namespace="search-v1")]})),
    Case("cross-namespace-gateway-api", "header-only", "header-mismatch",
         values="referenceGrant: {enabled: true}\ncanary: {enabled: true, header: {name: x-track, value: Canary}}\n"),
    Case("cross-namespace-gateway-api", "header-only", "", traffic=True,
         values="referenceGrant: {enabled: true}\ncanary: {enabled: true}\n"),
    Case("cross-namespace-gateway-api", "canary-10", "header-route-missing", values="canary: {weight: 10}\n",
         # enabled lost; applied over the release: its grants stay
         says="requests with X-Track: canary take route stable like everyone else"),
    Case("cross-namespace-gateway-api", "canary-10", "wrong-weights",
         values="referenceGrant: {enabled: true}\ncanary: {enabled: true, weight: 3}\n",
         says="serves v1 97 / v2 3, the step expects v1 90 / v2 10"),
    Case("progressive", "canary-50", "wrong-weights", vs("app-example", "app-example", "app.lab.local", "app-gateway", [
        {"route": [to("app-example", 60, "stable"), to("app-example", 40, "canary")]}])),
    Case("promote", "replica-split", "wrong-weights", objects(SENTENCES_V2_TWICE),   # 3 and 2 pods: 60/40
         says="serves v1 60 / v2 40 (plain load balancing over ready pods: v1 3, v2 2), "
              "the step expects v1 75 / v2 25"),
    Case("promote", "replica-split", "", traffic=True),                               # 3 and 1 pods: 75/25
    Case("autoscale", "all-to-v2", "weights-swapped", shop(100, "v2", 0)),
    Case("rollback", "shift-10", "no-endpoints",
         shop_subsets({"version": "v1"}, {"version": "v3-typo"}) + rollback_shop(90, 10)),
    Case("rollback", "roll-back", "destination-extra", rollback_shop(90, 10)),
    Case("rollback", "baseline", "traffic-disagrees",                      # subset v1 picks v3's pods too
         shop_subsets({"app": "shop"}, {"version": "v3"}), traffic=True),
    Case("cross-namespace", "canary-10", "wrong-weights", values="canary: {enabled: true, weight: 3}\n",
         says="serves v1 97 / v2 3, the step expects v1 90 / v2 10"),
    Case("cross-namespace", "header-only", "header-mismatch",
         values="canary: {enabled: true, header: {name: x-track, value: Canary}}\n"),
    Case("cross-namespace", "header-only", "header-mismatch",
         values="canary: {enabled: true, header: {name: x-trak, value: canary}}\n",
         says="route canary-by-header matches x-trak = canary, but the step sends X-Track: canary"),
    Case("cross-namespace", "header-only", "route-shadowed", traffic_manager(STABLE, BY_HEADER)),
    Case("cross-namespace", "canary-10", "header-route-missing", values="canary: {weight: 10}\n",   # enabled lost
         says="requests with X-Track: canary take route stable like everyone else"),
    Case("cross-namespace", "header-only", "no-route", traffic_manager(BY_HEADER)),   # right for testers only
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
    Case("debug", "fix-host", "host-not-served",    # the typo release as found: accepted, 404 for the host
         says="your routes name debug.lab.locl: a typo of debug.lab.local?"),
    Case("debug", "fix-order", "route-shadowed",
         says="route everyone comes before route testers and matches debug.lab.local/, X-Track: canary too"),
    Case("debug", "fix-order", "header-route-missing", debug_shop(everyone(90, 10)),   # testers route deleted
         says="requests with X-Track: canary take route everyone like everyone else"),
    Case("debug", "fix-order", "header-mismatch", debug_shop(for_testers("Canary"), everyone(90, 10))),
    Case("debug", "fix-order", "", debug_shop(for_testers(), everyone(90, 10)), traffic=True),
    Case("debug", "fix-weights", "weights-swapped",                      # the testers' route is right
         says="serves v1 10 / v2 90, the step expects v1 90 / v2 10"),
    Case("debug", "fix-weights", "wrong-weights", debug_shop(for_testers(), everyone(50, 50))),
    Case("debug", "fix-weights", "route-shadowed", debug_shop(everyone(90, 10), for_testers())),
    Case("debug", "fix-weights", "header-route-missing", debug_shop(everyone(90, 10))),
]


@pytest.fixture(scope="module")
def backend(tmp_path_factory):
    yield from module_lab(tmp_path_factory.mktemp("diagnoses"))


@pytest.mark.parametrize("case", CASES, ids=str)
def test_each_wrong_config_fails_with_its_diagnosis_and_each_right_one_passes(backend, case, tmp_path):
    exercise, result, sent = run_case(backend, case, tmp_path)
    assert result.diagnosis == case.diagnosis, result.message
    assert result.passed == (not case.diagnosis), result.message
    assert case.says in result.message
    if case.diagnosis:
        known = BY_CODE.get(case.diagnosis)
        own = dict(exercise.step(case.step).hints_for).get(case.diagnosis)   # the step's word first
        worded = (known.gateway_hint if case.exercise.endswith("-gateway-api") else "") or known.hint if known else ""
        assert result.hint and result.hint == (own or worded or result.hint)
        if case.exercise.endswith("-gateway-api"):   # no Istio-API advice in the Gateway API track
            assert "VirtualService" not in result.message.split("fix:")[-1] + result.hint, result.message
        assert "fix:" in result.message
    # A wrong config fails at once, with no traffic (every check's config comes first); a right one still
    # gets the traffic verdict.
    assert (sent > 0) == case.traffic, f"{sent} requests sent"


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
    assert not finding.fix.startswith("write")   # no close host the routes name: no typo to point at


def test_a_host_typo_is_named_in_the_fix_in_the_words_of_the_tracks_api():
    for gateway_api, field in ((False, "hosts"), (True, "hostnames")):
        finding = diagnose(Situation(host="canary.lab.local", path="/", headers={}, expected={"v1": 100}, targets={},
                                     routes=[], endpoints={}, gateway_api=gateway_api, near_host="canary.lab.locl"))
        assert finding.fix.startswith(f"write canary.lab.local where your route says canary.lab.locl ({field})")


def held_route(name: str, hostnames: list[str] | None) -> dict:
    """A learner's HTTPRoute with a testers' rule the gateway does not serve (behind a catch-all, or for
    another host)."""
    spec = {"parentRefs": [{"name": "canary-gateway"}],
            "rules": [{"name": "testers", "matches": [{"headers": [{"name": "x-track", "value": "canary"}]}],
                       "backendRefs": [{"name": "tornado", "port": 8888}]}]}
    return {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": {"name": name, "namespace": "canary-lab"},
            "spec": spec | ({"hostnames": hostnames} if hostnames is not None else {})}


@pytest.mark.parametrize("hostnames, code", [
    (None, "route-shadowed"),                                          # no hostnames: every host's
    (["other.lab.local", "canary-gateway-api.lab.local"], "route-shadowed"),   # one of them is this host
    (["*.lab.local"], "route-shadowed"),
    (["other.lab.local"], "header-route-missing"),                     # another host's rule is not this one's
])
def test_a_held_rule_the_gateway_leaves_out_counts_only_for_the_hosts_its_route_takes(hostnames, code):
    host = "canary-gateway-api.lab.local"
    main = LiveRoute(host=host, match="prefix /", conditions={"prefix": "/"}, name="main",
                     destinations=[RouteDestination("httpbin.canary-lab", "", 100)])
    finding = diagnose(Situation(
        host=host, path="/", headers={"x-track": "canary"}, expected={"httpbin": 0, "tornado": 100},
        targets={"httpbin": Target("httpbin.canary-lab"), "tornado": Target("tornado.canary-lab")},
        routes=[main], endpoints={("httpbin.canary-lab", ""): 1, ("tornado.canary-lab", ""): 1},
        httproutes=[held_route("testers", hostnames)], gateway_api=True,
        about=RequestClass(headers=(("x-track", "canary"),))))
    assert finding is not None and finding.code == code, finding


BROKEN_ROUTE = {**held_route("canary", ["canary.lab.local"]), "status": {"parents": [{"conditions": [
    {"type": "Accepted", "status": "True", "reason": "Accepted"},
    {"type": "ResolvedRefs", "status": "False", "reason": "InvalidFilter",
     "message": 'unsupported filter type "RequestMirror"'}]}]}}
MESH_ONLY = {"metadata": {"name": "canary", "namespace": "canary-lab"},
             "spec": {"hosts": ["canary.lab.local"], "gateways": ["mesh"]}}


@pytest.mark.parametrize("near, applied, httproutes, why, fix", [
    ("", [], [BROKEN_ROUTE], "HTTPRoute canary-lab/canary serves nothing: ResolvedRefs False, InvalidFilter",
     'fix what HTTPRoute canary-lab/canary\'s status says (unsupported filter type "RequestMirror"); otherwise'),
    ("canary.lab.locl", [], [BROKEN_ROUTE], "a typo of canary.lab.local?",   # the typo first: it is why
     "write canary.lab.local where your route says canary.lab.locl"),
    ("canary.lab.locl", [MESH_ONLY], [BROKEN_ROUTE], "is bound only to `mesh`", "bind the VirtualService"),
    ("", [MESH_ONLY], [BROKEN_ROUTE], "is bound only to `mesh`", "bind the VirtualService"),
])
def test_a_host_nothing_serves_names_the_likeliest_cause_first(near, applied, httproutes, why, fix):
    finding = diagnose(Situation(host="canary.lab.local", path="/", headers={}, expected={"v1": 100}, targets={},
                                 routes=[], endpoints={}, near_host=near, applied=applied, httproutes=httproutes))
    assert finding is not None and finding.code == "host-not-served"
    assert why in finding.message and finding.fix.startswith(fix), (finding.message, finding.fix)
