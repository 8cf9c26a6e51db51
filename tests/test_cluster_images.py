"""The images a cluster lab runs: each one built by the lab from apps/ (for the machine's
architecture, on a multi-arch base) or a published multi-arch image; httpbin is the local lab's
own app, with the same page title."""

import json
import subprocess
import sys
import time
import urllib.request

import pytest

from lab.backends.cluster.backend import LAB_IMAGES
from lab.backends.local.runners import image_name, load_runners, runner_for
from lab.config import PROJECT_DIR
from lab.manifests import load_manifest_file
from lab.ports import free_port
from lab.traffic.classify import page_title

# Images the lab pulls, each published for linux/amd64 and linux/arm64 (their registries' tag
# lists): Docker's official python image, and curl's own image.
MULTI_ARCH = {"python", "curlimages/curl"}
SHIPPED = [*PROJECT_DIR.glob("apps/*.yaml"), *PROJECT_DIR.glob("exercises/*/manifests/*.yaml"),
           *PROJECT_DIR.glob("exercises/*/solutions/*.yaml"), PROJECT_DIR / "cluster" / "clients.yaml"]


def shipped_images() -> set[str]:
    images = set()
    for path in SHIPPED:
        if path.name.startswith(("patch-", "values")):
            continue
        for obj in load_manifest_file(path):
            template = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
            images |= {c["image"] for c in template.get("containers", [])}
    return images


def test_every_image_a_cluster_runs_is_built_by_the_lab_or_multi_arch():
    for image in sorted(shipped_images()):
        assert image in LAB_IMAGES or image_name(image) in MULTI_ARCH, \
            f"{image} is neither built by the lab nor a known multi-arch image"
    for context in LAB_IMAGES.values():
        bases = [line.split()[1] for line in (context / "Dockerfile").read_text().splitlines()
                 if line.startswith("FROM ")]
        assert bases and all(image_name(base) in MULTI_ARCH for base in bases), context


def test_the_httpbin_image_runs_the_local_labs_app_and_answers_with_its_title():
    dockerfile = (PROJECT_DIR / "apps" / "httpbin" / "Dockerfile").read_text()
    [cmd] = [json.loads(line[len("CMD "):]) for line in dockerfile.splitlines() if line.startswith("CMD ")]
    assert runner_for("canary-lab.invalid/httpbin:1.0", load_runners()).app == "httpbin"   # the local lab's app too
    port = free_port()
    argv = [sys.executable if part == "python" else part.replace("0.0.0.0:8080", f"127.0.0.1:{port}")
            for part in cmd]
    assert f"127.0.0.1:{port}" in argv
    process = subprocess.Popen(argv, cwd=PROJECT_DIR / "apps" / "httpbin", stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as answer:
                    assert page_title(answer.read().decode()) == "httpbin.org"
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("the httpbin image's command did not serve")
                time.sleep(0.1)
    finally:
        process.terminate()
        process.wait(10)
