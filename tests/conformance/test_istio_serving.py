"""Istio's own tests, held against the lab: what istiod serves an ingress gateway (Istio API).

Each case (istio_serving.yaml) is written from a test of Istio 1.31 it names — route_test.go,
gateway_test.go, gateway_simulation_test.go, host/names_test.go, and the integration routing cases
in tests/integration/pilot/common/routing.go — and states the routes istiod sends and what
requests get, as that source says. Each runs twice:

- on the local lab: applied to a real Envoy gateway, its live routes read back from /config_dump
  and requests sent through it;
- through the cluster path's prediction (lab/routes.py expected_routes), which is what `apply` and
  `patch` wait for on a cluster.

So neither the local lab nor the cluster's wait can drift from istiod without a case failing here.
A case outside the local lab's scope must be refused, naming the field.
"""

import http.client
import json
import os
import socket
import ssl
import time
import urllib.request

import pytest

from lab.backends.local.translate import RETRY_POLICY
from lab.backends.select import current_backend
from lab.config import EXERCISES_DIR, lab_paths
from lab.errors import LabError
from lab.manifests import Ref, load_manifest_file, ref_of
from lab.routes import expected_routes
from tests.conformance.istio_serving_cases import (
    Case,
    Request,
    as_predicted,
    base_objects,
    comparable,
    live_served,
    load_cases,
)
from tests.lab_process import new_lab

CASES = load_cases()
STAMP = "2026-01-01T00:00:{:02d}Z"   # creation times for the prediction: a case's batches in order


@pytest.fixture(scope="module")
def backend(tmp_path_factory):
    lab = new_lab(tmp_path_factory.mktemp("istio-serving"))
    lab.invoke("up", "--provider", "local")
    os.environ["CANARY_LAB_ROOT"] = str(lab.root)
    try:
        backend = current_backend(lab_paths())
        backend.apply(base_objects())
        yield backend
    finally:
        del os.environ["CANARY_LAB_ROOT"]
        lab.cleanup()


def _next_second() -> None:
    """Creation times are whole seconds (as an API server keeps them): a later batch is newer."""
    time.sleep(1.05 - time.time() % 1)


class _Gateway(http.client.HTTPSConnection):
    """HTTPS to the gateway's loopback address, with the request's host as SNI and certificate name."""

    def __init__(self, address: tuple[str, int], server_name: str, context: ssl.SSLContext):
        super().__init__(server_name, address[1], timeout=10, context=context)
        self.address, self.context = address, context

    def connect(self) -> None:
        self.sock = self.context.wrap_socket(socket.create_connection(self.address, self.timeout),
                                             server_hostname=self.host)


def answer(backend, request: Request) -> tuple[int, str]:
    """(status, the answering version or "") for one request through the gateway."""
    name = request.host.split(":")[0]
    url, ca_file = backend.gateway_endpoint(request.scheme, name)
    host, port = url.split("://", 1)[1].rsplit(":", 1)
    conn: http.client.HTTPConnection = (
        _Gateway((host, int(port)), name, ssl.create_default_context(cafile=ca_file)) if request.scheme == "https"
        else http.client.HTTPConnection(host, int(port), timeout=10))
    try:
        conn.request(request.method, request.path, headers={"Host": request.host, **request.headers})
        response = conn.getresponse()
        response.read()
        return response.status, response.getheader("x-version") or ""
    finally:
        conn.close()


def _refuses(backend, case: Case) -> None:
    with pytest.raises(LabError) as refused:
        for batch in case.batches:
            backend.apply(batch)
    assert case.refused in refused.value.message, refused.value.message
    assert not backend.live_routes(), "a refused case left routes behind"


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=str)
def test_served_by_the_local_gateway_as_the_source_says(backend, case):
    try:
        if case.refused:
            _refuses(backend, case)
            return
        for i, batch in enumerate(case.batches):
            if i:
                _next_second()
            backend.apply(batch)
        assert case.serves is not None
        live = live_served(backend.live_routes())
        assert comparable(case.serves, live) == case.serves
        for request in case.requests:
            status, version = answer(backend, request)
            if request.answer:
                assert (status, version in request.answer) == (200, True), (request, status, version)
            else:
                assert status == request.status, (request, status, version)
    finally:
        backend.delete(list(reversed(case.refs)))


@pytest.mark.parametrize("case", [c for c in CASES if c.serves is not None], ids=str)
def test_predicted_for_a_cluster_as_the_source_says(case):
    """lab/routes.py, as the cluster backend calls it: the objects already stored (with their
    creation times) and the VirtualServices being applied now (none yet: the newest)."""
    *older, applying = case.batches
    stored = base_objects()
    for i, batch in enumerate(older):
        stored += [{**obj, "metadata": {**obj["metadata"], "creationTimestamp": STAMP.format(i)}}
                   if obj["kind"] == "VirtualService" else obj for obj in batch]
    virtual_services = [obj for obj in applying if obj["kind"] == "VirtualService"]
    stored += [obj for obj in applying if obj["kind"] != "VirtualService"]
    assert case.serves is not None
    assert expected_routes(virtual_services, stored) == as_predicted(case.serves)


def test_the_suite_holds_at_least_60_cases_each_from_a_named_source():
    assert len(CASES) >= 60
    assert len({c.id for c in CASES}) == len(CASES)
    sources = ("route_test.go", "gateway_test.go", "gateway_simulation_test.go", "names_test.go",
               "routing.go", "gateway.go", "route.go")
    for case in CASES:
        assert any(source in case.source for source in sources), case.id
        assert case.refused or case.serves is not None, case.id
        for ref in map(ref_of, case.objects):   # so deleting the case's objects leaves the base alone
            assert ref.namespace or ref.kind == "Namespace", f"{case.id}: {ref} names its namespace"


# -- the debug exercise's own files, and its catch-all step --------------------------------------------

DEBUG = EXERCISES_DIR / "debug"
SHOP = "shop.shop-debug"
# What istiod sends for each of debug's VirtualServices on debug.lab.local (route.go
# BuildHTTPRoutesForVirtualService: nothing after the first catch-all), as lab/routes.py compares it.
DEBUG_SERVES = {
    "manifests/broken-order.yaml": [[(SHOP, "v1", 90), (SHOP, "v2", 10)]],           # testers never sent
    "solutions/fixed-order.yaml": [[(SHOP, "v2", 100)], [(SHOP, "v1", 90), (SHOP, "v2", 10)]],
    "manifests/broken-weights.yaml": [[(SHOP, "v2", 100)], [(SHOP, "v1", 10), (SHOP, "v2", 90)]],
    "solutions/fixed-weights.yaml": [[(SHOP, "v2", 100)], [(SHOP, "v1", 90), (SHOP, "v2", 10)]],
}


def debug_stage() -> list[dict]:
    """The lab as debug's catch-all step finds it: the app, both subsets (release 1's fix)."""
    return load_manifest_file(DEBUG / "manifests" / "app.yaml") + \
        [o for o in load_manifest_file(DEBUG / "solutions" / "fixed-subset.yaml") if o["kind"] == "DestinationRule"]


@pytest.mark.parametrize("release", DEBUG_SERVES)
def test_debugs_releases_are_predicted_as_istiod_serves_them(release):
    virtual_services = load_manifest_file(DEBUG / release)
    predicted = expected_routes(virtual_services, debug_stage())
    assert predicted == {("http", "debug.lab.local"): DEBUG_SERVES[release]}


@pytest.mark.slow
def test_debugs_releases_are_served_by_the_local_gateway_as_istiod_serves_them(backend):
    backend.apply(debug_stage())
    try:
        for release, wanted in DEBUG_SERVES.items():
            backend.apply(load_manifest_file(DEBUG / release))
            live = as_predicted(live_served(backend.live_routes()))
            assert live == {("http", "debug.lab.local"): wanted}, release
            tester = Request(host="debug.lab.local", headers={"X-Track": "canary"})
            versions = {answer(backend, tester)[1] for _ in range(30)}
            if release.endswith("broken-order.yaml"):   # testers share everyone's 90/10: no v1 in 30 is 1e-30
                assert "v1" in versions, versions
            else:
                assert versions == {"v2"}, (release, versions)
    finally:
        backend.delete([Ref("Namespace", "", "shop-debug")])


UNLIMITED = 4294967295   # math.MaxUint32


@pytest.mark.slow
def test_the_gateway_holds_istios_cluster_and_route_settings_as_sent(backend):
    """Envoy ignores fields it does not know in dynamic config, so a key the lab misspells would
    silently fall back to Envoy's default: read back what Envoy holds. Istio's defaults: pilot
    cluster_traffic_policy.go (LEAST_REQUEST, getDefaultCircuitBreakerThresholds), its gateway
    routes' retry policy (route/retry/retry.go)."""
    [case] = [c for c in CASES if c.id == "it-shifting-80-20"]
    try:
        backend.apply(case.objects)
        dump = json.loads(urllib.request.urlopen(
            backend.gateway_admin().base_url + "/config_dump?resource=dynamic_active_clusters", timeout=10).read())
        clusters = [c["cluster"] for c in dump["configs"] if c["cluster"]["name"].startswith("outbound|")]
        assert clusters
        for cluster in clusters:
            assert (cluster["lb_policy"], cluster["connect_timeout"]) == ("LEAST_REQUEST", "1s"), cluster
            [limits] = cluster["circuit_breakers"]["thresholds"]
            assert all(limits[k] == UNLIMITED for k in ("max_connections", "max_pending_requests",
                                                         "max_requests", "max_retries")), limits
            assert limits["track_remaining"] is True
        routes = [r for config in backend.gateway_admin().route_configs()
                  for vhost in config.get("virtual_hosts", []) for r in vhost["routes"]]
        assert routes and all(set(r["route"]["retry_policy"]) >= set(RETRY_POLICY) for r in routes)
    finally:
        backend.delete(list(reversed(case.refs)))
