"""Where the lab keeps its files, and the settings a user can change.

The lab lives in a root folder (the project checkout by default, or
CANARY_LAB_ROOT): `.lab/` holds state and runtime files, `work/` the
learner's working copies of manifests. Installed from a wheel (`pip install .`), with no
checkout beside the package, the default root is the folder the command runs in.

The lab's content (exercises/, apps/, cluster/) is read from the checkout, or from the copy a
wheel carries inside the package (lab/_content, made by setup.py).
"""

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from lab.errors import LabError

PROJECT_DIR = Path(__file__).resolve().parent.parent   # the checkout, when the lab runs from one
_PACKAGED_CONTENT = Path(__file__).resolve().parent / "_content"
INSTALLED = _PACKAGED_CONTENT.is_dir()
CONTENT_DIR = _PACKAGED_CONTENT if INSTALLED else PROJECT_DIR
APPS_DIR = CONTENT_DIR / "apps"
EXERCISES_DIR = CONTENT_DIR / "exercises"
CLUSTER_DIR = CONTENT_DIR / "cluster"

DEFAULT_GATEWAY_PORT = 8080
# A check's error rates: α, how often a right answer is called wrong, and β, how often an answer
# 10 points off is called right. The learner's defaults; the test suite lowers them
# (CANARY_LAB_ALPHA, CANARY_LAB_BETA) because it plays dozens of checks per run.
DEFAULT_CHECK_RATE = 0.01
CA_FILE_NAME = "ca.crt"      # the lab CA in Paths.tls_dir, as cert-manager names it in a secret
# The one certificate the local gateway has: the lab CA's, under the name the cluster's
# cert-manager Certificate gives its secret (cluster/issuers.yaml).
LOCAL_CREDENTIAL = "canary-lab-gateway-tls"
# The backends, a closed set: exercise files name them (validated at load), state.json keeps one.
Provider = Literal["local", "k3d", "minikube", "kind", "existing"]
PROVIDERS: tuple[Provider, ...] = get_args(Provider)
# Every cluster provider runs the same Istio and cert-manager: what an exercise says of k3d or
# minikube holds for all of them.
CLUSTER_PROVIDERS: tuple[Provider, ...] = ("k3d", "minikube", "kind", "existing")


def runs_on(provider: str, backends: Iterable[str]) -> bool:
    """Whether an exercise, step or check for `backends` runs on this provider (naming one
    cluster provider names them all). The models' `runs_on` methods ask this, and nothing else does."""
    backends = tuple(backends)
    return provider in backends or (provider in CLUSTER_PROVIDERS and any(b in CLUSTER_PROVIDERS for b in backends))


@dataclass(frozen=True)
class Paths:
    root: Path

    @property
    def home(self) -> Path:
        return self.root / ".lab"

    @property
    def state_file(self) -> Path:
        return self.home / "state.json"

    @property
    def progress_file(self) -> Path:
        return self.home / "progress.json"

    @property
    def run_dir(self) -> Path:
        """Runtime files of the lab that is up; `down` removes this folder."""
        return self.home / "run"

    @property
    def tls_dir(self) -> Path:
        """The lab CA and the local gateway's certificate (lab/certs.py writes them here)."""
        return self.run_dir / "tls"

    @property
    def ca_file(self) -> Path:
        """The lab CA's certificate: made by the local lab, saved from cert-manager's secret on a cluster."""
        return self.tls_dir / CA_FILE_NAME

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def work_dir(self) -> Path:
        return self.root / "work"


def lab_paths() -> Paths:
    root = os.environ.get("CANARY_LAB_ROOT")
    if root:
        return Paths(Path(root).resolve())
    return Paths(Path.cwd() if INSTALLED else PROJECT_DIR)   # an installed lab has no checkout to live in


def gateway_port(requested: int | None = None) -> int:
    if requested:
        return requested
    return int(os.environ.get("CANARY_LAB_PORT", DEFAULT_GATEWAY_PORT))


def check_alpha() -> float:
    """α of the traffic checks: CANARY_LAB_ALPHA, else 1%."""
    return _check_rate("CANARY_LAB_ALPHA", "false-fail")


def check_beta() -> float:
    """β of the traffic checks: CANARY_LAB_BETA, else 1%."""
    return _check_rate("CANARY_LAB_BETA", "false-pass")


def _check_rate(variable: str, what: str) -> float:
    raw = os.environ.get(variable)
    if raw is None:
        return DEFAULT_CHECK_RATE
    try:
        rate = float(raw)
    except ValueError:
        rate = -1.0
    if not 0 < rate < 0.5:
        raise LabError(f"{variable}={raw} is not a {what} rate between 0 and 0.5",
                       f"unset it for the default ({DEFAULT_CHECK_RATE}), or set e.g. {variable}=0.001")
    return rate


def gateway_tls_port(http_port: int) -> int:
    """The HTTPS port beside the gateway's HTTP port: 8443 for 8080, moving with --port."""
    return http_port + 363
