"""Requests from inside the cluster: curl in a client pod, run with `kubectl exec`.

The gateway checks see what users see; these see what other services see. The
mesh client has a sidecar (mesh routing, mutual TLS); the outside client has
none (a plaintext caller, which STRICT mTLS refuses). Each request's answer
comes back as one base64 line (status line, headers and the start of the
body), an empty line when there was no answer at all.
"""

import base64
from pathlib import Path

from lab.backends.base import Reply
from lab.backends.cluster.kube import Kube, deployment_rolled_out
from lab.backends.cluster.runner import Runner
from lab.config import CLUSTER_DIR
from lab.manifests import Ref, load_manifest_file, ref_of

CLIENTS_MANIFEST = CLUSTER_DIR / "clients.yaml"
CLIENTS = {"mesh": ("lab-clients", "mesh-client"), "outside": ("lab-outside", "outside-client")}
BODY_BYTES = 4096
# $1 = how many, $2 = the URL, the rest = curl options (-H ...). Passed as arguments, not
# spliced into the script, so no header value needs shell quoting.
CURL_LOOP = ('n=$1; url=$2; shift 2; i=0; while [ "$i" -lt "$n" ]; do '
             f'curl -s -i --max-time 5 "$@" "$url" | head -c {BODY_BYTES} | base64 | tr -d "\\n"; echo; '
             'i=$((i + 1)); done')


def ensure_clients(kube: Kube) -> list[str]:
    """Apply the client pods once and wait until they run (a no-op when they already do); the
    keys of the objects made now."""
    created = []
    for obj in load_manifest_file(CLIENTS_MANIFEST):
        ref = ref_of(obj)
        if kube.get(ref) is None:
            kube.apply(obj)
            created.append(ref.key)
    for namespace, name in CLIENTS.values():
        kube.wait_for(Ref("Deployment", namespace, name), deployment_rolled_out, "rolled out", timeout=180,
                      interval=0.5)
    return created


def exec_argv(client: str, kubeconfig: Path, url: str, headers: dict[str, str], count: int) -> list[str]:
    namespace, deployment = CLIENTS[client]
    options = [part for name, value in headers.items() for part in ("-H", f"{name}: {value}")]
    # https://kubernetes.io/docs/reference/kubectl/generated/kubectl_exec/ (TYPE/NAME picks a pod of
    # the deployment; -c the container; everything after -- is the command)
    return ["kubectl", "exec", f"deployment/{deployment}", "--namespace", namespace, "--container", "client",
            "--kubeconfig", str(kubeconfig), "--", "sh", "-c", CURL_LOOP, "sh", str(count), url, *options]


def send(runner: Runner, client: str, kubeconfig: Path, url: str, headers: dict[str, str],
         count: int) -> list[Reply]:
    result = runner.run(exec_argv(client, kubeconfig, url, headers, count), timeout=30 + 6 * count)
    return [parse_reply(line) for line in result.stdout.splitlines()[:count]]


def parse_reply(line: str) -> Reply:
    """One base64 line of `curl -i` output; an empty or unreadable line is no answer."""
    try:
        raw = base64.b64decode(line.strip(), validate=True).decode(errors="replace")
    except ValueError:
        return Reply(0, {}, "unreadable answer")
    head, _, body = raw.replace("\r\n", "\n").partition("\n\n")
    lines = head.split("\n")
    parts = lines[0].split()
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        return Reply(0, {}, "connection refused or reset" if not raw else f"not HTTP: {raw[:40]!r}")
    headers = {}
    for header in lines[1:]:
        name, sep, value = header.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return Reply(int(parts[1]), headers, body)
