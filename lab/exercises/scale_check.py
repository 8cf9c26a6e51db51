"""The autoscaling check: put load on the app, watch its Deployments' replicas, stop the load.

The load generator is a manifest of the exercise, applied at the start and
deleted at the end whatever happens, so no load outlives the check. The
check passes once the watched Deployment has at least `min_replicas` ready;
the replicas of every watched Deployment are drawn over time either way.
"""

import time

from rich.console import Group
from rich.text import Text

from lab import ui
from lab.backends.base import Backend
from lab.errors import LabError
from lab.exercises.catalogue import Exercise
from lab.exercises.check_result import CheckResult
from lab.manifests import Ref, load_manifest_file, ref_of
from lab.traffic.chart import replicas_chart


def ready_replicas(obj: dict | None) -> int:
    return int(((obj or {}).get("status") or {}).get("readyReplicas") or 0)


def scale_check(exercise: Exercise, spec: dict, backend: Backend) -> CheckResult:
    try:
        namespace, target = spec["namespace"], spec["deployment"]
        watched = [target, *[name for name in spec.get("watch", []) if name != target]]
        load = load_manifest_file(exercise.folder / spec["load"])
    except KeyError as e:
        raise LabError(f"exercise {exercise.name}: a scale check needs {e.args[0]}",
                       "give namespace, deployment, load (a manifest) and min_replicas") from None
    wanted = int(spec.get("min_replicas", 2))
    timeout, interval = float(spec.get("timeout", 300)), float(spec.get("interval", 10))

    history: list[tuple[float, dict[str, int]]] = []
    backend.require_metrics_api()   # what is missing, in a line, rather than a wait to the timeout
    ui.info(f"Starting the load generator ({spec['load']}); watching {', '.join(watched)} for up to "
            f"{timeout:.0f}s")
    try:
        backend.apply(load)
        start = time.monotonic()
        while True:
            elapsed = time.monotonic() - start
            counts = {name: ready_replicas(backend.get(Ref("Deployment", namespace, name))) for name in watched}
            history.append((elapsed, counts))
            if counts[target] >= wanted or elapsed >= timeout:
                break
            time.sleep(min(interval, max(0.0, timeout - elapsed)))
    finally:
        backend.delete([ref_of(obj) for obj in reversed(load)])   # the load stops whatever happened
    most = max([wanted, *[n for _, counts in history for n in counts.values()]])
    chart = Group(Text(f"Ready replicas in {namespace} under load:"), replicas_chart(history, most))
    reached = history[-1][1][target]
    if reached >= wanted:
        return CheckResult(True, f"{target} scaled to {reached} ready replicas under load after "
                                 f"{history[-1][0]:.0f}s (wanted at least {wanted}); the load generator is stopped",
                           [chart])
    return CheckResult(False, f"{target} stayed at {reached} ready replicas for {timeout:.0f}s under load "
                              f"(wanted at least {wanted}): is its HorizontalPodAutoscaler applied, and does it "
                              "get traffic? `kubectl get hpa -n " + namespace + "` shows its view", [chart])
