"""Ready endpoints per Service and subset on the local lab (endpoints.py): what a check splits a
route to a whole Service by (promote's 75/25) and what says a subset has no pod (503 UH). They must
count what a cluster's EDS would: a Service's own pods, and a subset's among them only."""

from lab.backends.local.endpoints import ready_endpoints, target_port_notes
from lab.backends.local.pods import Pod, template_hash
from lab.manifests import Ref
from tests.conftest import by_ref


def deployment(namespace: str, name: str, app: str, version: str, replicas: int) -> str:
    return f"""
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: {app}, version: {version}}}}}
  template:
    metadata: {{labels: {{app: {app}, version: {version}}}}}
    spec:
      containers:
      - {{name: {app}, image: canary-lab.invalid/version-app:1.0, ports: [{{name: http, containerPort: 8888}}]}}
"""


def rule(namespace: str, name: str, host: str, subsets: str) -> str:
    return f"""
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: {name}, namespace: {namespace}}}
spec: {{host: {host}, subsets: {subsets}}}
"""


OBJECTS = by_ref("""
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Service
metadata: {name: shop, namespace: shop}
spec:
  selector: {app: shop}
  ports: [{port: 80, targetPort: 8888}]
---
apiVersion: v1
kind: Service
metadata: {name: external, namespace: shop}
spec:
  ports: [{port: 80}]
""" + deployment("shop", "shop-v1", "shop", "v1", 2) + deployment("shop", "cart-v1", "cart", "v1", 3)
    + deployment("other", "shop-v1", "shop", "v1", 1)
    + rule("shop", "shop", "shop", "[{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]")
    + rule("shop", "cart", "cart", "[{name: v3, labels: {version: v1}}]")
    + rule("other", "shop-by-fqdn", "shop.shop.svc.cluster.local", "[{name: fqdn, labels: {version: v1}}]")
    + rule("other", "shop-dotted", "shop.shop", "[{name: dotted, labels: {version: v1}}]")
    + deployment("shop", "shop", "shop", "v0", 0))   # named like the Service, and no Service of its own


def running(*deployments: tuple[str, str, int]) -> set[str]:
    """The supervisor's names of running pods: `<namespace>/<deployment>-<template hash>-<i>`."""
    names = set()
    for namespace, name, count in deployments:
        digest = template_hash(OBJECTS[next(r for r in OBJECTS if (r.kind, r.namespace, r.name) ==
                                            ("Deployment", namespace, name))])
        names |= {f"{namespace}/{name}-{digest}-{i}" for i in range(count)}
    return names


ALL = running(("shop", "shop-v1", 2), ("shop", "cart-v1", 3), ("other", "shop-v1", 1))


def test_a_service_counts_the_running_pods_its_selector_picks_in_its_namespace():
    counts = ready_endpoints(OBJECTS, ALL)
    assert counts["shop.shop", ""] == 2          # not cart's pods, not the other namespace's shop pod
    # A Deployment named like the Service is no Service: its name counts nothing of its own.
    assert set(counts) == {("shop.shop", subset) for subset in ("", "v1", "v2", "fqdn")}


def test_a_subset_counts_only_the_services_own_pods_that_carry_its_labels():
    """cart's pods carry version: v1 too, but they are not the shop Service's: a cluster's subset is
    the Service's selector and the subset's labels together (EDS per subset)."""
    counts = ready_endpoints(OBJECTS, ALL)
    assert counts["shop.shop", "v1"] == 2
    assert counts["shop.shop", "v2"] == 0        # no such pod: the gateway answers 503 (UH)


def test_a_service_without_a_selector_has_no_ready_pods_of_its_own():
    """A selector-less Service gets its endpoints from elsewhere (an EndpointSlice someone writes),
    never from the pods of its namespace."""
    counts = ready_endpoints(OBJECTS, ALL)
    assert counts.get(("external.shop", ""), 0) == 0


def test_only_running_pods_of_the_current_template_count():
    stale = {name.replace(name.split("-")[-2], "00000000") for name in ALL}   # an older template's pods
    assert ready_endpoints(OBJECTS, stale)["shop.shop", "v1"] == 0
    assert ready_endpoints(OBJECTS, running(("shop", "shop-v1", 1)))["shop.shop", ""] == 1


def test_a_subset_is_the_services_by_the_rules_host_as_istiod_resolves_it():
    """pilot/pkg/model/config.go ResolveShortnameToFQDN: `cart` is cart's (another Service), a full
    name from another namespace is shop's, and `shop.shop` is taken as written: no Service."""
    counts = ready_endpoints(OBJECTS, ALL)
    assert ("shop.shop", "v3") not in counts     # cart's rule
    assert counts["shop.shop", "fqdn"] == 2
    assert ("shop.shop", "dotted") not in counts


def test_a_target_port_that_reaches_no_pod_is_noted_for_the_service_and_its_pods_deployments():
    """Whichever of them an apply changed prints the note (`invoke apply` shows notes of what it applied)."""
    wrong = dict(OBJECTS)
    service = Ref("Service", "shop", "shop")
    wrong[service] = {**OBJECTS[service],
                      "spec": {"selector": {"app": "shop"}, "ports": [{"port": 80, "targetPort": 9999}]}}
    pods = {f"shop/shop-v1-x-{i}": Pod(name=f"shop/shop-v1-x-{i}", namespace="shop", deployment="shop-v1",
                                        labels={"app": "shop", "version": "v1"}, port=20000 + i,
                                        container_ports={"http": 8888, "metrics": 9090}, listens_on=8888)
            for i in range(1)}
    notes = target_port_notes(wrong, pods)
    assert sorted(str(ref) for ref, _ in notes) == ["Deployment shop/shop-v1", "Service shop/shop"]
    assert all("listen on 8888" in text and "targets 9999" in text for _, text in notes)
    assert target_port_notes(OBJECTS, pods) == []
    wrong[service]["spec"]["ports"][0]["targetPort"] = "web"       # a name no container port has
    [(_, text), _] = target_port_notes(wrong, pods)
    assert "no container port of shop-v1's pods is named web (named: http, metrics)" in text
    wrong[service]["spec"]["ports"][0]["targetPort"] = "http"      # the name of the app's port: it reaches them
    assert target_port_notes(wrong, pods) == []


def test_a_target_port_note_is_about_the_pods_the_whole_selector_picks_and_only_when_none_is_reached():
    """A Service reaches a pod only if every label of its selector matches; a port that reaches some of
    its pods has endpoints there, so the gateway answers and there is nothing to note."""
    def pod(version: str, listens_on: int) -> Pod:
        return Pod(name=f"shop/shop-{version}-x-0", namespace="shop", deployment=f"shop-{version}",
                   labels={"app": "shop", "version": version}, port=20000, container_ports={"http": listens_on},
                   listens_on=listens_on)
    service = Ref("Service", "shop", "shop")
    objects = dict(OBJECTS)
    objects[service] = {**OBJECTS[service], "spec": {"selector": {"app": "shop", "version": "v2"},
                                                     "ports": [{"port": 80, "targetPort": 8888}]}}
    only_v1 = {"v1": pod("v1", 9999)}       # shares app: shop, not version: v2 — not the Service's pod
    assert target_port_notes(objects, only_v1) == []
    both = {"v1": pod("v1", 9999), "v2": pod("v2", 8888), "v2b": pod("v2", 9999)}
    assert target_port_notes(objects, both) == []   # one of v2's pods listens on 8888: it has an endpoint
    assert [str(ref) for ref, _ in target_port_notes(objects, {"v2b": pod("v2", 9999)})] == \
        ["Service shop/shop", "Deployment shop/shop-v2"]
