"""Waiting for a cluster's gateway to serve what was applied: the lab's translator models what
istiod serves (weight-0 destinations dropped, mesh-only hosts not on the gateway), compared with
routes read back as Envoy shows them — destinations as well as weights."""

import json
import time

import pytest

from lab.backends.base import LiveRoute, RouteDestination
from lab.errors import LabError
from lab.manifests import Ref
from lab.routes import expected_routes, referenced, served, wait_until_served
from tests.conftest import objects

CONTEXT = objects("""
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: canary-gateway, namespace: canary-lab}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: [canary.lab.local]}]
---
apiVersion: v1
kind: Service
metadata: {name: httpbin, namespace: canary-lab}
spec: {selector: {app: httpbin}, ports: [{port: 8000}]}
---
apiVersion: v1
kind: Service
metadata: {name: tornado, namespace: canary-lab}
spec: {selector: {app: tornado}, ports: [{port: 8888}]}
""")


def virtual_service(routes: str, hosts: str = "[canary.lab.local]", gateways: str = "[canary-gateway]") -> dict:
    return objects(f"""
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata: {{name: canary, namespace: canary-lab}}
        spec:
          hosts: {hosts}
          gateways: {gateways}
          http:
            - match: [{{uri: {{prefix: /websocket}}}}, {{uri: {{prefix: /ws}}}}]
              route: [{{destination: {{host: tornado}}}}]
            - route: {routes}
        """)[0]


SPLIT = virtual_service("[{destination: {host: httpbin}, weight: 80}, {destination: {host: tornado}, weight: 20}]")


def live(*routes, host="canary.lab.local"):
    """Routes as read from Envoy: each a list of (service, weight)."""
    return [LiveRoute(host, "uri /*", [RouteDestination(f"{name}.canary-lab", "", w) for name, w in route])
            for route in routes]


def expected(vs):
    return expected_routes([vs], CONTEXT)


def test_served_when_every_route_shows_the_modelled_destinations_and_weights():
    want = expected(SPLIT)
    assert served(want, live([("tornado", 100)], [("tornado", 100)], [("httpbin", 80), ("tornado", 20)]))
    assert not served(want, live([("tornado", 100)], [("tornado", 100)]))
    assert not served(want, [])


def test_the_same_weights_to_another_destination_are_not_served_yet():
    to_tornado = virtual_service("[{destination: {host: tornado}, weight: 100}]")
    still_httpbin = live([("tornado", 100)], [("tornado", 100)], [("httpbin", 100)])
    assert not served(expected(to_tornado), still_httpbin)          # 100% v1 → 100% v2 is a change
    assert served(expected(to_tornado), live([("tornado", 100)], [("tornado", 100)], [("tornado", 100)]))


def test_a_weight_0_destination_is_dropped_as_istiod_drops_it():
    all_httpbin = virtual_service("[{destination: {host: httpbin}, weight: 100}, "
                                  "{destination: {host: tornado}, weight: 0}]")
    assert served(expected(all_httpbin), live([("tornado", 100)], [("tornado", 100)], [("httpbin", 100)]))


def test_an_apply_with_a_weight_0_destination_returns_at_once_however_envoy_lists_it():
    """istiod drops it (route.go); an Envoy that still lists it at weight 0 sends it nothing either:
    served both ways, so a cluster apply of a 100/0 split returns at once rather than at the timeout."""
    all_httpbin = virtual_service("[{destination: {host: httpbin}, weight: 100}, "
                                  "{destination: {host: tornado}, weight: 0}]")
    listed = live([("tornado", 100)], [("tornado", 100)], [("httpbin", 100), ("tornado", 0)])
    started = time.monotonic()
    wait_until_served(expected(all_httpbin), lambda: listed, timeout=30, interval=0.5)
    assert time.monotonic() - started < 1


def test_a_destination_in_another_namespace_is_looked_up_in_its_own():
    vs = objects("""
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata: {name: traffic-manager, namespace: traffic}
        spec:
          hosts: [search.lab.local]
          gateways: [traffic-manager]
          http: [{route: [{destination: {host: search.services-v1.svc.cluster.local}, weight: 90},
                          {destination: {host: search.services-v2}, weight: 10},
                          {destination: {host: search}, weight: 0}]}]
        """)[0]
    assert referenced(vs) == [Ref("Gateway", "traffic", "traffic-manager"), Ref("Service", "services-v1", "search"),
                              Ref("Service", "services-v2", "search"), Ref("Service", "traffic", "search")]


def test_a_mesh_only_host_is_never_expected_on_the_gateway():
    both = virtual_service("[{destination: {host: httpbin}}]", hosts="[canary.lab.local, httpbin]",
                           gateways="[canary-gateway, mesh]")
    assert set(expected(both)) == {("http", "canary.lab.local")}
    assert served(expected(both), live([("tornado", 100)], [("tornado", 100)], [("httpbin", 100)]))


def test_waits_through_stale_reads_then_returns():
    reads = [live([("tornado", 100)]), live([("tornado", 100)], [("tornado", 100)]),
             live([("tornado", 100)], [("tornado", 100)], [("httpbin", 80), ("tornado", 20)])]
    wait_until_served(expected(SPLIT), lambda: reads.pop(0) if len(reads) > 1 else reads[0], timeout=5, interval=0)
    assert len(reads) == 1


def test_waits_through_a_gateway_that_answers_nothing_readable_yet():
    """A Gateway API gateway deployed by the apply itself answers its admin with an empty body or a
    dropped connection while its Envoy starts (seen in tests/test_cluster_gateway_api.py): ask again."""
    answers = [json.JSONDecodeError("Expecting value", "", 0), ConnectionResetError("reset"),
               live([("tornado", 100)], [("tornado", 100)], [("httpbin", 80), ("tornado", 20)])]

    def read() -> list[LiveRoute]:
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer
    wait_until_served(expected(SPLIT), read, timeout=5, interval=0)


def test_a_gateway_that_never_answers_readably_is_named_when_the_wait_gives_up():
    def read() -> list[LiveRoute]:
        raise json.JSONDecodeError("Expecting value", "", 0)
    with pytest.raises(LabError, match="does not serve the new routes .* last answered JSONDecodeError"):
        wait_until_served(expected(SPLIT), read, timeout=0, interval=0)


def test_gives_up_with_a_clear_line():
    with pytest.raises(LabError, match="does not serve the new routes for canary.lab.local"):
        wait_until_served(expected(SPLIT), lambda: live([("httpbin", 100)]), timeout=0, interval=0)


def test_a_destinationrule_that_hashes_is_served_only_once_the_routes_hash():
    """istiod writes a DestinationRule's consistentHash into each route to its host (route.go
    consistentHashToHashPolicy): an apply of one returns when the gateway's routes hash on it, so a
    sticky-session check right after it meets the hashing gateway, not the one before."""
    hashing = objects("""
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata: {name: httpbin, namespace: canary-lab}
        spec:
          host: httpbin
          trafficPolicy: {loadBalancer: {consistentHash: {httpCookie: {name: session, ttl: 0s}}}}
        """)
    want = expected_routes([SPLIT], CONTEXT + hashing)
    before = live([("tornado", 100)], [("tornado", 100)], [("httpbin", 80), ("tornado", 20)])
    assert served(expected(SPLIT), before) and not served(want, before)
    before[-1].policies = ("hash cookie session",)
    assert served(want, before)
    before[-1].policies = ("hash header session",)
    assert not served(want, before)


def test_a_new_timeout_or_retry_count_is_served_only_once_the_route_has_it():
    """A check of a timeout (or of retries) sends its traffic right after the apply: the apply returns
    once the gateway's route has them, however Envoy spells the duration (0.5s, 0.500s)."""
    timed = virtual_service("[{destination: {host: httpbin}}]\n              timeout: 0.5s\n"
                            "              retries: {attempts: 3}")
    before = live([("tornado", 100)], [("tornado", 100)], [("httpbin", 100)])
    assert served(expected(virtual_service("[{destination: {host: httpbin}}]")), before)
    assert not served(expected(timed), before)
    before[-1].policies = ("timeout 0.5s",)
    assert not served(expected(timed), before)
    before[-1].policies = ("timeout 0.5s", "retries 3")
    assert served(expected(timed), before)


def test_envoy_spells_a_routes_policies_as_istiod_writes_them():
    from lab.envoy_admin import route_policies

    assert route_policies({"route": {"cluster": "c", "timeout": "0s", "retry_policy": {"num_retries": 2}}}) == ()
    assert route_policies({"route": {"cluster": "c", "timeout": "1.500s"}}) == ("timeout 1.5s", "no retries")
    assert route_policies({"route": {"cluster": "c", "retry_policy": {"num_retries": 5},
                                     "hash_policy": [{"header": {"header_name": "x-user"}}]}}) == \
        ("retries 5", "hash header x-user")
    mirror = {"cluster": "outbound|80|v2|shop.ns.svc.cluster.local",
              "runtime_fraction": {"default_value": {"numerator": 250000, "denominator": "MILLION"}}}
    assert route_policies({"route": {"cluster": "c", "request_mirror_policies": [mirror]}}) == \
        ("no retries", "mirror shop.ns (v2) 25%")
    assert route_policies({"direct_response": {"status": 404}}) == ()


def test_policies_the_model_got_wrong_end_in_a_note_not_a_failed_apply():
    """The destinations decide the wait; a timeout, retry count or hash the gateway does not show after
    the grace (a DestinationRule read unlike istiod reads it) is said, and the apply stands."""
    timed = virtual_service("[{destination: {host: httpbin}}]\n              timeout: 0.5s")
    untimed = live([("tornado", 100)], [("tornado", 100)], [("httpbin", 100)])
    note = wait_until_served(expected(timed), lambda: untimed, timeout=1, interval=0, policy_grace=0)
    assert "not the timeout, retries or hashing the lab predicted" in note
    untimed[-1].policies = ("timeout 0.5s",)
    assert wait_until_served(expected(timed), lambda: untimed, timeout=1, interval=0, policy_grace=0) == ""
    with pytest.raises(LabError, match="does not serve the new routes"):
        wait_until_served(expected(timed), lambda: live([("tornado", 100)]), timeout=0, interval=0)


def test_a_new_mirror_is_served_only_once_the_route_copies_to_it():
    """mirror's check counts copies right after the apply (and stop-mirror counts none): a mirror added
    or removed changes no destination, so the apply waits for the route's mirror policy."""
    mirrored = virtual_service("[{destination: {host: httpbin}}]\n              mirror: {host: tornado}\n"
                               "              mirrorPercentage: {value: 50}")
    before = live([("tornado", 100)], [("tornado", 100)], [("httpbin", 100)])
    assert not served(expected(mirrored), before)
    before[-1].policies = ("mirror tornado.canary-lab 50%",)
    assert served(expected(mirrored), before)


def test_a_mirror_removed_is_waited_for_too():
    """stop-mirror's check counts no copies right after the apply: the removal is waited for."""
    plain = virtual_service("[{destination: {host: httpbin}}]")
    reads = [live([("tornado", 100)], [("tornado", 100)], [("httpbin", 100)]) for _ in range(3)]
    reads[0][-1].policies = reads[1][-1].policies = ("mirror tornado.canary-lab 100%",)
    assert wait_until_served(expected(plain), lambda: reads.pop(0) if len(reads) > 1 else reads[0],
                             timeout=5, interval=0) == ""
    assert len(reads) == 1
