"""Deployments become pods, and locally a pod is one process on a loopback port.

A pod's name carries a hash of its template, like a ReplicaSet's: changing the
image or env makes new pods (started, made ready, routed to) before the old
ones stop — a rolling update in miniature.
"""

import hashlib
import json
from dataclasses import dataclass, field

from lab.backends.local.runners import Runner, runner_for
from lab.errors import ManifestError
from lab.manifests import Ref
from lab.ports import free_ports


@dataclass(frozen=True)
class Pod:
    name: str            # "<namespace>/<deployment>-<hash>-<i>"
    namespace: str
    deployment: str
    labels: dict = field(hash=False)
    argv: tuple[str, ...] = ()
    env: dict = field(default_factory=dict, hash=False)
    port: int = 0
    ready_path: str = "/"
    cwd: str = ""

    def process_spec(self) -> dict:
        return {"argv": list(self.argv), "env": self.env, "cwd": self.cwd,
                "port": self.port, "ready_path": self.ready_path}


def template_hash(deployment: dict) -> str:
    template = deployment["spec"].get("template", {})
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()
    return digest[:8]


def desired_pods(objects: dict[Ref, dict], runners: list[Runner],
                 current: dict[str, dict]) -> dict[str, Pod]:
    """Pods for every Deployment; pods that already run keep their port."""
    wanted = []
    for ref, deployment in sorted(objects.items()):
        if ref.kind != "Deployment":
            continue
        spec = deployment.get("spec") or {}
        containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
        if len(containers) != 1:
            raise ManifestError(f"{ref}: the local lab runs exactly one container per pod "
                                f"(found {len(containers)})",
                                "use one container, or k3d/minikube for more")
        container = containers[0]
        runner = runner_for(str(container.get("image", "")), runners)
        replicas = int(spec.get("replicas", 1))
        if replicas < 0:
            raise ManifestError(f"{ref}: spec.replicas is {replicas}", "replicas must be 0 or more")
        labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        _check_selector(ref, spec, labels)
        env = {str(e["name"]): str(e.get("value", "")) for e in container.get("env") or []}
        prefix = f"{ref.namespace}/{ref.name}-{template_hash(deployment)}"
        wanted += [(f"{prefix}-{index}", ref, labels, env, runner) for index in range(replicas)]
    kept = {name: current[name]["port"] for name, *_ in wanted if current.get(name, {}).get("port")}
    taken = frozenset(spec["port"] for spec in current.values() if spec.get("port"))
    new_ports = iter(free_ports(len(wanted) - len(kept), taken))
    pods = {}
    for name, ref, labels, env, runner in wanted:
        port = kept.get(name) or next(new_ports)
        pod_env = {**env, "PORT": str(port), "POD_NAME": name.split("/", 1)[1],
                   "POD_NAMESPACE": ref.namespace}
        pods[name] = Pod(name=name, namespace=ref.namespace, deployment=ref.name,
                         labels=dict(labels), argv=tuple(runner.argv(port)), env=pod_env,
                         port=port, ready_path=runner.ready_path, cwd=str(runner.app_dir))
    return pods


def _check_selector(ref: Ref, spec: dict, labels: dict) -> None:
    wanted = (spec.get("selector") or {}).get("matchLabels") or {}
    if any(labels.get(k) != v for k, v in wanted.items()):
        raise ManifestError(f"{ref}: spec.selector.matchLabels does not match the pod template's labels",
                            "make template.metadata.labels include every selector label")
