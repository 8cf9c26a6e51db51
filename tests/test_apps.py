"""The sample apps, run for real from their local.yaml, as the local lab runs them."""

import os
import signal
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from lab.backends.local.runners import PLACEHOLDERS, load_runners, runner_for
from lab.ports import free_port
from lab.traffic.classify import page_title
from lab.traffic.websocket import echo_check


@pytest.fixture
def run_app():
    started = []

    def start(image: str, **env):
        runner = runner_for(image, load_runners())
        port = free_port()
        process = subprocess.Popen(runner.argv(port), cwd=runner.app_dir, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL, env={**os.environ, "POD_NAME": "pod-0", **env})
        started.append(process)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise AssertionError(f"{image} exited with {process.returncode}")
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}{runner.ready_path}", timeout=1)
                return process, f"http://127.0.0.1:{port}"
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"{image} did not start")

    yield start
    for process in started:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def get(url: str, headers: dict | None = None):
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=5) as response:
            return response.status, response.headers, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


def test_every_local_yaml_names_images_and_uses_known_placeholders():
    runners = load_runners()
    assert {r.app for r in runners} == {"httpbin", "tornado", "version"}
    for runner in runners:
        assert runner.images and runner.command and runner.ready_path.startswith("/")
        for part in runner.command:
            for placeholder in part.split("{")[1:]:
                assert "{" + placeholder.split("}")[0] + "}" in PLACEHOLDERS, part


def test_httpbin_has_its_title_and_echoes_headers(run_app):
    _, url = run_app("docker.io/kennethreitz/httpbin:latest")
    assert page_title(get(url + "/")[2]) == "httpbin.org"
    assert "canary" in get(url + "/headers", {"X-Track": "canary"})[2]


def test_tornado_page_instance_header_and_websocket_echo(run_app):
    process, url = run_app("canary-lab.invalid/tornado-websocket:1.0")
    status, headers, body = get(url + "/")
    assert page_title(body) == "tornado WebSocket example" and headers["x-instance"] == "pod-0"
    result = echo_check(url, "localhost", "/websocket", connections=3, messages=4)
    assert result.passed and result.instances == {"pod-0": 3}
    process.send_signal(signal.SIGTERM)
    assert process.wait(5) == 0


def test_version_app_says_its_version(run_app):
    _, url = run_app("canary-lab.invalid/version-app:1.0", VERSION="v2")
    status, headers, body = get(url + "/anything")
    assert (status, headers["x-version"], headers["x-instance"]) == (200, "v2", "pod-0")
    assert body == "version v2 from pod-0\n"


def test_version_app_error_rate(run_app):
    _, always = run_app("canary-lab.invalid/version-app:1.0", VERSION="v3", ERROR_RATE="1")
    assert get(always + "/")[0] == 500 and get(always + "/healthz")[0] == 200
    _, some = run_app("canary-lab.invalid/version-app:1.0", VERSION="v3", ERROR_RATE="0.3")
    failures = sum(get(some + "/")[0] == 500 for _ in range(400))
    # Binomial(400, 0.3): mean 120, sd 9.2; 120 ± 40 (4.3 sd) fails by chance < 1 in 50,000.
    assert 80 <= failures <= 160


def test_version_app_latency_on_every_answer_or_on_a_share(run_app):
    def took(url: str) -> float:
        started = time.monotonic()
        assert get(url + "/")[0] == 200
        return time.monotonic() - started

    _, every = run_app("canary-lab.invalid/version-app:1.0", VERSION="v2", LATENCY_MS="200")
    assert all(took(every) >= 0.2 for _ in range(3))
    _, some = run_app("canary-lab.invalid/version-app:1.0", VERSION="v2", LATENCY_MS="200", LATENCY_SHARE="0.5")
    slow = sum(took(some) >= 0.2 for _ in range(40))
    # Binomial(40, 0.5): mean 20, sd 3.2; 20 ± 13 (4.1 sd) fails by chance < 1 in 20,000.
    assert 7 <= slow <= 33
