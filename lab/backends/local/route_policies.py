"""Timeouts, retries and outlier detection, served by the local gateway as istiod serves them.

A VirtualService http route's `timeout`, `retries` and `mirror` (+ `mirrorPercentage`), an HTTPRoute
rule's `timeouts` and `RequestMirror` filter, and a DestinationRule's `trafficPolicy.outlierDetection`
become the Envoy fields istiod writes; every
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
- outlier detection: pilot/pkg/networking/core/cluster_traffic_policy.go, applyOutlierDetection;
- what is refused: pkg/config/validation/validation.go (validateHTTPRetry, validateOutlierDetection,
  supportedRetryOnPolicies), pkg/config/validation/agent/validation.go ValidateDuration (≥ 1 ms, in
  whole ms), and the HTTPRoute CRD's Duration pattern and its "backendRequest timeout cannot be
  longer than request timeout" rule (config/crd/standard/gateway.networking.k8s.io_httproutes.yaml).
"""

import re
from collections.abc import Callable
from http import HTTPStatus

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
UINT32_MAX = 2**32 - 1
_STATUS_CODES = frozenset(status.value for status in HTTPStatus)
# A Go duration (time.ParseDuration), as Istio's CRDs take it: "1s", "1.5s", "500ms", "1m30s".
_GO_DURATION = re.compile(r"^(?:(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h))+$")
_GO_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_NANOS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}
# The Gateway API's Duration (GEP-2257), the CRD's pattern.
_GATEWAY_DURATION = re.compile(r"^([0-9]{1,5}(h|m|s|ms)){1,4}$")


def virtual_service_route(ref: Ref, index: int, http: dict, cluster_for: Callable[[dict], str]) -> dict:
    """The RouteAction fields for a VirtualService's http[index]: its timeout, retry policy and mirror
    (`cluster_for` gives the Envoy cluster of a destination, making it when it is new)."""
    where = f"spec.http[{index}]"
    action: dict = {"timeout": "0s"}   # setTimeout: no `timeout`, no route timeout (WebSockets stay open)
    if http.get("mirror") is not None:
        percent = _mirror_percent(ref, f"{where}.mirrorPercentage", http.get("mirrorPercentage"))
        if percent:   # route.go: mirror only with a percentage above 0
            action["request_mirror_policies"] = [mirror_policy(cluster_for(http["mirror"]), percent)]
    if http.get("timeout") is not None:
        action["timeout"] = _envoy_duration(_istio_duration(ref, f"{where}.timeout", http["timeout"]))
    retries = http.get("retries")
    if retries is None:
        action["retry_policy"] = DEFAULT_RETRY_POLICY
    else:
        policy = _retry_policy(ref, f"{where}.retries", retries)
        if policy:
            action["retry_policy"] = policy
    return action


def http_route_rule(ref: Ref, index: int, rule: dict) -> dict:
    """The RouteAction fields for an HTTPRoute's rules[index]: its timeouts, and Istio's default retries."""
    action: dict = {"timeout": "0s", "retry_policy": DEFAULT_RETRY_POLICY}
    timeouts = rule.get("timeouts") or {}
    where = f"spec.rules[{index}].timeouts"
    request = _gateway_duration(ref, f"{where}.request", timeouts.get("request"))
    backend = _gateway_duration(ref, f"{where}.backendRequest", timeouts.get("backendRequest"))
    if request and backend is not None and backend > request:
        raise ManifestError(f"{ref}: {where}: backendRequest timeout cannot be longer than request timeout "
                            "(the HTTPRoute CRD's rule; a cluster's API server refuses it too)",
                            "make backendRequest at most request")
    for nanos in (request, backend):   # conversion.go: backendRequest, when set, wins (no retry stanza)
        if nanos:
            action["timeout"] = _envoy_duration(nanos)
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
                         clusters: dict[str, dict]) -> dict:
    """An HTTPRoute rule's Envoy route with its timeouts, retries and mirrors (values checked either way).
    `cluster_for` gives a backendRef's Envoy cluster name, making the cluster when it resolves."""
    policies = http_route_rule(ref, index, rule)
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
            numerator = _count(ref, f"{where}.requestMirror.fraction.numerator", fraction.get("numerator"), 2**31 - 1)
            denominator = fraction.get("denominator", 100)
            if not isinstance(denominator, int) or isinstance(denominator, bool) or not 1 <= denominator or \
                    numerator > denominator:
                raise ManifestError(f"{ref}: {where}.requestMirror.fraction: numerator must be less than or equal "
                                    "to denominator, and denominator at least 1 (the CRD's rules)",
                                    "e.g. fraction: {numerator: 1, denominator: 10}")
            value: float | None = 100 * numerator / denominator
        else:
            value = None if percent is None else _count(ref, f"{where}.requestMirror.percent", percent, 100)
        found.append((mirror["backendRef"], _mirror_percent(ref, f"{where}.requestMirror",
                                                            None if value is None else {"value": value})))
    return found


def with_outlier_detection(cluster: dict, service: Ref, objects: dict[Ref, dict]) -> dict:
    """The cluster with the outlier detection of the DestinationRule for its Service, as istiod adds it."""
    for ref, rule in sorted(objects.items()):
        if ref.kind != "DestinationRule":
            continue
        spec = rule.get("spec") or {}
        outlier = (spec.get("trafficPolicy") or {}).get("outlierDetection")
        if outlier is None or not _names_service(str(spec.get("host", "")), ref.namespace, service):
            continue
        detection, panic = _outlier_detection(ref, outlier)
        return {**cluster, "outlier_detection": detection, "common_lb_config": {"healthy_panic_threshold": panic}}
    return cluster


def _names_service(host: str, rule_namespace: str, service: Ref) -> bool:
    parts = host.split(".")
    return parts[0] == service.name and (parts[1] if len(parts) > 1 else rule_namespace) == service.namespace


def _outlier_detection(ref: Ref, outlier: dict) -> tuple[dict, dict]:
    where = "spec.trafficPolicy.outlierDetection"
    out: dict = {"enforcing_success_rate": 0}   # success-rate ejection off, as istiod sets it
    for field, count, enforcing in (("consecutive5xxErrors", "consecutive_5xx", "enforcing_consecutive_5xx"),
                                    ("consecutiveGatewayErrors", "consecutive_gateway_failure",
                                     "enforcing_consecutive_gateway_failure")):
        if outlier.get(field) is not None:
            value = _count(ref, f"{where}.{field}", outlier[field], UINT32_MAX)
            out[count], out[enforcing] = value, 100 if value > 0 else 0
    for field, envoy in (("interval", "interval"), ("baseEjectionTime", "base_ejection_time")):
        if outlier.get(field) is not None:
            out[envoy] = _envoy_duration(_istio_duration(ref, f"{where}.{field}", outlier[field]))
    if outlier.get("maxEjectionPercent") is not None:
        percent = _count(ref, f"{where}.maxEjectionPercent", outlier["maxEjectionPercent"], 100)
        if percent > 0:
            out["max_ejection_percent"] = percent
    # minHealthPercent (default 0) is Envoy's panic threshold: 0 turns panic off, so a cluster whose
    # hosts are all ejected answers 503 rather than sending to them anyway.
    minimum = _count(ref, f"{where}.minHealthPercent", outlier.get("minHealthPercent", 0), 100)
    return out, {"value": float(minimum)}


def _retry_policy(ref: Ref, where: str, retries: dict) -> dict | None:
    attempts = _count(ref, f"{where}.attempts", retries.get("attempts", 0), 2**31 - 1)
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
                raise ManifestError(f"{ref}: {where}.retryOn: {part!r} is not a valid retryOn policy (Istio refuses it)",
                                    "use Envoy's names (5xx, gateway-error, connect-failure, refused-stream, reset, "
                                    "retriable-4xx, …) or HTTP status codes, comma-separated")
        if codes and "retriable-status-codes" not in names:
            names.append("retriable-status-codes")
        policy["retry_on"] = ",".join(names)
        if codes:
            policy["retriable_status_codes"] = codes
    if retries.get("perTryTimeout") is not None:
        policy["per_try_timeout"] = _envoy_duration(_istio_duration(ref, f"{where}.perTryTimeout",
                                                                    retries["perTryTimeout"]))
    return policy


def _count(ref: Ref, where: str, value: object, maximum: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= maximum:
        raise ManifestError(f"{ref}: {where} is {value!r}, not a whole number from 0 to {maximum}",
                            f"write a whole number, e.g. {where.rsplit('.', 1)[-1]}: 3")
    return value


def _istio_duration(ref: Ref, where: str, value: object) -> int:
    """Nanoseconds of an Istio duration: a Go duration of at least 1 ms, in whole milliseconds."""
    text = str(value).strip()
    if isinstance(value, bool) or not _GO_DURATION.match(text):
        raise ManifestError(f"{ref}: {where} is {value!r}, not a duration", "write it like 1s, 500ms or 1m30s")
    nanos = round(sum(float(number) * _NANOS[unit] for number, unit in _GO_PART.findall(text)))
    if nanos < 1_000_000 or nanos % 1_000_000:
        raise ManifestError(f"{ref}: {where} is {value!r}: Istio takes durations of at least 1ms, in whole "
                            "milliseconds", "write it like 1s, 500ms or 1m30s")
    return nanos


def _gateway_duration(ref: Ref, where: str, value: object) -> int | None:
    """Nanoseconds of a Gateway API duration (GEP-2257: up to four of N h|m|s|ms); None when not given."""
    if value is None:
        return None
    if not isinstance(value, str) or not _GATEWAY_DURATION.match(value):
        raise ManifestError(f"{ref}: {where} is {value!r}, not a Gateway API duration (the CRD's pattern: "
                            "up to four of a number and h, m, s or ms)", "write it like 1s, 500ms or 1m30s")
    return sum(int(number) * _NANOS[unit] for number, unit in _GO_PART.findall(value))


def _envoy_duration(nanos: int) -> str:
    """Envoy's JSON Duration: seconds with up to nine decimals ("1.500s")."""
    seconds, rest = divmod(nanos, 10**9)
    return f"{seconds}.{rest:09d}".rstrip("0").rstrip(".") + "s"
