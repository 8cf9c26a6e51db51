"""The local lab's pods as Pod objects, so `invoke get pods` (and `-o yaml`) reads as on a
cluster: a pod is a process the supervisor runs; its state, exit code, restarts and start time
come from the supervisor's status.json.

A kubelet restarts a container that exited; the local lab restarts it on `up`, so until then
an exited pod is Failed, its container terminated with its exit code (STATUS Error).
"""

import time
from typing import Any

from lab.backends.local.pods import Pod
from lab.manifests import Ref


def pod_object(pod: Pod, deployment: dict, info: dict) -> dict:
    """`pod` (a Deployment's replica), as the supervisor reports it in `info` (state, pid, created,
    returncode, restarts, reason)."""
    containers = (((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or [{}]
    container = containers[0]
    state = info.get("state", "starting")
    started = _timestamp(info.get("created"))
    container_state: dict[str, Any]
    if state == "running":
        phase, container_state = "Running", {"running": {"startedAt": started}}
    elif state == "exited":
        code = info.get("returncode")
        phase = "Failed"
        container_state = {"terminated": {"exitCode": code if isinstance(code, int) else -1,
                                          "reason": "Completed" if code == 0 else "Error",
                                          **({"message": info["reason"]} if info.get("reason") else {})}}
    else:
        phase, container_state = "Pending", {"waiting": {"reason": "ContainerCreating"}}
    namespace, name = pod.name.split("/", 1)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(pod.labels),
                     **({"creationTimestamp": started} if started else {}),
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": pod.deployment}]},
        "spec": {"containers": [{"name": container.get("name", "app"), "image": container.get("image", "")}]},
        "status": {"phase": phase, "podIP": "127.0.0.1",
                   "containerStatuses": [{"name": container.get("name", "app"), "image": container.get("image", ""),
                                          "ready": state == "running",
                                          "restartCount": int(info.get("restarts") or 0),
                                          "state": container_state}]},
    }


def pod_objects(pods: dict[str, Pod], objects: dict[Ref, dict], status: dict[str, dict]) -> list[dict]:
    """Every pod the lab runs for its Deployments, in name order."""
    return [pod_object(pod, objects.get(Ref("Deployment", pod.namespace, pod.deployment)) or {}, status.get(name, {}))
            for name, pod in sorted(pods.items())]


def _timestamp(epoch: object) -> str:
    """An epoch time as Kubernetes writes times (RFC 3339, UTC, whole seconds); "" when unknown."""
    if not isinstance(epoch, (int, float)):
        return ""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
