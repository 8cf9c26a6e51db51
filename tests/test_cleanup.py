"""A finished exercise offers to remove what it made on a cluster (its sidecar pods and the gateways
Istio deployed for its Gateways): what that is, read from the exercise's own files, and the offer."""

import pytest

from lab import ui
from lab.config import lab_paths
from lab.exercises.catalogue import exercise_names, load_exercise
from lab.exercises.cleanup import delete_commands, leftovers
from lab.exercises.walkthrough import DELETE, KEEP, Walkthrough
from lab.kinds import resolve_kind
from lab.manifests import Ref


def test_an_exercise_with_its_own_namespace_leaves_that_namespace():
    assert leftovers(load_exercise("debug")) == [Ref("Namespace", "", "shop-debug")]
    assert {r.name for r in leftovers(load_exercise("cross-namespace"))} == {"services-v1", "services-v2", "traffic"}


def test_objects_in_the_shared_namespace_are_named_one_by_one_and_the_namespace_is_kept():
    refs = leftovers(load_exercise("canary-gateway-api"))
    assert Ref("Gateway", "canary-lab", "canary-gateway", "gateway.networking.k8s.io") in refs   # its deployed gateway
    assert all(ref.kind != "Namespace" for ref in refs)


@pytest.mark.parametrize("name", exercise_names())
def test_no_exercise_deletes_what_up_installed_and_every_line_is_a_command_the_lab_takes(name):
    refs = leftovers(load_exercise(name))
    assert refs, name
    assert not {ref.name for ref in refs if ref.kind == "Namespace"} & {"canary-lab", "istio-system", "default",
                                                                          "cert-manager", "lab-clients"}
    for line in delete_commands(refs):
        words = line.split()
        assert words[:2] == ["invoke", "delete"]
        resolve_kind(words[2])   # raises for a kind `invoke delete` does not take


class Cluster:
    """Stands for a cluster backend (none can run here): the offer uses its name and delete only."""
    name = "k3d"

    def __init__(self):
        self.deleted: list[Ref] = []

    def delete(self, refs: list[Ref]) -> None:
        self.deleted += refs


@pytest.mark.parametrize("answer, deleted", [(DELETE, True), (KEEP, False)])
def test_a_finished_exercise_on_a_cluster_offers_to_delete_what_it_made(monkeypatch, tmp_path, capsys, answer, deleted):
    monkeypatch.setenv("CANARY_LAB_ROOT", str(tmp_path))
    asked = []
    monkeypatch.setattr(ui, "choose", lambda message, choices, **_: asked.append(message) or answer)
    cluster = Cluster()
    Walkthrough(load_exercise("debug"), cluster, lab_paths()).offer_cleanup()
    assert asked and "Namespace shop-debug" in asked[0]
    assert cluster.deleted == ([Ref("Namespace", "", "shop-debug")] if deleted else [])
    assert ("invoke delete namespace shop-debug" in capsys.readouterr().out) != deleted


def test_yes_keeps_it_and_says_how_and_the_local_lab_is_not_asked(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("CANARY_LAB_ROOT", str(tmp_path))
    monkeypatch.setattr(ui, "choose", lambda *a, **k: pytest.fail("asked"))
    cluster = Cluster()
    Walkthrough(load_exercise("debug"), cluster, lab_paths(), yes=True).offer_cleanup()
    assert cluster.deleted == [] and "invoke delete namespace shop-debug" in capsys.readouterr().out
    cluster.name = "local"
    Walkthrough(load_exercise("debug"), cluster, lab_paths()).offer_cleanup()
    assert capsys.readouterr().out == ""
