"""Shared test helpers: YAML snippets and a lab root of the test's own."""

import os
import textwrap

import pytest

from lab.manifests import parse_manifests

# The suite plays dozens of right answers through statistical checks each run (every
# exercise's solutions, the routing tests). At the learner's α = 1% some run would fail
# by chance; at 1e-4 a right split is called wrong about once in 10,000 checks. Lab
# processes the tests start inherit it. tests/test_verdict.py measures the default α itself.
TEST_ALPHA = 1e-4
os.environ["CANARY_LAB_ALPHA"] = str(TEST_ALPHA)


def objects(text: str) -> list[dict]:
    return parse_manifests(textwrap.dedent(text), "test.yaml")


@pytest.fixture
def lab_root(tmp_path, monkeypatch):
    """A lab root of the test's own: state, runtime files and work copies go here."""
    monkeypatch.setenv("CANARY_LAB_ROOT", str(tmp_path))
    return tmp_path
