"""An `up` interrupted anywhere, then `up` again, leaves the cluster as one uninterrupted `up` does
(the README's promise): every step looks at what is there and does what is missing, none assumes."""

import pytest

from lab import commands
from lab.backends.cluster.kube import deployment_rolled_out
from lab.manifests import Ref
from tests.fake_tools import ISTIOD_ONLY, FakeTools, cluster_backend
from tests.kube_emulator import Controller, Emulator
from tests.lab_process import gateway_port
from tests.test_cluster_backend import SAMPLE_DEPLOYMENTS

# Commands that only read: a Ctrl-C after one is a Ctrl-C before the next, so only the others are
# interrupt points (kind's, k3d's and minikube's own lists and inspections, kubectl's waits).
READS = ("k3d cluster list", "k3d kubeconfig get", "kind get", "docker inspect", "docker version",
         "minikube profile list", "kubectl rollout status", "helm get manifest")
KINDS = ("Namespace", "Deployment", "CustomResourceDefinition", "APIService", "ClusterIssuer", "Certificate",
         "ConfigMap")


def cluster_state(tools: FakeTools, cluster: Emulator, lab) -> dict:
    """What a learner's cluster holds: the API's objects (Deployments: rolled out or not), the
    containers around it (running, networks, files written into them, a registry's images), and
    whether the gateway answers through the lab's forwards where it needs them."""
    objects = set()
    for kind in KINDS:
        for obj in cluster.kube.list_all(kind):
            meta = obj["metadata"]
            objects.add((kind, meta.get("namespace", ""), meta["name"],
                         deployment_rolled_out(obj) if kind == "Deployment" else None))
    containers = {name: (c.running, sorted(c.networks), sorted(c.files.items()), sorted(c.images))
                  for name, c in tools.docker.containers.items()}
    forwards = lab.provider.needs_port_forward and lab.gateway_forward().running()
    return {"objects": objects, "containers": containers, "clusters": sorted(tools.clusters),
            "stopped": sorted(tools.stopped), "forwards": forwards}


class Lab:
    """A fresh lab root, emulator and fake tools, with `commands` driving them."""

    def __init__(self, monkeypatch, root, provider: str):
        self.provider = provider
        monkeypatch.setenv("CANARY_LAB_ROOT", str(root))
        self.emulator = Emulator().__enter__()
        self.tools = FakeTools(self.emulator.kube)
        self.controller = Controller(self.emulator.kube).watch(*SAMPLE_DEPLOYMENTS).__enter__()
        self.lab = cluster_backend(provider, self.tools, self.emulator, port=gateway_port())
        monkeypatch.setattr(commands, "make_backend", lambda paths, name, port=None: self.lab)

    def up(self) -> None:
        commands.up(provider=self.provider)   # the lab's steps, then the sample apps

    def state(self) -> dict:
        return cluster_state(self.tools, self.emulator, self.lab)

    def close(self) -> None:
        try:
            self.lab.down()
        finally:
            self.controller.__exit__(None, None, None)
            self.tools.stop()
            self.emulator.__exit__(None, None, None)


@pytest.mark.parametrize("provider", ["k3d", "kind", "minikube"])
def test_an_up_interrupted_after_any_command_then_run_again_ends_as_an_uninterrupted_one(
        monkeypatch, tmp_path, provider):
    reference = Lab(monkeypatch, tmp_path / "reference", provider)
    try:
        reference.up()
        # the commands run (a port-forward is started, not run: no Ctrl-C lands in it here)
        wanted = reference.state()
        calls = [c for c in reference.tools.calls if c[:2] != ["kubectl", "port-forward"]]
    finally:
        reference.close()
    assert wanted["clusters"] == ["canary-lab"]
    assert ("APIService", "", "v1beta1.metrics.k8s.io", None) in wanted["objects"]
    writes = [i for i, argv in enumerate(calls) if not " ".join(argv).startswith(READS)
              and argv[-2:-1] != ["cat"]]     # `docker exec NODE cat FILE` reads too
    # of a run of like commands (three builds, three pushes), after the first and after the last
    verb = [calls[i][:2] for i in writes]
    writes = [i + 1 for n, i in enumerate(writes) if n in (0, len(writes) - 1) or verb[n - 1] != verb[n]
              or verb[n + 1] != verb[n]]
    assert len(writes) >= 5
    for after in writes:
        lab = Lab(monkeypatch, tmp_path / f"after-{after}", provider)
        try:
            lab.tools.interrupt_after = after
            with pytest.raises(KeyboardInterrupt):
                lab.up()
            lab.tools.interrupt_after = 0
            lab.up()
            assert lab.state() == wanted, f"{provider}: Ctrl-C after command {after} ({lab.tools.calls[after - 1]})"
        finally:
            lab.close()


def test_a_ctrl_c_while_istioctl_waits_for_istiod_leaves_no_gateway_and_the_next_up_installs_them(
        monkeypatch, tmp_path):
    lab = Lab(monkeypatch, tmp_path, "k3d")
    try:
        lab.tools.interrupt = ISTIOD_ONLY
        with pytest.raises(KeyboardInterrupt):
            lab.up()
        assert lab.emulator.kube.get(Ref("Deployment", "istio-system", "istio-ingressgateway")) is None
        lab.tools.interrupt = ""
        lab.tools.calls.clear()
        lab.up()
        assert any(c[:2] == ["istioctl", "install"] for c in lab.tools.calls)
        for name in ("istiod", "istio-ingressgateway", "istio-egressgateway"):
            assert deployment_rolled_out(lab.emulator.kube.get(Ref("Deployment", "istio-system", name)))
    finally:
        lab.close()


def test_an_istio_of_the_learners_on_existing_is_theirs_whatever_its_profile(monkeypatch, tmp_path):
    lab = Lab(monkeypatch, tmp_path, "existing")
    try:
        lab.tools._deployment("istio-system", "istiod")               # their Istio: no egress gateway
        lab.tools._deployment("istio-system", "istio-ingressgateway")
        lab.up()
        assert not any(c[0] == "istioctl" for c in lab.tools.calls)
    finally:
        lab.close()
