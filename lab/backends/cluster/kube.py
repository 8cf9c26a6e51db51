"""The few Kubernetes calls the lab makes, over HTTP with the `kubernetes` client.

Server-side apply with a field manager (create when the server has no object
to apply to), JSON patch, get, delete, and waits with a timeout. Kinds map to
API paths through a small table: the lab only handles the kinds it ships.
"""

import json
import time
from dataclasses import dataclass

from kubernetes import client, config as kube_config
from kubernetes.client.rest import ApiException
from urllib3.exceptions import MaxRetryError

from lab.errors import LabError
from lab.manifests import Ref, ref_of

FIELD_MANAGER = "canary-lab"


@dataclass(frozen=True)
class Kind:
    group_version: str   # "v1", "apps/v1", "networking.istio.io/v1"
    plural: str
    namespaced: bool = True

    def path(self, namespace: str = "", name: str = "") -> str:
        base = "/api/v1" if self.group_version == "v1" else f"/apis/{self.group_version}"
        where = f"/namespaces/{namespace}" if self.namespaced and namespace else ""
        return f"{base}{where}/{self.plural}" + (f"/{name}" if name else "")


KINDS = {
    "Namespace": Kind("v1", "namespaces", namespaced=False),
    "Service": Kind("v1", "services"),
    "Secret": Kind("v1", "secrets"),
    "Deployment": Kind("apps/v1", "deployments"),
    "HorizontalPodAutoscaler": Kind("autoscaling/v2", "horizontalpodautoscalers"),
    "Gateway": Kind("networking.istio.io/v1", "gateways"),
    "VirtualService": Kind("networking.istio.io/v1", "virtualservices"),
    "DestinationRule": Kind("networking.istio.io/v1", "destinationrules"),
    "PeerAuthentication": Kind("security.istio.io/v1", "peerauthentications"),
    "Certificate": Kind("cert-manager.io/v1", "certificates"),
    "Issuer": Kind("cert-manager.io/v1", "issuers"),
    "ClusterIssuer": Kind("cert-manager.io/v1", "clusterissuers", namespaced=False),
}


def kind_of(name: str) -> Kind:
    if name not in KINDS:
        raise LabError(f"the lab does not manage kind {name} on a cluster",
                       f"use kubectl for it; the lab handles {', '.join(KINDS)}")
    return KINDS[name]


class Kube:
    def __init__(self, api_client: client.ApiClient):
        self.api = api_client

    @classmethod
    def from_kubeconfig(cls, path) -> "Kube":
        return cls(kube_config.new_client_from_config(config_file=str(path)))

    def _call(self, method: str, path: str, *, body=None, content_type: str = "application/json",
              query: list | None = None):
        """One request; the decoded answer, or None for 404."""
        method, url, headers, body, _ = self.api.param_serialize(
            method=method, resource_path=path, query_params=query or [], body=body,
            header_params={"Content-Type": content_type, "Accept": "application/json"},
            auth_settings=["BearerToken"])
        try:
            response = self.api.call_api(method, url, header_params=headers, body=body, _request_timeout=30)
            response.read()
        except (ApiException, OSError, MaxRetryError) as e:
            raise LabError(f"cannot reach the cluster's API server ({e})",
                           "is the cluster running? `invoke status`, then `invoke up`") from None
        if response.status == 404:
            return None
        if response.status >= 400:
            raise LabError(f"the cluster refused {method} {path}: {_reason(response.data)}",
                           "fix the object, or see `invoke status`")
        return json.loads(response.data) if response.data else {}

    def apply(self, obj: dict) -> dict:
        """Server-side apply; objects the server does not have yet are created."""
        ref = ref_of(obj)
        kind = kind_of(ref.kind)
        applied = self._call("PATCH", kind.path(ref.namespace, ref.name), body=json.dumps(obj),
                             content_type="application/apply-patch+yaml",
                             query=[("fieldManager", FIELD_MANAGER), ("force", "true")])
        if applied is None:
            applied = self._call("POST", kind.path(ref.namespace), body=obj,
                                 query=[("fieldManager", FIELD_MANAGER)])
        return applied

    def dry_run_create(self, obj: dict) -> None:
        ref = ref_of(obj)
        self._call("POST", kind_of(ref.kind).path(ref.namespace), body=obj, query=[("dryRun", "All")])

    def json_patch(self, ref: Ref, operations: list[dict]) -> dict:
        patched = self._call("PATCH", kind_of(ref.kind).path(ref.namespace, ref.name), body=operations,
                             content_type="application/json-patch+json",
                             query=[("fieldManager", FIELD_MANAGER)])
        if patched is None:
            raise LabError(f"{ref} does not exist on the cluster", "apply it first")
        return patched

    def get(self, ref: Ref) -> dict | None:
        return self._call("GET", kind_of(ref.kind).path(ref.namespace, ref.name))

    def list(self, kind: str, namespace: str) -> list[dict]:
        """The objects of a kind in a namespace (a list's items carry no kind: it is put back)."""
        found = self._call("GET", kind_of(kind).path(namespace)) or {}
        return [{**item, "kind": kind} for item in found.get("items") or []]

    def delete(self, ref: Ref) -> None:
        self._call("DELETE", kind_of(ref.kind).path(ref.namespace, ref.name))

    def wait_until_not_terminating(self, namespace: str, timeout: float = 180, interval: float = 0.5) -> None:
        """A Namespace being deleted must be gone before it is made again (the API server answers
        403 "being terminated" to anything created in it meanwhile)."""
        ref = Ref("Namespace", "", namespace)
        deadline = time.monotonic() + timeout
        while terminating(self.get(ref)):
            if time.monotonic() >= deadline:
                raise LabError(f"namespace {namespace} is still being deleted after {timeout:.0f}s",
                               f"see `kubectl --kubeconfig .lab/kubeconfig get namespace {namespace} -o yaml` "
                               "(a finalizer may hold it)")
            time.sleep(interval)

    def wait_for(self, ref: Ref, ready, what: str, timeout: float = 300, interval: float = 1.0) -> dict:
        """Poll until ready(obj) is true; a LabError naming `what` after the timeout."""
        deadline = time.monotonic() + timeout
        while True:
            obj = self.get(ref)
            if obj is not None and ready(obj):
                return obj
            if time.monotonic() >= deadline:
                raise LabError(f"{ref} did not become {what} within {timeout:.0f}s",
                               "see `kubectl --kubeconfig .lab/kubeconfig describe` for why")
            time.sleep(interval)


def deployment_rolled_out(obj: dict) -> bool:
    """Done as `kubectl rollout status` means it (kubectl pkg/polymorphichelpers/rollout_status.go):
    the controller has seen this generation, every replica runs the new template, no old replica is
    left, and the new ones are available. Before that, traffic reaches old and new pods alike."""
    wanted = (obj.get("spec") or {}).get("replicas", 1)
    status = obj.get("status") or {}
    if status.get("observedGeneration", 0) < (obj.get("metadata") or {}).get("generation", 0):
        return False
    updated = status.get("updatedReplicas", 0)
    return updated >= wanted and status.get("replicas", 0) <= updated and status.get("availableReplicas", 0) >= updated


def terminating(obj: dict | None) -> bool:
    """A Namespace being deleted: it refuses new objects until it is gone."""
    return bool(obj) and ((obj.get("status") or {}).get("phase") == "Terminating"
                          or bool((obj.get("metadata") or {}).get("deletionTimestamp")))


def deployment_available(obj: dict) -> bool:
    wanted = (obj.get("spec") or {}).get("replicas", 1)
    return (obj.get("status") or {}).get("availableReplicas", 0) >= wanted


def _reason(data: bytes) -> str:
    try:
        return json.loads(data).get("message") or data.decode()[:200]
    except (TypeError, ValueError, AttributeError):
        return str(data)[:200]
