"""Routing through the real Envoy gateway: splits pass their checks, header routes are exact,
WebSockets are routed per connection. One lab for the module, restarted by no test."""

import re
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from lab.certs import make_gateway_tls
from lab.config import PROJECT_DIR, check_alpha, gateway_tls_port
from lab.envoy_admin import EnvoyAdmin
from lab.state import load_state
from lab.traffic.classify import Classifier
from lab.traffic.sampler import RequestSpec, count, run_verdict
from lab.traffic.verdict import PASS, Expectation
from lab.traffic.websocket import echo_check
from tests.lab_process import new_lab

pytestmark = pytest.mark.slow

HOST = "shop.lab.local"
VERSIONS = Classifier.from_spec({"v1": {"header": {"x-version": "v1"}}, "v2": {"header": {"x-version": "v2"}}})

APP = """
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8888}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: web, namespace: shop}
spec:
  host: web
  subsets:
    - {name: v1, labels: {version: v1}}
    - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: shop, namespace: shop}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: [shop.lab.local]}]
"""


def deployment(version: str, image="canary-lab.invalid/version-app:1.0", replicas=1) -> str:
    # VERSION is the version app's: another app does not read it, and the local lab passes a pod
    # only the env its app reads (apps/*/local.yaml)
    env = f"[{{name: VERSION, value: {version}}}]" if "version-app" in image else "[]"
    return f"""
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web-{version}, namespace: shop}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: web, version: {version}}}}}
  template:
    metadata: {{labels: {{app: web, version: {version}}}}}
    spec:
      containers:
        - name: web
          image: {image}
          env: {env}
"""


def split(v1: int, v2: int) -> str:
    return textwrap.dedent(f"""
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata: {{name: web, namespace: shop}}
        spec:
          hosts: [shop.lab.local]
          gateways: [shop]
          http:
            - match: [{{headers: {{x-track: {{exact: canary}}}}}}]
              route: [{{destination: {{host: web, subset: v2}}}}]
            - route:
                - {{destination: {{host: web, subset: v1}}, weight: {v1}}}
                - {{destination: {{host: web, subset: v2}}, weight: {v2}}}
        """)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    lab = new_lab(tmp_path_factory.mktemp("routing"))
    lab.invoke("up", "--provider", "local")
    lab.invoke("apply", "-", input=APP + deployment("v1", replicas=2) + deployment("v2"))
    yield lab
    lab.cleanup()


@pytest.mark.parametrize("v1, v2", [(80, 20), (50, 50)])
def test_weighted_splits_pass_their_check(lab, v1, v2):
    lab.invoke("apply", "-", input=split(v1, v2))
    verdict, examples = run_verdict(lab.url, RequestSpec(host=HOST), VERSIONS,
                                    Expectation(shares={"v1": v1, "v2": v2}, alpha=check_alpha()))
    assert verdict.decision == PASS, verdict.reason
    assert not examples


def test_a_split_checked_against_the_wrong_weights_fails(lab):
    lab.invoke("apply", "-", input=split(50, 50))
    verdict, _ = run_verdict(lab.url, RequestSpec(host=HOST), VERSIONS, Expectation(shares={"v1": 80, "v2": 20}))
    assert verdict.decision == "fail"
    assert "v1 got" in verdict.reason


def test_header_route_sends_every_matching_request_to_v2_and_none_of_the_others(lab):
    lab.invoke("apply", "-", input=split(100, 0))
    with_header = count(lab.url, RequestSpec(host=HOST, headers=(("X-Track", "canary"),)), VERSIONS, 300)
    without = count(lab.url, RequestSpec(host=HOST), VERSIONS, 300)
    assert with_header == {"v2": 300}
    assert without == {"v1": 300}


def test_status_shows_live_routes_as_the_learner_wrote_them(lab):
    lab.invoke("apply", "-", input=split(80, 20))
    status = lab.invoke("status").stdout
    assert "x-track = canary" in status
    assert "web.shop (v1): 80" in status and "web.shop (v2): 20" in status


def test_ctrl_c_during_traffic_shows_what_came_back_and_exits_130(lab):
    lab.invoke("apply", "-", input=split(50, 50))
    admin = EnvoyAdmin(f"http://127.0.0.1:{load_state(lab.paths).settings['admin_port']}")
    before = sum(requests for requests, _ in admin.upstream_counts().values())
    traffic = subprocess.Popen([sys.executable, "-m", "invoke", "traffic", "--host", HOST, "--requests", "100000"],
                               cwd=PROJECT_DIR, env=lab.env(), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 60      # until the gateway has answered a few hundred of them
        while sum(r for r, _ in admin.upstream_counts().values()) - before < 300 and time.monotonic() < deadline:
            time.sleep(0.05)
        traffic.send_signal(signal.SIGINT)
        out, err = traffic.communicate(timeout=30)
    finally:
        if traffic.poll() is None:
            traffic.kill()
    assert traffic.returncode == 130 and "interrupted" in err
    answered = re.search(r"(\d+) of 100000 requests to shop.lab.local/ \(interrupted\)", out)
    assert answered and 0 < int(answered[1]) < 100000, out
    assert "version v1" in out and "version v2" in out


def test_unknown_host_gets_404_from_the_gateway(lab):
    assert count(lab.url, RequestSpec(host="nobody.lab.local"), VERSIONS, 5) == {"unclassified": 5}


def test_websocket_echo_is_routed_per_connection(lab):
    ws = APP.split("---")[0] + deployment("a", image="canary-lab.invalid/tornado-websocket:1.0") \
        + deployment("b", image="canary-lab.invalid/tornado-websocket:1.0") + textwrap.dedent("""
        ---
        apiVersion: v1
        kind: Service
        metadata: {name: chat, namespace: shop}
        spec:
          selector: {app: web}
          ports: [{port: 8888}]
        ---
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata: {name: chat, namespace: shop}
        spec:
          host: chat
          subsets: [{name: a, labels: {version: a}}, {name: b, labels: {version: b}}]
        ---
        apiVersion: networking.istio.io/v1
        kind: Gateway
        metadata: {name: chat, namespace: shop}
        spec:
          selector: {istio: ingressgateway}
          servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: [chat.lab.local]}]
        ---
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata: {name: chat, namespace: shop}
        spec:
          hosts: [chat.lab.local]
          gateways: [chat]
          http:
            - route:
                - {destination: {host: chat, subset: a}, weight: 50}
                - {destination: {host: chat, subset: b}, weight: 50}
        """)
    lab.invoke("apply", "-", input=ws)
    result = echo_check(lab.url, "chat.lab.local", "/websocket", connections=40, messages=5)
    assert result.passed, result.failures
    # Each connection kept one instance for all 5 messages (an echo from another instance
    # would be a new connection); across 40 connections both instances were chosen.
    # P(all 40 on one side of a 50/50 split) = 2 * 0.5**40: this cannot fail by chance.
    assert len(result.instances) == 2 and sum(result.instances.values()) == 40
    assert all(name.startswith(("web-a-", "web-b-")) for name in result.instances)


def test_https_is_verified_against_the_lab_ca_and_routed_like_http(lab, tmp_path):
    lab.invoke("apply", "-", input=split(80, 20))
    https = f"https://127.0.0.1:{gateway_tls_port(lab.port)}"
    ca = lab.root / ".lab" / "run" / "tls" / "ca.crt"
    spec = RequestSpec(host=HOST, scheme="https")
    # The Gateway has no HTTPS server yet: the HTTPS listener knows no such host.
    assert count(https, spec, VERSIONS, 5, ca_file=str(ca)) == {"unclassified": 5}
    lab.invoke("apply", "-", input=APP.split("---")[3].replace(
        "servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: [shop.lab.local]}]",
        "servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: [shop.lab.local]},"
        " {port: {number: 443, name: https, protocol: HTTPS}, hosts: [shop.lab.local],"
        " tls: {mode: SIMPLE, credentialName: canary-lab-gateway-tls}}]"))
    verdict, _ = run_verdict(https, spec, VERSIONS, Expectation(shares={"v1": 80, "v2": 20}, alpha=check_alpha()),
                             str(ca))
    assert verdict.decision == PASS, verdict.reason
    other_ca = make_gateway_tls(tmp_path / "other")["ca"]   # a CA the gateway's certificate is not from
    verdict, examples = run_verdict(https, spec, VERSIONS, Expectation(shares={"v1": 80, "v2": 20}), str(other_ca))
    assert verdict.decision == "fail" and "certificate" in examples[0].detail.lower()
    # `invoke traffic --https` goes the same way, trusting the lab CA.
    shown = lab.invoke("traffic", "--https", "--host", HOST, "--requests", "50").stdout
    assert f"50 requests to https://{HOST}/" in shown and "version v1" in shown and "error" not in shown


def test_the_gateway_balances_like_istio_least_request_so_a_slow_pod_gets_fewer_requests(lab):
    """Istio's default load balancer is LEAST_REQUEST: with one pod slow, it sends that pod
    fewer requests. Round robin (Envoy's own default) would give each pod exactly half."""
    slow = textwrap.dedent("""
        ---
        apiVersion: v1
        kind: Service
        metadata: {name: balanced, namespace: shop}
        spec:
          selector: {app: balanced}
          ports: [{port: 80, targetPort: 8888}]
        ---
        apiVersion: networking.istio.io/v1
        kind: Gateway
        metadata: {name: balanced, namespace: shop}
        spec:
          selector: {istio: ingressgateway}
          servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: [balanced.lab.local]}]
        ---
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata: {name: balanced, namespace: shop}
        spec:
          hosts: [balanced.lab.local]
          gateways: [balanced]
          http: [{route: [{destination: {host: balanced}}]}]
        """)
    for version, latency in (("fast", 0), ("slow", 200)):
        slow += textwrap.dedent(f"""
            ---
            apiVersion: apps/v1
            kind: Deployment
            metadata: {{name: balanced-{version}, namespace: shop}}
            spec:
              replicas: 1
              selector: {{matchLabels: {{app: balanced, version: {version}}}}}
              template:
                metadata: {{labels: {{app: balanced, version: {version}}}}}
                spec:
                  containers:
                    - name: web
                      image: canary-lab.invalid/version-app:1.0
                      env: [{{name: VERSION, value: {version}}}, {{name: LATENCY_MS, value: "{latency}"}}]
            """)
    lab.invoke("apply", "-", input=APP.split("---")[0] + slow)
    pods = Classifier.from_spec({"fast": {"header": {"x-version": "fast"}}, "slow": {"header": {"x-version": "slow"}}})
    counts = count(lab.url, RequestSpec(host="balanced.lab.local"), pods, 400, concurrency=8)
    assert sum(counts.get(v, 0) for v in ("fast", "slow")) == 400, counts
    # Each pick compares two random pods and takes the one with fewer requests in flight: the
    # slow pod (always busier) is taken only when both draws hit it, about 1/4 of the time.
    # 0.4 is > 6 standard deviations above that for 400 requests; round robin gives 0.5.
    assert counts["slow"] / 400 < 0.4, counts
