"""Deployments become pods, and locally a pod is one process on a loopback port.

A pod's name carries a hash of its template, like a ReplicaSet's: changing the
image or env makes new pods (started, made ready, routed to) before the old
ones stop — a rolling update in miniature.
"""

import hashlib
import json
import re
from dataclasses import dataclass, field

from lab.backends.local.runners import Runner, runner_for
from lab.errors import ManifestError
from lab.manifests import Ref
from lab.ports import free_ports

# Each replica is a process on the learner's machine, not a container on a node.
MAX_REPLICAS = 10
# Kubernetes' rule for env names (IsEnvVarName).
ENV_NAME = re.compile(r"[-._a-zA-Z][-._a-zA-Z0-9]*\Z")
# What a pod's process may be given, an allow-list: on a cluster the env stays inside a container;
# locally it reaches a process on the learner's own account, where a name some runtime, loader or
# library reads (LD_PRELOAD, PYTHONPATH, OPENSSL_CONF, GCONV_PATH, GUNICORN_CMD_ARGS, ...) runs code
# of the manifest's choosing. No deny-list of such names is ever complete, so a pod gets only
#  - the names its app reads, as apps/<app>/local.yaml declares them (`reads_env`), and
#  - names of the learner's own, under a prefix no runtime, loader or library reads: APP_.
OWN_ENV = re.compile(r"APP_[A-Z0-9_]+\Z")
# Set by the lab for every pod (the port it listens on, its identity).
LAB_ENV_NAMES = {"PORT", "POD_NAME", "POD_NAMESPACE", "CANARY_LAB_RUN_DIR", "CANARY_LAB_POD"}


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
    # What a Service's targetPort resolves against, as in a container: the port the image's app
    # listens on (None: not known, any number reaches it) and the container's named ports.
    listens_on: int | None = None
    container_ports: dict = field(default_factory=dict, hash=False)

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
        replicas = _replicas(ref, spec)
        labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        _check_selector(ref, spec, labels)
        env = container_env(ref, container, runner)
        prefix = f"{ref.namespace}/{ref.name}-{template_hash(deployment)}"
        ports = (runner.container_port(str(container.get("image", ""))), named_ports(container))
        wanted += [(f"{prefix}-{index}", ref, labels, env, runner, ports) for index in range(replicas)]
    kept = {name: current[name]["port"] for name, *_ in wanted if current.get(name, {}).get("port")}
    taken = frozenset(spec["port"] for spec in current.values() if spec.get("port"))
    new_ports = iter(free_ports(len(wanted) - len(kept), taken))
    pods = {}
    for name, ref, labels, env, runner, (listens_on, container_ports) in wanted:
        port = kept.get(name) or next(new_ports)
        pod_env = {**dict(runner.env), **env, "PORT": str(port), "POD_NAME": name.split("/", 1)[1],
                   "POD_NAMESPACE": ref.namespace}
        pods[name] = Pod(name=name, namespace=ref.namespace, deployment=ref.name,
                         labels=dict(labels), argv=tuple(runner.argv(port)), env=pod_env,
                         port=port, ready_path=runner.ready_path, cwd=str(runner.app_dir),
                         listens_on=listens_on, container_ports=container_ports)
    return pods


def named_ports(container: dict) -> dict[str, int]:
    """The container's ports that have a name: what a Service's named targetPort looks up."""
    return {str(p["name"]): p["containerPort"] for p in container.get("ports") or [] if p.get("name")}


def _replicas(ref: Ref, spec: dict) -> int:
    replicas = spec.get("replicas", 1)
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        raise ManifestError(f"{ref}: spec.replicas is {replicas!r}",
                            "replicas is a whole number, 0 or more, written without quotes (e.g. replicas: 2)")
    if replicas > MAX_REPLICAS:
        raise ManifestError(f"{ref}: spec.replicas is {replicas}; the local lab runs at most {MAX_REPLICAS} "
                            "per Deployment, each one a process on this machine",
                            f"use {MAX_REPLICAS} or fewer here; k3d or minikube schedule more")
    return replicas


def container_env(ref: Ref, container: dict, runner: Runner) -> dict[str, str]:
    """The container's env as the pod's process gets it: Kubernetes' rules, then the allow-list."""
    env = {}
    for index, entry in enumerate(container.get("env") or []):
        where = f"{ref}: env[{index}]"
        if not isinstance(entry, dict):
            raise ManifestError(f"{where} is {entry!r}, not a name and a value", "write - {name: NAME, value: \"...\"}")
        name = entry.get("name")
        if not isinstance(name, str) or not ENV_NAME.match(name):
            raise ManifestError(f"{where}.name {name!r} is not a valid environment variable name",
                                "use letters, digits, '_', '-' and '.', not starting with a digit (no '=')")
        value = entry.get("value", "")
        if not isinstance(value, str):
            raise ManifestError(f"{where} ({name}): value {value!r} is not a string",
                                f"quote it, as Kubernetes requires: value: \"{value}\"")
        if "\0" in value:
            raise ManifestError(f"{where} ({name}): the value holds a NUL byte", "remove it: no process can take it")
        if name.upper() in LAB_ENV_NAMES:
            raise ManifestError(f"{where}: {name} is set by the local lab for every pod",
                                "remove it from the manifest")
        if name not in runner.reads_env and not OWN_ENV.match(name):
            reads = ", ".join(runner.reads_env) or "none"
            raise ManifestError(f"{where}: the local lab refuses {name}: a local pod runs on your own account, not in "
                                f"a container, so it gets only the env its app reads ({runner.app}: {reads}; "
                                f"apps/{runner.app}/local.yaml) and names of your own starting APP_",
                                "remove it, or name your own setting APP_...; a cluster (k3d, minikube) keeps any "
                                "env inside the container")
        env[name] = value
    return env


def _check_selector(ref: Ref, spec: dict, labels: dict) -> None:
    wanted = (spec.get("selector") or {}).get("matchLabels") or {}
    if any(labels.get(k) != v for k, v in wanted.items()):
        raise ManifestError(f"{ref}: spec.selector.matchLabels does not match the pod template's labels",
                            "make template.metadata.labels include every selector label")
