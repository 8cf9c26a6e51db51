"""Istio YAML → Envoy config, and the errors a learner gets for bad input."""

import pytest

from lab.backends.local.pods import Pod
from lab.backends.local.schema import check_supported
from lab.backends.local.translate import RETRY_POLICY, translate
from lab.errors import ManifestError
from lab.validate import validate
from tests.conftest import by_ref, objects

BASE = """
apiVersion: v1
kind: Service
metadata: {name: app, namespace: shop}
spec:
  selector: {app: app}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: app, namespace: shop}
spec:
  host: app
  subsets:
    - {name: v1, labels: {version: v1}}
    - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: shop}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: [shop.local]}]
"""


def pod(name, version, port):
    return Pod(name=f"shop/{name}", namespace="shop", deployment=name.rsplit("-", 2)[0],
               labels={"app": "app", "version": version}, port=port)


PODS = {p.name: p for p in [pod("app-v1-abc-0", "v1", 9001), pod("app-v1-abc-1", "v1", 9002),
                            pod("app-v2-def-0", "v2", 9003)]}


def store(vs_text: str) -> dict:
    return by_ref(BASE + "---" + vs_text)


VS_SPLIT = """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: app, namespace: shop}
spec:
  hosts: [shop.local]
  gateways: [gw]
  http:
    - match: [{headers: {X-Track: {exact: canary}}}]
      route: [{destination: {host: app, subset: v2}}]
    - route:
        - {destination: {host: app, subset: v1}, weight: 80}
        - {destination: {host: app.shop.svc.cluster.local, subset: v2}, weight: 20}
"""


def test_weighted_split_and_header_route_become_envoy_routes():
    config = translate(store(VS_SPLIT), PODS)
    [vhost] = config.route_configs["http"]["virtual_hosts"]
    assert vhost["domains"] == ["shop.local"]   # gateway.go: the host alone; the port is ignored (below)
    header_route, split_route = vhost["routes"]
    assert header_route["match"]["headers"] == [{"name": "x-track", "string_match": {"exact": "canary"}}]
    assert header_route["route"]["cluster"] == "outbound|80|v2|app.shop.svc.cluster.local"
    assert split_route["route"]["weighted_clusters"]["clusters"] == [
        {"name": "outbound|80|v1|app.shop.svc.cluster.local", "weight": 80},
        {"name": "outbound|80|v2|app.shop.svc.cluster.local", "weight": 20},
    ]


def test_subset_clusters_hold_only_the_pods_with_the_subset_labels():
    config = translate(store(VS_SPLIT), PODS)
    ports = {c["name"].split("|")[2]: sorted(e["endpoint"]["address"]["socket_address"]["port_value"]
                                             for e in c["load_assignment"]["endpoints"][0]["lb_endpoints"])
             for c in config.clusters}
    # and the Service's default cluster with every pod it selects (istiod builds it whatever routes name)
    assert ports == {"v1": [9001, 9002], "v2": [9003], "": [9001, 9002, 9003]}


def test_every_service_port_and_destination_rule_subset_gets_a_cluster_as_istiod_builds_them():
    """pilot/pkg/networking/core/cluster.go buildOutboundClusters: a default cluster per Service port but
    UDP, and one per subset of its DestinationRule, whether or not a route names them (a subset no route
    names yet still shows its endpoints at the gateway's /clusters, as on a cluster)."""
    text = VS_SPLIT.replace("weight: 80", "weight: 100").replace("weight: 20", "weight: 0")
    names = {c["name"] for c in translate(store(text.replace("gateways: [gw]", "gateways: [mesh]")), PODS).clusters}
    assert names == {"outbound|80||app.shop.svc.cluster.local", "outbound|80|v1|app.shop.svc.cluster.local",
                     "outbound|80|v2|app.shop.svc.cluster.local"}


def test_a_weight_0_destination_is_left_out_of_the_route_as_istiod_does():
    """A canary at 0 is not served at all (not a weighted cluster of weight 0): what the gateway shows
    and what a check compares is then what a cluster's gateway shows."""
    config = translate(store(VS_SPLIT.replace("weight: 80", "weight: 100").replace("weight: 20", "weight: 0")), PODS)
    [vhost] = config.route_configs["http"]["virtual_hosts"]
    assert vhost["routes"][-1]["route"]["cluster"] == "outbound|80|v1|app.shop.svc.cluster.local"
    assert "weighted_clusters" not in vhost["routes"][-1]["route"]
    assert any(c["name"] == "outbound|80|v2|app.shop.svc.cluster.local" for c in config.clusters)  # still known


def test_clusters_allow_retries_as_istio_does():
    """Envoy allows 3 retries at once per cluster; Istio lifts it (and the other thresholds), so a
    replica that dies does not turn the retries it causes into 503s (tests/test_load.py sees them)."""
    for cluster in translate(store(VS_SPLIT), PODS).clusters:
        [thresholds] = cluster["circuit_breakers"]["thresholds"]
        assert thresholds["max_retries"] == thresholds["max_requests"] == 2**32 - 1


def test_uri_matches_and_or_semantics():
    vs = VS_SPLIT.replace("- match: [{headers: {X-Track: {exact: canary}}}]",
                          "- match: [{uri: {prefix: /api}}, {uri: {exact: /v2}}, {uri: {regex: '/x.*'}}]")
    routes = translate(store(vs), PODS).route_configs["http"]["virtual_hosts"][0]["routes"]
    assert [r["match"] for r in routes[:3]] == [{"prefix": "/api"}, {"path": "/v2"},
                                               {"safe_regex": {"regex": "/x.*"}}]
    assert routes[3]["match"] == {"prefix": "/"}


def test_a_subset_no_destination_rule_defines_is_refused_with_the_known_subsets():
    with pytest.raises(ManifestError, match=r"subset v3 of app, but no DestinationRule defines it \(defined: v1, v2\)"):
        translate(store(VS_SPLIT.replace("subset: v2}, weight: 20", "subset: v3}, weight: 20")), PODS)
    with pytest.raises(ManifestError) as caught:
        translate(store(VS_SPLIT.replace("subset: v2}, weight: 20", "subset: v3}, weight: 20")), PODS)
    assert caught.value.fix.startswith("add subset v3 to the DestinationRule for host app")


def test_a_subset_of_a_service_no_destination_rule_names_asks_for_one():
    held = {ref: obj for ref, obj in store(VS_SPLIT).items() if ref.kind != "DestinationRule"}
    with pytest.raises(ManifestError) as caught:
        translate(held, PODS)
    assert caught.value.fix.startswith("apply a DestinationRule for host app with subset v")


def test_unknown_service_and_unknown_gateway_are_refused():
    with pytest.raises(ManifestError, match="matches no Service"):
        translate(store(VS_SPLIT.replace("host: app, subset: v1", "host: nope, subset: v1")), PODS)
    with pytest.raises(ManifestError, match="no such Gateway"):
        translate(store(VS_SPLIT.replace("gateways: [gw]", "gateways: [other]")), PODS)


def test_a_host_the_gateway_does_not_serve_is_kept_unserved_with_a_note_as_istio_does():
    # Istio accepts it (istioctl analyze warns IST0132) and its gateway answers 404: so does the lab.
    config = translate(store(VS_SPLIT.replace("hosts: [shop.local]", "hosts: [other.local]")), PODS)
    assert config.route_configs["http"]["virtual_hosts"] == []
    assert any("none of its hosts (other.local) is one its Gateways serve" in note and "IST0132" in note
               for _, note in config.notes)
    served = translate(store(VS_SPLIT), PODS)
    assert [v["domains"][0] for v in served.route_configs["http"]["virtual_hosts"]] == ["shop.local"]
    assert not any("IST0132" in note for _, note in served.notes)


def test_mesh_only_virtual_service_is_not_served_at_the_gateway():
    config = translate(store(VS_SPLIT.replace("gateways: [gw]", "gateways: [mesh]")), PODS)
    assert config.route_configs["http"]["virtual_hosts"] == []


def test_a_whole_weight_written_as_a_fraction_is_served_as_the_whole_number():
    """`weight: 80.0` reaches a cluster as 80 (kubectl's YAML to JSON): the lab takes it and stores 80,
    so `invoke get` shows what a cluster would."""
    [obj] = objects(VS_SPLIT.replace("weight: 80", "weight: 80.0"))
    validate(obj)
    weights = [d["weight"] for http in obj["spec"]["http"] for d in http.get("route", []) if "weight" in d]
    assert weights == [80, 20] and all(type(w) is int for w in weights)


@pytest.mark.parametrize("weights, message", [
    ((-10, 110), r"weight is -10"),
    ((70, 20), r"weights add up to 90 \(70 \+ 20\)"),
    ((80, "20"), r'weight is "20", not a whole number'),
])
def test_wrong_weights_are_refused(weights, message):
    vs = VS_SPLIT.replace("weight: 80", f"weight: {weights[0]}").replace("weight: 20", f"weight: {weights[1]!r}")
    [obj] = [o for o in objects(vs)]
    with pytest.raises(ManifestError, match=message):
        validate(obj)


def test_unsupported_field_names_the_field_and_the_backends_that_support_it():
    vs = VS_SPLIT.replace("    - route:\n", "    - fault: {abort: {httpStatus: 500}}\n      route:\n")
    with pytest.raises(ManifestError) as caught:
        check_supported(objects(vs)[0])
    text = str(caught.value)
    assert "spec.http[1].fault is not supported by the local lab" in text
    assert "k3d or minikube" in text


def test_a_typo_gets_a_suggestion():
    with pytest.raises(ManifestError, match="did you mean 'route'"):
        check_supported(objects(VS_SPLIT.replace("    - route:\n", "    - routes:\n"))[0])


def test_unsupported_kind_is_refused():
    with pytest.raises(ManifestError, match="does not support kind ServiceEntry"):
        check_supported(objects("apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: x}\n")[0])


def test_malformed_yaml_names_file_and_line():
    with pytest.raises(ManifestError, match=r"test.yaml, line 4: malformed YAML"):
        objects("apiVersion: v1\nkind: Service\nmetadata: {name: x\n  y: [\n")


def test_list_kind_is_flattened_and_empty_documents_skipped():
    found = objects("""
        ---
        apiVersion: v1
        kind: List
        items:
          - {apiVersion: v1, kind: Namespace, metadata: {name: a}}
          - {apiVersion: v1, kind: Namespace, metadata: {name: b}}
        ---
        """)
    assert [o["metadata"]["name"] for o in found] == ["a", "b"]


def test_hosts_only_the_mesh_knows_are_left_to_the_mesh():
    vs = VS_SPLIT.replace("hosts: [shop.local]", "hosts: [shop.local, app]").replace("gateways: [gw]",
                                                                                    "gateways: [gw, mesh]")
    [vhost] = translate(store(vs), PODS).route_configs["http"]["virtual_hosts"]
    assert vhost["domains"] == ["shop.local"]   # not `app`: only the mesh knows it


def test_https_servers_get_their_own_routes_and_need_the_labs_credential():
    https_gateway = BASE.replace(
        "servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: [shop.local]}]",
        "servers: [{port: {number: 443, name: https, protocol: HTTPS}, hosts: [shop.local],"
        " tls: {mode: SIMPLE, credentialName: canary-lab-gateway-tls}}]")
    objs = by_ref(https_gateway + "---" + VS_SPLIT)
    config = translate(objs, PODS)
    assert config.route_configs["http"]["virtual_hosts"] == []        # no HTTP server: no plain HTTP
    assert [v["domains"][0] for v in config.route_configs["https"]["virtual_hosts"]] == ["shop.local"]
    wrong = by_ref(https_gateway.replace("canary-lab-gateway-tls", "my-cert") + "---" + VS_SPLIT)
    with pytest.raises(ManifestError, match="credentialName canary-lab-gateway-tls on the local lab"):
        translate(wrong, PODS)


def test_every_route_config_ignores_the_host_headers_port():
    """gateway.go buildGatewayHTTPRouteConfig: IgnorePortInHostMatching, so `Host: shop.local:80` (or any
    port) reaches shop.local's routes; without it Envoy answers 404 to such a request."""
    config = translate(store(VS_SPLIT), PODS)
    assert all(c["ignore_port_in_host_matching"] is True for c in config.route_configs.values())


def test_a_gateway_selecting_the_ingress_gateways_app_label_is_served():
    """The ingress gateway's pods carry istio: ingressgateway and app: istio-ingressgateway (Istio's
    gateway chart), so a Gateway may select it by either."""
    by_app = BASE.replace("selector: {istio: ingressgateway}", "selector: {app: istio-ingressgateway}")
    [vhost] = translate(store(VS_SPLIT) | by_ref(by_app), PODS).route_configs["http"]["virtual_hosts"]
    assert vhost["domains"] == ["shop.local"]
    other = BASE.replace("selector: {istio: ingressgateway}", "selector: {app: istio-egressgateway}")
    assert translate(store(VS_SPLIT) | by_ref(other), PODS).route_configs["http"]["virtual_hosts"] == []


def test_routes_are_named_as_istiod_names_them():
    """route.go TranslateRoute: `<http name>.<match name>` for a named match entry, else the http name."""
    named = VS_SPLIT.replace("- match: [{headers: {X-Track: {exact: canary}}}]",
                             "- name: testers\n      match: [{name: by-header, headers: {X-Track: {exact: canary}}}, "
                             "{uri: {prefix: /beta}}]").replace("    - route:\n",
                                                                "    - name: everyone\n      route:\n")
    [vhost] = translate(store(named), PODS).route_configs["http"]["virtual_hosts"]
    assert [r.get("name") for r in vhost["routes"]] == ["testers.by-header", "testers", "everyone"]


def test_header_matches_become_envoys_string_matches():
    """route.go translateHeaderMatch: exact, prefix and regex values as Envoy's StringMatcher (a regex
    as safe_regex: RE2, as Istio validates it), `{}` as present_match."""
    headers = ("{x-exact: {exact: canary}, x-prefix: {prefix: can}, x-regex: {regex: 'c.*y'}, x-any: {}}")
    [vhost] = translate(store(VS_SPLIT.replace("{X-Track: {exact: canary}}", headers)), PODS) \
        .route_configs["http"]["virtual_hosts"]
    assert vhost["routes"][0]["match"]["headers"] == [
        {"name": "x-any", "present_match": True},
        {"name": "x-exact", "string_match": {"exact": "canary"}},
        {"name": "x-prefix", "string_match": {"prefix": "can"}},
        {"name": "x-regex", "string_match": {"safe_regex": {"regex": "c.*y"}}}]


TESTERS_RULE = ("      match: [{headers: {X-Track: {exact: canary}}}]\n"
                "      route: [{destination: {host: app, subset: v2}}]\n")
CATCH_ALL_FIRST = VS_SPLIT.replace("    -" + TESTERS_RULE[5:], "") + "    - name: testers\n" + TESTERS_RULE


def test_routes_after_a_catch_all_are_not_served_and_the_apply_says_so_once():
    config = translate(store(CATCH_ALL_FIRST), PODS)
    [vhost] = config.route_configs["http"]["virtual_hosts"]
    assert [r["match"] for r in vhost["routes"]] == [{"prefix": "/"}]
    # A route below one without `match`: Istio's webhook warning, in its words, and nothing more.
    [(_, warning)] = config.warnings
    assert 'virtualService rule "testers" not used (route without matches defined before)' in warning
    assert not [text for _, text in config.notes if "catch-all" in text]
    # Below a `prefix: /` catch-all the webhook says nothing, but istiod still drops the route: the lab's note.
    prefix_first = translate(store(CATCH_ALL_FIRST.replace("    - route:\n",
                                                           "    - match: [{uri: {prefix: /}}]\n      route:\n")), PODS)
    assert prefix_first.warnings == []
    [note] = [text for _, text in prefix_first.notes if "catch-all" in text]
    assert "testers come after a catch-all route" in note and "may not warn" in note
    assert not translate(store(VS_SPLIT), PODS).warnings


def test_a_route_after_a_catch_all_is_still_checked_like_any_other():
    """A cluster stores it, and istioctl analyze reports its missing Service (IST0101); the lab refuses
    it as it refuses any route to a Service it lacks, wherever the route sits."""
    with pytest.raises(ManifestError, match="destination host nope matches no Service"):
        translate(store(CATCH_ALL_FIRST.replace("route: [{destination: {host: app, subset: v2}}]\n",
                                                "route: [{destination: {host: nope}}]\n")), PODS)


def test_a_mesh_only_virtualservice_adds_nothing_to_the_gateway():
    config = translate(store(VS_SPLIT.replace("gateways: [gw]", "gateways: [mesh]")), PODS)
    assert config.route_configs["http"]["virtual_hosts"] == []
    # its destinations make no clusters of their own: the gateway has the Services' anyway
    assert config.clusters == translate(by_ref(BASE), PODS).clusters


def test_a_gateway_that_selects_the_gateway_gets_no_ignored_note():
    assert not [text for _, text in translate(store(VS_SPLIT), PODS).notes if "selects no gateway" in text]


def test_each_route_has_no_timeout_and_istios_retries_split_or_not():
    """An Istio gateway route has no timeout (WebSockets stay open) and the mesh's default retries."""
    config = translate(store(VS_SPLIT), PODS)
    for route in config.route_configs["http"]["virtual_hosts"][0]["routes"]:
        assert route["route"]["timeout"] == "0s" and route["route"]["retry_policy"] == RETRY_POLICY


TWO_PORTS = BASE.replace("ports: [{port: 80, targetPort: 8080}]",
                         "ports: [{name: http, port: 80, targetPort: 8080}, "
                         "{name: admin, port: 9090, targetPort: 8080}]")


def test_a_destination_port_picks_the_services_port_and_must_be_one_of_them():
    def cluster(route: str) -> str:
        [vhost] = translate(by_ref(TWO_PORTS + "---" + VS_SPLIT.replace(
            "route:\n        - {destination: {host: app, subset: v1}, weight: 80}\n"
            "        - {destination: {host: app.shop.svc.cluster.local, subset: v2}, weight: 20}", route)
            .replace("route: [{destination: {host: app, subset: v2}}]",
                     "route: [{destination: {host: app, subset: v2, port: {number: 80}}}]")), PODS) \
            .route_configs["http"]["virtual_hosts"]
        return vhost["routes"][1]["route"]["cluster"]
    assert cluster("route: [{destination: {host: app, port: {number: 9090}}}]") == \
        "outbound|9090||app.shop.svc.cluster.local"
    with pytest.raises(ManifestError, match="destination port 8081 is not a port of Service app"):
        cluster("route: [{destination: {host: app, port: {number: 8081}}}]")
    with pytest.raises(ManifestError, match="Service app has 2 ports and the route names none"):
        cluster("route: [{destination: {host: app}}]")


@pytest.mark.parametrize("tls", ["{mode: MUTUAL, credentialName: canary-lab-gateway-tls}",
                                 "{mode: PASSTHROUGH}", "{mode: ISTIO_MUTUAL}",
                                 "{credentialName: canary-lab-gateway-tls}"])   # no mode: PASSTHROUGH, TLSmode's zero
def test_an_https_server_is_served_only_as_simple_tls_with_the_labs_certificate(tls):
    """MUTUAL would ask clients for certificates and PASSTHROUGH never meets an HTTP route on a cluster
    (pkg/config/gateway/gateway.go IsPassThroughServer): the lab refuses them, naming the server's tls."""
    gateway = BASE.replace("servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: [shop.local]}]",
                           "servers: [{port: {number: 443, name: https, protocol: HTTPS}, hosts: [shop.local], "
                           f"tls: {tls}}}]")
    with pytest.raises(ManifestError, match=r"spec.servers\[0\].tls must be mode SIMPLE"):
        translate(by_ref(gateway + "---" + VS_SPLIT), PODS)


def test_a_server_of_another_protocol_than_http_or_https_is_refused_naming_it():
    tcp = BASE.replace("protocol: HTTP}", "protocol: TCP}")
    with pytest.raises(ManifestError, match=r"spec.servers\[0\].port.protocol is TCP"):
        translate(by_ref(tcp + "---" + VS_SPLIT), PODS)


def test_a_virtualservice_without_gateways_is_the_meshs_and_says_so():
    """No `gateways` means the mesh (VirtualService.gateways): nothing at the gateway, and a note."""
    config = translate(store(VS_SPLIT.replace("  gateways: [gw]\n", "")), PODS)
    assert config.route_configs["http"]["virtual_hosts"] == []
    assert any("bound only to the mesh" in text for _, text in config.notes)


def test_a_host_its_gateway_in_another_namespace_does_not_serve_is_noted_ist0132():
    other = BASE.replace("kind: Gateway\nmetadata: {name: gw, namespace: shop}",
                         "kind: Gateway\nmetadata: {name: gw, namespace: edge}")
    config = translate(by_ref(other + "---" + VS_SPLIT.replace("gateways: [gw]", "gateways: [edge/gw]")
                              .replace("hosts: [shop.local]", "hosts: [typo.local]")), PODS)
    assert any("IST0132" in text for _, text in config.notes)
