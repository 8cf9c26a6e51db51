"""The verbs every backend offers. Everything above (exercises, checks,
`traffic`) talks to a lab only through these.
"""

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TypeVar, runtime_checkable

from lab.envoy_admin import EnvoyAdmin
from lab.errors import LabError
from lab.live_routes import LiveRoute, RouteDestination
from lab.manifests import Ref

# LiveRoute and RouteDestination live in lab/live_routes.py (Envoy's admin reads them too); offered here
# with the other value types a backend returns.
__all__ = ["Backend", "LabStatus", "LiveRoute", "ProcessStatus", "Reply", "RouteDestination"]

T = TypeVar("T")


@dataclass
class ProcessStatus:
    """One running part of the lab: an app replica (a pod) or the gateway."""
    name: str
    state: str  # "running" | "exited" | "starting"
    detail: str = ""


@dataclass
class Reply:
    """One answer to a request sent from a pod inside the cluster."""
    status: int                 # 0: no answer (refused, reset, timed out)
    headers: dict[str, str]
    body: str


@dataclass
class LabStatus:
    provider: str
    up: bool
    gateway_url: str = ""
    processes: list[ProcessStatus] = field(default_factory=list)
    routes: list[LiveRoute] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # (Gateway, listener name, listener port, URL): where each Gateway API listener is reached
    gateway_addresses: list[tuple[Ref, str, int, str]] = field(default_factory=list)

# An apply line that is the lab's own remark, not what a cluster's apply prints (what the walkthrough
# holds back for a release it applies unshown).
NOTE = "note: "


class Backend(ABC):
    """One lab. `up` is apply, not create: a second call changes nothing."""

    name: str
    # What a failed or interrupted first `up` leaves: the local lab's processes start again in a
    # second, so it stops them; a cluster is minutes of work, kept for the next `up` to finish.
    keeps_a_failed_first_up = False

    @abstractmethod
    def up(self) -> bool:
        """Bring the lab up (or repair it). Returns False when nothing needed doing."""

    @abstractmethod
    def down(self) -> bool:
        """Remove everything the lab made. Returns False when nothing was up."""

    @abstractmethod
    def status(self) -> LabStatus:
        """Provider, each part of the lab, and the gateway's live routes."""

    @abstractmethod
    def apply(self, objects: list[dict]) -> list[str]:
        """Apply objects like `kubectl apply`; returns one line per object, then any `NOTE` lines."""

    @abstractmethod
    def patch(self, ref: Ref, operations: list[dict]) -> str:
        """Apply a JSON patch (RFC 6902) to one object."""

    @abstractmethod
    def get(self, ref: Ref) -> dict | None:
        """The object as the lab holds it, or None."""

    @abstractmethod
    def gateway_url(self) -> str:
        """Base URL of the ingress gateway, e.g. http://127.0.0.1:8080."""

    @abstractmethod
    def live_routes(self) -> list[LiveRoute]:
        """Routes read from the gateway's Envoy admin API (what is served, not what was asked)."""

    @abstractmethod
    def upstream_counts(self) -> dict[str, tuple[int, int]]:
        """The gateway's own per-cluster counters: (requests, errors) since it started (Envoy /stats)."""

    @abstractmethod
    def gateway_tls_url(self) -> str:
        """Base URL of the gateway's HTTPS port, e.g. https://127.0.0.1:8443."""

    @abstractmethod
    def ca_bundle(self) -> Path:
        """The lab CA's certificate (PEM), to verify the gateway's HTTPS certificate."""

    def endpoint_addresses(self) -> dict[tuple[str, str], frozenset[str]]:
        """Each (Service, subset)'s endpoints as the gateway knows them (its Envoy's /clusters)."""
        return self.gateway_admin().endpoint_addresses()

    def ready_endpoints(self) -> dict[tuple[str, str], int]:
        """Ready endpoints per (Service as name.namespace, subset; "" for the whole Service): what a
        split by replica counts follows, and what a route to a subset with none turns into (503 UH)."""
        return {}

    def entry_url(self, scheme: str, gateway_api: bool = False, host: str = "") -> str:
        """Where a learner sends requests of a track (the Istio API's, or the Gateway API's, for
        `host`): the ingress gateway here; a Gateway API Gateway has a gateway and ports of its own on
        every backend (the lab's ports + 1 for the first: 8081, 8444)."""
        return self.gateway_tls_url() if scheme == "https" else self.gateway_url()

    def gateway_endpoint(self, scheme: str, host: str = "") -> tuple[str, str | None]:
        """Where to send requests of this scheme for this host, and the CA file to trust (None for
        plain HTTP): the ingress gateway here; a host a Gateway API Gateway takes goes to that
        Gateway's own gateway (the one Istio deployed for it, or the local lab's listener for it)."""
        if scheme == "https":
            return self.gateway_tls_url(), str(self.ca_bundle())
        return self.gateway_url(), None

    def gateway_addresses(self) -> list[tuple[Ref, str, int, str]]:
        """(Gateway, listener name, listener port, URL) of each Gateway API listener, where a learner
        reaches it from this machine; [] where the backend cannot tell."""
        return []

    def send_from_pod(self, client: str, url: str, headers: dict[str, str], count: int) -> list[Reply]:
        """`count` requests from a client pod: "mesh" (with a sidecar) or "outside" (plaintext, no sidecar)."""
        raise LabError(f"requests from inside the mesh need a cluster; the {self.name} lab has no pods",
                       "run this step on k3d or minikube")

    @abstractmethod
    def delete(self, refs: list[Ref]) -> None:
        """Delete objects (those that are gone already are fine); the gateway stops serving them."""

    @abstractmethod
    def list_objects(self, kind: str, group: str = "") -> list[dict]:
        """Every object of one kind (of `group`, for a group Refs name) the lab holds, in every namespace."""

    @abstractmethod
    def logs(self, name: str, tail: int = 0, follow: bool = False) -> Iterator[str]:
        """Lines of a log: "gateway", a pod, or a Deployment's pods; `tail` last lines (0: all);
        `follow` keeps yielding new lines until Ctrl-C."""

    def install_addons(self, names: list[str]) -> None:
        """Observability addons (Kiali, Prometheus): only a cluster has them."""
        raise LabError(f"addons ({', '.join(names)}) need a cluster; the {self.name} lab has none",
                       "`invoke down`, then `invoke up --provider k3d --addons kiali`")

    def install_argo_rollouts(self) -> list[str]:
        """Argo Rollouts' controller and CRDs (lab/backends/cluster/argo_rollouts.py): a cluster only."""
        raise LabError(f"Argo Rollouts needs a cluster; the {self.name} lab has no controllers",
                       "`invoke rollout` does the same steps on every backend")

    def require_metrics_api(self) -> None:
        """Returns once HorizontalPodAutoscalers can read CPU (the metrics API answers); else one line
        saying what is missing. Only a cluster has autoscalers."""
        raise LabError(f"autoscalers need a cluster; the {self.name} lab has no metrics API",
                       "`invoke down`, then `invoke up --provider k3d`")

    def dashboard(self, name: str) -> None:
        raise LabError(f"the {self.name} lab has no {name} dashboard", "dashboards need k3d or minikube")

    @abstractmethod
    def gateway_admin(self) -> EnvoyAdmin:
        """The ingress gateway's Envoy admin API (its /stats: what the gateway itself counted)."""

    def read_gateways(self, read: Callable[[EnvoyAdmin], T]) -> list[T]:
        """`read` of every gateway's Envoy admin: the ingress gateway's, and on a cluster each Gateway
        API Gateway's own deployed gateway (through port-forwards, tried again if one dies). What
        `watch`, `dashboard` and the checks count traffic from."""
        return [read(self.gateway_admin())]


@runtime_checkable
class HelmInstalls(Protocol):
    """A capability, not a verb every backend has: a backend helm itself installs into (a real
    cluster), so `invoke helm` runs the real helm there. The local lab renders the chart and applies
    what it renders instead (lab/helm.py)."""

    def helm_upgrade(self, chart: Path, release: str, namespace: str, values_files: list[Path],
                     settings: list[str], reuse_values: bool) -> list[str]: ...
