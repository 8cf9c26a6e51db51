"""The Argo Rollouts step's check, on Rollouts as the controller leaves them (status written as
pkg/apis/rollouts/v1alpha1/types.go names it): it waits while the controller works, then passes
only the phase and version the step asks for, with the route all on stable."""

import copy

import pytest

from lab.config import PROJECT_DIR
from lab.exercises.argo_check import argo_rollout_check
from lab.exercises.check_specs import ArgoRolloutCheck
from lab.manifests import load_manifest_file

SOLUTIONS = PROJECT_DIR / "exercises" / "auto-rollout" / "solutions"
APP = PROJECT_DIR / "exercises" / "auto-rollout" / "manifests" / "argo-app.yaml"


class Cluster:
    """`get` over objects; each read of the Rollout may move it to its next status (the controller)."""
    name = "k3d"

    def __init__(self, rollout: dict, statuses: list[dict], canary_weight: int = 0):
        self.rollout, self.statuses, self.reads = rollout, list(statuses), 0
        [self.vs] = [o for o in load_manifest_file(APP) if o["kind"] == "VirtualService"]
        self.vs["spec"]["http"][0]["route"][0]["weight"] = 100 - canary_weight
        self.vs["spec"]["http"][0]["route"][1]["weight"] = canary_weight

    def get(self, ref):
        if ref.kind == "VirtualService" and ref.name == "shop":
            return self.vs
        if ref.kind != "Rollout":
            return None
        self.reads += 1
        obj = copy.deepcopy(self.rollout)
        obj["status"] = self.statuses[min(self.reads, len(self.statuses)) - 1]
        return obj


def rollout(version: str) -> dict:
    return load_manifest_file(SOLUTIONS / f"argo-rollout-{version}.yaml")[0]


def check(phase: str, version: str) -> ArgoRolloutCheck:
    return ArgoRolloutCheck(rollout="shop", namespace="shop-argo", phase=phase, version=version, timeout=5,
                            interval=0.01)


PROGRESSING = {"phase": "Progressing", "canary": {"weights": {"canary": {"weight": 20}, "stable": {"weight": 80}}}}
PAUSED = {"phase": "Paused", "message": "CanaryPauseStep"}
HEALTHY = {"phase": "Healthy", "canary": {"weights": {"canary": {"weight": 0}, "stable": {"weight": 100}}}}
ABORTED = {"phase": "Degraded", "abort": True, "message": 'RolloutAborted: Metric "error-rate" assessed Failed'}


def test_it_waits_for_the_controller_then_passes_a_promoted_v2():
    cluster = Cluster(rollout("v2"), [PROGRESSING, PAUSED, PROGRESSING, HEALTHY])
    result = argo_rollout_check(check("Healthy", "v2"), cluster, sleep=lambda _: None)
    assert result.passed and cluster.reads == 4, result.message
    assert "Healthy, weights stable 100% / canary 0%" in result.message and "stable 100, canary 0" in result.message


@pytest.mark.parametrize("case, statuses, canary_weight, says", [
    ("the v1 Rollout, unchanged", [HEALTHY], 0, "pod template is version v1, not v2"),
    ("aborted instead", [ABORTED], 0, "ended Degraded"),
    ("never finishes", [PAUSED], 20, "still Paused"),
    ("route left on the canary", [HEALTHY], 50, "still sends 50 to the canary subset"),
])
def test_what_is_not_a_finished_promotion_fails(case, statuses, canary_weight, says):
    obj = rollout("v2") if case != "the v1 Rollout, unchanged" else \
        load_manifest_file(PROJECT_DIR / "exercises/auto-rollout/manifests/argo-rollout.yaml")[0]
    spec = check("Healthy", "v2").model_copy(update={"timeout": 0.05})
    result = argo_rollout_check(spec, Cluster(obj, statuses, canary_weight), sleep=lambda _: None)
    assert not result.passed and says in result.message, result.message


def test_an_aborted_v3_is_what_the_abort_step_wants():
    result = argo_rollout_check(check("Degraded", "v3"), Cluster(rollout("v3"), [PROGRESSING, ABORTED]),
                                sleep=lambda _: None)
    assert result.passed and 'RolloutAborted: Metric "error-rate" assessed Failed' in result.message
    healthy_v3 = argo_rollout_check(check("Degraded", "v3"), Cluster(rollout("v3"), [HEALTHY]), sleep=lambda _: None)
    assert not healthy_v3.passed and "expects Degraded" in healthy_v3.message


def test_a_status_the_controller_has_not_caught_up_with_is_not_finished():
    # GetRolloutPhase (argo-rollouts utils/rollout/rolloututil.go): an unobserved spec is Progressing,
    # whatever phase the old one left; Healthy needs the stable ReplicaSet to be the current template's.
    obj = rollout("v2")
    obj["metadata"]["generation"] = 2
    stale = {**HEALTHY, "observedGeneration": "1"}
    caught_up = {**HEALTHY, "observedGeneration": "2", "stableRS": "6d4f", "currentPodHash": "6d4f"}
    cluster = Cluster(obj, [stale, stale, caught_up])
    result = argo_rollout_check(check("Healthy", "v2"), cluster, sleep=lambda _: None)
    assert result.passed and cluster.reads == 3, result.message
    old_pods = {**caught_up, "currentPodHash": "7a1c"}
    spec = check("Healthy", "v2").model_copy(update={"timeout": 0.05})
    waiting = argo_rollout_check(spec, Cluster(obj, [old_pods]), sleep=lambda _: None)
    assert not waiting.passed and "still Progressing" in waiting.message, waiting.message
