"""What the lab installs into a cluster: Istio (istioctl) and cert-manager (helm).

Each install is a few commands through the Runner, then a wait that means
"really usable": istiod and the ingress gateway rolled out; cert-manager's
webhook accepting objects (a Deployment being Available is not enough).
"""

from pathlib import Path

from lab.backends.cluster import versions
from lab.backends.cluster.kube import Kube
from lab.backends.cluster.runner import Runner
from lab.config import CLUSTER_DIR
from lab.errors import LabError
from lab.manifests import load_manifest_file, ref_of
from lab.polling import poll

ISTIO_OPERATOR = CLUSTER_DIR / "istio-operator.yaml"
ISSUERS = CLUSTER_DIR / "issuers.yaml"
ROLLOUT_TIMEOUT = "300s"


def install_istio(runner: Runner, kubeconfig: Path) -> None:
    # https://istio.io/latest/docs/reference/commands/istioctl/#istioctl-install
    runner.run(["istioctl", "install", "-f", str(ISTIO_OPERATOR), "--skip-confirmation",
                "--kubeconfig", str(kubeconfig)], timeout=900)
    for deployment in ("istiod", "istio-ingressgateway"):
        rollout_status(runner, kubeconfig, "istio-system", deployment)


def rollout_status(runner: Runner, kubeconfig: Path, namespace: str, deployment: str) -> None:
    # https://kubernetes.io/docs/reference/kubectl/generated/kubectl_rollout/kubectl_rollout_status/
    runner.run(["kubectl", "rollout", "status", f"deployment/{deployment}", "--namespace", namespace,
                f"--timeout={ROLLOUT_TIMEOUT}", "--kubeconfig", str(kubeconfig)], timeout=400)


def install_cert_manager(runner: Runner, kubeconfig: Path) -> None:
    # https://cert-manager.io/docs/installation/helm/ (crds.enabled installs the CRDs with the chart)
    runner.run(["helm", "upgrade", "--install", "cert-manager", "cert-manager",
                "--repo", versions.CERT_MANAGER_CHART_REPO, "--version", versions.CERT_MANAGER,
                "--namespace", "cert-manager", "--create-namespace", "--set", "crds.enabled=true",
                "--wait", "--timeout", "5m", "--kubeconfig", str(kubeconfig)], timeout=600)


def wait_for_webhook(kube: Kube, timeout: float = 120, interval: float = 2.0) -> None:
    """Retry a server-side dry-run create until cert-manager's webhook answers it."""
    probe = load_manifest_file(ISSUERS)[0]
    last: list[str] = []

    def admitted() -> bool:
        try:
            kube.dry_run_create(probe)
            return True
        except LabError as e:
            last[:] = [e.message]
            return "already exists" in e.message   # admitted far enough to find the real one

    if not poll(admitted, timeout, interval):
        raise LabError(f"cert-manager's webhook does not accept objects after {timeout:.0f}s ({last[0]})",
                       "see `kubectl -n cert-manager get pods`; `invoke up` again retries")


def apply_issuers(kube: Kube) -> list[str]:
    """Apply the lab's CA and certificates; the keys of those that were not there before."""
    created = []
    for obj in load_manifest_file(ISSUERS):
        if kube.get(ref_of(obj)) is None:
            created.append(ref_of(obj).key)
        kube.apply(obj)
    return created


# Optional observability addons, from the Istio release's samples/addons (the installation the
# Istio docs use for Kiali and Prometheus).
ADDONS = ("prometheus", "kiali")


def addon_url(name: str) -> str:
    minor = ".".join(versions.ISTIO.split(".")[:2])
    return f"https://raw.githubusercontent.com/istio/istio/release-{minor}/samples/addons/{name}.yaml"


def install_addon(runner: Runner, kubeconfig: Path, name: str) -> None:
    if name not in ADDONS:
        raise LabError(f"unknown addon {name!r}", f"addons: {', '.join(ADDONS)}")
    runner.run(["kubectl", "apply", "-f", addon_url(name), "--kubeconfig", str(kubeconfig)], timeout=300)
    rollout_status(runner, kubeconfig, "istio-system", name)


def dashboard_argv(name: str, kubeconfig: Path) -> list[str]:
    # https://istio.io/latest/docs/reference/commands/istioctl/#istioctl-dashboard-kiali
    return ["istioctl", "dashboard", name, "--address", "127.0.0.1", "--kubeconfig", str(kubeconfig)]
