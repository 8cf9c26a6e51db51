"""How a validation case is written and judged: the object, where its fact comes from, and what the
lab must answer. Shared by the Istio, Gateway API and Kubernetes validation cases.

Every case runs through `check_object`, the one check every local path that changes objects calls
(apply, patch, helm, exercise steps: tests/conformance/test_validation_paths.py shows it), and, for
the kinds the cluster backend checks itself, through `validate`, which the cluster backend calls.
"""

from dataclasses import dataclass

import pytest

from lab.backends.local.schema import check_object
from lab.errors import ManifestError
from lab.validate import is_gateway_api, validate

ACCEPTED = "accepted"
REFUSED = "refused"            # by Istio, the API server or a CRD: the message says which
CONVENTION = "the lab's convention"
CLUSTER_ONLY = "cluster only"  # real, accepted by a cluster, not run by the local lab: the field is named
# What a refusal must say of who refuses it.
WHO_REFUSES = ("Istio refuses it", "Kubernetes refuses it", "a cluster refuses it too",
               "a cluster's API server refuses it too", "(the CRD's rule)", "the API server refuses")


@dataclass(frozen=True)
class Case:
    source: str        # the upstream test (or function) the fact comes from
    name: str
    obj: dict
    expect: str
    says: str = ""     # a phrase the message must hold (the field, for CLUSTER_ONLY)

    @property
    def id(self) -> str:
        return f"{self.source.rpartition(' ')[2]}: {self.name}"


def judge(case: Case) -> None:
    """Assert the lab answers `case` as its source says a cluster does."""
    if case.expect == ACCEPTED:
        check_object(case.obj)
        validate(case.obj)   # the cluster backend's check takes it too
        return
    with pytest.raises(ManifestError) as refused:
        check_object(case.obj)
    message = refused.value.message
    assert case.says in message, message
    if case.expect == REFUSED:
        assert any(who in message for who in WHO_REFUSES), message
        assert "would accept" not in message, message   # never says a cluster takes what it refuses
        if not is_gateway_api(case.obj):   # (a cluster's API server checks the Gateway API CRDs itself)
            with pytest.raises(ManifestError):
                validate(case.obj)   # refused on a cluster backend too
    elif case.expect == CONVENTION:
        assert "this lab asks for" in message or "this lab takes" in message, message
        assert "the lab's convention" in refused.value.fix, refused.value.fix
    elif case.expect == CLUSTER_ONLY:
        assert "not supported by the local lab" in message or "does not support" in message, message
        assert "k3d or minikube" in refused.value.fix, refused.value.fix
        validate(case.obj)   # a cluster backend sends it on: Istio takes it
    else:
        raise AssertionError(f"unknown expectation {case.expect}")
