"""Kubernetes' own validation tests, as cases for the lab (the API server the clusters run, 1.35).

Ports from k8s.io/apimachinery/pkg/util/validation/validation_test.go (TestIsValidPortNum: 1, 2, 1000,
16384, 32768 and 65535 are ports; 0, -1, 65536 and 100000 are not), as a Service's port and
targetPort and a container's port take them (pkg/apis/core/validation), except a targetPort of 0,
which the API server defaults to the port. A refusal says Kubernetes refuses it. A Deployment's
immutable selector is a rule on updates: test_validation_paths.py.
"""

import copy

import pytest
import yaml

from lab.config import PROJECT_DIR
from lab.errors import ManifestError
from lab.validate import route_weights, validate, validate_update
from tests.conformance.validation_cases import ACCEPTED, REFUSED, Case, judge

SAMPLE = list(yaml.safe_load_all((PROJECT_DIR / "apps" / "sample-apps.yaml").read_text()))
DEPLOYMENT, SERVICE = SAMPLE[1], SAMPLE[2]
PORTS = "apimachinery TestIsValidPortNum"
GOOD, BAD = (1, 2, 1000, 16384, 32768, 65535), (0, -1, 65536, 100000)


def service_port(**port) -> dict:
    service = copy.deepcopy(SERVICE)
    service["spec"]["ports"][0].update(port)
    return service


def container_port(number: int) -> dict:
    deployment = copy.deepcopy(DEPLOYMENT)
    deployment["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = number
    return deployment


def labelled(key: str, value: str = "v1") -> dict:
    service = copy.deepcopy(SERVICE)
    service["metadata"]["labels"] = {key: value}
    return service


KEYS = "apimachinery TestIsQualifiedName"
VALUES = "apimachinery TestIsValidLabelValue"
GOOD_KEYS = ("simple", "now-with-dashes", "1-starts-with-num", "1234", "simple/simple", "now-with-dashes/simple",
             "now-with-dashes/now-with-dashes", "now.with.dots/simple", "now-with.dashes-and.dots/simple",
             "1-num.2-num/3-num", "1234/5678", "1.2.3.4/5678", "Uppercase_Is_OK_123", "example.com/Uppercase_Is_OK_123",
             "requests.storage-foo", "a" * 63, "a" * 253 + "/" + "b" * 63)
BAD_KEYS = ("nospecialchars%^=@", "cantendwithadash-", "-cantstartwithadash-", "only/one/slash", "Example.com/abc",
            "example_com/abc", "example.com/", "/simple", "a" * 64, "a" * 254 + "/abc")
# What the lab says of some of them (apimachinery's own messages say the same in other words)
KEY_PROBLEMS = {"only/one/slash": "has more than one '/'", "/simple": "has an empty prefix",
                "example.com/": "has an empty name", "a" * 64: "name part of 64 characters",
                "a" * 254 + "/abc": "is not a DNS-1123 subdomain"}
GOOD_VALUES = ("simple", "now-with-dashes", "1-starts-with-num", "end-with-num-1", "1234", "a" * 63, "")
BAD_VALUES = ("nospecialchars%^=@", "Tama-nui-te-rā.is.Māori.sun", "\\backslashes\\are\\bad", "-starts-with-dash",
              "ends-with-dash-", ".starts.with.dot", "ends.with.dot.", "a" * 64)

def edited(obj: dict, edit) -> dict:
    obj = copy.deepcopy(obj)
    edit(obj)
    return obj


def replicas(value) -> dict:
    return edited(DEPLOYMENT, lambda d: d["spec"].update(replicas=value))


def named(obj: dict, name: str) -> dict:
    return edited(obj, lambda o: o["metadata"].update(name=name))


SPEC = "apps validation ValidateDeploymentSpec"          # replicas: ValidateNonnegativeField
META = "apimachinery ValidateObjectMeta"                 # namespace: a DNS-1123 label; annotations' keys
LABELS_OF = "core validation ValidateLabels"             # selectors and template labels are labels too
NAMESPACE = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}

CASES = [
    Case(SPEC, "replicas 0", replicas(0), ACCEPTED),
    Case(SPEC, "replicas -1", replicas(-1), REFUSED, "spec.replicas is -1"),
    Case(SPEC, "replicas 2.7", replicas(2.7), REFUSED, "spec.replicas is 2.7"),
    # kubectl writes a YAML 3.0 as JSON 3 (sigs.k8s.io/yaml YAMLToJSON), so the API server sees 3
    Case(SPEC, "replicas 3.0", replicas(3.0), ACCEPTED),
    Case(SPEC, "replicas '3'", replicas("3"), REFUSED, 'spec.replicas is "3"'),
    Case(META, "a Namespace", NAMESPACE, ACCEPTED),
    # ValidateServiceName (a DNS-1035 label) and a Namespace's name: at most 63; a Deployment's: a subdomain, 253
    Case(META, "a Service name of 63", named(SERVICE, "s" * 63), ACCEPTED),
    Case(META, "a Service name of 64", named(SERVICE, "s" * 64), REFUSED, "not a DNS-1035 label"),
    Case(META, "a Namespace name of 64", named(NAMESPACE, "n" * 64), REFUSED, "not a DNS-1123 label"),
    Case(META, "a Deployment name of 253", named(DEPLOYMENT, "d" * 253), ACCEPTED),
    Case(META, "a Deployment name of 254", named(DEPLOYMENT, "d" * 254), REFUSED, "not a DNS-1123 subdomain"),
    Case(META, "no namespace (the default one)", edited(SERVICE, lambda o: o["metadata"].pop("namespace")),
         ACCEPTED),
    Case(META, "namespace with a slash", edited(SERVICE, lambda o: o["metadata"].update(namespace="x/y")), REFUSED,
         "metadata.namespace 'x/y'"),
    Case(META, "namespace of 64 characters", edited(SERVICE, lambda o: o["metadata"].update(namespace="n" * 64)),
         REFUSED, "metadata.namespace 'nnn"),
    Case(META, "annotation key with a space", edited(SERVICE, lambda o: o["metadata"].update(
        annotations={"my note": "x"})), REFUSED, "annotations: key 'my note'"),
    Case(META, "annotation value with spaces", edited(SERVICE, lambda o: o["metadata"].update(
        annotations={"note": "any text at all"})), ACCEPTED),
    Case(LABELS_OF, "Service selector value", edited(SERVICE, lambda o: o["spec"].update(selector={"app": "a b"})),
         REFUSED, "spec.selector.app 'a b'"),
    Case(LABELS_OF, "Deployment matchLabels value", edited(DEPLOYMENT, lambda o: o["spec"]["selector"].update(
        matchLabels={"app": "a b"})), REFUSED, "matchLabels.app 'a b'"),
    Case(LABELS_OF, "Deployment template label value", edited(DEPLOYMENT, lambda o: o["spec"]["template"][
        "metadata"]["labels"].update(version="v 2")), REFUSED, "labels.version 'v 2'"),
    *(Case(KEYS, f"key {key[:70]}", labelled(key), ACCEPTED) for key in GOOD_KEYS),
    *(Case(KEYS, f"key {key[:70]}", labelled(key), REFUSED, KEY_PROBLEMS.get(key, "Kubernetes refuses it"))
      for key in BAD_KEYS),
    *(Case(VALUES, f"value {value[:70]!r}", labelled("app", value), ACCEPTED) for value in GOOD_VALUES),
    *(Case(VALUES, f"value {value[:70]!r}", labelled("app", value), REFUSED, "Kubernetes refuses it")
      for value in BAD_VALUES),
    *(Case(PORTS, f"Service port {n}", service_port(port=n), ACCEPTED) for n in GOOD),
    *(Case(PORTS, f"Service port {n}", service_port(port=n), REFUSED, f"spec.ports[0].port is {n}") for n in BAD),
    *(Case(PORTS, f"Service targetPort {n}", service_port(targetPort=n), REFUSED, f"targetPort is {n}")
      for n in BAD if n),
    # 0 is not refused but defaulted to the port (pkg/apis/core/v1/defaults.go SetDefaults_Service)
    Case("core/v1 SetDefaults_Service", "Service targetPort 0", service_port(targetPort=0), ACCEPTED),
    Case(PORTS, "Service targetPort 65535", service_port(targetPort=65535), ACCEPTED),
    Case(PORTS, "Service targetPort by name", service_port(targetPort="http"), ACCEPTED),
    *(Case(PORTS, f"containerPort {n}", container_port(n), REFUSED, f"containerPort is {n}") for n in BAD),
    Case(PORTS, "containerPort 8080", container_port(8080), ACCEPTED),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_kubernetes_validation_case(case: Case) -> None:
    judge(case)


STRATEGY = "pkg/registry/apps/deployment/strategy.go ValidateUpdate"


def with_selector(obj: dict, labels: dict) -> dict:
    return edited(obj, lambda o: o["spec"].update(selector={"matchLabels": labels}))


def test_a_deployments_selector_is_immutable_and_nothing_else_is() -> None:
    """The API server refuses an update that changes a Deployment's spec.selector (apps/v1:
    ValidateImmutableField in the registry's ValidateUpdate); a first create, the same selector
    with other changes, and a Service's selector (mutable) are fine."""
    changed = with_selector(DEPLOYMENT, {"app": "other"})
    with pytest.raises(ManifestError, match="spec.selector: Invalid value.*field is immutable"):
        validate_update(DEPLOYMENT, changed)
    validate_update(None, changed)
    validate_update(DEPLOYMENT, replicas(3))
    validate_update(SERVICE, edited(SERVICE, lambda o: o["spec"].update(selector={"app": "other"})))


def test_a_lone_destination_gets_all_traffic_whatever_its_weight() -> None:
    """istio pilot route.go: one destination is routed to alone (its weight unused); several are
    weighted clusters, a missing weight reading as 0."""
    assert route_weights([{"destination": {"host": "a"}, "weight": 0}]) == [100]
    assert route_weights([{"destination": {"host": "a"}, "weight": 30}, {"destination": {"host": "b"}}]) == [30, 0]


@pytest.mark.parametrize("kind, refused", [("K" * 63, False), ("K" * 64, True), ("My Kind", True), ("", True)])
def test_a_kind_is_a_name_no_longer_than_63(kind: str, refused: bool) -> None:
    """apiextensions ValidateCustomResourceDefinitionNames: a kind lower-cased is a DNS-1035 label."""
    obj = {"apiVersion": "example.com/v1", "kind": kind, "metadata": {"name": "x", "namespace": "lab"}}
    if refused:
        with pytest.raises(ManifestError, match="not the name of a kind"):
            validate(obj)
    else:
        validate(obj)


def test_labels_of_any_kind_are_a_mapping() -> None:
    """Also for kinds whose fields the lab does not know (the cluster backend passes them on)."""
    with pytest.raises(ManifestError, match="metadata.labels must be a mapping"):
        validate({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "labels": ["a"]}})
