"""Shared test helpers: YAML snippets and a lab root of the test's own."""

import textwrap

import pytest

from lab.manifests import parse_manifests


def objects(text: str) -> list[dict]:
    return parse_manifests(textwrap.dedent(text), "test.yaml")


@pytest.fixture
def lab_root(tmp_path, monkeypatch):
    """A lab root of the test's own: state, runtime files and work copies go here."""
    monkeypatch.setenv("CANARY_LAB_ROOT", str(tmp_path))
    return tmp_path
