"""Which requests a step's expectation is about, and the probes that tell a right route table from a
wrong one: the rules tests/test_route_tables.py plays through the real Envoy, here one at a time."""

import pytest

from lab.backends.base import LiveRoute
from lab.exercises.check_specs import (
    About,
    ArgoRolloutCheck,
    ErrorsCheck,
    MtlsCheck,
    Question,
    ScaleCheck,
    TrafficCheck,
    WebsocketCheck,
)
from lab.exercises.request_classes import Probe, RequestClass

BUT_WEBSOCKET = RequestClass(excluded=("/websocket",))
TESTERS = RequestClass(headers=(("X-Track", "canary"),), reserved=frozenset({"x-track"}))
EVERYONE = RequestClass(reserved=frozenset({"x-track"}))


def route(**conditions) -> LiveRoute:
    return LiveRoute(host="h", match="", conditions=conditions)


@pytest.mark.parametrize("path, inside", [
    ("/", True), ("/other", True), ("/headers?x=1", True),
    ("/websocket", False), ("/websocket/x", False),
    ("/websockets", False), ("/WebSocket", False),    # an Istio prefix takes these, a PathPrefix not: no one's
])
def test_every_path_but_one_leaves_out_what_only_starts_like_it(path, inside):
    assert BUT_WEBSOCKET.contains(Probe(path)) == inside


@pytest.mark.parametrize("pattern, path, inside", [
    ("/websocket", "/websocket", True), ("/websocket", "/websocket/x", False),
    ("/api/*", "/api", True), ("/api/*", "/api/v1", True), ("/api/*", "/apis", False),
    ("/*", "/anything", True),
])
def test_path_patterns(pattern, path, inside):
    assert RequestClass(paths=(pattern,)).contains(Probe(path)) == inside


def test_a_header_the_exercise_routes_on_is_absent_from_requests_that_do_not_name_it():
    with_header = Probe("/", (("x-track", "canary"),))
    assert TESTERS.contains(with_header) and not TESTERS.contains(Probe("/"))
    assert not TESTERS.contains(Probe("/", (("x-track", "Canary"),)))      # values compare exactly
    assert EVERYONE.contains(Probe("/")) and not EVERYONE.contains(with_header)
    assert EVERYONE.contains(Probe("/", (("x-user", "alice"),)))           # a header no check names: anyone's


def test_probes_start_with_the_checks_own_request_and_cover_each_condition_served():
    table = [route(prefix="/websocket"), route(path="/"),
             route(prefix="/", headers=[{"name": "x-user", "string_match": {"exact": "alice"}}]),
             route(prefix="/", headers=[{"name": ":method", "string_match": {"exact": "POST"}}]),
             route(prefix="/", query_parameters=[{"name": "canary", "string_match": {"exact": "1"}}]),
             route(safe_regex={"regex": "/v[0-9]+"}), route(path_separated_prefix="/api")]
    probes = RequestClass(excluded=("/websocket",), first_path="/start").probes(table)
    assert probes[0] == Probe("/start")
    paths = {p.path for p in probes}
    assert {"/", "/other", "/api", "/api/other", "/apiother"} <= paths
    assert not {"/websocket", "/websocket/other", "/websocketother"} & paths
    assert Probe("/", (("x-user", "alice"),)) in probes
    assert Probe("/", (), "POST") in probes and Probe("/other", (), "POST") in probes
    assert Probe("/?canary=1") in probes
    assert all(p.method in ("GET", "POST") for p in probes)


def test_a_class_with_a_header_is_probed_with_it_and_never_twice():
    table = [route(prefix="/", headers=[{"name": "x-track", "string_match": {"exact": "canary"}}]), route(prefix="/")]
    probes = TESTERS.probes(table)
    assert probes and all(dict(p.headers) == {"X-Track": "canary"} for p in probes)


def test_a_probe_says_its_method_and_headers():
    assert Probe("/a", (("x-user", "alice"),), "POST").shown("h.lab.local") == "POST h.lab.local/a, x-user: alice"
    assert Probe("/a").shown("h.lab.local") == "h.lab.local/a"


def test_a_class_says_what_it_is_about():
    assert BUT_WEBSOCKET.describe() == "every path but /websocket"
    assert RequestClass(paths=("/websocket",)).describe() == "/websocket"
    assert RequestClass(paths=("/api/*",)).describe() == "/api and under it"
    assert TESTERS.describe() == "every path with X-Track: canary"


def test_the_defaults_exercise_authors_rely_on():
    # exercise.yaml leaves these out; each is what docs/ARCHITECTURE.md and the step texts say.
    traffic = TrafficCheck(expect={"a": 100})
    assert (traffic.tolerance, traffic.by, traffic.about, traffic.from_) == (10, "weights", About(), "gateway")
    assert not traffic.count_failed_answers
    websocket = WebsocketCheck()
    assert (websocket.path, websocket.connections, websocket.messages, websocket.expect) == ("/websocket", 10, 3, None)
    assert ErrorsCheck(canary="v3", stable="v1").requests == 1000
    assert MtlsCheck(url="http://a.b/").requests == 5
    scale = ScaleCheck(namespace="n", deployment="d", load="l.yaml")
    assert (scale.min_replicas, scale.timeout, scale.interval) == (2, 300, 10)
    assert not Question(prompt="p", choices=("a", "b"), answer="a", explain="e").decision   # a prediction: goes on
    argo = ArgoRolloutCheck(rollout="r", phase="Healthy", version="v2")
    assert (argo.namespace, argo.timeout, argo.interval) == ("default", 300, 5)


@pytest.mark.parametrize("tolerance, loads", [(0.5, True), (99.5, True), (0, False), (100, False)])
def test_a_tolerance_is_between_0_and_100_points(tolerance, loads):
    try:
        TrafficCheck(expect={"a": 100}, tolerance=tolerance)
    except ValueError:
        assert not loads
    else:
        assert loads


def test_each_share_is_0_to_100_even_when_they_add_up():
    with pytest.raises(ValueError, match="each expected share is 0 to 100"):
        TrafficCheck(expect={"v1": 100, "v2": 10, "v3": -10})


@pytest.mark.parametrize("check, values", [
    (WebsocketCheck, {"connections": 1, "messages": 1}),
    (ScaleCheck, {"namespace": "n", "deployment": "d", "load": "l.yaml", "timeout": 0.5, "interval": 0.5,
                  "min_replicas": 1}),
    (ErrorsCheck, {"canary": "v3", "stable": "v1", "requests": 1}),
])
def test_the_smallest_counts_and_times_load_and_zero_does_not(check, values):
    check(**values)
    for key in [k for k, v in values.items() if isinstance(v, (int, float))]:
        with pytest.raises(ValueError):
            check(**{**values, key: 0})


def test_a_class_of_several_paths_holds_each():
    apis = RequestClass(paths=("/api/*", "/v2/*"), first_path="/api")
    assert apis.contains(Probe("/api/x")) and apis.contains(Probe("/v2")) and not apis.contains(Probe("/"))
    probes = {p.path for p in apis.probes([])}
    assert probes == {"/api", "/api/other", "/v2", "/v2/other"}      # each path, and one under it
