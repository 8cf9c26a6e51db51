"""Timeouts, retries and outlier detection as istiod serves them (lab/backends/local/route_policies.py).

The expected Envoy fields are istiod's: retry.go ConvertPolicy and its tests (retry_test.go:
TestNilRetryShouldReturnDefault, TestZeroAttemptsShouldReturnNilPolicy,
TestRetryOnWithRetriableStatusCodes, TestRetryOnContainingStatusCodes), route.go setTimeout,
cluster_traffic_policy.go applyOutlierDetection, and for HTTPRoutes conversion.go convertHTTPRoute.
What Istio or the HTTPRoute CRD refuses is refused, naming the field; a sub-field the lab does not
serve is refused by schema.py, naming it."""

import pytest

from lab.backends.local.route_policies import DEFAULT_RETRY_POLICY
from lab.backends.local.schema import check_supported
from lab.backends.local.translate import translate
from lab.errors import ManifestError
from tests.conftest import by_ref, objects
from tests.test_gateway_api import BASE as GATEWAY_API_BASE, PODS as GATEWAY_API_PODS, route, store
from tests.test_translate import BASE, PODS


def vs(extra: str = "", subset: str = "v1") -> str:
    return f"""
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: app, namespace: shop}}
spec:
  hosts: [shop.local]
  gateways: [gw]
  http:
    - route: [{{destination: {{host: app, subset: {subset}}}}}]
{extra}"""


def action(extra: str) -> dict:
    text = BASE + vs(extra)
    for obj in objects(text):
        check_supported(obj)
    config = translate(by_ref(text), PODS)
    [host] = config.route_configs["http"]["virtual_hosts"]
    return host["routes"][0]["route"]


def test_no_retries_is_istios_default_policy_and_no_timeout():
    route_action = action("")
    assert route_action["retry_policy"] == DEFAULT_RETRY_POLICY
    assert route_action["retry_policy"]["retry_on"] == \
        "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes"
    assert route_action["timeout"] == "0s"


def test_a_timeout_becomes_the_route_timeout():
    assert action("      timeout: 1500ms\n")["timeout"] == "1.5s"
    assert action("      timeout: 1m30s\n")["timeout"] == "90s"


def test_retries_on_5xx_and_status_codes_as_convert_policy_writes_them():
    policy = action("      retries: {attempts: 3, retryOn: '5xx,404,503', perTryTimeout: 2s}\n")["retry_policy"]
    assert policy["num_retries"] == 3
    assert policy["retry_on"] == "5xx,retriable-status-codes"
    assert policy["retriable_status_codes"] == [404, 503]
    assert policy["per_try_timeout"] == "2s"
    assert policy["retry_host_predicate"] == DEFAULT_RETRY_POLICY["retry_host_predicate"]


def test_retriable_status_codes_named_already_keep_their_place():
    retries = "      retries: {attempts: 2, retryOn: 'gateway-error,retriable-status-codes,503'}\n"
    policy = action(retries)["retry_policy"]
    assert policy["retry_on"] == "gateway-error,retriable-status-codes" and policy["retriable_status_codes"] == [503]


def test_retries_without_retry_on_keep_istios_conditions():
    policy = action("      retries: {attempts: 5}\n")["retry_policy"]
    assert policy["num_retries"] == 5 and policy["retry_on"] == DEFAULT_RETRY_POLICY["retry_on"]


def test_zero_attempts_turns_every_retry_off_even_istios_default():
    assert "retry_policy" not in action("      retries: {attempts: 0}\n")


@pytest.mark.parametrize("extra, named", [
    ("      timeout: 1\n", "spec.http[0].timeout is 1, not a duration"),
    ("      timeout: 0.5ms\n", "at least 1ms"),
    ("      timeout: 1500us\n", "in whole milliseconds"),
    ("      retries: {attempts: 0, retryOn: 5xx}\n", "attempts are set to 0"),
    ("      retries: {attempts: -1}\n", "spec.http[0].retries.attempts is -1"),
    ("      retries: {attempts: 2, retryOn: '5xx, reset'}\n", "' reset' is not a valid retryOn policy"),
    ("      retries: {attempts: 2, retryOn: 'server-error'}\n", "'server-error' is not a valid retryOn policy"),
])
def test_what_istio_refuses_is_refused_naming_the_field(extra, named):
    with pytest.raises(ManifestError) as refused:
        action(extra)
    assert named in refused.value.message


def test_a_retry_field_the_lab_does_not_serve_is_refused_by_name():
    with pytest.raises(ManifestError) as refused:
        action("      retries: {attempts: 2, retryRemoteLocalities: true}\n")
    assert "spec.http[0].retries.retryRemoteLocalities is not supported" in refused.value.message


OUTLIER = """
  trafficPolicy:
    outlierDetection: {consecutive5xxErrors: 3, interval: 1s, baseEjectionTime: 1m, maxEjectionPercent: 50}
"""


def test_outlier_detection_is_written_on_the_services_clusters_as_istiod_writes_it():
    text = BASE.replace("  host: app\n", "  host: app\n" + OUTLIER.lstrip("\n"), 1) + vs()
    for obj in objects(text):
        check_supported(obj)
    clusters = translate(by_ref(text), PODS).clusters
    assert len(clusters) > 1   # the Service's own cluster and its subsets': the rule's policy is on each
    for cluster in clusters:
        assert cluster["outlier_detection"] == {
            "enforcing_success_rate": 0, "consecutive_5xx": 3, "enforcing_consecutive_5xx": 100,
            "interval": "1s", "base_ejection_time": "60s", "max_ejection_percent": 50}
        # minHealthPercent unset is 0: Envoy's panic threshold off, so ejected hosts stay out
        assert cluster["common_lb_config"] == {"healthy_panic_threshold": {"value": 0.0}}


def test_without_outlier_detection_a_cluster_has_none():
    for cluster in translate(by_ref(BASE + vs()), PODS).clusters:
        assert "outlier_detection" not in cluster


@pytest.mark.parametrize("policy, named", [
    ("{consecutive5xxErrors: -1}", "consecutive5xxErrors is -1"),
    ("{maxEjectionPercent: 101}", "maxEjectionPercent is 101"),
    ("{baseEjectionTime: 30}", "baseEjectionTime is 30, not a duration"),
])
def test_outlier_values_istio_refuses_are_refused(policy, named):
    text = BASE.replace("  host: app\n", f"  host: app\n  trafficPolicy:\n    outlierDetection: {policy}\n", 1) + vs()
    with pytest.raises(ManifestError) as refused:
        translate(by_ref(text), PODS)
    assert named in refused.value.message


def test_an_outlier_field_the_lab_does_not_serve_is_refused_by_name():
    text = BASE.replace("  host: app\n",
                        "  host: app\n  trafficPolicy:\n    outlierDetection: {consecutiveErrors: 3}\n", 1)
    with pytest.raises(ManifestError) as refused:
        for obj in objects(text):
            check_supported(obj)
    assert "outlierDetection.consecutiveErrors is not supported" in refused.value.message


def http_route_action(timeouts: str = "") -> dict:
    rule = "    - backendRefs: [{name: web-v1, port: 80}]\n" + (f"      timeouts: {timeouts}\n" if timeouts else "")
    held = store(GATEWAY_API_BASE + route(spec=f"  parentRefs: [{{name: shop}}]\n  hostnames: [shop.lab.local]\n"
                                                f"  rules:\n{rule}"))
    config = translate(held, GATEWAY_API_PODS)
    [host] = [h for listener in config.gateway_listeners for h in listener.route_config["virtual_hosts"]
              if "shop.lab.local" in h["domains"]]
    return host["routes"][0]["route"]


def test_an_httproute_gets_istios_default_retries_and_no_timeout():
    """The standard channel has no retry stanza: conversion.go leaves Retries nil, route.go adds the default."""
    route_action = http_route_action()
    assert route_action["retry_policy"] == DEFAULT_RETRY_POLICY and route_action["timeout"] == "0s"


@pytest.mark.parametrize("timeouts, served",
                         [("{request: 2s}", "2s"), ("{request: 10s, backendRequest: 500ms}", "0.5s"),
                                              ("{request: 0s}", "0s"), ("{backendRequest: 1m}", "60s")])
def test_httproute_timeouts_as_istio_converts_them(timeouts, served):
    assert http_route_action(timeouts)["timeout"] == served


@pytest.mark.parametrize("timeouts, named", [
    ("{request: 1.5s}", "spec.rules[0].timeouts.request is '1.5s', not a Gateway API duration"),
    ("{request: 1s, backendRequest: 2s}", "backendRequest timeout cannot be longer than request timeout"),
])
def test_httproute_timeouts_the_crd_refuses_are_refused(timeouts, named):
    with pytest.raises(ManifestError) as refused:
        http_route_action(timeouts)
    assert named in refused.value.message


MIRROR_CLUSTER = "outbound|80|v2|app.shop.svc.cluster.local"


def test_a_mirror_becomes_a_request_mirror_policy_as_route_go_writes_it():
    route_action = action("      mirror: {host: app, subset: v2}\n      mirrorPercentage: {value: 12.5}\n")
    assert route_action["request_mirror_policies"] == [{
        "cluster": MIRROR_CLUSTER,
        "runtime_fraction": {"default_value": {"numerator": 125000, "denominator": "MILLION"}},
        "trace_sampled": False, "disable_shadow_host_suffix_append": True}]
    # and the mirror's cluster exists, with the subset's pods
    [cluster] = [c for c in translate(by_ref(BASE + vs("      mirror: {host: app, subset: v2}\n")), PODS).clusters
                 if c["name"] == MIRROR_CLUSTER]
    assert len(cluster["load_assignment"]["endpoints"][0]["lb_endpoints"]) == 1


def test_a_mirror_without_a_percentage_copies_everything_and_zero_copies_nothing():
    everything = action("      mirror: {host: app, subset: v2}\n")["request_mirror_policies"][0]
    assert everything["runtime_fraction"]["default_value"] == {"numerator": 100, "denominator": "HUNDRED"}
    assert "request_mirror_policies" not in action("      mirror: {host: app, subset: v2}\n"
                                                   "      mirrorPercentage: {value: 0}\n")


@pytest.mark.parametrize("extra, named", [
    ("      mirror: {host: app, subset: v2}\n      mirrorPercentage: {value: 101}\n", "percentage from 0 to 100"),
    ("      mirror: {host: app, subset: v3}\n", "subset v3 of app, but no DestinationRule defines it"),
    ("      mirrors: [{destination: {host: app, subset: v2}}]\n", "spec.http[0].mirrors is not supported"),
])
def test_mirrors_istio_refuses_or_the_lab_does_not_serve_are_refused(extra, named):
    with pytest.raises(ManifestError) as refused:
        action(extra)
    assert named in refused.value.message


def http_route_filters(filters: str) -> dict:
    rule = f"    - backendRefs: [{{name: web-v1, port: 80}}]\n      filters: {filters}\n"
    held = store(GATEWAY_API_BASE + route(spec=f"  parentRefs: [{{name: shop}}]\n  hostnames: [shop.lab.local]\n"
                                                f"  rules:\n{rule}"))
    config = translate(held, GATEWAY_API_PODS)
    [host] = [h for listener in config.gateway_listeners for h in listener.route_config["virtual_hosts"]
              if "shop.lab.local" in h["domains"]]
    return host["routes"][0]["route"]


@pytest.mark.parametrize("mirror, fraction", [
    ("{backendRef: {name: web-v2, port: 80}}", {"numerator": 100, "denominator": "HUNDRED"}),
    ("{backendRef: {name: web-v2, port: 80}, percent: 25}", {"numerator": 250000, "denominator": "MILLION"}),
    ("{backendRef: {name: web-v2, port: 80}, fraction: {numerator: 1, denominator: 8}}",
     {"numerator": 125000, "denominator": "MILLION"}),
])
def test_a_request_mirror_filter_as_istio_converts_it(mirror, fraction):
    route_action = http_route_filters(f"[{{type: RequestMirror, requestMirror: {mirror}}}]")
    [policy] = route_action["request_mirror_policies"]
    assert policy["cluster"] == "outbound|80||web-v2.shop.svc.cluster.local"
    assert policy["runtime_fraction"]["default_value"] == fraction


@pytest.mark.parametrize("filters, named", [
    (("[{type: RequestMirror, requestMirror: {backendRef: {name: web-v2, port: 80}, percent: 5, "
      "fraction: {numerator: 1}}}]"), "Only one of percent or fraction"),
    (("[{type: RequestMirror, requestMirror: {backendRef: {name: web-v2, port: 80}, fraction: {numerator: 3, "
      "denominator: 2}}}]"), "numerator must be less than or equal to denominator"),
    ("[{type: RequestMirror}]", "requestMirror.backendRef is required"),
    ("[{type: URLRewrite}]", "spec.rules[0].filters[0].type is 'URLRewrite'"),
    ("[{type: RequestMirror, requestMirror: {backendRef: {name: nowhere, port: 80}}}]", "does not resolve"),
])
def test_request_mirror_filters_refused_naming_the_field(filters, named):
    with pytest.raises(ManifestError) as refused:
        http_route_filters(filters)
    assert named in refused.value.message


HASHED = BASE.replace("  host: app\n", "  host: app\n  trafficPolicy:\n    loadBalancer:\n"
                                         "      consistentHash: {httpCookie: {name: session, ttl: 0s}}\n", 1)


def test_a_consistent_hash_balances_the_services_clusters_on_a_ring_and_each_route_hashes_the_cookie():
    """cluster_traffic_policy.go ApplyRingHashLoadBalancer; route.go ConsistentHashToHashPolicy, one per
    destination of a split (processWeightedDestination appends them)."""
    text = HASHED + vs().replace("    - route: [{destination: {host: app, subset: v1}}]",
                                 "    - route: [{destination: {host: app, subset: v1}, weight: 80},"
                                 " {destination: {host: app, subset: v2}, weight: 20}]")
    for obj in objects(text):
        check_supported(obj)
    config = translate(by_ref(text), PODS)
    assert {c["lb_policy"] for c in config.clusters} == {"RING_HASH"}
    assert all(c["ring_hash_lb_config"] == {"minimum_ring_size": 1024} for c in config.clusters)
    [host] = config.route_configs["http"]["virtual_hosts"]
    route_action = host["routes"][0]["route"]
    assert route_action["hash_policy"] == [{"cookie": {"name": "session", "ttl": "0s"}}] * 2
    assert "retry_host_predicate" in route_action["retry_policy"]   # a split keeps the previous-hosts predicate


def test_one_hashed_destination_retries_without_the_previous_hosts_predicate():
    """retry.go DefaultConsistentHashPolicy: a retry stays on the hashed host."""
    config = translate(by_ref(HASHED + vs()), PODS)
    [host] = config.route_configs["http"]["virtual_hosts"]
    policy = host["routes"][0]["route"]["retry_policy"]
    assert "retry_host_predicate" not in policy and policy["retry_on"] == DEFAULT_RETRY_POLICY["retry_on"]


@pytest.mark.parametrize("hashed, named", [
    ("{httpCookie: {ttl: 0s}}", "name required for HttpCookie"),
    ("{httpCookie: {name: a}, httpHeaderName: x-user}", "exactly one of httpCookie"),
    ("{useSourceIp: true}", "consistentHash.useSourceIp is not supported"),
])
def test_consistent_hashes_refused_naming_the_field(hashed, named):
    text = BASE.replace("  host: app\n",
                        f"  host: app\n  trafficPolicy:\n    loadBalancer:\n      consistentHash: {hashed}\n", 1)
    with pytest.raises(ManifestError) as refused:
        for obj in objects(text):
            check_supported(obj)
        translate(by_ref(text + vs()), PODS)
    assert named in refused.value.message


def _hashed_on(extra_rules: str, base: str = BASE, subset: bool = True) -> list:
    route = vs() if subset else vs().replace(", subset: v1", "")
    config = translate(by_ref(base + route + extra_rules), PODS)
    [host] = config.route_configs["http"]["virtual_hosts"]
    return host["routes"][0]["route"].get("hash_policy", [])


def _rule(name: str, namespace: str, host: str, created: str = "", policy: str = "") -> str:
    meta = f", creationTimestamp: '{created}'" if created else ""
    return f"""
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: {name}, namespace: {namespace}{meta}}}
spec:
  host: {host}
{policy or "  trafficPolicy: {loadBalancer: {consistentHash: {httpHeaderName: x-user}}}"}
"""


def test_which_destinationrule_the_gateway_applies_is_istiods_choice():
    """istio release-1.31 push_context.go destinationRule: the gateway takes the rules exported from the
    Service's namespace, else from the root namespace, never one from a third namespace; config.go
    ResolveShortnameToFQDN: a dotted host is taken as written, so `app.shop` names no Service."""
    header = [{"header": {"header_name": "x-user"}}]
    assert _hashed_on(_rule("other", "elsewhere", "app.shop.svc.cluster.local")) == []       # a third namespace
    # the root namespace's only where the Service's namespace has none for the host (it has one here)
    assert _hashed_on(_rule("root", "istio-system", "app.shop.svc.cluster.local")) == []
    assert _hashed_on(_rule("dotted", "shop", "app.shop")) == []                             # not the Service's name
    assert _hashed_on(_rule("fqdn", "shop", "app.shop.svc.cluster.local")) == header


def test_of_two_rules_for_one_host_the_oldest_with_a_traffic_policy_keeps_it():
    """destination_rule.go mergeDestinationRule: rules merge oldest first (push_context.go
    sortConfigBySelectorAndCreationTime); the merged rule keeps the first trafficPolicy it meets,
    later ones add subsets."""
    base = BASE.replace("kind: DestinationRule\nmetadata: {name: app, namespace: shop}",
                        "kind: DestinationRule\nmetadata: {name: app, namespace: shop, "
                        "creationTimestamp: '2026-12-01T00:00:00Z'}", 1)
    assert base != BASE
    newer = _rule("a-newer", "shop", "app", created="2026-12-02T00:00:00Z")
    assert _hashed_on(newer, base) == [{"header": {"header_name": "x-user"}}]   # the older one has no policy
    older_cookie = _rule("z-older", "shop", "app", created="2026-11-30T00:00:00Z",
                         policy="  trafficPolicy: {loadBalancer: {consistentHash: {httpCookie: {name: s}}}}")
    assert _hashed_on(newer + older_cookie, base) == [{"cookie": {"name": "s"}}]   # age, not name, decides


def test_a_wildcard_rule_applies_where_no_rule_names_the_service_itself():
    """config.go MostSpecificHostMatch: the Service's own host first, else the longest wildcard."""
    header = [{"header": {"header_name": "x-user"}}]
    subsets = "  subsets:\n    - {name: v1, labels: {version: v1}}\n    - {name: v2, labels: {version: v2}}\n"
    no_rule = BASE.replace(subsets, "", 1).replace("  host: app\n", "  host: other\n", 1)
    assert no_rule != BASE
    wide = _rule("wide", "shop", "'*.shop.svc.cluster.local'")
    assert _hashed_on(wide, no_rule, subset=False) == header
    assert _hashed_on(wide) == []                                   # the rule for app itself wins (no policy)
    cookie = "  trafficPolicy: {loadBalancer: {consistentHash: {httpCookie: {name: s}}}}"
    widest = _rule("widest", "shop", "'*.svc.cluster.local'", policy=cookie)
    assert _hashed_on(wide + widest, no_rule, subset=False) == header   # the longer wildcard
    assert _hashed_on(widest, no_rule, subset=False) == [{"cookie": {"name": "s"}}]


def test_an_empty_traffic_policy_is_refused_as_istio_refuses_it():
    """validation.go validateTrafficPolicy: "traffic policy must have at least one field"."""
    from lab.validate import validate

    for policy in ("  trafficPolicy: {}\n", "  trafficPolicy: {loadBalancer: null}\n"):
        [rule] = objects(_rule("empty", "shop", "app", policy=policy))
        with pytest.raises(ManifestError, match="traffic policy must have at least one field; Istio refuses it"):
            validate(rule)
