"""Whole route tables, through the real Envoy of one local lab: learner mistakes in both tracks that a
check of the one request `/` let through (a route for `/` only, a WebSocket route deleted, a header
route behind a catch-all, a split by pods where weights are asked for) fail with a named diagnosis
and no traffic sent; right answers in shapes other than the solution (split over several objects,
reordered, renamed, equivalent weights) pass on live traffic.

tests/test_diagnoses.py holds the first table (one wrong config per diagnosis); the counts below are
over both tables."""

import copy

import pytest

from lab.config import EXERCISES_DIR
from lab.exercises.diagnoses import BY_CODE
from lab.manifests import Ref, load_manifest_file
from tests import test_diagnoses
from tests.check_cases import (
    Case,
    app_route,
    apps,
    autoscale_route,
    backend_ref,
    debug_shop,
    everyone,
    for_testers,
    gateway_api_route,
    module_lab,
    run_case,
    search_route,
    to,
    traffic_manager,
    vs,
)

pytestmark = pytest.mark.slow

WEBSOCKET = {"name": "websocket", "match": [{"uri": {"prefix": "/websocket"}}], "route": [to("tornado", port=8888)]}
WS_RULE = {"name": "websocket", "matches": [{"path": {"type": "PathPrefix", "value": "/websocket"}}],
           "backendRefs": [backend_ref("tornado", port=8888)]}
ONLY_ROOT = [{"uri": {"exact": "/"}}]
X_USER = [{"headers": {"x-user": {"exact": "alice"}}}]


def canary_vs(*http: dict, name: str = "canary") -> list[dict]:
    return vs("canary-lab", name, "canary.lab.local", "canary-gateway", list(http))


def main(httpbin: int, tornado: int, **more) -> dict:
    return {"name": "main", "route": apps(httpbin, tornado), **more}


def only_httpbin(**more) -> dict:
    return {"route": [to("httpbin", port=8000)], **more}


def canary_route(*rules: dict, name: str = "canary") -> list[dict]:
    return gateway_api_route("canary-lab", name, "canary-gateway", "canary-gateway-api.lab.local", list(rules))


def weighted(httpbin: int | None, tornado: int | None = None, **more) -> dict:
    refs = [backend_ref("httpbin", httpbin, port=8000)] + \
        ([backend_ref("tornado", tornado, port=8888)] if tornado is not None else [])
    return {"name": "main", "backendRefs": refs, **more}


def path_match(kind: str, value: str) -> list[dict]:
    return [{"path": {"type": kind, "value": value}}]


def preview_service() -> list[dict]:
    """A Service that exists (httpbin's pods) but is none of canary's destinations."""
    return [{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "httpbin-preview", "namespace": "canary-lab"},
             "spec": {"selector": {"app": "httpbin"}, "ports": [{"name": "http", "port": 8000, "targetPort": 80}]}}]


def scaled(exercise: str, deployment: str, replicas: int) -> list[dict]:
    found = [o for o in load_manifest_file(EXERCISES_DIR / exercise / "manifests" / "app.yaml")
             if o["kind"] == "Deployment" and o["metadata"]["name"] == deployment]
    obj = copy.deepcopy(found[0])
    obj["spec"]["replicas"] = replicas
    return [obj]


def sentences(*routes: dict) -> list[dict]:
    return vs("sentences", "sentences", "sentences.lab.local", "sentences-gateway", [{"route": list(routes)}])


def sentences_rule(*refs: dict) -> list[dict]:
    return gateway_api_route("sentences-gateway-api", "sentences", "sentences-gateway",
                             "sentences-gateway-api.lab.local",
                             [{"backendRefs": list(refs)}])


def app_vs(*http: dict) -> list[dict]:
    return vs("app-example", "app-example", "app.lab.local", "app-gateway", list(http))


def shop_auto(*routes: dict) -> list[dict]:
    return vs("shop-auto", "shop", "auto.lab.local", "shop-gateway", [{"name": "main", "route": list(routes)}])


def checkout(*routes: dict, name: str = "") -> list[dict]:
    return vs("checkout", "checkout", "metrics.lab.local", "checkout-gateway",
              [{**({"name": name} if name else {}), "route": list(routes)}])


def rollback_gw(*rules: dict, name: str = "shop") -> list[dict]:
    return gateway_api_route("shop-rollback-gateway-api", name, "shop-gateway", "rollback-gateway-api.lab.local",
                             list(rules))


def autoscale_gw(*rules: dict) -> list[dict]:
    return gateway_api_route("shop-gateway-api", "shop", "shop-gateway", "shop-gateway-api.lab.local", list(rules))


def refs(*pairs: tuple[str, int | None]) -> list[dict]:
    return [backend_ref(service, weight) for service, weight in pairs]


CANARY_VS = Ref("VirtualService", "canary-lab", "canary")
CANARY_ROUTE = Ref("HTTPRoute", "canary-lab", "canary", "gateway.networking.k8s.io")
HEADER_RULE = {"name": "canary-by-header", "matches": [{"headers": [{"name": "x-track", "value": "canary"}]}],
               "backendRefs": [backend_ref("search", namespace="search-v2")]}
STABLE_RULE = {"name": "stable", "backendRefs": [backend_ref("search", namespace="search-v1")]}
GRANTS = "referenceGrant: {enabled: true}\n"

ISTIO_MISTAKES = [
    # The issue's own: a check of `/` alone let each of these pass.
    Case("canary", "shift-20", "no-route", canary_vs(WEBSOCKET, main(80, 20, match=ONLY_ROOT)),
         says="for canary.lab.local/other (the step is about every path but /websocket): host canary.lab.local is "
              "served, but no route matches"),
    Case("canary", "rollback", "destination-extra", canary_vs(WEBSOCKET, only_httpbin(match=ONLY_ROOT), main(80, 20)),
         says="for canary.lab.local/other (the step is about every path but /websocket): the gateway sends 20% to "
              "tornado"),
    Case("canary", "rollback", "path-route-missing", canary_vs(only_httpbin(name="main")),
         says="requests to canary.lab.local/websocket (/websocket) take route main of VirtualService "
              "canary-lab/canary, which matches every path: they get tornado 0 / httpbin 100, expected tornado 100"),
    Case("canary", "shift-20", "path-route-missing", canary_vs(main(80, 20))),   # WebSocket route deleted
    Case("canary", "shift-20", "route-shadowed", canary_vs(WEBSOCKET, main(100, 0)) + canary_vs(main(80, 20),
                                                                                               name="canary-split"),
         says="route main of VirtualService canary-lab/canary comes before route main of VirtualService "
              "canary-lab/canary-split and matches canary.lab.local/ too, so main of VirtualService "
              "canary-lab/canary-split never gets it: it gets httpbin 100 / tornado 0, "
              "expected httpbin 80 / tornado 20 "
              "(VirtualService canary-lab/canary and VirtualService canary-lab/canary-split share the host: the "
              "gateway merges them, the older one's routes first, and each one's catch-all after every route with "
              "a match)\n  fix: take the catch-all out of VirtualService canary-lab/canary (the older one)"),
    # More a learner does.
    Case("canary", "shift-20", "destination-missing",                    # a typo in the WebSocket route's prefix
         canary_vs({**WEBSOCKET, "match": [{"uri": {"prefix": "/websockt"}}]}, main(80, 20)),
         says="for canary.lab.local/websockt (the step is about every path but /websocket)"),
    Case("canary", "shift-20", "no-route", canary_vs(WEBSOCKET, main(80, 20, match=X_USER))),   # a match on main
    Case("canary", "shift-20", "no-route",                                # main only for /anything
         canary_vs(WEBSOCKET, main(80, 20, match=[{"uri": {"prefix": "/anything"}}]))),
    Case("canary", "shift-20", "route-for-some", canary_vs(             # a later route that misses is no shadow
        WEBSOCKET, main(100, 0, match=X_USER), main(80, 20, match=[{"headers": {"x-user": {"exact": "bob"}}}]),
        main(80, 20)), says="for canary.lab.local/, x-user: alice"),
    Case("canary", "rollback", "route-for-some", canary_vs(WEBSOCKET, main(0, 100, match=X_USER), only_httpbin()),
         says="for canary.lab.local/, x-user: alice"),                    # a dark launch's route left behind
    Case("canary", "rollback", "destination-extra", preview_service() + canary_vs(WEBSOCKET, {"route": [
        to("httpbin", 99, port=8000), to("httpbin-preview", 1, port=8000)]}),
         says="1% to httpbin-preview.canary-lab"),                        # a Service that exists, not a destination
    Case("canary", "rollback", "destination-extra",
         canary_vs(WEBSOCKET, main(50, 50, match=[{"uri": {"prefix": "/h"}}]), only_httpbin()),
         says="for canary.lab.local/h"),
    Case("progressive", "canary-50", "destination-missing",             # the 50/50 only under /api
         app_vs({"match": [{"uri": {"prefix": "/api"}}], "route": [to("app-example", 50, "stable"),
                                                                    to("app-example", 50, "canary")]},
                {"route": [to("app-example", 100, "stable"), to("app-example", 0, "canary")]})),
    Case("progressive", "canary-100", "destination-extra", app_vs(
        {"route": [to("app-example", 1, "stable"), to("app-example", 99, "canary")]})),
    Case("promote", "promote", "split-by-pods", sentences(to("sentences")) + scaled("promote", "sentences-v1", 0),
         says="serves v1 0 / v2 100 (plain load balancing over ready pods: v1 0, v2 1), as the step expects, but"),
    Case("promote", "canary-10", "wrong-weights", sentences(to("sentences")),
         says="serves v1 75 / v2 25 (plain load balancing over ready pods: v1 3, v2 1)"),
    Case("promote", "canary-10", "weights-swapped", sentences(to("sentences", 10, "v1"), to("sentences", 90, "v2"))),
    Case("auto-rollout", "baseline", "destination-extra", shop_auto(to("shop", 90, "v1"), to("shop", 10, "v3")),
         says="10% to v3"),                                              # a destination the step does not name
    Case("auto-rollout", "promote-v2", "destination-extra", shop_auto(to("shop", 0, "v2"), to("shop", 90, "v1"),
                                                                      to("shop", 10, "v3")),
         says="90% to v1, 10% to v3"),                                   # one share swapped is not a swap
    Case("metrics", "canary-20", "weights-swapped", checkout(to("checkout", 20, "v1"), to("checkout", 80, "v2"))),
    Case("metrics", "roll-back", "weights-swapped", checkout(to("checkout", 0, "v1"), to("checkout", 100, "v2"))),
    Case("cross-namespace", "v1-only", "routes-not-made", skipped=("install-chart",),
         says="the lab holds none of the routes this exercise makes for search.lab.local: step install-chart "
              "makes them, and it was skipped"),
    Case("cross-namespace", "header-only", "destination-extra",          # the canary's weight given too soon
         values="canary: {enabled: true, weight: 10}\n"),
    Case("cross-namespace", "header-only", "header-mismatch", traffic_manager(
        {**test_diagnoses.BY_HEADER, "match": [{"headers": {"x-track": {"exact": "testers"}}}]},
        test_diagnoses.STABLE)),
    Case("autoscale", "all-to-v2", "destination-extra",
         vs("shop", "shop", "shop.lab.local", "shop-gateway",
            [{"route": [to("shop", 1, "v1"), to("shop", 99, "v2")]}])),
    Case("rollback", "shift-10", "wrong-weights", vs("shop-rollback", "shop", "rollback.lab.local", "shop-gateway", [
        {"route": [to("shop", 95, "v1"), to("shop", 5, "v3")]}])),
    Case("rollback", "roll-back", "weights-swapped", vs("shop-rollback", "shop", "rollback.lab.local",
                                                            "shop-gateway", [{"route": [to("shop", 100, "v3")]}])),
    Case("canary", "split-over-https", "no-route", canary_vs(WEBSOCKET, main(80, 20, match=ONLY_ROOT))),
    Case("canary", "shift-20", "host-not-served",                        # a typo in the host
         vs("canary-lab", "canary", "canary.lab.locl", "canary-gateway", [WEBSOCKET, main(80, 20)]),
         says="your routes name canary.lab.locl: a typo of canary.lab.local?"),
    Case("canary", "shift-20", "wrong-weights", canary_vs(WEBSOCKET, main(70, 30)),   # a step too far
         says="serves httpbin 70 / tornado 30"),
    Case("canary", "shift-20", "route-for-some", canary_vs(WEBSOCKET, {   # a testers' route the step never asked for
        "name": "testers", "match": [{"headers": {"x-track": {"exact": "canary"}}}],
        "route": [to("tornado", port=8888)]},
        main(80, 20)), says="take route testers, which matches them"),
]

GATEWAY_API_MISTAKES = [
    Case("canary-gateway-api", "shift-20", "host-not-served", canary_route(WS_RULE, weighted(80, 20) | {   # a mirror
        "backendRefs": [backend_ref("httpbin", 80, port=8000) | {"filters": [{"type": "RequestMirror",   # where
            "requestMirror": {"backendRef": {"name": "tornado", "port": 8888}}}]},        # Istio takes none
                        backend_ref("tornado", 20, port=8888)]}),
         says="HTTPRoute canary-lab/canary serves nothing: ResolvedRefs False, InvalidFilter"),
    Case("canary-gateway-api", "shift-20", "route-for-some", canary_route(WS_RULE, weighted(80, 20), {   # a learner's
        "name": "testers", "matches": [{"headers": [{"name": "X-Track", "value": "canary"}]}],        # extra rule
        "backendRefs": [backend_ref("tornado", port=8888)]}),
         says="requests with x-track (canary-gateway-api.lab.local/, x-track: canary) take route testers"),
    Case("canary-gateway-api", "shift-20", "no-route", canary_route(WS_RULE, weighted(80, 20, matches=path_match(
        "Exact", "/"))), says="for canary-gateway-api.lab.local/other"),
    Case("canary-gateway-api", "rollback", "destination-extra", canary_route(WS_RULE, weighted(80, 20), {
        "name": "root", "matches": path_match("Exact", "/"), "backendRefs": [backend_ref("httpbin", port=8000)]}),
         says="for canary-gateway-api.lab.local/other (the step is about every path but /websocket)"),
    Case("canary-gateway-api", "rollback", "path-route-missing", canary_route(weighted(100)),
         says="requests to canary-gateway-api.lab.local/websocket (/websocket) take route main"),
    Case("canary-gateway-api", "shift-20", "path-route-missing", canary_route(weighted(80, 20))),
    Case("canary-gateway-api", "shift-20", "path-route-missing",          # /websockets takes no /websocket
         canary_route({**WS_RULE, "matches": path_match("PathPrefix", "/websockets")}, weighted(80, 20))),
    Case("canary-gateway-api", "shift-20", "weights-swapped", canary_route(WS_RULE, weighted(20, 80))),
    Case("canary-gateway-api", "shift-20", "wrong-weights", canary_route(WS_RULE, {"name": "main", "backendRefs": [
        backend_ref("httpbin", port=8000), backend_ref("tornado", port=8888)]}),
         says="serves httpbin 50 / tornado 50"),                         # no weights: 1 each
    Case("canary-gateway-api", "shift-20", "wrong-weights", canary_route(WS_RULE, weighted(8, 20))),
    Case("canary-gateway-api", "shift-20", "backend-not-found", canary_route(WS_RULE, {
        "name": "main", "backendRefs": [backend_ref("httpbin", 80, port=8000), backend_ref("tornad", 20, port=8888)]}),
         says="did you mean tornado?"),
    Case("canary-gateway-api", "shift-20", "no-route", canary_route(WS_RULE, weighted(80, 20, matches=[
        {"method": "POST"}])), says="host canary-gateway-api.lab.local is served, but no route matches"),
    Case("canary-gateway-api", "shift-20", "no-route", canary_route(WS_RULE, weighted(80, 20, matches=[
        {"headers": [{"name": "x-user", "value": "alice"}]}]))),
    Case("canary-gateway-api", "rollback", "route-for-some", canary_route(WS_RULE, weighted(100), {
        "name": "dark", "matches": [{"headers": [{"name": "x-user", "value": "alice"}]}],
        "backendRefs": [backend_ref("tornado", port=8888)]}), says="for canary-gateway-api.lab.local/, x-user: alice"),
    Case("canary-gateway-api", "rollback", "destination-extra", preview_service() + canary_route(WS_RULE, {
        "name": "main", "backendRefs": [backend_ref("httpbin", 99, port=8000),
                                        backend_ref("httpbin-preview", 1, port=8000)]}),
         says="1% to httpbin-preview.canary-lab"),
    Case("canary-gateway-api", "rollback", "destination-extra", preview_service() + canary_route(WS_RULE, {
        "name": "main", "backendRefs": [backend_ref("httpbin", 1999, port=8000),
                                        backend_ref("httpbin-preview", 1, port=8000)]}),
         says="0.05% to httpbin-preview.canary-lab"),                    # not rounded away to nothing
    Case("canary-gateway-api", "shift-20", "route-shadowed",             # the older route's same match wins
         canary_route(WS_RULE, weighted(100)) + canary_route(weighted(80, 20), name="canary-split")),
    Case("canary-gateway-api", "shift-20", "route-not-accepted",
         [{**canary_route(WS_RULE, weighted(80, 20))[0], "spec": {
             **canary_route(WS_RULE, weighted(80, 20))[0]["spec"], "hostnames": ["canary.lab.local"]}}],
         says="NoMatchingListenerHostname"),
    Case("canary-gateway-api", "split-over-https", "no-route",
         canary_route(WS_RULE, weighted(80, 20, matches=path_match("Exact", "/")))),
    Case("progressive-gateway-api", "canary-100", "no-backend", app_route(0, 0)),
    Case("progressive-gateway-api", "canary-100", "destination-extra", app_route(1, 99)),
    Case("progressive-gateway-api", "canary-50", "destination-missing", app_route(100, 0)),
    Case("progressive-gateway-api", "canary-50", "no-route", gateway_api_route(
        "app-gateway-api", "app-example", "app-gateway", "app-gateway-api.lab.local",
        [{"matches": path_match("PathPrefix", "/api"), "backendRefs": refs(("app-stable", 50), ("app-canary", 50))}])),
    Case("promote-gateway-api", "promote", "split-by-pods",
         sentences_rule(backend_ref("sentences")) + scaled("promote-gateway-api", "sentences-v1", 0),
         says="as the step expects, but only because of how many pods run"),
    Case("promote-gateway-api", "canary-10", "wrong-weights", sentences_rule(backend_ref("sentences")),
         says="serves v1 75 / v2 25 (plain load balancing over ready pods: v1 3, v2 1)"),
    Case("promote-gateway-api", "promote", "destination-extra", sentences_rule(
        backend_ref("sentences-v1", 1), backend_ref("sentences-v2", 99))),
    Case("rollback-gateway-api", "roll-back", "no-route", rollback_gw(
        {"matches": path_match("PathPrefix", "/api"), "backendRefs": refs(("shop-v1", None))})),
    Case("rollback-gateway-api", "roll-back", "route-shadowed",          # the older route's same match wins
         rollback_gw({"backendRefs": refs(("shop-v1", 90), ("shop-v3", 10))}) +
         rollback_gw({"backendRefs": refs(("shop-v1", None))}, name="shop-fixed")),
    Case("rollback-gateway-api", "shift-10", "weights-swapped", rollback_gw(
        {"backendRefs": refs(("shop-v1", 10), ("shop-v3", 90))})),
    Case("autoscale-gateway-api", "all-to-v2", "weights-swapped", autoscale_gw(   # v2 only for testers
        {"matches": [{"headers": [{"name": "x-track", "value": "canary"}]}], "backendRefs": refs(("shop-v2", None))},
        {"backendRefs": refs(("shop-v1", None))})),
    Case("autoscale-gateway-api", "split-90-10", "wrong-weights", autoscale_route(9, 10)),
    Case("cross-namespace-gateway-api", "grant", "routes-not-made", skipped=("install-chart",),
         says="step install-chart makes them, and it was skipped"),
    Case("cross-namespace-gateway-api", "header-only", "header-mismatch", search_route(
        {**HEADER_RULE, "matches": [{"headers": [{"name": "x-track", "value": "testers"}]}]}, STABLE_RULE)),
    Case("cross-namespace-gateway-api", "header-only", "destination-extra",
         values=GRANTS + "canary: {enabled: true, weight: 10}\n"),
]

RIGHT_SHAPES = [
    Case("canary", "shift-20", "", canary_vs(WEBSOCKET) + canary_vs(main(80, 20), name="canary-split"),
         traffic=True, shape="split over two VirtualServices"),
    Case("canary", "shift-20", "", canary_vs(WEBSOCKET, {"name": "main", "route": [to("tornado", 20, port=8888),
                                                                                   to("httpbin", 80, port=8000)]}),
         traffic=True, shape="destinations in the other order"),
    Case("canary", "shift-20", "", vs("canary-lab", "my-canary", "canary.lab.local", "canary-gateway",
                                      [{**WEBSOCKET, "name": "ws"}, {"route": apps(80, 20)}]),
         deleted=[CANARY_VS], traffic=True, shape="other names"),
    Case("canary", "shift-20", "", canary_vs({**WEBSOCKET, "match": [{"uri": {"exact": "/websocket"}}]}, main(80, 20)),
         traffic=True, shape="an exact WebSocket path"),
    Case("canary", "shift-20", "", canary_vs(WEBSOCKET, main(80, 20, match=[{"uri": {"regex": "/.*"}}])),
         traffic=True, shape="the main route as a regex for every path"),
    Case("canary", "rollback", "", canary_vs(WEBSOCKET, main(100, 0)), traffic=True, shape="tornado kept at weight 0"),
    Case("canary", "rollback", "", canary_vs(WEBSOCKET, main(100, 0, match=[{"uri": {"prefix": "/"}}])),
         traffic=True, shape="an explicit prefix /"),
    Case("canary-gateway-api", "shift-20", "", canary_route(WS_RULE, weighted(4, 1)), traffic=True,
         shape="weights 4 and 1"),
    Case("canary-gateway-api", "shift-20", "", canary_route(WS_RULE) + canary_route(weighted(80, 20),
                                                                                    name="canary-split"),
         traffic=True, shape="split over two HTTPRoutes"),
    Case("canary-gateway-api", "rollback", "", canary_route(weighted(100, matches=path_match("PathPrefix", "/")),
                                                            {**WS_RULE, "name": "ws"}),
         traffic=True, shape="rules in the other order, an explicit PathPrefix /"),
    Case("progressive", "canary-50", "", app_vs({"route": [to("app-example", 50, "canary"),
                                                          to("app-example", 50, "stable")]}),
         traffic=True, shape="destinations in the other order"),
    Case("progressive-gateway-api", "canary-50", "", gateway_api_route(
        "app-gateway-api", "app-example", "app-gateway", "app-gateway-api.lab.local",
        [{"backendRefs": refs(("app-canary", None), ("app-stable", None))}]), traffic=True,
         shape="no weights: 1 each, in the other order"),
    Case("debug", "fix-order", "", debug_shop({**for_testers(), "match": [{"headers": {"x-track": {"prefix": "can"}}}]},
                                              everyone(90, 10)),
         traffic=True, shape="testers matched by a header prefix"),
    Case("debug", "fix-order", "", debug_shop(for_testers(), {
        "name": "typo", "match": [{"headers": {"x-trak": {"exact": "canary"}}}],
        "route": [to("shop", 90, "v1"), to("shop", 10, "v2")]}, everyone(90, 10)),
         traffic=True, shape="a harmless route on a header named like the testers' one"),
    Case("debug", "fix-weights", "", debug_shop(for_testers()) + vs("shop-debug", "shop-everyone", "debug.lab.local",
                                                                    "shop-gateway", [everyone(90, 10)]),
         traffic=True, shape="testers and everyone in two VirtualServices"),
    Case("cross-namespace", "header-only", "", traffic_manager(
        {**test_diagnoses.BY_HEADER, "match": [{"headers": {"x-track": {"regex": "canary"}}}]}, test_diagnoses.STABLE),
         traffic=True, shape="the header matched by a regex"),
    Case("autoscale", "all-to-v2", "", vs("shop", "shop", "shop.lab.local", "shop-gateway", [
        {"route": [to("shop", subset="v2")]}]), traffic=True, shape="v2 as the only destination"),
    Case("promote", "promote", "", sentences(to("sentences", subset="v2")), traffic=True,
         shape="v2 as the only destination"),
    Case("promote-gateway-api", "canary-10", "", sentences_rule(backend_ref("sentences-v1", 9),
                                                                backend_ref("sentences-v2", 1)),
         traffic=True, shape="weights 9 and 1"),
    Case("rollback-gateway-api", "roll-back", "", rollback_gw({"backendRefs": refs(("shop-v1", 90), ("shop-v3", 0))}),
         traffic=True, shape="shop-v3 kept at weight 0"),
    Case("metrics", "roll-back", "", checkout(to("checkout", subset="v1"), name="everyone"), traffic=True,
         shape="a named route, v1 alone"),
]

CASES = ISTIO_MISTAKES + GATEWAY_API_MISTAKES + RIGHT_SHAPES


@pytest.fixture(scope="module")
def backend(tmp_path_factory):
    yield from module_lab(tmp_path_factory.mktemp("route-tables"))


@pytest.mark.parametrize("case", CASES, ids=str)
def test_a_whole_route_table_fails_with_its_diagnosis_or_passes_in_any_right_shape(backend, case, tmp_path):
    _, result, sent = run_case(backend, case, tmp_path)
    assert result.diagnosis == case.diagnosis, result.message
    assert result.passed == (not case.diagnosis), result.message
    assert case.says in result.message
    if case.diagnosis:
        assert "fix:" in result.message and result.hint
        if case.track == "gateway-api":   # no Istio-API advice in the Gateway API track
            assert "VirtualService" not in result.message.split("fix:")[-1] + result.hint, result.message
    # A wrong config fails at once, with no traffic; a right one passes on live traffic.
    assert (sent > 0) == case.traffic, f"{sent} requests sent"


def test_the_tables_hold_thirty_mistakes_per_track_and_fifteen_right_shapes():
    every = CASES + test_diagnoses.CASES
    mistakes = [c for c in every if c.diagnosis]
    for track in ("istio", "gateway-api"):
        assert len([c for c in mistakes if c.track == track]) >= 30, track
    assert len([c for c in every if not c.diagnosis and c.shape]) >= 15
    assert set(BY_CODE) - {"not-applied"} <= {c.diagnosis for c in mistakes}   # not-applied: the walkthrough's
