"""Every exercise of the catalogue, in both tracks, played with `--yes` on emulated k3d and kind
clusters (tests/cluster_play.py): `invoke up`, then `invoke exercise NAME [--api gateway] --yes`,
through the cluster backend's own code (its waits, helm, client pods, autoscaling, port-forwards),
against the emulator, the fake tools and a data plane that answers as the apps do. The list is the
workflow's (.ci/plays.py, from the catalogue): a new exercise plays here without an edit.
Run them alone with `pytest -m cluster_play`."""

import runpy
from pathlib import Path

import pytest

from lab import commands
from lab.backends import select
from lab.backends.cluster.argo_rollouts import manifest_path
from lab.config import PROJECT_DIR
from lab.errors import LabError
from tests.cluster_play import DataPlane, MeshProxy, Nodes, forwards_for, stand_in_errors
from tests.fake_tools import FakeTools, cluster_backend, pin_addons
from tests.kube_emulator import Controller, Emulator, Istiod
from tests.lab_process import gateway_port

pytestmark = pytest.mark.cluster_play
PROVIDERS = ("k3d", "kind")
plays = runpy.run_path(str(PROJECT_DIR / ".ci" / "plays.py"))["plays"]
# Where the emulated cluster cannot play an exercise yet, named here (strict: a fix turns the play
# green, and then this entry must go).
MESH = ("the stand-ins play no sidecar: a client pod's request to a Service reaches the pod its URL "
        "named when the pod started, never a mesh VirtualService's split")
MODEL_GAPS: dict[str, str] = {
    "in-mesh": MESH,
    "in-mesh --api gateway": MESH + "; the data plane (the local lab) refuses an HTTPRoute's Service parentRef port",
}
# Plays left out: no stand-in plays the Argo Rollouts controller (a Rollout never gets a phase, and the
# play would wait out its 300 s checks).
NOT_PLAYED = {"auto-rollout": "no stand-in plays the Argo Rollouts controller"}
PLAYS = [pytest.param(provider, play, id=f"{provider}-{play.replace(' --api gateway', '-gateway-api')}",
                      marks=[pytest.mark.xfail(strict=True, reason=MODEL_GAPS[play])] if play in MODEL_GAPS
                      else [pytest.mark.skip(reason=NOT_PLAYED[play])] if play in NOT_PLAYED else [])
         for provider in PROVIDERS for play in plays(provider)]


class EmulatedLab:
    """One provider's lab on an emulated cluster, up, as a learner's after `invoke up`."""

    def __init__(self, provider: str, root: Path):
        self.provider, self.root = provider, root
        self.monkeypatch = pytest.MonkeyPatch()
        self.monkeypatch.setenv("CANARY_LAB_ROOT", str(root))
        self.port = gateway_port()
        self.cluster = Emulator().__enter__()
        self.tools = FakeTools(self.cluster.kube)
        self.parts: list = []
        # k3d publishes the ingress gateway on the lab's port itself; kind's is port-forwarded
        plane = DataPlane(self.cluster, root / "data-plane", self.port if provider == "k3d" else gateway_port())
        for part in (Controller(self.cluster.kube, every=True), Istiod(self.cluster, self.tools, pushes_routes=False),
                     plane, MeshProxy(plane)):
            self.parts.append(part.__enter__())
        self.plane = plane
        self.nodes = Nodes(self.cluster, self.tools, plane, self.parts[-1]).__enter__()
        self.parts.append(self.nodes)
        self.tools.forward_to = forwards_for(plane)
        self.lab = cluster_backend(provider, self.tools, self.cluster, port=self.port)
        for module in (commands, select):     # `up` makes the backend, the others find it by state.json
            self.monkeypatch.setattr(module, "make_backend", lambda paths, name, port=None: self.lab)
        downloads = root / ".lab" / "downloads"
        pin_addons(self.monkeypatch, downloads)           # Istio's Prometheus addon, for the Argo steps
        manifest_path(downloads).write_text("# Argo Rollouts' install.yaml (the fake tools play it)\n")
        commands.up(provider=provider)

    def close(self) -> None:
        try:
            commands.down()
        finally:
            for part in reversed(self.parts):
                part.__exit__(None, None, None)
            self.tools.stop()
            self.cluster.__exit__(None, None, None)
            self.monkeypatch.undo()


@pytest.fixture(scope="module")
def labs(tmp_path_factory):
    """The lab of the provider being played, kept for its plays (as the workflow plays them in one lab)."""
    running: dict[str, EmulatedLab] = {}

    def lab_for(provider: str) -> EmulatedLab:
        for other in [p for p in running if p != provider]:
            running.pop(other).close()
        if provider not in running:
            running[provider] = EmulatedLab(provider, tmp_path_factory.mktemp(provider))
        return running[provider]

    yield lab_for
    for lab in running.values():
        lab.close()


@pytest.mark.timeout(1200)     # autoscale's scale checks wait for pods; a busy machine is slow
@pytest.mark.parametrize("provider, play", PLAYS)
def test_every_exercise_plays_on_an_emulated_cluster(labs, provider, play):
    lab = labs(provider)
    lab.plane.errors.clear()          # what an earlier play left refused is that play's
    lab.nodes.errors.clear()
    name, _, flags = play.partition(" ")
    try:
        commands.exercise(name, yes=True, api="gateway" if flags == "--api gateway" else "")
    except LabError as e:
        trouble = stand_in_errors(lab.plane, lab.nodes) or "the stand-ins had no trouble"
        raise AssertionError(f"{e.message} ({trouble})") from e
    assert not stand_in_errors(lab.plane, lab.nodes)


def test_the_plays_are_the_catalogues_every_exercise_in_both_tracks_on_both_providers():
    from lab.exercises.catalogue import base_exercise_names, gateway_api_names

    for provider in PROVIDERS:
        assert plays(provider) == base_exercise_names() + [f"{n} --api gateway" for n in gateway_api_names()]
