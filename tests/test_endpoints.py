"""Ready endpoints per Service and subset on the local lab (endpoints.py): what a check splits a
route to a whole Service by (promote's 75/25) and what says a subset has no pod (503 UH). They must
count what a cluster's EDS would: a Service's own pods, and a subset's among them only."""

from lab.backends.local.endpoints import ready_endpoints
from lab.backends.local.pods import template_hash
from tests.conftest import by_ref

OBJECTS = by_ref("""
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: shop-v1, namespace: shop}
spec:
  replicas: 2
  selector: {matchLabels: {app: shop, version: v1}}
  template:
    metadata: {labels: {app: shop, version: v1}}
    spec: {containers: [{name: shop, image: canary-lab/version-app:1.0}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: cart-v1, namespace: shop}
spec:
  replicas: 3
  selector: {matchLabels: {app: cart, version: v1}}
  template:
    metadata: {labels: {app: cart, version: v1}}
    spec: {containers: [{name: cart, image: canary-lab/version-app:1.0}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: shop-v1, namespace: other}
spec:
  replicas: 1
  selector: {matchLabels: {app: shop, version: v1}}
  template:
    metadata: {labels: {app: shop, version: v1}}
    spec: {containers: [{name: shop, image: canary-lab/version-app:1.0}]}
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
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: shop, namespace: shop}
spec:
  host: shop
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: cart, namespace: shop}
spec:
  host: cart
  subsets: [{name: v3, labels: {version: v1}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: shop-by-fqdn, namespace: other}
spec:
  host: shop.shop.svc.cluster.local
  subsets: [{name: fqdn, labels: {version: v1}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: shop-dotted, namespace: other}
spec:
  host: shop.shop
  subsets: [{name: dotted, labels: {version: v1}}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: shop, namespace: shop}
spec:
  replicas: 0
  selector: {matchLabels: {app: shop, version: v0}}
  template:
    metadata: {labels: {app: shop, version: v0}}
    spec: {containers: [{name: shop, image: canary-lab/version-app:1.0}]}
""")


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
