"""Shared test helpers: YAML snippets and a lab root of the test's own."""

import os
import textwrap

import pytest

from lab.manifests import Ref, parse_manifests, ref_of
from tests import helm_setup
from tests.fake_tools import FakeTools
from tests.lab_process import cleanup_all

# The suite plays dozens of statistical checks each run (every exercise's solutions and
# unsolved steps, the routing tests). At the learner's α = β = 1% some run would fail by
# chance: a right split called wrong, or an unsolved step that sits right at the tolerance
# (rollback's 10% to v3) called right. Here α = 1e-4 and β = 1e-3, which costs about 1.5×
# the requests. Lab processes the tests start inherit them; tests/test_verdict.py measures
# the defaults themselves.
os.environ["CANARY_LAB_ALPHA"] = "0.0001"
os.environ["CANARY_LAB_BETA"] = "0.001"


def pytest_sessionstart(session):
    helm_setup.provide_helm()   # before collection: test_manifests_valid renders charts to collect


def pytest_report_header(config):
    return helm_setup.header()


@pytest.fixture
def helm():
    """helm's path, or the test skips saying why there is none."""
    if helm_setup.found is None:
        pytest.skip(helm_setup.missing)
    return helm_setup.found


def objects(text: str) -> list[dict]:
    return parse_manifests(textwrap.dedent(text), "test.yaml")


def by_ref(text: str) -> dict[Ref, dict]:
    """The objects of a YAML snippet keyed by Ref, as a backend stores them."""
    return {ref_of(o): o for o in objects(text)}


@pytest.fixture
def lab_root(tmp_path, monkeypatch):
    """A lab root of the test's own: state, runtime files and work copies go here."""
    monkeypatch.setenv("CANARY_LAB_ROOT", str(tmp_path))
    return tmp_path


@pytest.fixture
def tools(cluster):
    """Fake k3d/minikube/istioctl/helm/kubectl, playing their side effects into the test module's
    `cluster` (a Kubernetes API emulator)."""
    fake = FakeTools(cluster.kube)
    yield fake
    fake.stop()


@pytest.fixture(scope="session", autouse=True)
def no_lab_outlives_the_session():
    """A fixture that failed half-way (after `up`, before its own cleanup) still has its lab taken down."""
    yield
    cleanup_all()
