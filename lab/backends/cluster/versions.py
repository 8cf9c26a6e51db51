"""Pinned versions of everything the cluster lab installs. Change them here only.

Chosen on 2026-12-01 from each project's support page (the README's "Versions" table has the
end-of-life dates): Istio 1.31 supports Kubernetes 1.32-1.36, cert-manager 1.21 supports
1.33-1.36, so the clusters run Kubernetes 1.35 (kubernetes.io/releases: end of life 2027-02-28).
"""

KUBERNETES_MINOR = (1, 35)
# https://github.com/k3s-io/k3s/releases/tag/v1.35.5+k3s1 (image tags write "+" as "-")
K3S_IMAGE = "rancher/k3s:v1.35.5-k3s1"
# minikube v1.38.1 pkg/minikube/constants/constants.go: NewestKubernetesVersion = "v1.35.1"
MINIKUBE_KUBERNETES = "v1.35.1"
# kind v0.33.0's release notes: node images must be used by digest, one list per kind release.
KIND_NODE_IMAGE = ("kindest/node:v1.35.8@sha256:"
                   "07b2536e30b803ed61d1677a79df6115f798ce64c80f9e22f6ed45afd09323c0")

# https://istio.io/latest/news/releases/1.31.x/announcing-1.31.1/ (the newest patch confirmed;
# supportStatus.yml: Kubernetes 1.32-1.36)
ISTIO = "1.31.1"
# cert-manager v1.21.2 (release issue cert-manager/cert-manager#9237, published 2026-09-11: "all
# users should upgrade"); docs/releases: 1.21 supports Kubernetes 1.33-1.36.
CERT_MANAGER = "v1.21.2"
CERT_MANAGER_CHART_REPO = "https://charts.jetstack.io"
# Istio 1.31's go.mod: sigs.k8s.io/gateway-api v1.6.0 — the Gateway API CRDs it is built against
# (installed by another change; pinned here so both use one version).
GATEWAY_API = "v1.6.0"
# Argo Rollouts v1.9.1 (tag 2026-07-06), the newest GA release (v1.10 is at rc1): its CI
# (.github/workflows/testing.yaml) runs the e2e tests on k3s 1.32-1.35, so it covers the clusters'
# 1.35. The auto-rollout exercise installs it (lab/backends/cluster/argo_rollouts.py).
ARGO_ROLLOUTS = "v1.9.1"

# metrics-server's Helm chart for kind (the other clusters bring their own): chart 3.13.1 is
# metrics-server 0.8.1 (charts/metrics-server/Chart.yaml appVersion), which supports Kubernetes 1.31+
# (its README's compatibility matrix).
METRICS_SERVER_CHART = "3.13.1"

# Tools the lab downloads when PATH has none it can use (lab/backends/cluster/tools.py says when).
TOOLS = {
    "k3d": "5.9.0",         # github.com/k3d-io/k3d tag v5.9.0 (2026-06-02)
    "kind": "0.33.0",       # github.com/kubernetes-sigs/kind releases/tag/v0.33.0
    "minikube": "1.38.1",   # github.com/kubernetes/minikube tag v1.38.1 (2026-02-19)
    "kubectl": "1.35.9",    # kubernetes.io/releases/1.35: newest patch; the clusters' minor (skew: within one)
    "istioctl": ISTIO,      # the istioctl IS the Istio it installs: always the pinned one's minor
    "helm": "4.2.4",        # github.com/helm/helm tag v4.2.4 (2026-08-13)
}
