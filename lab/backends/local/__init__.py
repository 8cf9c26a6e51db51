"""The local lab: real Envoy as the ingress gateway, the sample apps as processes."""
