"""The Envoy clusters the local gateway sends to: a STATIC cluster of pods (each a local process),
with the defaults istiod gives every outbound cluster. One builder for both tracks (the Istio API in
translate.py, the Gateway API in gateway_api_routes.py)."""

from lab.backends.local.pods import Pod

UNLIMITED = 2**32 - 1   # math.MaxUint32, as Istio writes it


def static_cluster(name: str, members: list[Pod]) -> dict:
    """The Envoy cluster of these pods, with the defaults istiod gives every outbound cluster."""
    endpoints = [{"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": p.port}}}}
                 for p in sorted(members, key=lambda p: p.name)]
    return {
        "name": name,
        "type": "STATIC",
        "connect_timeout": "1s",
        # Istio's default (pilot cluster_traffic_policy.go defaultLBAlgorithm), not Envoy's ROUND_ROBIN
        "lb_policy": "LEAST_REQUEST",
        # Istio's default thresholds (cluster_traffic_policy.go getDefaultCircuitBreakerThresholds):
        # Envoy's own max_retries of 3 turns retries beyond 3 at once (a replica just died) into 503s.
        "circuit_breakers": {"thresholds": [{"max_retries": UNLIMITED, "max_requests": UNLIMITED,
                                             "max_connections": UNLIMITED, "max_pending_requests": UNLIMITED,
                                             "track_remaining": True}]},
        "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": endpoints}]},
    }
