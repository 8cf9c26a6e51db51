"""The few Kubernetes calls the lab makes, through the `kubernetes` client's public dynamic
client: kinds are found by discovery (CRDs such as Istio's, cert-manager's and the Gateway
API's included), objects are server-side applied with a field manager (created when the server
has nothing to apply to), JSON-patched, read, listed, deleted and waited for with a timeout.

The dynamic client (kubernetes.dynamic, with server_side_apply since client 19.15) is the
client's stable surface; ApiClient.param_serialize/call_api change shape between releases.
"""

import builtins
import json
import re
import tempfile
from pathlib import Path

import urllib3
from kubernetes import config as kube_config
from kubernetes.client import ApiClient, Configuration
from kubernetes.client.rest import ApiException
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import (
    ApiException as DynamicApiException,
    NotFoundError,
    ResourceNotFoundError,
    ResourceNotUniqueError,
)

from lab import loopback
from lab.errors import LabError
from lab.manifests import Ref, ref_of
from lab.polling import poll

FIELD_MANAGER = "canary-lab"
# A kind named without its group (a Ref, `invoke get KIND`) means the group the lab's content
# uses when a cluster has several: Istio's Gateway, not the Gateway API's.
PREFERRED_GROUPS = ("", "apps", "autoscaling", "networking.istio.io", "security.istio.io", "cert-manager.io")
UNREACHABLE = (ApiException, DynamicApiException, OSError, urllib3.exceptions.HTTPError)


def _unreachable(error: Exception) -> LabError:
    return LabError(f"cannot reach the cluster's API server ({type(error).__name__})",
                    "is the cluster running? `invoke status`, then `invoke up`")


class Kube:
    def __init__(self, api_client: ApiClient, discovery_cache: Path | None = None):
        self.api = api_client
        self._dynamic: DynamicClient | None = None
        # The dynamic client caches discovery in a file (by default a shared one in the temp
        # folder, keyed by the server's address): one of the lab's own, so no other cluster's
        # answers are ever read back.
        if discovery_cache is None:
            self._cache_dir = tempfile.TemporaryDirectory(prefix="canary-lab-discovery-")
            discovery_cache = Path(self._cache_dir.name) / "discovery.json"
        self.discovery_cache = discovery_cache

    @classmethod
    def from_kubeconfig(cls, path, discovery_cache: Path | None = None) -> "Kube":
        """Kept across `invoke` commands in `discovery_cache`, discovery costs one round of
        requests per lab, not one per command (a kind it lacks is looked up again anyway)."""
        configuration = Configuration()
        kube_config.load_kube_config(config_file=str(path), client_configuration=configuration)
        if loopback.is_local(configuration.host):   # k3d's and kind's API server: HTTPS_PROXY cannot reach it
            configuration.proxy = None
        return cls(ApiClient(configuration), discovery_cache)

    @property
    def dynamic(self) -> DynamicClient:
        if self._dynamic is None:   # discovery starts on creation: only once the lab needs the cluster
            try:
                self._dynamic = DynamicClient(self.api, cache_file=str(self.discovery_cache))
            except UNREACHABLE as e:
                raise _unreachable(e) from None
        return self._dynamic

    def resource(self, kind: str, api_version: str | None = None, group: str = ""):
        """The API resource of a kind (in `group` when given: a Ref's group tells the Gateway API's
        Gateway from Istio's), by discovery; asked again once when the cluster may have just
        learned it (a CRD installed since the last discovery)."""
        for attempt in (1, 2):
            try:
                if api_version:
                    return self.dynamic.resources.get(api_version=api_version, kind=kind)
                found = [r for r in self.dynamic.resources.search(kind=kind, **({"group": group} if group else {}))
                         if "/" not in r.name]
                # Within a group, its most stable version (v1 before v1beta1 before v1alpha2): discovery
                # lists them in no fixed order, and one version must name an object every time.
                found.sort(key=lambda r: (PREFERRED_GROUPS.index(r.group) if r.group in PREFERRED_GROUPS else 99,
                                          version_rank(r.api_version)))
                if found:
                    return found[0]
                raise ResourceNotFoundError(kind)
            except (ResourceNotFoundError, ResourceNotUniqueError):
                if attempt == 1:
                    self.dynamic.resources.invalidate_cache()
                    continue
                where = f" in {api_version or group}" if api_version or group else ""
                raise LabError(f"the cluster has no kind {kind}{where}",
                               "check apiVersion and kind; a custom kind needs its CRD installed first") from None
            except UNREACHABLE as e:
                raise _unreachable(e) from None

    def _resource_of(self, obj: dict):
        return self.resource(obj["kind"], obj.get("apiVersion"))

    def _request(self, call, *args, **kwargs):
        """One call; the answer as a dict, None for 404, a LabError naming what the server said."""
        try:
            answer = call(*args, _request_timeout=30, **kwargs)
        except NotFoundError:
            return None
        except DynamicApiException as e:
            if getattr(e, "status", None) is None:
                raise _unreachable(e) from None
            raise LabError(f"the cluster refused it: {_reason(e)}", "fix the object, or see `invoke status`") from None
        except UNREACHABLE as e:
            raise _unreachable(e) from None
        return answer.to_dict() if hasattr(answer, "to_dict") else (answer or {})

    @staticmethod
    def _namespace(resource, namespace: str) -> str | None:
        return (namespace or "default") if resource.namespaced else None

    def apply(self, obj: dict) -> dict:
        """Server-side apply; objects the server does not have yet are created."""
        resource, ref = self._resource_of(obj), ref_of(obj)
        namespace = self._namespace(resource, ref.namespace)
        body = json.loads(json.dumps(obj))   # plain JSON types only
        if resource.namespaced:
            body.setdefault("metadata", {})["namespace"] = namespace
        applied = self._request(self.dynamic.server_side_apply, resource, body=body, name=ref.name,
                                namespace=namespace, field_manager=FIELD_MANAGER, force_conflicts=True)
        if applied is None:
            applied = self._request(self.dynamic.create, resource, body=body, namespace=namespace,
                                    field_manager=FIELD_MANAGER)
        if applied is None:   # both 404: what the object goes into is not there
            raise LabError(f"{ref} cannot be applied: namespace {namespace} does not exist on the cluster",
                           f"apply a Namespace named {namespace} first (or in the same file, above it)")
        return applied

    def dry_run_create(self, obj: dict) -> None:
        resource, ref = self._resource_of(obj), ref_of(obj)
        self._request(self.dynamic.create, resource, body=obj, namespace=self._namespace(resource, ref.namespace),
                      dry_run="All")

    def _resource_of_ref(self, ref: Ref):
        return self.resource(ref.kind, group=ref.group)

    def json_patch(self, ref: Ref, operations: list[dict]) -> dict:
        resource = self._resource_of_ref(ref)
        patched = self._request(self.dynamic.patch, resource, body=operations, name=ref.name,
                                namespace=self._namespace(resource, ref.namespace),
                                content_type="application/json-patch+json", field_manager=FIELD_MANAGER)
        if patched is None:
            raise LabError(f"{ref} does not exist on the cluster", "apply it first")
        return patched

    def get(self, ref: Ref) -> dict | None:
        resource = self._resource_of_ref(ref)
        return self._request(self.dynamic.get, resource, name=ref.name,
                             namespace=self._namespace(resource, ref.namespace))

    def list(self, kind: str, namespace: str, group: str = "") -> builtins.list[dict]:
        """The objects of a kind in a namespace (a list's items carry no kind and apiVersion: put back,
        so a Ref made from one keeps its group)."""
        resource = self.resource(kind, group=group)
        found = self._request(self.dynamic.get, resource, namespace=self._namespace(resource, namespace)) or {}
        return [{"apiVersion": resource.group_version, **item, "kind": kind} for item in found.get("items") or []]

    def list_all(self, kind: str, group: str = "") -> builtins.list[dict]:
        """Every object of a kind, in every namespace (each item with its apiVersion and kind, as
        `kubectl get -o yaml` shows them)."""
        resource = self.resource(kind, group=group)
        found = self._request(self.dynamic.get, resource) or {}
        return [{"apiVersion": resource.group_version, "kind": kind, **item} for item in found.get("items") or []]

    def delete(self, ref: Ref) -> None:
        resource = self._resource_of_ref(ref)
        self._request(self.dynamic.delete, resource, name=ref.name, namespace=self._namespace(resource, ref.namespace))

    def wait_until_not_terminating(self, namespace: str, timeout: float = 180, interval: float = 0.5) -> None:
        """A Namespace being deleted must be gone before it is made again (the API server answers
        403 "being terminated" to anything created in it meanwhile)."""
        ref = Ref("Namespace", "", namespace)
        if not poll(lambda: not terminating(self.get(ref)), timeout, interval):
            raise LabError(f"namespace {namespace} is still being deleted after {timeout:.0f}s",
                           f"see `kubectl --kubeconfig .lab/kubeconfig get namespace {namespace} -o yaml` "
                           "(a finalizer may hold it)")

    def wait_for(self, ref: Ref, ready, what: str, timeout: float = 300, interval: float = 1.0) -> dict:
        """Poll until ready(obj) is true; a LabError naming `what` after the timeout."""
        def ready_object() -> dict | None:
            obj = self.get(ref)
            return obj if obj is not None and ready(obj) else None

        obj = poll(ready_object, timeout, interval)
        if obj is None:
            raise LabError(f"{ref} did not become {what} within {timeout:.0f}s",
                           "see `kubectl --kubeconfig .lab/kubeconfig describe` for why")
        return obj


def version_rank(version: str) -> tuple:
    """Kubernetes' version priority (apimachinery's version.CompareKubeAwareVersionStrings): GA before
    beta before alpha, a higher number first within each."""
    match = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", version)
    if not match:
        return (3, version)
    major, stage, minor = match.groups()
    return ({None: 0, "beta": 1, "alpha": 2}[stage], -int(major), -int(minor or 0))


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
    if not obj:
        return False
    return ((obj.get("status") or {}).get("phase") == "Terminating"
            or bool((obj.get("metadata") or {}).get("deletionTimestamp")))


def deployment_available(obj: dict) -> bool:
    wanted = (obj.get("spec") or {}).get("replicas", 1)
    return (obj.get("status") or {}).get("availableReplicas", 0) >= wanted


def _reason(error: Exception) -> str:
    body = getattr(error, "body", None) or getattr(error, "summary", lambda: "")()
    try:
        return json.loads(body).get("message") or str(body)[:200]
    except (TypeError, ValueError, AttributeError):
        return str(body or error)[:200]
