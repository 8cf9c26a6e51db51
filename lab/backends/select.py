"""Which backend: the one that is up, or the one `up` picks (and why)."""

import shutil
import subprocess

from lab import ui
from lab.backends.base import Backend
from lab.backends.local.backend import LocalBackend, recover_state
from lab.config import PROVIDERS, Paths, gateway_port
from lab.errors import LabError, NotUp
from lab.state import LabState, load_state


def docker_answers() -> bool:
    if not shutil.which("docker"):
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def choose_provider(requested: str) -> tuple[str, str]:
    """(provider, why) for `invoke up --provider requested`."""
    if requested not in ("auto", *PROVIDERS):
        raise LabError(f"unknown provider {requested!r}", f"use one of: auto, {', '.join(PROVIDERS)}")
    if requested != "auto":
        return requested, "asked for with --provider"
    if docker_answers():
        return "k3d", "Docker answers, so the lab runs a real cluster in it"
    if shutil.which("minikube"):
        return "minikube", "no Docker daemon answers, but minikube is installed"
    return "local", "no Docker daemon answers and minikube is not installed, so the lab runs Envoy " \
                    "and the apps as local processes"


def make_backend(paths: Paths, provider: str, port: int | None = None) -> Backend:
    if provider == "local":
        return LocalBackend(paths, gateway_port(port))
    from lab.backends.cluster.backend import ClusterBackend  # loads the kubernetes client: only when needed

    return ClusterBackend(paths, provider, gateway_port(port))


def take_up_options(backend: Backend, registry: str, install_istio: bool) -> None:
    """`up`'s options for a cluster the lab did not make (--provider existing), given to the backend
    that takes them; the local lab, which pulls no image, refuses --registry in one line."""
    if not registry and not install_istio:
        return
    from lab.backends.cluster.backend import ClusterBackend  # loads the kubernetes client: only when needed

    if not isinstance(backend, ClusterBackend):
        if registry:
            raise LabError("--registry is for --provider existing; the local lab runs the apps as processes, "
                           "from no image", "leave --registry out")
        return
    if install_istio:
        backend.may_install_istio = True   # --provider existing: the learner's explicit yes to Istio
    if registry:
        backend.use_registry(registry)     # --provider existing: where a cluster the lab did not make pulls


def stop_local_processes(paths: Paths) -> bool:
    """End a local lab's processes, found by their marker whatever its files say; True if any ran."""
    return LocalBackend(paths, gateway_port(None)).stop_processes()


def lab_state(paths: Paths) -> LabState | None:
    """What is up, from state.json; None when nothing is. A local lab still running after its
    state.json was deleted gets it back from its run folder, rather than being left orphaned."""
    state = load_state(paths)
    if state is None:
        state = recover_state(paths)
        if state is not None:
            ui.info(f"(the local lab was running without {paths.state_file.name}; rebuilt it from its run folder)")
    return state


def current_backend(paths: Paths) -> Backend:
    """The backend of the lab that is up; NotUp when there is none."""
    state = lab_state(paths)
    if state is None:
        raise NotUp()
    return make_backend(paths, state.provider, state.gateway_port)
