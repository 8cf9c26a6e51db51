"""Pinned versions of everything the cluster lab installs. Change them here only.

Re-checked on 2026-12-07 (the README's "Versions" table has the end-of-life dates). Kubernetes is
the newest minor every pin supports: Istio 1.31 supports 1.32-1.36 and cert-manager 1.21 1.33-1.36,
but Argo Rollouts' CI stops at 1.35 (v1.9.1 and v1.10.0-rc1 .github/workflows/testing.yaml: k3s
1.32-1.35), so the clusters stay on 1.35 (kubernetes.io/releases: end of life 2027-02-28). 1.36
becomes the choice once Argo Rollouts tests it; its k3s and kind node images are to be pinned then.
"""

KUBERNETES_MINOR = (1, 35)
# https://github.com/k3s-io/k3s/releases/tag/v1.35.5+k3s1 (image tags write "+" as "-")
K3S_IMAGE = "rancher/k3s:v1.35.5-k3s1"
# The newest 1.35 patch (as kubectl's pin below). minikube starts any version from its
# OldestKubernetesVersion (v1.28.0) on, and only warns above its NewestKubernetesVersion
# (cmd/minikube/cmd/start.go); its master had moved to v1.36.2 by 2026-08.
MINIKUBE_KUBERNETES = "v1.35.9"
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
# Argo Rollouts v1.9.1 (tag 2026-07-06): its CI (.github/workflows/testing.yaml) runs the e2e tests on
# k3s 1.32-1.35, so it covers the clusters' 1.35. v1.10.0 appears released (packagers updated to it in
# 2026-09), but the repository snapshot here has only v1.10.0-rc1, and the lab vendors the release's
# CRDs (cluster/argo-rollouts/): moving needs them from v1.10.0 itself. The auto-rollout exercise
# installs it (lab/backends/cluster/argo_rollouts.py).
ARGO_ROLLOUTS = "v1.9.1"

# Istio's samples/addons (Kiali, Prometheus) from release-1.31 at this commit (the branch's head
# when pinned; the addons last changed there on 2026-06-16), each checked by its sha256.
ISTIO_ADDONS_COMMIT = "a8d7012191ebf42bacd48fa72b32a05828e4c564"
ISTIO_ADDONS_SHA256 = {"kiali": "e2c786d65ab926dc49562d37808d2c838d7c953b701b0f15bcf39188ccebba5c",
                       "prometheus": "429abcb6cb74b6045d8787c66add166aa6ca77889835107bdea8dfb46dd1eca8"}

# metrics-server's Helm chart for kind (the other clusters bring their own): chart 3.13.1 is
# metrics-server 0.8.1 (charts/metrics-server/Chart.yaml appVersion), which supports Kubernetes 1.31+
# (its README's compatibility matrix).
METRICS_SERVER_CHART = "3.13.1"

# Tools the lab downloads when PATH has none it can use (lab/backends/cluster/tools.py says when).
TOOLS = {
    "k3d": "5.9.0",         # github.com/k3d-io/k3d tag v5.9.0 (2026-06-02)
    "kind": "0.33.0",       # github.com/kubernetes-sigs/kind releases/tag/v0.33.0
    "minikube": "1.39.0",   # github.com/kubernetes/minikube releases/tag/v1.39.0 (its repository snapshot here
                            # ends at v1.38.1; the release is seen in packagers' updates, e.g. upciti/wakemeops#4387)
    "kubectl": "1.35.9",    # kubernetes.io/releases/1.35: newest patch; the clusters' minor (skew: within one)
    "istioctl": ISTIO,      # the istioctl IS the Istio it installs: always the pinned one's minor
    "helm": "4.3.0",        # github.com/helm/helm releases/tag/v4.3.0 (2026-09-09, as devth/helm-docker#294
                            # records it; the repository snapshot here ends at v4.2.4)
}
