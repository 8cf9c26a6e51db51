"""Pinned versions of everything the cluster lab installs. Change them here only."""

K3S_IMAGE = "rancher/k3s:v1.31.5-k3s1"
KUBERNETES = "v1.31.5"          # minikube's --kubernetes-version, kept in step with K3S_IMAGE
ISTIO = "1.24.2"
CERT_MANAGER = "v1.16.3"
CERT_MANAGER_CHART_REPO = "https://charts.jetstack.io"

# Tools: the lowest version the lab is tested with (taken from PATH when at least this).
TOOLS = {
    "k3d": "5.7.5",
    "kubectl": "1.31.0",
    "istioctl": ISTIO,
    "helm": "3.16.4",
    "minikube": "1.35.0",
}
