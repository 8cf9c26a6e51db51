"""The rules of a step's check, against a gateway whose config the test states: an inconclusive
verdict is not a pass, every check of a step's list decides, and what is served is read the way
Envoy picks a route."""

import pytest

from lab.backends.base import LiveRoute, Reply, RouteDestination
from lab.exercises import checks
from lab.exercises.catalogue import Step, load_exercise
from lab.exercises.check_specs import ErrorsCheck, MtlsCheck, TrafficCheck
from lab.exercises.checks import run_check
from lab.exercises.route_table import applied_virtualservices, held_http_routes, unmade
from lab.exercises.served import Target, host_routes, picked_route, served_shares
from lab.manifests import Ref
from lab.traffic.classify import ERROR, UNCLASSIFIED
from lab.traffic.sampler import Answer
from lab.traffic.verdict import FAIL, INCONCLUSIVE, PASS, Verdict

PROMOTE = load_exercise("promote")
HOST = "sentences.lab.local"


def route(*destinations: tuple[str, int], conditions: dict | None = None, host: str = HOST,
          name: str = "") -> LiveRoute:
    return LiveRoute(host=host, match="", domains=(host, f"{host}:*"), conditions=conditions or {"prefix": "/"},
                     destinations=[RouteDestination("sentences.sentences", s, w) for s, w in destinations], name=name)


class Gateway:
    """A backend whose gateway serves the given routes; traffic never reaches it (the verdict is the test's)."""
    name = "local"

    def __init__(self, *routes: LiveRoute, endpoints: dict | None = None):
        self.routes, self.endpoints = list(routes), endpoints or {}

    def live_routes(self):
        return self.routes

    def ready_endpoints(self):
        return self.endpoints

    def endpoint_addresses(self):
        return {}

    def get(self, ref):
        return {"spec": {}}      # every object the exercise makes is held (its routes are the test's)

    def list_objects(self, kind, group=""):
        return []

    def gateway_endpoint(self, scheme, host=""):
        return "http://127.0.0.1:9", None


@pytest.fixture
def verdict(monkeypatch):
    """The traffic verdict the check gets, as the test says; counts how often traffic was sampled."""
    state = {"decision": PASS, "runs": 0, "counts": None, "examples": [], "kinds": []}

    def fake_run_verdict(base, request, classifier, expectation, ca_file=None, also=()):
        state["runs"] += 1
        state["kinds"] = [request, *also]
        counts = state["counts"] or dict.fromkeys(expectation.shares, 50)
        return Verdict(state["decision"], 100, counts, f"{state['decision']} (test)"), state["examples"]

    monkeypatch.setattr(checks, "run_verdict", fake_run_verdict)
    return state


def step(*expects: dict) -> Step:
    return Step(name="s", kind="check", check=[{"traffic": {"expect": e}} for e in expects])


NINETY_TEN = route(("v1", 90), ("v2", 10))


def test_an_inconclusive_verdict_is_not_a_pass(verdict):
    verdict["decision"] = INCONCLUSIVE
    result = run_check(PROMOTE, step({"v1": 90, "v2": 10}), Gateway(NINETY_TEN))
    assert not result.passed and result.diagnosis == "traffic-disagrees"
    assert "could not decide" in result.message and "run the check again" in result.message
    verdict["decision"] = FAIL
    assert not run_check(PROMOTE, step({"v1": 90, "v2": 10}), Gateway(NINETY_TEN)).passed
    verdict["decision"] = PASS
    assert run_check(PROMOTE, step({"v1": 90, "v2": 10}), Gateway(NINETY_TEN)).passed


@pytest.mark.parametrize("order", ["wrong first", "wrong last"])
def test_every_check_of_a_step_decides(verdict, order):
    right, wrong = {"v1": 90, "v2": 10}, {"v1": 10, "v2": 90}
    expects = [wrong, right] if order == "wrong first" else [right, wrong]
    result = run_check(PROMOTE, step(*expects), Gateway(NINETY_TEN))
    assert not result.passed and result.diagnosis == "weights-swapped", result.message
    assert verdict["runs"] == 0   # every check's config comes first: a wrong one anywhere sends nothing
    assert run_check(PROMOTE, step(right, right), Gateway(NINETY_TEN)).passed


def test_a_step_whose_traffic_fails_reports_the_check_that_failed(verdict):
    verdict["decision"] = FAIL
    result = run_check(PROMOTE, step({"v1": 90, "v2": 10}), Gateway(NINETY_TEN))
    assert not result.passed and result.diagnosis == "traffic-disagrees" and result.hint


TARGETS = {"v1": Target("sentences.sentences", "v1"), "v2": Target("sentences.sentences", "v2")}


def test_a_route_to_the_whole_service_splits_by_ready_endpoints():
    endpoints = {("sentences.sentences", ""): 5, ("sentences.sentences", "v1"): 3, ("sentences.sentences", "v2"): 1}
    served = served_shares(route(("", 100)), TARGETS, endpoints)
    assert served.shares == {"v1": 60.0, "v2": 20.0}
    assert served.others == [("other pods of sentences.sentences", 20.0)]   # a fifth pod is neither version
    assert served.pods == {"v1": 3, "v2": 1}


def test_a_route_to_a_service_over_every_version_splits_by_the_pods_of_each_versions_service():
    # The Gateway API track: no subsets, a Service per version, and one over both (`within`).
    targets = {v: Target(f"sentences-{v}.sg", within="sentences.sg") for v in ("v1", "v2")}
    endpoints = {("sentences.sg", ""): 4, ("sentences-v1.sg", ""): 3, ("sentences-v2.sg", ""): 1}
    whole = LiveRoute(host=HOST, match="", domains=(HOST,), conditions={"prefix": "/"},
                      destinations=[RouteDestination("sentences.sg", "", 100)])
    served = served_shares(whole, targets, endpoints)
    assert served.shares == {"v1": 75.0, "v2": 25.0} and served.others == []
    weighted = LiveRoute(host=HOST, match="", domains=(HOST,), conditions={"prefix": "/"},
                         destinations=[RouteDestination("sentences-v1.sg", "", 90),
                                       RouteDestination("sentences-v2.sg", "", 10)])
    assert served_shares(weighted, targets, endpoints).shares == {"v1": 90.0, "v2": 10.0}
    unrelated = {v: Target(f"sentences-{v}.sg") for v in ("v1", "v2")}   # without `within`: not theirs
    assert served_shares(whole, unrelated, endpoints).others == [("sentences.sg", 100.0)]


def test_a_weighted_subset_without_ready_endpoints_is_named():
    served = served_shares(NINETY_TEN, TARGETS, {("sentences.sentences", "v2"): 0})
    assert [d.subset for d in served.empty] == ["v2"] and served.shares == {"v1": 90, "v2": 10}


@pytest.mark.parametrize("conditions, path, headers, matches", [
    ({"prefix": "/"}, "/anything", {}, True),
    ({"prefix": "/websocket"}, "/", {}, False),
    ({"prefix": "/websocket"}, "/WebSocket", {}, False),                      # Envoy compares case by default
    ({"prefix": "/", "headers": [{"name": "x-track"}]}, "/", {"x-track": "any"}, True),     # a name only: present
    ({"prefix": "/", "headers": [{"name": "x-track"}]}, "/", {}, False),
    ({"prefix": "/", "headers": [{"name": "x-track", "string_match": {"safe_regex": {"regex": "can.*"}}}]}, "/",
     {"x-track": "canary"}, True),
    ({"prefix": "/", "headers": [{"name": "x-track", "string_match": {"suffix": "ary"}}]}, "/", {"x-track": "canary"},
     True),
    ({"prefix": "/", "headers": [{"name": "x-track", "string_match": {"some_future_matcher": "x"}}]}, "/",
     {"x-track": "x"}, False),                                                   # what is not understood never holds
    ({"prefix": "/websocket", "case_sensitive": False}, "/WebSocket", {}, True),
    ({"path": "/exact"}, "/exact?q=1", {}, True),
    ({"path": "/exact"}, "/exact/more", {}, False),
    ({"safe_regex": {"regex": "/v[0-9]+"}}, "/v12", {}, True),
    ({"safe_regex": {"regex": "/v[0-9]+"}}, "/v12/x", {}, False),
    ({"prefix": "/", "headers": [{"name": "x-track", "string_match": {"exact": "canary"}}]}, "/",
     {"X-Track": "canary"}, True),
    ({"prefix": "/", "headers": [{"name": "x-track", "string_match": {"exact": "canary"}}]}, "/",
     {"X-Track": "Canary"}, False),
    ({"prefix": "/", "headers": [{"name": "x-track", "present_match": True}]}, "/", {"x-track": "any"}, True),
    ({"prefix": "/", "headers": [{"name": "x-track", "present_match": True}]}, "/", {}, False),
    ({"prefix": "/", "headers": [{"name": "x-track", "string_match": {"prefix": "can"}}]}, "/",
     {"x-track": "canary"}, True),
    ({"prefix": "/", "headers": [{"name": "x-track", "string_match": {"exact": "a"}}, ]}, "/", {"x-other": "a"}, False),
])
def test_a_route_matches_as_envoy_matches_it(conditions, path, headers, matches):
    first = route(("v2", 100), conditions=conditions)
    fallback = route(("v1", 100))
    assert (picked_route([first, fallback], path, headers) is first) == matches


@pytest.mark.parametrize("domains, host, picked", [
    (["*.lab.local", "a.lab.local"], "a.lab.local", "a.lab.local"),       # exact before any wildcard
    (["canary.lab.*", "*.lab.local"], "canary.lab.local", "*.lab.local"),  # a suffix before a longer prefix
    (["*.lab.local"], "canarylab.local", None),                            # the dot is part of the suffix
    (["shop.*"], "shopping.lab.local", None),                              # and of the prefix
    (["shop.*", "*"], "shop.lab.local", "shop.*"),
])
def test_envoy_picks_a_virtual_host_exact_then_suffix_then_prefix_then_any(domains, host, picked):
    routes = [route(host=d) for d in domains]
    found = host_routes(routes, host, "http")
    assert (found[0].host if found else None) == picked


def test_the_virtual_host_is_picked_by_the_most_specific_domain():
    exact, suffix, anything = route(host=HOST), route(host="*.lab.local"), route(host="*")
    assert host_routes([anything, suffix, exact], HOST, "http") == [exact]
    assert host_routes([anything, suffix], HOST, "http") == [suffix]
    assert host_routes([anything], "other.example", "http") == [anything]
    assert host_routes([exact], "other.example", "http") == []
    assert host_routes([exact], HOST, "https") == []      # the HTTPS listener has routes of its own


def test_a_route_to_a_service_with_no_ready_pod_is_diagnosed_as_such_with_no_traffic(verdict):
    endpoints = {("sentences.sentences", ""): 0, ("sentences.sentences", "v1"): 0, ("sentences.sentences", "v2"): 0}
    result = run_check(PROMOTE, step({"v1": 75, "v2": 25}), Gateway(route(("", 100)), endpoints=endpoints))
    assert result.diagnosis == "no-endpoints" and "503" in result.message and verdict["runs"] == 0


def test_a_traffic_result_says_once_what_alpha_and_beta_mean(verdict):
    from rich.console import Console

    console = Console(record=True, width=200)
    for detail in run_check(PROMOTE, step({"v1": 90, "v2": 10}), Gateway(NINETY_TEN)).details:
        console.print(detail)
    shown = console.export_text()
    assert shown.count("a right split fails this check at most 1 time in") == 1
    assert "a split 10 points off passes it at most" in shown            # the default tolerance, said
    assert "the gateway serves v1 90 / v2 10, as the step expects" in shown


def test_live_traffic_says_which_kinds_of_request_it_took(verdict):
    from rich.console import Console

    alice = route(("v1", 90), ("v2", 10), conditions={"prefix": "/", "headers": [
        {"name": "x-user", "string_match": {"exact": "alice"}}]})
    result = run_check(PROMOTE, step({"v1": 90, "v2": 10}), Gateway(alice, NINETY_TEN))
    console = Console(record=True, width=300)
    for detail in result.details:
        console.print(detail)
    shown = " ".join(console.export_text().split())
    assert result.passed and "live traffic over /, /other, / with x-user: alice, /other with x-user: alice" in shown
    assert "more check(s) need" not in result.message          # nothing of the step was skipped here


def test_a_step_with_two_wrong_checks_shows_only_the_first(verdict):
    result = run_check(PROMOTE, step({"v1": 10, "v2": 90}, {"v1": 50, "v2": 50}), Gateway(NINETY_TEN))
    assert result.diagnosis == "weights-swapped" and len(result.details) == 1


@pytest.mark.parametrize("name, kinds", [("cross-namespace", {"VirtualService"}),
                                         ("cross-namespace-gateway-api", {"HTTPRoute"})])
def test_a_check_asks_only_for_the_route_kinds_its_exercise_makes(name, kinds):
    # A cluster without the Gateway API's CRDs cannot answer for an HTTPRoute: the Istio track never asks.
    asked = []

    class Recording:
        def get(self, ref):
            asked.append(ref)

        def list_objects(self, kind, group=""):
            asked.append(Ref(kind, "", "", group))
            return []

    exercise = load_exercise(name)
    applied_virtualservices(exercise, exercise.request.host, Recording())
    held_http_routes(exercise, Recording())
    assert {ref.kind for ref in asked} == kinds


def test_a_right_split_that_fails_by_chance_is_said_to_be_chance(verdict):
    # Envoy draws a weighted destination for every request: nothing sticks to a kept-alive connection.
    verdict["decision"] = FAIL
    result = run_check(PROMOTE, step({"v1": 90, "v2": 10}), Gateway(NINETY_TEN))
    assert result.diagnosis == "traffic-disagrees"
    assert "fell outside the split by chance, which a right split does at most 1 time in" in result.message
    assert "kept-alive" not in result.message and "run the check again" in result.message
    assert "by chance" in result.hint and "pods" not in result.hint     # no blame on pods it cannot see


def test_errors_from_a_destination_with_no_ready_pods_are_said_to_be_that(verdict):
    # The pods went between the config check and the traffic: Envoy's own 503, not the app's failures.
    verdict["decision"] = FAIL
    verdict["counts"] = {"v1": 40, "v2": 0, ERROR: 10}
    verdict["examples"] = [Answer(503, ERROR, "HTTP 503, 'no healthy upstream'", from_gateway=True)]
    result = run_check(PROMOTE, step({"v1": 90, "v2": 10}), Gateway(NINETY_TEN))
    assert "no healthy upstream" in result.message and "not ready" in result.message
    assert "answers fail" not in result.message
    verdict["examples"] = [Answer(500, ERROR, "HTTP 500, 'version v2 failed'", source="v2")]
    result = run_check(PROMOTE, step({"v1": 90, "v2": 10}), Gateway(NINETY_TEN))
    assert "answers fail from v2" in result.message and "not ready" not in result.message


def test_live_traffic_takes_each_kind_of_request_the_step_is_about(verdict):
    testers = route(("v2", 100), conditions={"prefix": "/api", "headers": [
        {"name": "x-user", "string_match": {"exact": "alice"}}]})
    run_check(PROMOTE, step({"v1": 90, "v2": 10}), Gateway(route(("v1", 90), ("v2", 10), conditions={"prefix": "/"})))
    paths = {k.path for k in verdict["kinds"]}
    assert {"/", "/other"} <= paths                      # version apps say who they are on any path
    result = run_check(PROMOTE, step({"v1": 90, "v2": 10}), Gateway(testers, NINETY_TEN))
    # a testers' route the step never asked for takes alice's requests: named as the route that takes them
    assert result.diagnosis == "route-for-some" and "sentences.lab.local/api, x-user: alice" in result.message


class Mesh:
    """A cluster's mesh client pods, answering as the test says (the local lab has none)."""
    name = "k3d"

    def __init__(self, inside: list[int], outside: list[int]):
        self.answers = {"mesh": inside, "outside": outside}

    def send_from_pod(self, client, url, headers, count):
        return [Reply(status, {}, "") for status in self.answers[client][:count]]


def test_mtls_fails_when_one_mesh_request_fails():
    spec = MtlsCheck(url="http://search.services-v1.svc.cluster.local/", requests=5)
    assert checks.mtls_check(spec, Mesh([200] * 5, [0] * 5)).passed
    one_lost = checks.mtls_check(spec, Mesh([200, 200, 200, 200, 0], [0] * 5))
    assert not one_lost.passed and "only 4 of 5" in one_lost.message
    leaky = checks.mtls_check(spec, Mesh([200] * 5, [0, 0, 0, 0, 200]))
    assert not leaky.passed and "got 1 of 5" in leaky.message


def test_a_rollout_check_reads_the_outcome_not_the_routes(verdict):
    rollout = Step(name="s", kind="check", check=[{"rollout": {"virtualservice": "shop", "namespace": "shop-auto",
                                                                "canary": "v2", "outcome": "promoted"}}])
    result = run_check(load_exercise("auto-rollout"), rollout, Gateway(NINETY_TEN))
    assert not result.passed and "holds no rollout's outcome" in result.message and verdict["runs"] == 0


def test_live_traffic_takes_get_requests_and_other_paths_only_from_apps_that_say_who_they_are_by_header(verdict):
    posts = route(("v1", 90), ("v2", 10), conditions={"prefix": "/", "headers": [
        {"name": ":method", "string_match": {"exact": "POST"}}]})
    assert run_check(PROMOTE, step({"v1": 90, "v2": 10}), Gateway(posts, NINETY_TEN)).passed
    assert [k.path for k in verdict["kinds"]] == ["/", "/other"]          # a POST probe is the config's only
    canary = load_exercise("canary")                                         # titles: the app's own page only
    apps = LiveRoute(host="canary.lab.local", match="", domains=("canary.lab.local",), conditions={"prefix": "/"},
                     destinations=[RouteDestination("httpbin.canary-lab", "", 100)])
    assert run_check(canary, Step(name="s", kind="check", check=[{"traffic": {"expect": {"httpbin": 100}}}]),
                     Gateway(apps)).passed
    assert [k.path for k in verdict["kinds"]] == ["/"]


@pytest.mark.parametrize("counts, example, says", [
    ({"v1": 40, "v2": 0, ERROR: 10}, Answer(503, ERROR, "HTTP 503, 'service unavailable'", source="v2"),
     "answers fail from v2"),                                               # the app's own 503: not Envoy's UH
    ({"v1": 40, "v2": 0, UNCLASSIFIED: 5}, Answer(200, UNCLASSIFIED, "HTTP 200, 'hello'"),
     "answers come from an app none of the destinations matches"),
])
def test_why_live_traffic_disagrees_is_what_the_answers_show(verdict, counts, example, says):
    verdict["decision"], verdict["counts"], verdict["examples"] = FAIL, counts, [example]
    result = run_check(PROMOTE, step({"v1": 90, "v2": 10}), Gateway(NINETY_TEN))
    assert says in result.message and "no healthy upstream" not in result.message


class Pods(Mesh):
    """A cluster's mesh client whose calls the test answers as v1 or v2 pods would."""

    def __init__(self, version: str):
        self.version = version

    def send_from_pod(self, client, url, headers, count):
        return [Reply(200, {"x-version": self.version}, "") for _ in range(count)]


@pytest.mark.parametrize("version, passed", [("v1", True), ("v2", False)])
def test_a_split_seen_from_the_mesh_is_judged_on_the_mesh_clients_answers(version, passed):
    mesh = TrafficCheck.model_validate({"expect": {"v1": 100, "v2": 0}, "from": "mesh", "url": "http://s.n/"})
    result = checks.traffic_check(PROMOTE, mesh, Pods(version))
    assert result.passed == passed and result.message.startswith("inside the mesh: ")
    from rich.console import Console
    console = Console(record=True, width=200)
    for detail in result.details:
        console.print(detail)
    assert ("is yours bound there?" in console.export_text()) == (not passed)


def test_the_error_check_compares_the_canary_with_stable(monkeypatch):
    def answers(v1_errors: int, v3_errors: int, stable: bool = True):
        made = [Answer(500 if i < v3_errors else 200, "", source="v3") for i in range(100)]
        return made + ([Answer(500 if i < v1_errors else 200, "", source="v1") for i in range(900)] if stable else [])

    rollback = load_exercise("rollback")
    errors = ErrorsCheck(canary="v3", stable="v1")
    for given, passed, says in [(answers(0, 30), True, "v3 fails more often than v1"),
                                (answers(9, 1), False, "v3 is not measurably worse than v1 yet"),
                                (answers(0, 100, stable=False), False, "not measurably worse"),
                                ([a for a in answers(0, 0) if a.source == "v1"], False, "v3 got no traffic")]:
        monkeypatch.setattr(checks, "collect", lambda *a, given=given, **k: given)
        result = checks.errors_check(rollback, errors, Gateway())
        assert result.passed == passed and says in result.message, result.message


def test_pods_of_a_service_that_neither_version_picks_are_named_however_few():
    endpoints = {("sentences.sentences", ""): 100, ("sentences.sentences", "v1"): 99, ("sentences.sentences", "v2"): 0}
    served = served_shares(route(("", 100)), TARGETS, endpoints)
    assert served.shares == {"v1": 99.0, "v2": 0.0} and served.others == [("other pods of sentences.sentences", 1.0)]


def test_a_route_to_another_whole_service_is_not_split_among_this_ones_subsets():
    other = LiveRoute(host=HOST, match="", domains=(HOST,), conditions={"prefix": "/"},
                      destinations=[RouteDestination("other.ns", "", 100)])
    served = served_shares(other, TARGETS, {("other.ns", ""): 2, ("sentences.sentences", "v1"): 3})
    assert served.shares == {"v1": 0.0, "v2": 0.0} and served.others == [("other.ns", 100.0)]


@pytest.mark.parametrize("name, maker", [("auto-rollout", "step deploy makes them"),
                                          ("debug", "step deploy makes them"),           # beside its Deployments
                                          ("cross-namespace", "step install-chart makes them")])   # a chart's
def test_with_no_route_object_held_the_check_names_the_step_that_makes_them(name, maker):
    class Empty(Gateway):
        def get(self, ref):
            return None

    assert unmade(load_exercise(name), Empty(), ()) == maker


def test_a_split_by_pods_is_said_to_a_hundredth_of_a_point():
    endpoints = {("sentences.sentences", ""): 3, ("sentences.sentences", "v1"): 2, ("sentences.sentences", "v2"): 1}
    assert served_shares(route(("", 100)), TARGETS, endpoints).shares == {"v1": 66.67, "v2": 33.33}


def test_the_learners_other_httproutes_count_only_where_they_take_the_host():
    host = "canary-gateway-api.lab.local"

    def route(name: str, hostnames: list[str] | None) -> dict:
        spec = {"hostnames": hostnames} if hostnames is not None else {}
        return {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
                "metadata": {"name": name, "namespace": "canary-lab"}, "spec": spec}

    own = route("canary", ["canary.lab.local"])   # the exercise's own: held whatever its hostnames say
    others = [route("exact", [host]), route("wildcard", ["*.lab.local"]), route("any-host", None),
              route("one-of-two", ["other.lab.local", host]), route("elsewhere", ["other.lab.local"])]

    class Held:
        def get(self, ref):
            return own if ref.name == "canary" else None

        def list_objects(self, kind, group=""):
            return [own, *others]

    exercise = load_exercise("canary-gateway-api")
    names = [r["metadata"]["name"] for r in held_http_routes(exercise, Held(), host)]
    assert names == ["canary", "exact", "wildcard", "any-host", "one-of-two"]
    assert [r["metadata"]["name"] for r in held_http_routes(exercise, Held())] == ["canary"]   # no host: own only
