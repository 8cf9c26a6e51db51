"""Where each Gateway API Gateway is reached on the local lab: a loopback port per listener port.

On a cluster Istio deploys a gateway per Gateway, with an address of its own (deploymentcontroller.go),
and the lab reaches it by port-forward on its track's ports: the lab's ports + 1 (8081 and 8444
beside 8080 and 8443; lab/backends/cluster/backend.py gateway_api_port). Here each Gateway's
listener ports get loopback ports of the lab: the first HTTP and the first HTTPS port the lab hands
out are those same track ports, so the Gateway API track's URLs are the same on every backend;
others are picked free. What is handed out is remembered (`.lab/run/gateway-api-ports.json`), so a
Gateway keeps its ports across `apply`, `up` and restarts; a Gateway deleted gives its ports back.
A URL a step's text names before its Gateway exists is a promise the Gateway keeps when it comes.
"""

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from lab.backends.local.gateway_api import attach, is_istio_gateway
from lab.backends.local.gateway_api_routes import GatewayListener, listener_key
from lab.backends.local.gateway_listeners import listener_conflicts
from lab.config import gateway_tls_port
from lab.files import read_model, write_json
from lab.hosts import subset_of
from lab.manifests import Ref
from lab.ports import free_ports, port_in_use

PORTS_FILE = "gateway-api-ports.json"
PORTS_FIX = "delete it: the lab picks the Gateways' ports again at the next apply or up"
Port = Annotated[int, Field(ge=1, le=65535, strict=True)]


class StoredPorts(BaseModel):
    """The ports file as the lab writes it: anything else is a damaged file, named, never a crash."""
    model_config = ConfigDict(extra="forbid")
    listeners: dict[str, Port] = {}
    promised: dict[str, Port] = {}


def track_port(lab_port: int, scheme: str) -> int:
    """The Gateway API track's own port for a scheme, as on a cluster: the lab's port + 1."""
    return (gateway_tls_port(lab_port) if scheme == "https" else lab_port) + 1


class GatewayPorts:
    """The loopback port of each Gateway listener port (`namespace/name:port` → local port), and the
    ports promised to hosts no Gateway takes yet (a step's text names its URL before the Gateway is
    applied: the Gateway gets that port when it comes)."""

    def __init__(self, run_dir: Path, lab_port: int):
        self.file = run_dir / PORTS_FILE
        self.lab_port = lab_port

    def _read(self) -> tuple[dict[str, int], dict[str, int]]:
        held = read_model(self.file, StoredPorts, PORTS_FIX) or StoredPorts()
        return dict(held.listeners), dict(held.promised)

    def remembered(self) -> dict[str, int]:
        return self._read()[0]

    def save(self, ports: dict[str, int]) -> None:
        promised = {k: v for k, v in self._read()[1].items() if v not in ports.values()}
        write_json(self.file, {"listeners": ports, "promised": promised})

    def promise(self, scheme: str, host: str) -> int:
        """The port a Gateway for `host` will get: the track's while no Gateway holds it, else one kept for it."""
        ports, promised = self._read()
        track = track_port(self.lab_port, scheme)
        if track not in ports.values() and not port_in_use(track):
            return track
        key = f"{scheme} {host}"
        if key not in promised:
            [promised[key]] = free_ports(1, frozenset({*ports.values(), *promised.values(), *self._track_ports()}))
            write_json(self.file, {"listeners": ports, "promised": promised})
        return promised[key]

    def assign(self, listeners: list[GatewayListener], objects: dict[Ref, dict], taken: set[int]) -> dict[str, int]:
        """A port for each listener: the one it had, else the one promised to its hostname, else its
        scheme's track port while no other Gateway holds it (the oldest Gateway first, its first listener
        first), else a free one not in `taken`."""
        remembered, promised = self._read()
        ports = {entry.key: remembered[entry.key] for entry in listeners if entry.key in remembered}
        new = sorted((entry for entry in listeners if entry.key not in ports), key=lambda entry: _age(entry, objects))
        avoid = frozenset(taken | set(ports.values()) | set(promised.values()) | set(self._track_ports()))
        picked = iter(free_ports(len(new), avoid))
        for listener in new:
            track = track_port(self.lab_port, listener.scheme)
            kept = next((promised[f"{listener.scheme} {host}"] for host in _hostnames(listener, objects)
                         if f"{listener.scheme} {host}" in promised), None)
            if kept is not None and kept not in ports.values() and not port_in_use(kept):
                ports[listener.key] = kept
            elif track not in ports.values() and not port_in_use(track):
                ports[listener.key] = track
            else:
                ports[listener.key] = next(picked)
        return ports

    def _track_ports(self) -> list[int]:
        return [track_port(self.lab_port, scheme) for scheme in ("http", "https")]


def _hostnames(listener: GatewayListener, objects: dict[Ref, dict]) -> list[str]:
    spec = (objects.get(listener.gateway) or {}).get("spec") or {}
    return [str(entry.get("hostname") or "*") for entry in spec.get("listeners") or []
            if int(entry["port"]) == listener.port]


def _age(listener: GatewayListener, objects: dict[Ref, dict]) -> tuple:
    gateway = objects.get(listener.gateway) or {}
    ports = [int(entry["port"]) for entry in (gateway.get("spec") or {}).get("listeners") or []]
    created = (gateway.get("metadata") or {}).get("creationTimestamp") or ""
    return created, listener.gateway.namespace, listener.gateway.name, ports.index(listener.port)


def listener_for(objects: dict[Ref, dict], scheme: str, host: str) -> str | None:
    """The Gateway listener (its key) requests for `host` of a scheme go to: the one whose hostname, or an
    attached route's, picks the host most specifically, as Envoy picks a virtual host (exact, then the
    longest wildcard); on a tie the one with routes for it, then the oldest Gateway. None when no Gateway
    API Gateway names the host: a catch-all `*` does not claim it from the ingress gateway (as the
    cluster backend's _gateway_for)."""
    if not host:
        return None
    served: dict[str, set[str]] = {}
    for result in attach(objects).values():
        for parent in result.parents:
            for entry in parent.served if parent.denied is None else []:
                served.setdefault(listener_key(entry.gateway, entry.port), set()).update(entry.hostnames)
    best: tuple | None = None
    for ref, gateway in objects.items():
        if not is_istio_gateway(ref, gateway):
            continue
        listeners = (gateway.get("spec") or {}).get("listeners") or []
        conflicted = listener_conflicts(listeners)
        for index, listener in enumerate(listeners):
            if listener["name"] in conflicted or listener["protocol"].lower() != scheme:
                continue
            key = listener_key(ref, int(listener["port"]))
            names = (served.get(key, set()) | {listener.get("hostname") or "*"}) - {"*"}
            scores = [_specificity(name, host) for name in names if subset_of(host, name)]
            if not scores:
                continue
            exact, length = max(scores)
            rank = (-exact, -length, key not in served, (gateway.get("metadata") or {}).get("creationTimestamp") or "",
                    ref.namespace, ref.name, index)
            if best is None or rank < best[0]:
                best = (rank, key)
    return best[1] if best else None


def _specificity(name: str, host: str) -> tuple[bool, int]:
    return name == host, len(name)


def gateway_urls(ports: dict[str, int], gateway: Ref, objects: dict[Ref, dict]) -> list[tuple[str, int, str]]:
    """(listener name, listener port, URL) of a Gateway's listeners that the lab serves."""
    spec = (objects.get(gateway) or {}).get("spec") or {}
    found = []
    for listener in spec.get("listeners") or []:
        local = ports.get(listener_key(gateway, int(listener["port"])))
        if local:
            found.append((listener["name"], int(listener["port"]), f"{listener['protocol'].lower()}://127.0.0.1:{local}"))
    return found
