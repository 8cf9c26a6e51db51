"""What the lab installs into a cluster: Istio (istioctl) and cert-manager (helm).

Each install is a few commands through the Runner, then a wait that means
"really usable": istiod and the ingress gateway rolled out; cert-manager's
webhook accepting objects (a Deployment being Available is not enough).
"""

from pathlib import Path

from lab.backends.cluster import downloads, versions
from lab.backends.cluster.kube import Kube
from lab.backends.cluster.runner import Runner
from lab.config import CLUSTER_DIR
from lab.errors import LabError
from lab.manifests import Ref, load_manifest_file, ref_of
from lab.polling import poll

ISTIO_OPERATOR = CLUSTER_DIR / "istio-operator.yaml"
ISSUERS = CLUSTER_DIR / "issuers.yaml"
ROLLOUT_TIMEOUT = "300s"


# The demo profile's components (istio manifests/profiles/demo.yaml adds the egress gateway to the
# default's istiod and ingress gateway), in istioctl's order: operator/pkg/install/install.go
# componentDependencies applies the gateways only once istiod is applied and ready.
ISTIO_DEPLOYMENTS = ("istiod", "istio-ingressgateway", "istio-egressgateway")


def install_istio(runner: Runner, kubeconfig: Path) -> None:
    """`istioctl install` server-side applies: run again over a half-done install, it finishes it."""
    # https://istio.io/latest/docs/reference/commands/istioctl/#istioctl-install
    runner.run(["istioctl", "install", "-f", str(ISTIO_OPERATOR), "--skip-confirmation",
                "--kubeconfig", str(kubeconfig)], timeout=900)
    for deployment in ISTIO_DEPLOYMENTS:
        rollout_status(runner, kubeconfig, "istio-system", deployment)


def rollout_status(runner: Runner, kubeconfig: Path, namespace: str, deployment: str) -> None:
    # https://kubernetes.io/docs/reference/kubectl/generated/kubectl_rollout/kubectl_rollout_status/
    runner.run(["kubectl", "rollout", "status", f"deployment/{deployment}", "--namespace", namespace,
                f"--timeout={ROLLOUT_TIMEOUT}", "--kubeconfig", str(kubeconfig)], timeout=400)


def install_cert_manager(runner: Runner, kubeconfig: Path) -> None:
    # https://cert-manager.io/docs/installation/helm/ (crds.enabled installs the CRDs with the chart);
    # crds.keep=false: without it the chart marks them helm.sh/resource-policy: keep and `helm uninstall`
    # leaves them (cert-manager deploy/charts/cert-manager/values.yaml, crds.keep; helm
    # pkg/action/resource_policy.go)
    runner.run(["helm", "upgrade", "--install", "cert-manager", "cert-manager",
                "--repo", versions.CERT_MANAGER_CHART_REPO, "--version", versions.CERT_MANAGER,
                "--namespace", "cert-manager", "--create-namespace", "--set", "crds.enabled=true",
                "--set", "crds.keep=false", "--wait", "--timeout", "5m", "--kubeconfig", str(kubeconfig)], timeout=600)


def uninstall_cert_manager(runner: Runner, kube: Kube, kubeconfig: Path) -> None:
    """The release, then its CRDs if `helm uninstall` kept them (an install from before crds.keep=false):
    those the chart labels as this release's (its crd-labels helper: instance cert-manager, component crds)."""
    # https://helm.sh/docs/helm/helm_uninstall/
    runner.run(["helm", "uninstall", "cert-manager", "--namespace", "cert-manager", "--wait",
                "--kubeconfig", str(kubeconfig)], timeout=600)
    for crd in kube.list_all("CustomResourceDefinition"):
        labels = (crd.get("metadata") or {}).get("labels") or {}
        if (labels.get("app.kubernetes.io/instance") == "cert-manager"
                and labels.get("app.kubernetes.io/component") == "crds"):
            kube.delete(Ref("CustomResourceDefinition", "", crd["metadata"]["name"]))


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


# Optional observability addons, from Istio's samples/addons (the installation the Istio docs use
# for Kiali and Prometheus), at a pinned commit of the release branch and checked by sha256: a
# branch moves, and what `kubectl apply` runs in the cluster must be what was reviewed.
ADDONS = ("prometheus", "kiali")


def addon_url(name: str) -> str:
    return f"https://raw.githubusercontent.com/istio/istio/{versions.ISTIO_ADDONS_COMMIT}/samples/addons/{name}.yaml"


def addon_path(cache_dir: Path, name: str) -> Path:
    return cache_dir / f"istio-{versions.ISTIO_ADDONS_COMMIT[:12]}" / "samples" / "addons" / f"{name}.yaml"


def fetch_addon(cache_dir: Path, name: str) -> Path:
    """The pinned manifest, downloaded once and kept only if its sha256 is the pinned one."""
    if name not in ADDONS:
        raise LabError(f"unknown addon {name!r}", f"addons: {', '.join(ADDONS)}")
    target, sha256 = addon_path(cache_dir, name), versions.ISTIO_ADDONS_SHA256[name]
    if downloads.verified(target, sha256):
        return target
    data = downloads.get(addon_url(name), f"Istio's {name} addon", "check ISTIO_ADDONS_COMMIT in versions.py")
    return downloads.keep_verified(data, sha256, target, f"Istio's {name} addon ({addon_url(name)})")


def install_addon(runner: Runner, kubeconfig: Path, name: str, cache_dir: Path) -> None:
    manifest = fetch_addon(cache_dir, name)
    runner.run(["kubectl", "apply", "-f", str(manifest), "--kubeconfig", str(kubeconfig)], timeout=300)
    rollout_status(runner, kubeconfig, "istio-system", name)


def dashboard_argv(name: str, kubeconfig: Path) -> list[str]:
    # https://istio.io/latest/docs/reference/commands/istioctl/#istioctl-dashboard-kiali
    return ["istioctl", "dashboard", name, "--address", "127.0.0.1", "--kubeconfig", str(kubeconfig)]
