"""The learner's configurations the checks' tests apply, and how a case sets the lab up for its step:
restore what the earlier steps made (on the module's one lab), then apply the case's objects."""

import os
from dataclasses import dataclass, field

from lab.backends.select import current_backend
from lab.config import lab_paths
from lab.errors import LabError
from lab.exercises.catalogue import Exercise, load_exercise
from lab.exercises.checks import CheckResult, run_check
from lab.exercises.walkthrough import Walkthrough
from lab.files import write_json
from lab.helm import render
from lab.manifests import Ref, load_manifest_file, ref_of
from tests.lab_process import new_lab


def vs(namespace: str, name: str, host: str, gateway: str, http: list[dict]) -> list[dict]:
    return [{"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
             "metadata": {"name": name, "namespace": namespace},
             "spec": {"hosts": [host], "gateways": [gateway], "http": http}}]


def to(host: str, weight: int | None = None, subset: str = "", port: int = 0) -> dict:
    destination = {"host": host, **({"subset": subset} if subset else {}),
                   **({"port": {"number": port}} if port else {})}
    return {"destination": destination, **({"weight": weight} if weight is not None else {})}


def canary(route: list[dict], gateway: str = "canary-gateway") -> list[dict]:
    return vs("canary-lab", "canary", "canary.lab.local", gateway, [
        {"name": "websocket", "match": [{"uri": {"prefix": "/websocket"}}], "route": [to("tornado", port=8888)]},
        {"name": "main", "route": route}])


def apps(httpbin: int, tornado: int) -> list[dict]:
    return [to("httpbin", httpbin, port=8000), to("tornado", tornado, port=8888)]


def shop(v1: int, other: str, weight: int, namespace: str = "shop", host: str = "shop.lab.local") -> list[dict]:
    return vs(namespace, "shop", host, "shop-gateway",
              [{"route": [to("shop", v1, "v1"), to("shop", weight, other)]}])


def rollback_shop(v1: int, weight: int) -> list[dict]:
    """rollback's VirtualService: its own namespace and host, beside autoscale's `shop`."""
    return shop(v1, "v3", weight, namespace="shop-rollback", host="rollback.lab.local")


def gateway_api_route(namespace: str, name: str, gateway: str, host: str, rules: list[dict]) -> list[dict]:
    return [{"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
             "metadata": {"name": name, "namespace": namespace},
             "spec": {"parentRefs": [{"name": gateway}], "hostnames": [host], "rules": rules}}]


def backend_ref(service: str, weight: int | None = None, port: int = 80, namespace: str = "") -> dict:
    return {"name": service, "port": port, **({"weight": weight} if weight is not None else {}),
            **({"namespace": namespace} if namespace else {})}


def autoscale_route(v1: int | None, v2: int | None) -> list[dict]:
    """autoscale-gateway-api's HTTPRoute: one Service per version."""
    return gateway_api_route("shop-gateway-api", "shop", "shop-gateway", "shop-gateway-api.lab.local",
                     [{"name": "main", "backendRefs": [backend_ref("shop-v1", v1), backend_ref("shop-v2", v2)]}])


def search_route(*rules: dict) -> list[dict]:
    """cross-namespace-gateway-api's HTTPRoute, written by hand: in search-traffic, backends in search-v1/-v2."""
    return gateway_api_route("search-traffic", "traffic-manager", "traffic-manager", "search-gateway-api.lab.local",
                             list(rules))


def grant(namespace: str, from_namespace: str = "search-traffic") -> list[dict]:
    return [{"apiVersion": "gateway.networking.k8s.io/v1", "kind": "ReferenceGrant",
             "metadata": {"name": "by-hand", "namespace": namespace},
             "spec": {"from": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute",
                                "namespace": from_namespace}],
                      "to": [{"group": "", "kind": "Service", "name": "search"}]}}]


def traffic_manager(*http: dict) -> list[dict]:
    return vs("traffic", "traffic-manager", "search.lab.local", "traffic-manager", list(http))


STABLE = {"name": "stable", "route": [to("search.services-v1.svc.cluster.local")]}
BY_HEADER = {"name": "canary-by-header", "match": [{"headers": {"x-track": {"exact": "canary"}}}],
             "route": [to("search.services-v2.svc.cluster.local")]}
SENTENCES_V2_TWICE = """\
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: sentences-v2, namespace: sentences}
    spec:
      replicas: 2
      selector: {matchLabels: {app: sentences, version: v2}}
      template:
        metadata: {labels: {app: sentences, version: v2}}
        spec:
          containers:
            - name: sentences
              image: canary-lab.invalid/version-app:1.0
              env: [{name: VERSION, value: v2}]
              ports: [{containerPort: 8888}]
    """


def shop_subsets(v1_labels: dict, v3_labels: dict) -> list[dict]:
    return [{"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
             "metadata": {"name": "shop", "namespace": "shop-rollback"},
             "spec": {"host": "shop", "subsets": [{"name": "v1", "labels": v1_labels},
                                                  {"name": "v3", "labels": v3_labels}]}}]


def debug_shop(*http: dict) -> list[dict]:
    """The debug exercise's VirtualService, as the learner's fix makes it."""
    return vs("shop-debug", "shop", "debug.lab.local", "shop-gateway", list(http))


def everyone(v1: int, v2: int) -> dict:
    return {"name": "everyone", "route": [to("shop", v1, "v1"), to("shop", v2, "v2")]}


def for_testers(value: str = "canary") -> dict:
    return {"name": "testers", "match": [{"headers": {"x-track": {"exact": value}}}],
            "route": [to("shop", subset="v2")]}


def debug_subsets(v2_labels: dict) -> list[dict]:
    return [{"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
             "metadata": {"name": "shop", "namespace": "shop-debug"},
             "spec": {"host": "shop", "subsets": [{"name": "v1", "labels": {"version": "v1"}},
                                                  {"name": "v2", "labels": v2_labels}]}}]


@dataclass
class Case:
    exercise: str
    step: str
    diagnosis: str              # "" for a right configuration: it passes
    objects: list[dict] = field(default_factory=list)   # applied over the lab as the step finds it
    values: str = ""            # or: the exercise's chart, rendered with these values
    held_only: bool = False     # stored as applied, but never pushed to the gateway
    traffic: bool = False       # the config is right: the verdict runs on live traffic
    says: str = ""              # a part of the message: what is served and what was expected
    deleted: list[Ref] = field(default_factory=list)    # objects the learner deleted first
    skipped: tuple[str, ...] = ()   # earlier steps the learner skipped: not restored, and the check is told
    shape: str = ""             # a right answer in another shape than the solution: what that shape is

    def __str__(self):
        return f"{self.exercise}/{self.step}/{self.diagnosis or 'passes'}" + (f"/{self.shape}" if self.shape else "")

    @property
    def track(self) -> str:
        return "gateway-api" if self.exercise.endswith("-gateway-api") else "istio"


def httproute(namespace: str, name: str, host: str, gateway: str, *backends: tuple[str, int | None]) -> list[dict]:
    """One HTTPRoute with one rule: backendRefs (Service, weight; None leaves the weight out), port 80."""
    refs = [{"name": service, "port": 80, **({"weight": weight} if weight is not None else {})}
            for service, weight in backends]
    return [{"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
             "metadata": {"name": name, "namespace": namespace},
             "spec": {"parentRefs": [{"name": gateway}], "hostnames": [host], "rules": [{"backendRefs": refs}]}}]


def app_route(stable: int, canary: int, gateway: str = "app-gateway") -> list[dict]:
    return httproute("app-gateway-api", "app-example", "app-gateway-api.lab.local", gateway,
                     ("app-stable", stable), ("app-canary", canary))


def shop_route(*backends, host: str = "rollback-gateway-api.lab.local") -> list[dict]:
    return httproute("shop-rollback-gateway-api", "shop", host, "shop-gateway", *backends)


def sentences_route(*backends) -> list[dict]:
    return httproute("sentences-gateway-api", "sentences", "sentences-gateway-api.lab.local", "sentences-gateway",
                     *backends)


def module_lab(root):
    """A local lab for a test module's many cases, as the backend the checks run on; down afterwards."""
    lab = new_lab(root)
    lab.invoke("up", "--provider", "local")
    os.environ["CANARY_LAB_ROOT"] = str(lab.root)
    yield current_backend(lab_paths())
    del os.environ["CANARY_LAB_ROOT"]
    lab.cleanup()


def requests_served(backend) -> int:
    """Requests the gateway's Envoy counted on its listeners (its own count: a config failure sent none)."""
    stats = backend._admin().stats("downstream_rq_total")
    return sum(int(v) for k, v in stats.items()
               if k.startswith("http.") and not k.startswith("http.admin.") and k.endswith("downstream_rq_total"))


def set_up(backend, case: Case, tmp_path) -> Exercise:
    exercise = load_exercise(case.exercise)
    walkthrough = Walkthrough(exercise, backend, lab_paths(), yes=True)
    index = [s.name for s in exercise.steps].index(case.step)
    walkthrough.reset()
    for earlier in exercise.steps[:index]:
        if earlier.name in case.skipped:
            walkthrough.progress.mark_skipped(exercise.name, earlier.name)
        else:
            walkthrough.progress.mark_done(exercise.name, earlier.name)
    walkthrough.restore(index)                       # the lab as the learner finds the step
    gone = case.deleted + [ref for step in case.skipped for ref in _made_by(exercise, step)]
    if gone:
        backend.delete(gone)
    objects = case.objects
    if case.values:
        step = exercise.step(case.step)
        values = tmp_path / "values.yaml"
        values.write_text(case.values)
        objects = render(step.helm.chart, step.helm.release, step.helm.namespace, [values])
    if case.held_only:   # the lab holds it (as a cluster's API server would) but the gateway never got it
        held = backend._objects() | {ref_of(o): {**o, "metadata": {**o["metadata"]}} for o in objects}
        write_json(backend.objects_file, {ref.key: obj for ref, obj in held.items()})
    elif objects:
        backend.apply(objects)
    return exercise


def _made_by(exercise: Exercise, step_name: str) -> list[Ref]:
    step = exercise.step(step_name)
    if step.helm:
        return [ref_of(o) for o in render(step.helm.chart, step.helm.release, step.helm.namespace, list(step.values))]
    return []


def run_case(backend, case: Case, tmp_path) -> tuple[Exercise, CheckResult, int]:
    """The case's check, and how many requests the gateway served while it ran. Objects of the case's own
    that no file of the exercise makes are deleted afterwards: the next case on this lab starts without them."""
    exercise = set_up(backend, case, tmp_path)
    try:
        before = requests_served(backend)
        result = run_check(exercise, exercise.step(case.step), backend, case.skipped)
        return exercise, result, requests_served(backend) - before
    finally:
        own = {ref_of(o) for path in exercise.folder.glob("*/*.yaml") for o in _objects_of(path)}
        extra = [ref_of(o) for o in case.objects if ref_of(o) not in own]
        if extra:   # the exercise's own objects first back as its steps make them: none may name these
            index = [s.name for s in exercise.steps].index(case.step)
            Walkthrough(exercise, backend, lab_paths(), yes=True).restore(index)
            backend.delete(extra)


def _objects_of(path) -> list[dict]:
    try:
        return [o for o in load_manifest_file(path) if isinstance(o, dict) and o.get("metadata")]
    except LabError:
        return []   # a patch or values file
