"""The rollout's parts that need no lab: where the weights go, the gate, windows of counters."""

from collections import Counter

import jsonpatch
import pytest

from lab.errors import LabError
from lab.gate_rates import gate_in_words, window_rollback
from lab.manifests import Ref
from lab.rollout import Plan, decide, locate, parse_steps
from lab.traffic.envoy_stats import ClusterCounts, parse_stats
from lab.traffic.metrics import Destination, Reading, WindowStats, window
from tests.conftest import objects

VS = objects("""
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: shop}
spec:
  hosts: [shop.lab.local]
  http:
    - name: header
      match: [{headers: {x-track: {exact: canary}}}]
      route: [{destination: {host: web, subset: v2}}]
    - name: main
      route:
        - destination: {host: web, subset: v1}
""")[0]


def plan(**changes) -> Plan:
    fields = dict(ref=Ref("VirtualService", "shop", "web"), route="main", stable="v1", canary="v2",
                  steps=(10, 100), interval=1, max_error_rate=1, max_p95_ms=500, min_requests=20)
    return Plan(**{**fields, **changes})


def test_steps_rise_to_100():
    assert parse_steps("10,25,50,100") == (10, 25, 50, 100)
    for bad in ("", "10,x,100", "50,25,100", "10,10,100", "0,100", "10,50", "10,200"):
        with pytest.raises(LabError):
            parse_steps(bad)


def test_weights_go_to_the_named_route_and_a_missing_canary_is_added():
    slots = locate(plan(), VS)
    first = jsonpatch.apply_patch(VS, slots.weights_patch(10))
    assert first["spec"]["http"][0] == VS["spec"]["http"][0]     # the header route is left alone
    assert first["spec"]["http"][1]["route"] == [{"destination": {"host": "web", "subset": "v1"}, "weight": 90},
                                                 {"destination": {"host": "web", "subset": "v2"}, "weight": 10}]
    assert (slots.stable, slots.canary) == (Destination("web.shop", "v1"), Destination("web.shop", "v2"))
    slots.add_canary = None      # as the stepper does once the lab took the first patch
    later = jsonpatch.apply_patch(first, slots.weights_patch(50))
    assert [d["weight"] for d in later["spec"]["http"][1]["route"]] == [50, 50]


def test_routes_and_destinations_that_are_not_there_are_named():
    with pytest.raises(LabError, match="2 http routes"):
        locate(plan(route=""), VS)
    with pytest.raises(LabError, match="no destination 'v3'"):
        locate(plan(stable="v3"), VS)
    crowded = jsonpatch.apply_patch(VS, [{"op": "add", "path": "/spec/http/1/route/-",
                                          "value": {"destination": {"host": "web", "subset": "v3"}}}])
    with pytest.raises(LabError, match="besides stable and canary: web/v3"):
        locate(plan(), crowded)


def test_an_old_version_left_at_weight_0_does_not_stop_the_next_rollout():
    promoted = jsonpatch.apply_patch(VS, [
        {"op": "add", "path": "/spec/http/1/route/0/weight", "value": 0},
        {"op": "add", "path": "/spec/http/1/route/-", "value": {"destination": {"host": "web", "subset": "v2"},
                                                                 "weight": 100}}])
    slots = locate(plan(stable="v2", canary="v3"), promoted)
    route = jsonpatch.apply_patch(promoted, slots.weights_patch(10))["spec"]["http"][1]["route"]
    assert [(d["destination"]["subset"], d["weight"]) for d in route] == [("v1", 0), ("v2", 90), ("v3", 10)]


def stats(requests: int, errors: int, buckets: dict) -> WindowStats:
    return WindowStats(requests, errors, Counter(buckets))


def test_the_gate_promotes_waits_and_rolls_back():
    assert decide(plan(), stats(100, 1, {(1.0, 0.1): 100}), 10).verdict == "promote"
    assert decide(plan(), stats(100, 2, {(1.0, 0.1): 100}), 10).verdict == "rollback"
    slow = decide(plan(), stats(100, 0, {(1.0, 0.1): 90, (600.0, 10.0): 10}), 10)
    assert slow.verdict == "rollback" and "p95 6" in slow.reason and "> 500 ms" in slow.reason
    assert decide(plan(), stats(19, 19, {(1.0, 0.1): 19}), 10).verdict == "wait"     # too few: no verdict
    assert decide(plan(), stats(50, 0, {(1.0, 0.1): 5}), 10).verdict == "wait"       # latency not flushed yet


def test_exactly_min_requests_are_enough_to_judge():
    # --min-requests 20 means 20 judge a window: the 20th request does not leave it waiting.
    assert decide(plan(), stats(20, 0, {(1.0, 0.1): 20}), 10).verdict == "promote"
    assert decide(plan(), stats(20, 1, {(1.0, 0.1): 20}), 10).verdict == "rollback"     # 5% > 1%
    assert decide(plan(), stats(40, 0, {(1.0, 0.1): 20}), 10).verdict == "promote"      # 20 latency samples too


def test_a_canary_named_as_another_host_is_that_host_not_a_subset():
    # --canary web.other names a host (it has a dot): a destination of its own, not subset web.other of web.
    slots = locate(plan(canary="web.other"), VS)
    assert slots.add_canary == {"host": "web.other"}
    assert slots.canary == Destination("web.other", "")
    subset = locate(plan(canary="v2"), VS)                   # a bare name beside a subset: a subset of web
    assert subset.add_canary == {"host": "web", "subset": "v2"}


@pytest.mark.parametrize("n, share, limit, rollback", [
    (1000, 0.9, 1, (0.25, 0.33)),     # a 0.9% canary fails a 1% gate about 30% of the time at any big window
    (300, 0.9, 1, (0.25, 0.33)),
    (20, 0.5, 1, (0.08, 0.11)),       # 1 error of 20 is 5%: rolled back
    (1000, 2.0, 1, (0.98, 1.0)),
])
def test_the_gates_error_rates_are_binomial_tails(n, share, limit, rollback):
    low, high = rollback
    assert low <= window_rollback(n, share, limit) <= high


def test_the_gates_error_rates_are_printed_beside_its_knobs():
    said = gate_in_words(20, 1, 3)
    assert "at 20 canary requests a window: a canary erring 0.5% (half the limit) is rolled back 10% of windows" in said
    assert "(26% of 3-step rollouts)" in said and "one erring 2% (twice) passes 67% of windows" in said


def test_percentiles_interpolate_within_envoys_buckets():
    measured = stats(100, 0, {(0.0, 0.0): 50, (10.0, 1.0): 40, (20.0, 2.0): 10})
    assert measured.percentile(50) == 0
    assert 10 <= measured.percentile(90) <= 11 < 20 <= measured.percentile(95) <= 22
    assert measured.percentile(100) == 22
    assert stats(0, 0, {}).percentile(95) is None


def test_a_window_is_the_difference_of_two_readings_or_the_later_one_after_a_restart():
    name = "outbound|80|v2|web.shop.svc.cluster.local"
    text = f"""cluster.{name}.upstream_rq_total: 30
cluster.{name}.external.upstream_rq_5xx: 4
cluster.{name}.upstream_rq_5xx: 4
cluster.{name}.upstream_cx_none_healthy: 2
cluster.{name}.upstream_rq_time:
  totals=0,0:20, 5,0.5:10
  intervals=0,0:1
  summary=P0(0,0)
cluster.outbound|80|v1|web.shop.svc.cluster.local.upstream_rq_total: 7
"""
    later = Reading(2.0, parse_stats(text))
    assert later.clusters[name].requests == 32 and later.clusters[name].errors == 4
    earlier = Reading(1.0, {name: ClusterCounts(10, 1, Counter({(0.0, 0.0): 10}))})
    canary = window(earlier, later, Destination("web.shop", "v2"))
    assert (canary.requests, canary.errors, canary.latency) == (22, 3, Counter({(0.0, 0.0): 10, (5.0, 0.5): 10}))
    restarted = Reading(1.0, {name: ClusterCounts(500, 9)})
    assert window(restarted, later, Destination("web.shop", "v2")).requests == 32
    assert window(earlier, later, Destination("web.shop", "v1")).requests == 7


@pytest.fixture
def cluster():
    from tests.kube_emulator import Emulator

    with Emulator() as running:
        yield running


def test_on_a_cluster_the_stats_are_read_through_a_port_forward_to_the_gateways_admin(lab_root, tools, cluster):
    from tests.fake_tools import cluster_backend

    lab = cluster_backend("k3d", tools, cluster)
    lab.up()
    admin = lab.gateway_admin()
    forward = next(c for c in tools.calls if c[:3] == ["kubectl", "port-forward", "deployment/istio-ingressgateway"])
    local, remote = forward[3].split(":")
    # https://kubernetes.io/docs/reference/kubectl/generated/kubectl_port-forward/ (LOCAL:REMOTE)
    assert remote == "15000" and admin.base_url == f"http://127.0.0.1:{local}"


class Held:
    """Just the verbs the stepper uses; the gateway's admin API is a port nothing listens on."""

    def __init__(self, virtual_service: dict):
        self.virtual_service = virtual_service
        self.patches = []

    def get(self, ref):
        return self.virtual_service

    def patch(self, ref, operations):
        self.virtual_service = jsonpatch.apply_patch(self.virtual_service, operations)
        self.patches.append(operations)
        return "patched"

    def gateway_admin(self):
        from lab.envoy_admin import EnvoyAdmin
        from lab.ports import free_port

        return EnvoyAdmin(f"http://127.0.0.1:{free_port()}", timeout=0.5)


def test_stats_that_cannot_be_read_roll_back_instead_of_passing(capsys):
    from lab.rollout import Stepper

    held = Held(VS)
    with pytest.raises(LabError, match="could not be judged: the gateway's stats did not answer"):
        Stepper(held, plan(interval=0.1)).run()
    route = held.virtual_service["spec"]["http"][1]["route"]
    assert [(d["destination"]["subset"], d["weight"]) for d in route] == [("v1", 100), ("v2", 0)]
    assert "step 1/2: canary 10% — could not be judged" in capsys.readouterr().out


class Flaky:
    """A gateway admin whose first stats read times out (a busy gateway), then answers."""

    def __init__(self, text: str):
        self.text, self.reads = text, 0

    def stats_text(self, filter_regex, histogram_buckets=""):
        self.reads += 1
        if self.reads == 1:
            raise TimeoutError("timed out")
        return self.text


def test_a_stats_read_that_times_out_once_is_read_again_not_judged_a_bad_window():
    from lab.rollout import read_stats

    admin = Flaky("cluster.outbound|80|v2|web.shop.svc.cluster.local.upstream_rq_total: 30\n")
    reading = read_stats(admin)
    assert admin.reads == 2 and reading.clusters   # the second read's numbers
