"""Backends: the same verbs over a local Envoy lab or a real cluster."""
