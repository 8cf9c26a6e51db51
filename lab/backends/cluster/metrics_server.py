"""The metrics API (metrics.k8s.io) that HorizontalPodAutoscalers read CPU from, served by
metrics-server: bundled by k3s (k3s-io/k3s manifests/metrics-server/), a minikube addon
(cluster/minikube.yaml: addons, minikube deploy/addons/metrics-server/), installed by the lab on
kind (which has none), and only checked on a cluster the lab did not make.
"""

from pathlib import Path

from lab.backends.cluster import versions
from lab.backends.cluster.kube import Kube
from lab.backends.cluster.runner import Runner
from lab.manifests import Ref

# The APIService metrics-server registers, in k3s's manifests, minikube's addon and its own chart alike
# (metrics-apiservice.yaml; charts/metrics-server/templates/apiservice.yaml).
METRICS_API = Ref("APIService", "", "v1beta1.metrics.k8s.io")
CHART_REPO = "https://kubernetes-sigs.github.io/metrics-server/"   # its charts/metrics-server/README.md
INSTALL_HINT = (f"helm upgrade --install metrics-server metrics-server --repo {CHART_REPO} "
                "--namespace kube-system (add --set 'args={--kubelet-insecure-tls}' where the kubelets' "
                "certificates are self-signed, as on kind)")


def state(kube: Kube) -> str:
    """"available", "unavailable" (registered, not answering yet) or "missing"."""
    service = kube.get(METRICS_API)
    if service is None:
        return "missing"
    conditions = (service.get("status") or {}).get("conditions") or []
    up = any(c.get("type") == "Available" and c.get("status") == "True" for c in conditions)
    return "available" if up else "unavailable"


def install(runner: Runner, kubeconfig: Path) -> None:
    """metrics-server's chart, pinned, with --kubelet-insecure-tls: metrics-server verifies the kubelets'
    serving certificates against the cluster CA unless told not to (its README.md, Requirements), and
    kind's kubelets serve self-signed ones."""
    # https://helm.sh/docs/helm/helm_upgrade/; the chart's values.yaml: args are added to defaultArgs
    runner.run(["helm", "upgrade", "--install", "metrics-server", "metrics-server", "--repo", CHART_REPO,
                "--version", versions.METRICS_SERVER_CHART, "--namespace", "kube-system",
                "--set", "args={--kubelet-insecure-tls}", "--wait", "--timeout", "5m",
                "--kubeconfig", str(kubeconfig)], timeout=600)
