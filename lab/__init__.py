"""canary-lab: a local lab for learning canary releases with Istio."""
