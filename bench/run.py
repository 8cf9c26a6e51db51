"""Benchmarks of the local lab (not tests): whole-process timings and ratios.

Prints, on a lab of its own (own root, free port), then removed:
  1. cold `invoke up` until the gateway routes (whole process),
  2. apply → new weights serving (the `invoke apply` process, and the time until the live
     route shows the new weights),
  3. requests/second through the gateway: the lab's sampler vs a curl loop (what the
     tutorials do) vs `hey` (if installed: apt-get install hey),
  4. requests and seconds the sequential verdict needs for a true 80/20 split.

Run: python bench/run.py [--rounds N]
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lab.config import PROJECT_DIR, Paths
from lab.envoy_admin import EnvoyAdmin
from lab.ports import free_port
from lab.state import load_state

HOST = "canary.lab.local"
EXERCISE = PROJECT_DIR / "exercises" / "canary"


def invoke(env: dict, *args: str, stdin: str | None = None) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "invoke", *args], cwd=PROJECT_DIR, env=env, input=stdin,
                   text=True, check=True, capture_output=True)
    return time.perf_counter() - started


def split_vs(httpbin: int, tornado: int) -> str:
    return f"""apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: canary, namespace: canary-lab}}
spec:
  hosts: [{HOST}]
  gateways: [canary-gateway]
  http:
    - name: main
      route:
        - {{destination: {{host: httpbin, port: {{number: 8000}}}}, weight: {httpbin}}}
        - {{destination: {{host: tornado, port: {{number: 8888}}}}, weight: {tornado}}}
"""


def weights_live(admin: EnvoyAdmin, httpbin: int) -> bool:
    for route in admin.live_routes():
        if route.host == HOST:
            return any(d.service.startswith("httpbin") and d.weight == httpbin for d in route.destinations)
    return False


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="canary-lab-bench-"))
    port = free_port()
    env = {**os.environ, "CANARY_LAB_ROOT": str(root), "CANARY_LAB_PORT": str(port)}
    url = f"http://127.0.0.1:{port}"
    try:
        ups = []
        for _ in range(args.rounds):
            ups.append(invoke(env, "up"))
            invoke(env, "down")
        print(f"cold `invoke up` (gateway + httpbin + tornado ready): median {statistics.median(ups):.2f} s "
              f"over {len(ups)} runs (target ≤ 5 s)")

        invoke(env, "up")
        invoke(env, "apply", str(EXERCISE / "manifests" / "gateway.yaml"))
        invoke(env, "apply", "-", stdin=split_vs(100, 0))
        admin = EnvoyAdmin(f"http://127.0.0.1:{load_state(Paths(root)).settings['admin_port']}")
        process_times, effect_times = [], []
        for i in range(args.rounds * 2):
            weight = 80 if i % 2 == 0 else 100
            started = time.perf_counter()
            process_times.append(invoke(env, "apply", "-", stdin=split_vs(weight, 100 - weight)))
            while not weights_live(admin, weight):
                time.sleep(0.001)
            effect_times.append(time.perf_counter() - started)
        print(f"apply → new weights serving: median {statistics.median(effect_times):.3f} s for the whole "
              f"`invoke apply` process (Python start included); target ≤ 0.3 s")
        print(f"  in-process apply → effect: median {apply_in_process(root, port, args.rounds * 2):.3f} s")

        throughput(url)
        invoke(env, "apply", "-", stdin=split_vs(80, 20))
        verdict_cost(url, args.rounds)
    finally:
        subprocess.run([sys.executable, "-m", "invoke", "down"], cwd=PROJECT_DIR, env=env, capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def apply_in_process(root: Path, port: int, rounds: int) -> float:
    from lab.backends.local.backend import LocalBackend
    from lab.manifests import parse_manifests

    backend = LocalBackend(Paths(root), port)
    admin = EnvoyAdmin(f"http://127.0.0.1:{load_state(Paths(root)).settings['admin_port']}")
    times = []
    for i in range(rounds):
        weight = 50 if i % 2 == 0 else 100
        objects = parse_manifests(split_vs(weight, 100 - weight))
        started = time.perf_counter()
        backend.apply(objects)
        while not weights_live(admin, weight):
            time.sleep(0.001)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def throughput(url: str) -> None:
    from lab.commands import KNOWN_APPS
    from lab.traffic.classify import Classifier
    from lab.traffic.sampler import RequestSpec, count

    spec = RequestSpec(host=HOST)
    n = 2000
    started = time.perf_counter()
    count(url, spec, Classifier.from_spec(KNOWN_APPS), n)
    sampler_rps = n / (time.perf_counter() - started)

    curl_n = 100
    started = time.perf_counter()
    for _ in range(curl_n):
        subprocess.run(["curl", "-s", "-o", "/dev/null", "-H", f"Host: {HOST}", url + "/"], check=True)
    curl_rps = curl_n / (time.perf_counter() - started)
    print(f"throughput through the gateway: sampler {sampler_rps:.0f} req/s, curl loop {curl_rps:.0f} req/s "
          f"→ {sampler_rps / curl_rps:.1f}× (target ≥ 10×)")
    if shutil.which("hey"):
        out = subprocess.run(["hey", "-n", str(n), "-c", "8", "-host", HOST, url + "/"],
                             capture_output=True, text=True, check=True).stdout
        hey_rps = float(next(line for line in out.splitlines() if "Requests/sec" in line).split()[-1])
        print(f"  hey -c 8: {hey_rps:.0f} req/s → sampler/hey {sampler_rps / hey_rps:.2f}")
    else:
        print("  hey: not installed (apt-get install hey) — skipped")


def verdict_cost(url: str, rounds: int) -> None:
    from lab.traffic.classify import Classifier
    from lab.traffic.sampler import RequestSpec, run_verdict
    from lab.traffic.verdict import Expectation

    classifier = Classifier.from_spec({"httpbin": {"title": "httpbin.org"},
                                       "tornado": {"title": "tornado WebSocket example"}})
    expectation = Expectation(shares={"httpbin": 80, "tornado": 20})
    requests, seconds, decisions = [], [], []
    for _ in range(rounds * 4):
        started = time.perf_counter()
        verdict, _ = run_verdict(url, RequestSpec(host=HOST), classifier, expectation)
        seconds.append(time.perf_counter() - started)
        requests.append(verdict.requests)
        decisions.append(verdict.decision)
    print(f"verdict for a true 80/20 checked as 80/20: median {statistics.median(requests):.0f} requests, "
          f"{statistics.median(seconds):.2f} s (target ≤ 1 s); decisions: "
          + ", ".join(f"{d} ×{decisions.count(d)}" for d in sorted(set(decisions), key=str)))


if __name__ == "__main__":
    main()
