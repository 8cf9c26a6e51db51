"""Istio's Kiali and Prometheus addons come from a pinned commit of the release branch, and what
`kubectl apply` gets is only ever a download whose sha256 is the pinned one."""

import hashlib

import pytest

from lab.backends.cluster import addons, versions
from lab.errors import LabError
from tests.loopback_http import QuietHandler, serving

BODY = b"apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: kiali, namespace: istio-system}\n"


def handler(body: bytes):
    class Handler(QuietHandler):
        def do_GET(self):
            self.reply(body, {"Content-Type": "text/plain"})
    return Handler


def test_the_url_names_a_commit_not_a_moving_branch():
    url = addons.addon_url("kiali")
    assert url == f"https://raw.githubusercontent.com/istio/istio/{versions.ISTIO_ADDONS_COMMIT}/samples/addons/kiali.yaml"
    assert len(versions.ISTIO_ADDONS_COMMIT) == 40 and set(versions.ISTIO_ADDONS_SHA256) == set(addons.ADDONS)


@pytest.mark.parametrize("served, kept", [(BODY, True), (BODY + b"# changed upstream\n", False)])
def test_a_download_is_kept_and_applied_only_with_the_pinned_sha256(tmp_path, monkeypatch, served, kept):
    monkeypatch.setitem(versions.ISTIO_ADDONS_SHA256, "kiali", hashlib.sha256(BODY).hexdigest())
    with serving(handler(served)) as url:
        monkeypatch.setattr(addons, "addon_url", lambda name: f"{url}/{name}.yaml")
        if kept:
            assert addons.fetch_addon(tmp_path, "kiali").read_bytes() == BODY
        else:
            with pytest.raises(LabError, match="sha256 is not the pinned one; nothing was installed"):
                addons.fetch_addon(tmp_path, "kiali")
            assert not addons.addon_path(tmp_path, "kiali").exists()


def test_a_kept_file_edited_since_is_fetched_again(tmp_path, monkeypatch):
    monkeypatch.setitem(versions.ISTIO_ADDONS_SHA256, "kiali", hashlib.sha256(BODY).hexdigest())
    path = addons.addon_path(tmp_path, "kiali")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"kind: ClusterRoleBinding  # not what was pinned\n")
    with serving(handler(BODY)) as url:
        monkeypatch.setattr(addons, "addon_url", lambda name: f"{url}/{name}.yaml")
        assert addons.fetch_addon(tmp_path, "kiali").read_bytes() == BODY


def test_offline_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(addons, "addon_url", lambda name: "http://127.0.0.1:9/kiali.yaml")
    with pytest.raises(LabError, match="cannot download Istio's kiali addon: .*offline"):
        addons.fetch_addon(tmp_path, "kiali")
