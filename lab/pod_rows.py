"""`invoke get pods` as kubectl prints them: NAME READY STATUS RESTARTS AGE, from Pod objects
(a cluster's, or those the local lab makes of its processes: lab/backends/local/pod_objects.py).

The columns follow kubectl's printPod (kubernetes/pkg/printers/internalversion/printers.go) for
the pods the lab runs (no init containers): STATUS is the phase, else the last container's
waiting or terminated reason (ExitCode:N without one), Terminating once deleted; RESTARTS sums
the containers' restartCount; AGE is apimachinery's duration.HumanDuration.
"""

import time
from calendar import timegm
from dataclasses import dataclass


@dataclass(frozen=True)
class PodRow:
    namespace: str
    name: str
    ready: str       # "1/1"
    status: str      # Running, Pending, Error, ContainerCreating, Terminating, …
    restarts: int
    age: str


def pod_row(pod: dict, now: float | None = None) -> PodRow:
    meta, spec, status = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}
    reason = status.get("reason") or status.get("phase") or ""
    ready = restarts = 0
    for container in reversed(status.get("containerStatuses") or []):
        restarts += int(container.get("restartCount") or 0)
        state = container.get("state") or {}
        waiting, terminated = state.get("waiting") or {}, state.get("terminated")
        if waiting.get("reason"):
            reason = waiting["reason"]
        elif terminated is not None:
            reason = terminated.get("reason") or (f"Signal:{terminated['signal']}" if terminated.get("signal")
                                                  else f"ExitCode:{terminated.get('exitCode', 0)}")
        elif container.get("ready") and "running" in state:
            ready += 1
    if meta.get("deletionTimestamp") and status.get("phase") not in ("Succeeded", "Failed"):
        reason = "Terminating"
    created = meta.get("creationTimestamp")
    age = human_duration((now or time.time()) - _epoch(created)) if created else "<unknown>"
    return PodRow(meta.get("namespace", ""), meta.get("name", ""),
                  f"{ready}/{len(spec.get('containers') or [])}", reason, restarts, age)


def _epoch(timestamp: str) -> float:
    """RFC 3339 as Kubernetes writes it (2026-12-07T12:00:00Z) → seconds since the epoch."""
    return float(timegm(time.strptime(timestamp.rstrip("Z").split(".")[0], "%Y-%m-%dT%H:%M:%S")))


def human_duration(seconds: float) -> str:
    """k8s.io/apimachinery/pkg/util/duration HumanDuration: 45s, 3m20s, 15m, 5h30m, 20h, 3d4h, 30d, 2y."""
    whole = int(seconds)
    if whole < -1:
        return "<invalid>"
    if whole < 0:
        return "0s"
    if whole < 60 * 2:
        return f"{whole}s"
    minutes = whole // 60
    if minutes < 10:
        return f"{minutes}m{whole % 60}s" if whole % 60 else f"{minutes}m"
    if minutes < 60 * 3:
        return f"{minutes}m"
    hours = whole // 3600
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d{hours % 24}h" if hours % 24 else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y{days}d" if days else f"{hours // 24 // 365}y"
    return f"{hours // 24 // 365}y"
