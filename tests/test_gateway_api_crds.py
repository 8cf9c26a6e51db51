"""The vendored Gateway API CRDs catch what an API server would refuse, and the lab's own
admission (CRD defaults) produces objects those schemas accept."""

import jsonschema
import pytest

from lab.backends.cluster.versions import GATEWAY_API
from lab.backends.local.gateway_api import admit
from lab.backends.local.schema import check_supported
from lab.config import PROJECT_DIR
from lab.errors import ManifestError
from lab.manifests import load_manifest_file
from tests.gateway_api_crds import CRD_DIR, GROUP, validate
from tests.test_manifests_valid import SHIPPED

ROUTE = PROJECT_DIR / "exercises" / "canary-gateway-api" / "solutions" / "httproute-80-20.yaml"


def test_the_vendored_crds_are_the_pinned_standard_channel():
    for path in CRD_DIR.glob("*.yaml"):
        [crd] = load_manifest_file(path)
        # what the cluster installs
        assert crd["metadata"]["annotations"]["gateway.networking.k8s.io/bundle-version"] == GATEWAY_API
        assert crd["metadata"]["annotations"]["gateway.networking.k8s.io/channel"] == "standard"


def test_a_misspelt_field_is_refused():
    [route] = load_manifest_file(ROUTE)
    route["spec"]["rules"][1]["backendRef"] = route["spec"]["rules"][1].pop("backendRefs")
    with pytest.raises(jsonschema.ValidationError, match="backendRef"):
        validate(route)


@pytest.mark.parametrize("change, problem", [
    (lambda r: r["spec"]["rules"][0]["matches"][0]["path"].update(type="Prefix"), "Prefix"),
    (lambda r: r["spec"]["rules"][1]["backendRefs"][0].update(weight=-1), "-1"),
    (lambda r: r["spec"].update(hostnames=["Not A Host"]), "Not A Host"),
])
def test_a_bad_value_is_refused(change, problem):
    [route] = load_manifest_file(ROUTE)
    change(route)
    with pytest.raises(jsonschema.ValidationError, match=problem):
        validate(route)


def test_what_the_local_lab_stores_is_valid_for_the_crds():
    shipped = [obj for path in SHIPPED for obj in load_manifest_file(path) if obj["apiVersion"].startswith(GROUP + "/")]
    assert {obj["kind"] for obj in shipped} >= {"Gateway", "HTTPRoute"}
    for obj in shipped:
        validate(admit(obj, None))


@pytest.mark.parametrize("hostname", ["shop.lab.local", "*.lab.local", "Shop.lab.local", "shop.lab.local:80",
                                      "*.*.lab.local", "shop_1.lab", "a-b.c", "-a.lab"])
def test_the_local_lab_refuses_a_hostname_exactly_when_the_crd_does(hostname):
    [route] = load_manifest_file(ROUTE)
    route["spec"]["hostnames"] = [hostname]
    assert accepted_by_lab(route) == accepted_by_crd(route)



# The HTTPRoute CRD's CEL rules on Exact and PathPrefix values (validate() does not run CEL).
PATHS_THE_CRD_TAKES = ["/", "/app", "/app/", "/a%20b", "/~user;v=1"]
PATHS_THE_CRD_REFUSES = ["app", "/a//b", "/a/./b", "/a/../b", "/a%2fb", "/a#b", "/a/..", "/a/.", "/a b"]


@pytest.mark.parametrize("path", PATHS_THE_CRD_TAKES + PATHS_THE_CRD_REFUSES)
def test_the_local_lab_refuses_a_path_exactly_when_the_crd_does(path):
    [route] = load_manifest_file(ROUTE)
    route["spec"]["rules"][0]["matches"][0]["path"]["value"] = path
    if path in PATHS_THE_CRD_TAKES:
        check_supported(route)
    else:
        with pytest.raises(ManifestError, match=r"spec.rules\[0\].matches\[0\].path.value"):
            check_supported(route)


@pytest.mark.parametrize("name", ["x-track", "X_Track", "x:track", "x track"])
def test_the_local_lab_refuses_a_header_name_exactly_when_the_crd_does(name):
    [route] = load_manifest_file(ROUTE)
    route["spec"]["rules"][0]["matches"][0]["headers"] = [{"name": name, "value": "v"}]
    assert accepted_by_lab(route) == accepted_by_crd(route)


def accepted_by_crd(obj: dict) -> bool:
    try:
        validate(obj)
    except jsonschema.ValidationError:
        return False
    return True


def accepted_by_lab(obj: dict) -> bool:
    try:
        check_supported(obj)
    except ManifestError:
        return False
    return True
