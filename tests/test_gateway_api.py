"""Gateway API (Gateway + HTTPRoute) → the local Envoy's config and the status a cluster writes,
without processes: attachment, hostnames, rule order, weights, and the errors a learner gets."""

import pytest

from lab.backends.local.gateway_api import admit
from lab.backends.local.gateway_listeners import intersection
from lab.backends.local.gateway_status import apply_note, with_status
from lab.backends.local.pods import Pod
from lab.backends.local.schema import check_supported
from lab.backends.local.translate import translate
from lab.errors import ManifestError
from lab.kinds import resolve_kind
from lab.manifests import Ref, ref_of
from tests.conftest import objects

GROUP = "gateway.networking.k8s.io"

BASE = """
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {team: shop}}
---
apiVersion: v1
kind: Service
metadata: {name: web-v1, namespace: shop}
spec: {selector: {app: web, version: v1}, ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: web-v2, namespace: shop}
spec: {selector: {app: web, version: v2}, ports: [{port: 80}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: shop, namespace: shop}
spec:
  gatewayClassName: istio
  listeners:
    - {name: http, port: 80, protocol: HTTP, hostname: "*.lab.local"}
    - {name: other, port: 8080, protocol: HTTP, hostname: other.example.com}
"""

PODS = {p.name: p for p in [
    Pod(name="shop/web-v1-a-0", namespace="shop", deployment="web-v1", labels={"app": "web", "version": "v1"},
        port=9001),
    Pod(name="shop/web-v2-b-0", namespace="shop", deployment="web-v2", labels={"app": "web", "version": "v2"},
        port=9002)]}


def route(name="web", spec="", namespace="shop", created=None) -> str:
    stamp = f", creationTimestamp: '{created}'" if created else ""
    return f"""
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: {name}, namespace: {namespace}{stamp}}}
spec:
{spec}
"""


SPLIT = """
  parentRefs: [{name: shop}]
  hostnames: [shop.lab.local]
  rules:
    - backendRefs: [{name: web-v1, port: 80, weight: 80}, {name: web-v2, port: 80, weight: 20}]
"""


def admitted(text: str) -> dict[Ref, dict]:
    """Objects admitted as the local backend stores them, without its check."""
    return {ref_of(obj): admit(obj, None) for obj in objects(text)}


def store(text: str) -> dict[Ref, dict]:
    """Objects as the local backend stores them: checked, then admitted (defaults, timestamps). A
    creationTimestamp in the text stands for an object created then (admit sets the time of now)."""
    held = {}
    for obj in objects(text):
        check_supported(obj)
        created = obj["metadata"].get("creationTimestamp")
        held[ref_of(obj)] = admit(obj, None)
        if created:
            held[ref_of(obj)]["metadata"]["creationTimestamp"] = created
    return held


def vhost(held, host="shop.lab.local", scheme="http") -> dict:
    """The virtual host for `host` on the Gateway API listeners of a scheme (each Gateway's own)."""
    config = translate(held, PODS)
    [found] = [v for listener in config.gateway_listeners if listener.scheme == scheme
               for v in listener.route_config["virtual_hosts"] if host in v["domains"]]
    return found


def served_hosts(held) -> list[str]:
    return [v["domains"][0] for listener in translate(held, PODS).gateway_listeners
            for v in listener.route_config["virtual_hosts"]]


def route_status(held, name="web", namespace="shop") -> dict:
    ref = Ref("HTTPRoute", namespace, name, GROUP)
    return {c["type"]: (c["status"], c["reason"])
            for parent in with_status(ref, held[ref], held)["status"]["parents"] for c in parent["conditions"]}


def test_a_weighted_route_becomes_weighted_envoy_clusters_of_one_service_per_version():
    held = store(BASE + route(spec=SPLIT))
    [main] = vhost(held)["routes"]
    assert main["match"] == {"prefix": "/"}
    assert main["route"]["weighted_clusters"]["clusters"] == [
        {"name": "outbound|80||web-v1.shop.svc.cluster.local", "weight": 80},
        {"name": "outbound|80||web-v2.shop.svc.cluster.local", "weight": 20}]
    clusters = {c["name"]: c for c in translate(held, PODS).clusters}
    endpoints = clusters["outbound|80||web-v2.shop.svc.cluster.local"]["load_assignment"]["endpoints"]
    assert [e["endpoint"]["address"]["socket_address"]["port_value"] for e in endpoints[0]["lb_endpoints"]] == [9002]


def test_weights_as_istio_computes_them_default_one_zero_dropped_none_left_is_500():
    held = store(BASE + route(spec="""
  parentRefs: [{name: shop}]
  hostnames: [shop.lab.local]
  rules:
    - matches: [{path: {type: Exact, value: /even}}]
      backendRefs: [{name: web-v1, port: 80}, {name: web-v2, port: 80}]
    - matches: [{path: {type: Exact, value: /one}}]
      backendRefs: [{name: web-v1, port: 80, weight: 0}, {name: web-v2, port: 80, weight: 3}]
    - matches: [{path: {type: Exact, value: /none}}]
      backendRefs: [{name: web-v1, port: 80, weight: 0}]
"""))
    routes = {r["match"]["path"]: r for r in vhost(held)["routes"]}
    assert [c["weight"] for c in routes["/even"]["route"]["weighted_clusters"]["clusters"]] == [1, 1]
    assert routes["/one"]["route"]["cluster"] == "outbound|80||web-v2.shop.svc.cluster.local"
    assert routes["/none"]["direct_response"] == {"status": 500} and "route" not in routes["/none"]


def test_matches_path_kinds_headers_and_method():
    held = store(BASE + route(spec="""
  parentRefs: [{name: shop}]
  hostnames: [shop.lab.local]
  rules:
    - matches:
        - {path: {type: PathPrefix, value: /app/}}
        - {path: {type: RegularExpression, value: "/v[0-9]+/.*"}}
        - headers: [{name: X-Track, value: canary}, {type: RegularExpression, name: x-user, value: "a.*"}]
          method: POST
      backendRefs: [{name: web-v2, port: 80}]
"""))
    matches = [r["match"] for r in vhost(held)["routes"]]
    assert {"path_separated_prefix": "/app"} in matches          # whole segments, trailing / ignored
    assert {"safe_regex": {"regex": "/v[0-9]+/.*"}} in matches
    assert {"prefix": "/", "headers": [
        {"name": ":method", "string_match": {"exact": "POST"}},
        {"name": "x-track", "string_match": {"exact": "canary"}},
        {"name": "x-user", "string_match": {"safe_regex": {"regex": "a.*"}}}]} in matches


def test_rules_are_ordered_by_specificity_across_routes_not_by_file_order():
    # File order and age put the broad routes first; the spec puts the specific ones first.
    held = store(BASE + route("a-broad", created="2026-01-01T00:00:00Z", spec="""
  parentRefs: [{name: shop}]
  hostnames: [shop.lab.local]
  rules:
    - backendRefs: [{name: web-v1, port: 80}]
    - matches: [{headers: [{name: x-a, value: "1"}]}]
      backendRefs: [{name: web-v1, port: 80}]
    - matches: [{path: {type: PathPrefix, value: /a}}]
      backendRefs: [{name: web-v1, port: 80}]
""") + route("b-specific", created="2026-06-01T00:00:00Z", spec="""
  parentRefs: [{name: shop}]
  hostnames: [shop.lab.local]
  rules:
    - matches: [{headers: [{name: x-a, value: "1"}, {name: x-b, value: "2"}]}]
      backendRefs: [{name: web-v2, port: 80}]
    - matches: [{method: GET}]
      backendRefs: [{name: web-v2, port: 80}]
    - matches: [{path: {type: PathPrefix, value: /a/b}}]
      backendRefs: [{name: web-v2, port: 80}]
    - matches: [{path: {type: Exact, value: /a}}]
      backendRefs: [{name: web-v2, port: 80}]
"""))
    assert [r["name"] for r in vhost(held)["routes"]] == [
        "shop.b-specific.3",   # exact path
        "shop.b-specific.2",   # longest prefix /a/b
        "shop.a-broad.2",      # prefix /a
        "shop.b-specific.1",   # prefix /, a method
        "shop.b-specific.0",   # prefix /, two headers
        "shop.a-broad.1",      # prefix /, one header
        "shop.a-broad.0"]      # prefix /, nothing else


def test_ties_go_to_the_oldest_route_then_namespace_and_name():
    same = """
  parentRefs: [{name: shop}]
  hostnames: [shop.lab.local]
  rules: [{matches: [{headers: [{name: x-a, value: "1"}]}], backendRefs: [{name: web-v1, port: 80}]}]
"""
    newer_first = store(BASE + route("a", created="2026-06-01T00:00:00Z", spec=same)
                        + route("b", created="2026-01-01T00:00:00Z", spec=same))
    assert [r["name"] for r in vhost(newer_first)["routes"]] == ["shop.b.0", "shop.a.0"]
    same_age = store(BASE + route("b", created="2026-01-01T00:00:00Z", spec=same)
                     + route("a", created="2026-01-01T00:00:00Z", spec=same))
    assert [r["name"] for r in vhost(same_age)["routes"]] == ["shop.a.0", "shop.b.0"]
    # Two catch-alls: istiod sends routes up to the first (route.go BuildHTTPRoutesForVirtualService).
    catch_all = same.replace('matches: [{headers: [{name: x-a, value: "1"}]}], ', "")
    both = store(BASE + route("a", created="2026-06-01T00:00:00Z", spec=catch_all)
                 + route("b", created="2026-01-01T00:00:00Z", spec=catch_all))
    assert [r["name"] for r in vhost(both)["routes"]] == ["shop.b.0"]


def test_admit_keeps_the_first_creation_time_and_counts_spec_changes():
    [obj] = objects(route(spec=SPLIT))
    first = admit(obj, None)
    again = admit(obj, first)
    assert again["metadata"]["creationTimestamp"] == first["metadata"]["creationTimestamp"]
    assert again == first     # re-applying the same file changes nothing ("unchanged")
    changed = admit({**obj, "spec": {**obj["spec"], "hostnames": ["x.lab.local"]}}, first)
    assert changed["metadata"]["generation"] == 2


@pytest.mark.parametrize("listener, hostnames, served", [
    ("", ["*"], ["*"]),
    ("", ["shop.lab.local"], ["shop.lab.local"]),    # no listener hostname: the route's, never "*"
    ("*.lab.local", ["*"], ["*.lab.local"]),
    ("*.lab.local", ["shop.lab.local", "a.b.lab.local", "lab.local", "shop.other"],
     ["a.b.lab.local", "shop.lab.local"]),
    ("shop.lab.local", ["*.lab.local"], ["shop.lab.local"]),
    ("shop.lab.local", ["other.lab.local"], []),
])
def test_hostnames_served_are_where_listener_and_route_intersect(listener, hostnames, served):
    assert sorted(h for h in (intersection(listener, host) for host in hostnames) if h) == served


def test_accepted_route_reports_accepted_and_resolved_refs_as_istio_writes_them():
    held = store(BASE + route(spec=SPLIT))
    ref = Ref("HTTPRoute", "shop", "web", GROUP)
    [parent] = with_status(ref, held[ref], held)["status"]["parents"]
    assert parent["controllerName"] == "istio.io/gateway-controller"
    assert parent["parentRef"] == {"name": "shop", "group": GROUP, "kind": "Gateway"}
    assert [(c["type"], c["status"], c["reason"], c["message"]) for c in parent["conditions"]] == [
        ("Accepted", "True", "Accepted", "Route was valid"),
        ("ResolvedRefs", "True", "ResolvedRefs", "All references resolved")]
    assert apply_note(ref, held) == ""
    gateway = with_status(Ref("Gateway", "shop", "shop", GROUP), held[Ref("Gateway", "shop", "shop", GROUP)], held)
    assert {c["type"]: c["status"] for c in gateway["status"]["conditions"]} == {
        "Accepted": "True", "Programmed": "True", "ResolvedRefs": "True"}
    assert [(lsn["name"], lsn["attachedRoutes"]) for lsn in gateway["status"]["listeners"]] == [("http", 1),
                                                                                                ("other", 0)]


@pytest.mark.parametrize("parent, hostnames, reason", [
    ("{name: shop, sectionName: https}", "[shop.lab.local]", "NoMatchingParent"),
    ("{name: shop, sectionName: other}", "[shop.lab.local]", "NoMatchingListenerHostname"),
    ("{name: shop}", "[shop.example.org]", "NoMatchingListenerHostname"),
])
def test_a_route_its_parent_does_not_accept_reports_why_and_serves_nothing(parent, hostnames, reason):
    held = store(BASE + route(spec=f"""
  parentRefs: [{parent}]
  hostnames: {hostnames}
  rules: [{{backendRefs: [{{name: web-v1, port: 80}}]}}]
"""))
    assert route_status(held)["Accepted"] == ("False", reason)
    assert "not Accepted by Gateway" in apply_note(Ref("HTTPRoute", "shop", "web", GROUP), held)
    assert reason in apply_note(Ref("HTTPRoute", "shop", "web", GROUP), held)
    assert served_hosts(held) == []


def test_a_route_one_of_whose_hostnames_a_listener_takes_is_accepted_there():
    # conversion.go referenceAllowed: any route hostname the listener's matches is enough
    held = store(BASE + route(spec="""
  parentRefs: [{name: shop, sectionName: other}]
  hostnames: [shop.example.org, other.example.com]
  rules: [{backendRefs: [{name: web-v1, port: 80}]}]
"""))
    assert route_status(held)["Accepted"] == ("True", "Accepted")


CROSS = BASE + """
---
apiVersion: v1
kind: Namespace
metadata: {name: front, labels: {team: front}}
"""
FRONT_ROUTE = route(namespace="front", spec="""
  parentRefs: [{name: shop, namespace: shop}]
  hostnames: [shop.lab.local]
  rules: [{backendRefs: [{name: web-v1, namespace: shop, port: 80}]}]
""")


def allowing(where: str) -> str:
    return CROSS.replace('hostname: "*.lab.local"}', f'hostname: "*.lab.local", allowedRoutes: {where}}}')


def test_listeners_take_routes_of_their_own_namespace_unless_allowed_routes_say_otherwise():
    assert route_status(store(CROSS + FRONT_ROUTE), namespace="front")["Accepted"] == \
        ("False", "NotAllowedByListeners")
    for allowed in ("{namespaces: {from: All}}",
                    "{namespaces: {from: Selector, selector: {matchLabels: {team: front}}}}"):
        assert route_status(store(allowing(allowed) + FRONT_ROUTE), namespace="front")["Accepted"] == \
            ("True", "Accepted"), allowed
    other_kind = allowing("{namespaces: {from: All}, kinds: [{kind: GRPCRoute}]}")
    assert route_status(store(other_kind + FRONT_ROUTE), namespace="front")["Accepted"] == \
        ("False", "NotAllowedByListeners")


GRANT = """
---
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {name: front-routes, namespace: shop}
spec:
  from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: front}]
  to: [{group: "", kind: Service}]
"""


def test_a_cross_namespace_backend_needs_a_reference_grant_and_answers_500_without_one():
    held = store(allowing("{namespaces: {from: All}}") + FRONT_ROUTE)
    assert route_status(held, namespace="front") == {"Accepted": ("True", "Accepted"),
                                                      "ResolvedRefs": ("False", "RefNotPermitted")}
    [served] = vhost(held)["routes"]
    assert served["route"]["cluster_not_found_response_code"] == "INTERNAL_SERVER_ERROR"
    assert served["route"]["cluster"] not in {c["name"] for c in translate(held, PODS).clusters}
    granted = store(allowing("{namespaces: {from: All}}") + FRONT_ROUTE + GRANT)
    assert route_status(granted, namespace="front")["ResolvedRefs"] == ("True", "ResolvedRefs")
    assert vhost(granted)["routes"][0]["route"]["cluster"] == "outbound|80||web-v1.shop.svc.cluster.local"
    # A grant for another namespace's routes permits nothing here.
    elsewhere = store(allowing("{namespaces: {from: All}}") + FRONT_ROUTE + GRANT.replace("namespace: front",
                                                                                          "namespace: x"))
    assert route_status(elsewhere, namespace="front")["ResolvedRefs"] == ("False", "RefNotPermitted")


def test_a_missing_service_is_backend_not_found_and_its_share_answers_500():
    held = store(BASE + route(spec=SPLIT.replace("name: web-v2", "name: web-v3")))
    assert route_status(held) == {"Accepted": ("True", "Accepted"), "ResolvedRefs": ("False", "BackendNotFound")}
    assert "BackendNotFound" in apply_note(Ref("HTTPRoute", "shop", "web", GROUP), held)
    clusters = {c["name"] for c in translate(held, PODS).clusters}
    assert "outbound|80||web-v3.shop.svc.cluster.local" not in clusters


def test_a_gateway_api_gateway_and_an_istio_gateway_of_one_name_are_two_objects():
    held = store(BASE + """
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: shop, namespace: shop}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: [istio.lab.local]}]
""")
    assert Ref("Gateway", "shop", "shop") in held and Ref("Gateway", "shop", "shop", GROUP) in held
    assert Ref.from_key(Ref("Gateway", "shop", "shop", GROUP).key) == Ref("Gateway", "shop", "shop", GROUP)
    assert Ref.from_key(Ref("Gateway", "shop", "shop").key) == Ref("Gateway", "shop", "shop")


def test_get_finds_gateway_api_kinds_by_the_names_kubectl_takes():
    assert resolve_kind("httproute").ref("shop", "web") == Ref("HTTPRoute", "shop", "web", GROUP)
    assert resolve_kind("HTTPRoute").ref("shop", "web") == Ref("HTTPRoute", "shop", "web", GROUP)
    assert resolve_kind("gateway.gateway.networking.k8s.io").ref("shop", "g") == Ref("Gateway", "shop", "g", GROUP)
    assert resolve_kind("gtw").ref("shop", "g") == Ref("Gateway", "shop", "g", GROUP)
    assert resolve_kind("Gateway").ref("shop", "g") == Ref("Gateway", "shop", "g")   # Istio's, as before
    assert resolve_kind("gw").ref("shop", "g") == Ref("Gateway", "shop", "g")


def test_a_host_routed_by_a_virtual_service_and_an_httproute_is_served_by_each_gateway_apart():
    """On a cluster the VirtualService binds the ingress gateway and the HTTPRoute the gateway Istio
    deploys for its Gateway: two gateways, two addresses, no clash."""
    held = store(BASE + route(spec=SPLIT) + """
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: istio-gw, namespace: shop}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: [shop.lab.local]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: shop}
spec:
  hosts: [shop.lab.local]
  gateways: [istio-gw]
  http: [{route: [{destination: {host: web-v1}}]}]
""")
    config = translate(held, PODS)
    [istio] = config.route_configs["http"]["virtual_hosts"]
    assert istio["domains"][0] == "shop.lab.local"
    assert istio["routes"][0]["route"]["cluster"].endswith("web-v1.shop.svc.cluster.local")
    assert len(vhost(held)["routes"][0]["route"]["weighted_clusters"]["clusters"]) == 2
    assert [(entry.gateway.name, entry.port, entry.route_config["name"]) for entry in config.gateway_listeners] == [
        ("shop", 80, "http.80.shop.shop"), ("shop", 8080, "http.8080.shop.shop")]


@pytest.mark.parametrize("rule, field", [
    ("{filters: [{type: RequestHeaderModifier}], backendRefs: [{name: web-v1, port: 80}]}", "spec.rules[0].filters"),
    ("{matches: [{queryParams: [{name: a, value: b}]}], backendRefs: [{name: web-v1, port: 80}]}",
     "spec.rules[0].matches[0].queryParams"),
    ("{backendRefs: [{name: web-v1, port: 80, filters: [{type: RequestHeaderModifier}]}]}",
     "spec.rules[0].backendRefs[0].filters[0]"),   # other types: Istio's InvalidFilter (a conformance case)
    ("{backendRefs: [{kind: ServiceImport, group: multicluster.x-k8s.io, name: web-v1, port: 80}]}",
     "spec.rules[0].backendRefs[0].kind"),
    ("{backendRefs: [{name: web-v1}]}", "spec.rules[0].backendRefs[0].port"),
    ("{matches: [{path: {type: Prefix, value: /}}], backendRefs: [{name: web-v1, port: 80}]}",
     "spec.rules[0].matches[0].path.type"),
    ("{matches: [{method: FETCH}], backendRefs: [{name: web-v1, port: 80}]}", "spec.rules[0].matches[0].method"),
    ("{backendRefs: [{name: web-v1, port: 80, weight: -1}]}", "spec.rules[0].backendRefs[0].weight"),
    ("{backendRefs: [{name: web-v1, port: 0}]}", "spec.rules[0].backendRefs[0].port"),
])
def test_what_the_local_lab_does_not_do_is_an_error_naming_the_field(rule, field):
    [obj] = objects(route(spec=f"  parentRefs: [{{name: shop}}]\n  rules: [{rule}]"))
    with pytest.raises(ManifestError) as error:
        check_supported(obj)
    assert field in error.value.message


@pytest.mark.parametrize("hostname", ["Shop.lab.local", "shop.lab.local:80", "*.*.lab.local", "shop_1.lab"])
def test_a_hostname_the_crd_refuses_is_refused(hostname):
    [obj] = objects(route(spec=f"  parentRefs: [{{name: shop}}]\n  hostnames: ['{hostname}']"))
    with pytest.raises(ManifestError, match=r"spec.hostnames\[0\] is .* not a host name"):
        check_supported(obj)
    [gateway] = objects(BASE.split("---")[-1].replace("other.example.com", f"'{hostname}'"))
    with pytest.raises(ManifestError, match=r"spec.listeners\[1\].hostname"):
        check_supported(gateway)


def test_other_route_kinds_and_listener_protocols_are_refused_by_name():
    [grpc] = objects(route(spec="  parentRefs: [{name: shop}]").replace("HTTPRoute", "GRPCRoute"))
    with pytest.raises(ManifestError, match="does not support kind GRPCRoute"):
        check_supported(grpc)
    [gateway] = objects(BASE.split("---")[-1].replace("protocol: HTTP, hostname: other.example.com",
                                                      "protocol: TCP"))
    with pytest.raises(ManifestError, match=r"spec.listeners\[1\].protocol is TCP"):
        check_supported(gateway)


def test_an_https_listener_must_use_the_lab_certificate():
    https = BASE + """
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: tls, namespace: shop}
spec:
  gatewayClassName: istio
  listeners:
    - name: https
      port: 443
      protocol: HTTPS
      hostname: shop.lab.local
      tls: {mode: Terminate, certificateRefs: [{name: CERT}]}
"""
    served = store(https.replace("CERT", "canary-lab-gateway-tls") + route(spec=SPLIT.replace(
        "[{name: shop}]", "[{name: tls}]")))
    assert vhost(served, scheme="https")["routes"]
    with pytest.raises(ManifestError, match=r"spec.listeners\[0\].tls must be mode Terminate"):
        translate(store(https.replace("CERT", "my-cert")), PODS)


def test_a_gateway_of_another_class_is_left_pending_and_its_routes_get_no_status():
    held = store(BASE.replace("gatewayClassName: istio", "gatewayClassName: nginx") + route(spec=SPLIT))
    gateway_ref = Ref("Gateway", "shop", "shop", GROUP)
    # What the CRD's default status says until a controller picks the Gateway up.
    assert with_status(gateway_ref, held[gateway_ref], held)["status"]["conditions"] == [
        {"type": kind, "status": "Unknown", "reason": "Pending", "message": "Waiting for controller",
         "lastTransitionTime": "1970-01-01T00:00:00Z"} for kind in ("Accepted", "Programmed")]
    assert "gatewayClassName nginx" in apply_note(gateway_ref, held)
    ref = Ref("HTTPRoute", "shop", "web", GROUP)
    assert with_status(ref, held[ref], held)["status"] == {"parents": []}
    assert "serves nothing" in apply_note(ref, held)


def test_a_backend_service_without_a_selector_gets_no_pods_not_every_pod_of_its_namespace():
    """Kubernetes fills the endpoints of a Service with a selector only: without one, the gateway has
    none to send to (503), however many pods run beside it."""
    held = store(BASE.replace("spec: {selector: {app: web, version: v2}, ports: [{port: 80}]}",
                              "spec: {ports: [{port: 80}]}") + route(spec=SPLIT))
    clusters = {c["name"]: c for c in translate(held, PODS).clusters}
    assert clusters["outbound|80||web-v2.shop.svc.cluster.local"]["load_assignment"]["endpoints"] == [
        {"lb_endpoints": []}]
    assert len(clusters["outbound|80||web-v1.shop.svc.cluster.local"]["load_assignment"]["endpoints"][0][
        "lb_endpoints"]) == 1


def test_resolved_refs_names_the_last_backend_that_does_not_resolve_as_istio_does():
    """route_collections.go computeRoute keeps the last error over rules and backends; a weight-0
    backendRef is never looked at (buildHTTPDestination skips it)."""
    held = store(allowing("{namespaces: {from: All}}") + route(namespace="front", spec="""
  parentRefs: [{name: shop, namespace: shop}]
  hostnames: [shop.lab.local]
  rules:
    - backendRefs: [{name: web-v1, namespace: shop, port: 80}]
    - matches: [{path: {type: Exact, value: /missing}}]
      backendRefs: [{name: gone, port: 80, weight: 0}, {name: nope, port: 80}]
"""))
    ref = Ref("HTTPRoute", "front", "web", GROUP)
    [parent] = with_status(ref, held[ref], held)["status"]["parents"]
    [resolved] = [c for c in parent["conditions"] if c["type"] == "ResolvedRefs"]
    assert (resolved["reason"], resolved["message"]) == ("BackendNotFound",
                                                         "backend(nope.front.svc.cluster.local) not found")


def test_a_route_bound_to_two_listeners_says_so_and_each_counts_it():
    held = store(BASE.replace('hostname: other.example.com}', 'hostname: "*.lab.local"}') + route(spec=SPLIT))
    [parent] = with_status(Ref("HTTPRoute", "shop", "web", GROUP), held[Ref("HTTPRoute", "shop", "web", GROUP)],
                           held)["status"]["parents"]
    assert parent["conditions"][0]["message"] == "Route was valid, bound to 2 parents"
    gateway = with_status(Ref("Gateway", "shop", "shop", GROUP), held[Ref("Gateway", "shop", "shop", GROUP)], held)
    assert [(entry["name"], entry["attachedRoutes"]) for entry in gateway["status"]["listeners"]] == [("http", 1),
                                                                                                      ("other", 1)]


def test_the_gateway_status_names_its_deployed_service_as_istio_writes_it():
    """reportGatewayStatus for a gateway whose Service has no external address (the lab's clusters make
    it ClusterIP): the Service's host name, and Programmed naming it per listener port."""
    ref = Ref("Gateway", "shop", "shop", GROUP)
    held = store(BASE)
    status = with_status(ref, held[ref], held)["status"]
    assert status["addresses"] == [{"type": "Hostname", "value": "shop-istio.shop.svc.cluster.local"}]
    assert [(c["type"], c["status"], c["reason"], c["message"]) for c in status["conditions"]][::2] == [
        ("Accepted", "True", "Accepted", "Resource accepted"),
        ("ResolvedRefs", "True", "ResolvedRefs", "All references resolved")]
    [programmed] = [c for c in status["conditions"] if c["type"] == "Programmed"]
    assert programmed["message"] == ("Resource programmed, assigned to service(s) "
                                     "shop-istio.shop.svc.cluster.local:80 and shop-istio.shop.svc.cluster.local:8080")
    [listener, _] = status["listeners"]
    assert [(c["type"], c["status"], c["reason"]) for c in listener["conditions"]] == [
        ("Accepted", "True", "Accepted"), ("Conflicted", "False", "NoConflicts"),
        ("Programmed", "True", "Programmed"), ("ResolvedRefs", "True", "ResolvedRefs")]
    assert listener["supportedKinds"] == [{"group": GROUP, "kind": "HTTPRoute"}, {"group": GROUP, "kind": "GRPCRoute"}]


SHOP_ROUTE_TO = """
  parentRefs: [{name: shop, namespace: shop}]
  hostnames: [shop.lab.local]
  rules: [{backendRefs: [{name: web-v1, namespace: shop, port: 80}]}]
"""


@pytest.mark.parametrize("selector, accepted", [
    ("{team: front}", True),
    ("{team: shop}", False),                                        # labels of another namespace
    ("{team: front, kubernetes.io/metadata.name: shop}", False),    # every label must hold
    ("{kubernetes.io/metadata.name: front}", True),                 # the name label Kubernetes sets
])
def test_a_namespace_selector_takes_routes_of_namespaces_whose_labels_it_matches(selector, accepted):
    held = store(allowing(f"{{namespaces: {{from: Selector, selector: {{matchLabels: {selector}}}}}}}")
                 + route(namespace="front", spec=SHOP_ROUTE_TO))
    assert route_status(held, namespace="front")["Accepted"][0] == ("True" if accepted else "False")


@pytest.mark.parametrize("grant", [
    # one `from` entry of two is enough, one `to` entry of two is enough (references.go: any pair)
    "from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: x}, "
    "{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: front}]\n  to: [{group: '', kind: Service}]",
    "from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: front}]\n"
    "  to: [{group: '', kind: Secret}, {group: '', kind: Service, name: web-v1}]",
])
def test_a_grant_with_several_entries_permits_by_any_matching_pair(grant):
    held = store(allowing("{namespaces: {from: All}}") + route(namespace="front", spec=SHOP_ROUTE_TO) + f"""
---
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {{name: front-routes, namespace: shop}}
spec:
  {grant}
""")
    assert route_status(held, namespace="front")["ResolvedRefs"] == ("True", "ResolvedRefs")


def test_a_parent_is_accepted_by_any_listener_else_reports_the_least_severe_reason():
    """conditions.go createRouteStatus: a parentRef is Accepted when any listener takes it; otherwise
    the least severe reason (NotAllowedByListeners before NoMatchingListenerHostname), the messages
    of that rank joined."""
    held = store(CROSS + route(namespace="front", spec=SHOP_ROUTE_TO))
    ref = Ref("HTTPRoute", "front", "web", GROUP)
    [parent] = with_status(ref, held[ref], held)["status"]["parents"]
    accepted = parent["conditions"][0]
    assert (accepted["reason"], accepted["message"]) == (
        "NotAllowedByListeners",
        'hostnames matched parent hostname "*.lab.local", but namespace "front" is not allowed by the parent')
    # One parentRef refused (a sectionName it lacks), another taking it: the route is Accepted.
    two = store(allowing("{namespaces: {from: All}}") + route(namespace="front", spec=SHOP_ROUTE_TO.replace(
        "parentRefs: [{name: shop, namespace: shop}]",
        "parentRefs: [{name: shop, namespace: shop, sectionName: nope}, "
        "{name: shop, namespace: shop, sectionName: http}]")))
    assert "not Accepted" not in apply_note(ref, two)
    assert [c["status"] for p in with_status(ref, two[ref], two)["status"]["parents"]
            for c in p["conditions"] if c["type"] == "Accepted"] == ["False", "True"]


@pytest.mark.parametrize("spec, reason, message", [
    # The messages istiod writes (pilot/pkg/config/kube/gateway/conversion.go referenceAllowed,
    # buildDestination), one per listener judged, joined (conditions.go createRouteStatus).
    ("  parentRefs: [{name: shop, sectionName: nope}]\n  rules: [{backendRefs: [{name: web-v1, port: 80}]}]",
     "NoMatchingParent", 'sectionName "nope" not found; sectionName "nope" not found'),
    ("  parentRefs: [{name: shop}]\n  hostnames: [a.example.org]\n  rules: [{backendRefs: [{name: web-v1, port: 80}]}]",
     "NoMatchingListenerHostname",
     'no hostnames matched parent hostname "*.lab.local"; no hostnames matched parent hostname "other.example.com"'),
    ("  parentRefs: [{name: shop}]\n  hostnames: [shop.lab.local]\n"
     "  rules: [{backendRefs: [{name: web.v1, port: 80}]}]",
     "InvalidDestination", "service name invalid; the name of the Service must be used, not the hostname."),
])
def test_reasons_and_messages_are_istios(spec, reason, message):
    held = store(BASE + route(spec=spec))
    ref = Ref("HTTPRoute", "shop", "web", GROUP)
    [parent] = with_status(ref, held[ref], held)["status"]["parents"]
    assert [(c["reason"], c["message"]) for c in parent["conditions"] if c["reason"] == reason] == [(reason, message)]


def test_a_listener_that_takes_no_httproute_and_a_grantless_backend_are_worded_as_istio_words_them():
    held = store(allowing("{namespaces: {from: All}, kinds: [{kind: GRPCRoute}]}") + route(namespace="front",
                                                                                           spec=SHOP_ROUTE_TO))
    ref = Ref("HTTPRoute", "front", "web", GROUP)
    [parent] = with_status(ref, held[ref], held)["status"]["parents"]
    assert parent["conditions"][0]["message"] == "kind gateway.networking.k8s.io/v1/HTTPRoute is not allowed"
    assert parent["conditions"][1]["message"] == \
        'backendRef web-v1/shop not accessible to a HTTPRoute in namespace "front" (missing a ReferenceGrant?)'


def test_a_virtual_service_is_stored_with_the_creation_time_istio_merges_by():
    """An API server stamps creationTimestamp on create and keeps it; istiod merges VirtualServices of
    one gateway host oldest first (translate.py _merge_order), so the lab stamps them too."""
    [vs] = objects("""
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: shop}
spec: {hosts: [shop.lab.local], http: [{route: [{destination: {host: web-v1}}]}]}
""")
    first = admit(vs, None)
    assert first["metadata"]["creationTimestamp"].endswith("Z")
    kept = admit(vs, {**first, "metadata": {**first["metadata"], "creationTimestamp": "2026-01-01T00:00:00Z"}})
    assert kept["metadata"]["creationTimestamp"] == "2026-01-01T00:00:00Z"
    assert "creationTimestamp" not in vs["metadata"]   # the applied object is left as it was


def test_http_and_https_listeners_on_one_port_are_refused_saying_what_to_do():
    mixed = BASE.replace("{name: other, port: 8080, protocol: HTTP, hostname: other.example.com}",
                         "{name: other, port: 80, protocol: HTTPS, hostname: other.example.com, "
                         "tls: {certificateRefs: [{name: canary-lab-gateway-tls}]}}")
    with pytest.raises(ManifestError) as refused:
        translate(store(mixed), PODS)
    assert refused.value.message == (
        "Gateway shop/shop: spec.listeners[1] serves HTTPS on port 80, where another listener serves the other "
        "protocol; the local gateway serves one protocol per port (a cluster's gateway tells them apart by TLS)")
    assert refused.value.fix == "put HTTP and HTTPS listeners on ports of their own (80 and 443)"


def test_a_certificate_other_than_the_labs_is_refused_saying_which_one_to_name():
    other = BASE + """
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: tls, namespace: shop}
spec:
  gatewayClassName: istio
  listeners: [{name: https, port: 443, protocol: HTTPS, tls: {certificateRefs: [{name: mine}]}}]
"""
    with pytest.raises(ManifestError) as refused:
        translate(store(other), PODS)
    assert refused.value.message.endswith(
        "spec.listeners[0].tls must be mode Terminate with certificateRefs [{kind: Secret, name: "
        "canary-lab-gateway-tls}] in the Gateway's namespace on the local lab")
    assert refused.value.fix == ("the local gateway has only the lab CA's certificate; "
                                 "other TLS setups need k3d or minikube")


def test_a_prefix_outranks_a_longer_regular_expression_and_a_missing_service_port_answers_500():
    """sortHTTPRoutes ranks the path kind before its length (Exact > PathPrefix > RegularExpression);
    a backendRef to a port the Service lacks names a cluster istiod never builds: 500."""
    held = store(BASE + route(spec="""
  parentRefs: [{name: shop}]
  hostnames: [shop.lab.local]
  rules:
    - matches: [{path: {type: RegularExpression, value: "/a/.*/very/long/expression"}}]
      backendRefs: [{name: web-v2, port: 80}]
    - matches: [{path: {type: PathPrefix, value: /a}}]
      backendRefs: [{name: web-v1, port: 8081}]
"""))
    first, second = vhost(held)["routes"]
    assert first["match"] == {"path_separated_prefix": "/a"} and "safe_regex" in second["match"]
    assert first["route"]["cluster"] == "outbound|8081||web-v1.shop.svc.cluster.local"
    assert first["route"]["cluster"] not in {c["name"] for c in translate(held, PODS).clusters}


def test_only_gateways_and_httproutes_get_a_status_and_an_istio_gateway_gets_no_note():
    held = store(BASE + GRANT.replace("namespace: front}]", "namespace: shop}]"))
    grant = Ref("ReferenceGrant", "shop", "front-routes", GROUP)
    assert with_status(grant, held[grant], held) == held[grant]
    gateway = Ref("Gateway", "shop", "shop", GROUP)
    assert apply_note(gateway, held) == ""
    pending = store(BASE.replace("gatewayClassName: istio", "gatewayClassName: nginx"))
    assert apply_note(gateway, pending) == \
        " — not programmed: no controller runs gatewayClassName nginx (Istio's is istio)"


def test_apply_notes_say_what_a_route_serves():
    ref = Ref("HTTPRoute", "shop", "web", GROUP)
    missing = store(BASE + route(spec=SPLIT.replace("name: web-v2", "name: web-v3")))
    assert apply_note(ref, missing) == (" — ResolvedRefs False: BackendNotFound "
                                        "(backend(web-v3.shop.svc.cluster.local) not found); its share answers 500")
    dotted = store(BASE + route(spec=SPLIT.replace("name: web-v2", "name: web.v2")))
    assert apply_note(ref, dotted).endswith("; it serves nothing")


def test_a_gateway_with_a_conflicted_listener_is_accepted_saying_one_is_invalid():
    # The CRD refuses this Gateway at admission (a listener's port, protocol and hostname are unique), so
    # no apply gets here; the status rule is held all the same, past the check, as Istio's own test does
    # (gatewaycommon/listener_conflict_test.go TestComputeGatewayListenerConflictsGatewaySelfConflict).
    held = admitted(BASE.replace("{name: other, port: 8080, protocol: HTTP, hostname: other.example.com}",
                              '{name: other, port: 80, protocol: HTTP, hostname: "*.lab.local"}'))
    ref = Ref("Gateway", "shop", "shop", GROUP)
    status = with_status(ref, held[ref], held)["status"]
    assert [(c["type"], c["status"], c["reason"], c["message"]) for c in status["conditions"]] == [
        ("Accepted", "True", "ListenersNotValid", "One or more of the Gateway's listeners are invalid"),
        ("Programmed", "True", "Programmed",
         "Resource programmed, assigned to service(s) shop-istio.shop.svc.cluster.local:80"),
        ("ResolvedRefs", "True", "ResolvedRefs", "All references resolved")]
    conflicted = status["listeners"][1]
    assert [(c["type"], c["status"], c["reason"]) for c in conflicted["conditions"]] == [
        ("Accepted", "False", "HostnameConflict"), ("Conflicted", "True", "HostnameConflict"),
        ("Programmed", "False", "HostnameConflict")]
    assert conflicted["conditions"][0]["message"] == ("Listener has a conflict with another listener attached to the "
                                                      "same Gateway")


def test_the_programmed_message_lists_every_listener_port_as_istio_joins_them():
    ref = Ref("Gateway", "shop", "shop", GROUP)
    held = store(BASE.replace("{name: other, port: 8080, protocol: HTTP, hostname: other.example.com}",
                              "{name: other, port: 8080, protocol: HTTP, hostname: other.example.com}\n"
                              "    - {name: third, port: 9090, protocol: HTTP}"))
    [programmed] = [c for c in with_status(ref, held[ref], held)["status"]["conditions"] if c["type"] == "Programmed"]
    service = "shop-istio.shop.svc.cluster.local"
    assert programmed["message"] == \
        f"Resource programmed, assigned to service(s) {service}:80, {service}:8080, and {service}:9090"


def test_a_route_no_parent_accepts_is_noted_with_its_first_parents_reason():
    held = store(CROSS + """
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: second, namespace: shop}
spec:
  gatewayClassName: istio
  listeners: [{name: http, port: 80, protocol: HTTP, hostname: second.example.com}]
""" + route(namespace="front", spec=SHOP_ROUTE_TO.replace(
        "parentRefs: [{name: shop, namespace: shop}]",
        "parentRefs: [{name: shop, namespace: shop}, {name: second, namespace: shop}]")))
    assert apply_note(Ref("HTTPRoute", "front", "web", GROUP), held).startswith(
        " — not Accepted by Gateway shop: NotAllowedByListeners")
