"""The check of an Argo Rollouts step (cluster only): wait until the controller has finished with
the Rollout, then hold its phase against the step's (Healthy after a full promotion, Degraded
after an abort) and read the weights it left on the VirtualService's route: all to stable.

Field names are Argo Rollouts v1.9.1's (pkg/apis/rollouts/v1alpha1/types.go): status.phase,
status.message, status.abort, spec.strategy.canary.trafficRouting.istio.{virtualService,destinationRule}.
"""

import time

from lab import ui
from lab.backends.base import Backend
from lab.backends.cluster.argo_rollouts import rollout_status
from lab.exercises.check_result import CheckResult
from lab.exercises.check_specs import ArgoRolloutCheck
from lab.manifests import Ref

FINISHED = ("Healthy", "Degraded")      # Progressing and Paused: the controller is still at work


def argo_rollout_check(spec: ArgoRolloutCheck, backend: Backend, sleep=time.sleep) -> CheckResult:
    ref = Ref("Rollout", spec.namespace, spec.rollout)
    deadline = time.monotonic() + spec.timeout
    with ui.step(f"waiting for Argo Rollouts to finish with {ref}"):
        while True:
            rollout = backend.get(ref)
            status = rollout_status(rollout or {})
            if rollout is None or status.phase in FINISHED or time.monotonic() >= deadline:
                break
            sleep(spec.interval)
    if rollout is None:
        return CheckResult(False, f"{ref} is not applied: apply your working copy of it")
    released = (((((rollout.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {})
                .get("version", ""))
    if released != spec.version:
        return CheckResult(False, f"{ref}'s pod template is version {released or '(no version label)'}, not "
                                  f"{spec.version}: apply your working copy with the new version")
    if status.phase not in FINISHED:
        return CheckResult(False, f"{ref} is still {status.line()} after {spec.timeout:.0f} s")
    if status.phase != spec.phase:
        return CheckResult(False, f"{ref} ended {status.line()}; the step expects {spec.phase}")
    weights = route_weights(rollout, backend)
    if weights.get("canary", 0) != 0 or not weights.get("stable"):
        return CheckResult(False, f"{ref} is {status.phase}, but its route still sends "
                                  f"{weights.get('canary', 0)} to the canary subset")
    return CheckResult(True, f"{ref} is {status.line()}; its route sends stable "
                             f"{weights['stable']}, canary {weights.get('canary', 0)}")


def route_weights(rollout: dict, backend: Backend) -> dict[str, int]:
    """The weights of the stable and canary subsets in the route the Rollout steps, as the controller left them."""
    istio = ((((rollout.get("spec") or {}).get("strategy") or {}).get("canary") or {})
             .get("trafficRouting") or {}).get("istio") or {}
    # One VirtualService, or several (virtualServices[]: argo-rollouts v1alpha1 types.go IstioTrafficRouting)
    named: dict = istio.get("virtualService") or next(iter(istio.get("virtualServices") or []), {})
    subsets = istio.get("destinationRule") or {}
    names = {subsets.get("stableSubsetName"): "stable", subsets.get("canarySubsetName"): "canary"}
    namespace = (rollout.get("metadata") or {}).get("namespace", "default")
    held = backend.get(Ref("VirtualService", namespace, named.get("name", ""))) or {}
    routes = (held.get("spec") or {}).get("http") or []
    wanted = named.get("routes") or [r.get("name") for r in routes[:1]]
    weights: dict[str, int] = {}
    for route in routes:
        if route.get("name") in wanted:
            for destination in route.get("route") or []:
                role = names.get((destination.get("destination") or {}).get("subset"))
                if role:
                    weights[role] = destination.get("weight", 0)
    return weights
