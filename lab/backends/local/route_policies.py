"""Timeouts, retries and mirrors on a route, served by the local gateway as istiod serves them.

A VirtualService http route's `timeout`, `retries` and `mirror` (+ `mirrorPercentage`), an HTTPRoute
rule's `timeouts` and `RequestMirror` filter become the Envoy fields istiod writes, with the hash
policies of the destinations' DestinationRules (destination_policies.py); every
other sub-field stays refused by schema.py, naming it. Values Istio or the Gateway API's CRDs refuse
are refused here, each naming its field. Sources (istio release-1.31, gateway-api v1.6.0):

- route timeout: pilot/pkg/networking/core/route/route.go, setTimeout (none given: 0s, no timeout);
- mirror: route.go applyHTTPRouteDestination, MirrorPercent, MirrorPercentByPolicy,
  TranslateRequestMirrorPolicy; an HTTPRoute's RequestMirror filter: conversion.go createMirrorFilter;
- retries: pilot/pkg/networking/core/route/retry/retry.go, ConvertPolicy (none given: DefaultPolicy;
  attempts 0: no retry policy; numbers in retryOn become retriable status codes);
- HTTPRoute timeouts: pilot/pkg/config/kube/gateway/conversion.go, convertHTTPRoute (request → the
  route timeout; backendRequest, with no retry stanza, → the route timeout too; 0s: none); the
  standard channel has no `retry`, so HTTPRoute routes get Istio's default retries;
- what is refused: pkg/config/validation/validation.go (validateHTTPRetry, supportedRetryOnPolicies),
  policy_values.py for durations, and the HTTPRoute CRD's Duration pattern and its "backendRequest timeout cannot be
  longer than request timeout" rule (config/crd/standard/gateway.networking.k8s.io_httproutes.yaml).
"""

from collections.abc import Callable
from http import HTTPStatus

from lab.backends.local.destination_policies import hash_policy, service_of
from lab.backends.local.policy_values import count, envoy_duration, gateway_duration, istio_duration
from lab.errors import ManifestError
from lab.manifests import Ref

# Istio's default retry policy (retry.go DefaultPolicy), on every route that sets no `retries`.
DEFAULT_RETRY_ON = "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes"
PREVIOUS_HOSTS = {"name": "envoy.retry_host_predicates.previous_hosts", "typed_config": {
    "@type": "type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate"}}
DEFAULT_RETRY_POLICY = {"retry_on": DEFAULT_RETRY_ON, "num_retries": 2,
                        "retry_host_predicate": [PREVIOUS_HOSTS], "host_selection_retry_max_attempts": 5}
# validation.go supportedRetryOnPolicies: Envoy's x-envoy-retry-on and x-envoy-retry-grpc-on names.
RETRY_ON = frozenset({"5xx", "gateway-error", "reset", "reset-before-request", "connect-failure", "retriable-4xx",
                      "refused-stream", "retriable-status-codes", "retriable-headers", "envoy-ratelimited",
                      "http3-post-connect-failure", "cancelled", "deadline-exceeded", "internal",
                      "resource-exhausted", "unavailable"})
_STATUS_CODES = frozenset(status.value for status in HTTPStatus)


def virtual_service_route(ref: Ref, index: int, http: dict, cluster_for: Callable[[dict], str],
                          objects: dict[Ref, dict]) -> dict:
    """The RouteAction fields for a VirtualService's http[index]: its timeout, retry policy, mirror and the
    hash policies of its destinations' DestinationRules (`cluster_for` gives the Envoy cluster of a
    destination, making it when it is new)."""
    where = f"spec.http[{index}]"
    action: dict = {"timeout": "0s"}   # setTimeout: no `timeout`, no route timeout (WebSockets stay open)
    routes = http.get("route") or []
    # route.go: weight-0 destinations of a split are left out, hash policies with them
    served = [r["destination"] for r in routes if len(routes) == 1 or r.get("weight")]
    hashes = _hash_policies([cluster_for(d) for d in served], objects)
    if hashes:
        action["hash_policy"] = hashes
    if http.get("mirror") is not None:
        percent = _mirror_percent(ref, f"{where}.mirrorPercentage", http.get("mirrorPercentage"))
        if percent:   # route.go: mirror only with a percentage above 0
            action["request_mirror_policies"] = [mirror_policy(cluster_for(http["mirror"]), percent)]
    if http.get("timeout") is not None:
        action["timeout"] = envoy_duration(istio_duration(ref, f"{where}.timeout", http["timeout"]))
    retries = http.get("retries")
    policy = DEFAULT_RETRY_POLICY if retries is None else _retry_policy(ref, f"{where}.retries", retries)
    if policy:
        # retry.go: with one destination that hashes, retries stay on the hashed host (no previous-hosts)
        action["retry_policy"] = _without_previous_hosts(policy) if hashes and len(routes) == 1 else policy
    return action


def _hash_policies(clusters: list[str], objects: dict[Ref, dict]) -> list[dict]:
    """One hash policy per destination whose Service's DestinationRule hashes (route.go appends them)."""
    found = [hash_policy(service_of(name), objects) for name in clusters if name.startswith("outbound|")]
    return [policy for policy in found if policy]


def _without_previous_hosts(policy: dict) -> dict:
    return {key: value for key, value in policy.items() if key != "retry_host_predicate"}


def http_route_rule(ref: Ref, index: int, rule: dict) -> dict:
    """The RouteAction fields for an HTTPRoute's rules[index]: its timeouts, and Istio's default retries."""
    action: dict = {"timeout": "0s", "retry_policy": DEFAULT_RETRY_POLICY}
    timeouts = rule.get("timeouts") or {}
    where = f"spec.rules[{index}].timeouts"
    request = gateway_duration(ref, f"{where}.request", timeouts.get("request"))
    backend = gateway_duration(ref, f"{where}.backendRequest", timeouts.get("backendRequest"))
    if request and backend is not None and backend > request:
        raise ManifestError(f"{ref}: {where}: backendRequest timeout cannot be longer than request timeout "
                            "(the HTTPRoute CRD's rule; a cluster's API server refuses it too)",
                            "make backendRequest at most request")
    for nanos in (request, backend):   # conversion.go: backendRequest, when set, wins (no retry stanza)
        if nanos:
            action["timeout"] = envoy_duration(nanos)
    return action


def mirror_policy(cluster: str, fraction: dict) -> dict:
    """Envoy's request mirror policy as route.go TranslateRequestMirrorPolicy writes it: not traced, and
    no "-shadow" suffix on the copy's Host (pilot features DISABLE_SHADOW_HOST_SUFFIX, true by default)."""
    return {"cluster": cluster, "runtime_fraction": {"default_value": fraction}, "trace_sampled": False,
            "disable_shadow_host_suffix_append": True}


def _mirror_percent(ref: Ref, where: str, percentage: object) -> dict | None:
    """route.go MirrorPercent: no mirrorPercentage is 100%; a value of 0 mirrors nothing; else value
    × 10,000 per million. Istio refuses a value under 0 or over 100 (validation/virtualservice.go)."""
    if percentage is None:
        return {"numerator": 100, "denominator": "HUNDRED"}
    value = percentage.get("value", 0) if isinstance(percentage, dict) else None
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value <= 100:
        raise ManifestError(f"{ref}: {where}.value is {value!r}: Istio takes a percentage from 0 to 100",
                            "write it like mirrorPercentage: {value: 100}")
    return {"numerator": int(value * 10000), "denominator": "MILLION"} if value > 0 else None


def with_http_route_rule(ref: Ref, index: int, rule: dict, action: dict, cluster_for: Callable[[dict], str],
                         clusters: dict[str, dict], objects: dict[Ref, dict]) -> dict:
    """An HTTPRoute rule's Envoy route with its timeouts, retries, mirrors and its backends' hash policies
    (values checked either way). `cluster_for` gives a backendRef's Envoy cluster name, making the
    cluster when it resolves."""
    policies = http_route_rule(ref, index, rule)
    route = action.get("route") or {}
    names = [route["cluster"]] if "cluster" in route else \
        [c["name"] for c in (route.get("weighted_clusters") or {}).get("clusters") or []]
    hashes = _hash_policies([name for name in names if name in clusters], objects)
    if hashes:
        policies["hash_policy"] = hashes
        if len(names) == 1:
            policies["retry_policy"] = _without_previous_hosts(policies["retry_policy"])
    mirrors = []
    for j, (backend, fraction) in enumerate(_request_mirrors(ref, index, rule)):
        cluster = cluster_for(backend)
        if cluster not in clusters:
            # Istio leaves such a mirror out and sets ResolvedRefs False (conversion.go createMirrorFilter)
            raise ManifestError(f"{ref}: spec.rules[{index}].filters[{j}].requestMirror.backendRef names "
                                f"{backend.get('namespace') or ref.namespace}/{backend.get('name')}, which does not "
                                "resolve (no such Service or port, or no ReferenceGrant allows it); a cluster would "
                                "mirror nothing and say ResolvedRefs False, the local lab refuses",
                                "name a Service and port that exist (in another namespace: with a ReferenceGrant)")
        if fraction:
            mirrors.append(mirror_policy(cluster, fraction))
    if mirrors:
        policies["request_mirror_policies"] = mirrors
    return {**action, "route": {**action["route"], **policies}} if "route" in action else action


def check_rule_policies(ref: Ref, index: int, rule: dict) -> None:
    """An HTTPRoute rule's timeouts and filters, refused as the CRD (or the local lab) refuses them."""
    http_route_rule(ref, index, rule)
    _request_mirrors(ref, index, rule)


def _request_mirrors(ref: Ref, index: int, rule: dict) -> list[tuple[dict, dict | None]]:
    """(backendRef, Envoy fraction or None for 0%) of each RequestMirror filter; other filter types are
    refused, naming the filter (the local lab serves RequestMirror only)."""
    found = []
    for j, entry in enumerate(rule.get("filters") or []):
        where = f"spec.rules[{index}].filters[{j}]"
        if entry.get("type") != "RequestMirror":
            raise ManifestError(f"{ref}: {where}.type is {entry.get('type')!r}; the local lab serves the "
                                "RequestMirror filter only", "remove the filter, or use k3d or minikube")
        mirror = entry.get("requestMirror")
        if not isinstance(mirror, dict) or not isinstance(mirror.get("backendRef"), dict):
            raise ManifestError(f"{ref}: {where}.requestMirror.backendRef is required for type RequestMirror "
                                "(the CRD's rule)", "e.g. requestMirror: {backendRef: {name: shop-v2, port: 80}}")
        percent, fraction = mirror.get("percent"), mirror.get("fraction")
        if percent is not None and fraction is not None:
            raise ManifestError(f"{ref}: {where}.requestMirror: Only one of percent or fraction may be specified "
                                "(the CRD's rule)", "keep one of them")
        if fraction is not None:   # conversion.go: 100 × numerator ÷ denominator (default 100)
            numerator = count(ref, f"{where}.requestMirror.fraction.numerator", fraction.get("numerator"), 2**31 - 1)
            denominator = fraction.get("denominator", 100)
            if not isinstance(denominator, int) or isinstance(denominator, bool) or not 1 <= denominator or \
                    numerator > denominator:
                raise ManifestError(f"{ref}: {where}.requestMirror.fraction: numerator must be less than or equal "
                                    "to denominator, and denominator at least 1 (the CRD's rules)",
                                    "e.g. fraction: {numerator: 1, denominator: 10}")
            value: float | None = 100 * numerator / denominator
        else:
            value = None if percent is None else count(ref, f"{where}.requestMirror.percent", percent, 100)
        found.append((mirror["backendRef"], _mirror_percent(ref, f"{where}.requestMirror",
                                                            None if value is None else {"value": value})))
    return found


def _retry_policy(ref: Ref, where: str, retries: dict) -> dict | None:
    attempts = count(ref, f"{where}.attempts", retries.get("attempts", 0), 2**31 - 1)
    if attempts == 0:
        if retries.get("retryOn") or retries.get("perTryTimeout") is not None:
            raise ManifestError(f"{ref}: {where}: http retry policy configured when attempts are set to 0 "
                                "(disabled) — Istio refuses it", "set attempts, or remove retryOn and perTryTimeout")
        return None   # attempts 0 turns retries off: no retry policy at all, not even Istio's default
    policy: dict = {**DEFAULT_RETRY_POLICY, "num_retries": attempts}
    if retries.get("retryOn"):
        names, codes = [], []
        for part in str(retries["retryOn"]).split(","):   # validateHTTPRetry splits on "," and trims nothing
            if part.isdigit() and int(part) in _STATUS_CODES:   # Go's http.StatusText(i) != ""
                codes.append(int(part))
            elif part in RETRY_ON:
                names.append(part)
            else:
                raise ManifestError(f"{ref}: {where}.retryOn: {part!r} is not a valid retryOn policy "
                                    "(Istio refuses it)",
                                    "use Envoy's names (5xx, gateway-error, connect-failure, refused-stream, reset, "
                                    "retriable-4xx, …) or HTTP status codes, comma-separated")
        if codes and "retriable-status-codes" not in names:
            names.append("retriable-status-codes")
        policy["retry_on"] = ",".join(names)
        if codes:
            policy["retriable_status_codes"] = codes
    if retries.get("perTryTimeout") is not None:
        policy["per_try_timeout"] = envoy_duration(istio_duration(ref, f"{where}.perTryTimeout",
                                                                    retries["perTryTimeout"]))
    return policy
