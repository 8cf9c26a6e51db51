"""`invoke logs` on the local lab: the supervisor writes each process's output to a file in the
run folder; these read it like `kubectl logs [--tail N] [-f]`."""

import difflib
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path

from lab.errors import LabError

FOLLOW_INTERVAL = 0.2   # seconds between looks at a followed file


def matching_processes(name: str, processes: list[str], default_namespace: str = "canary-lab") -> list[str]:
    """The processes NAME means: "gateway", a pod, or every pod of a Deployment (`httpbin` →
    canary-lab/httpbin-1a2b3c4d-0, -1, …), in one namespace: NAMESPACE/NAME's, else the only one
    that has NAME, else `default_namespace` (where `invoke get` looks too). Pods of two namespaces
    are never mixed: kubectl's logs read one namespace."""
    if name in processes and "/" not in name:   # the gateway
        return [name]
    namespace, _, short = name.rpartition("/")
    pods = [p for p in processes if "/" in p and (not namespace or p.startswith(namespace + "/"))]
    chosen = [p for p in pods if p.split("/", 1)[1] == short] or [p for p in pods if _deployment_of(p) == short]
    namespaces = sorted({p.split("/", 1)[0] for p in chosen})
    if len(namespaces) > 1:
        if default_namespace not in namespaces:
            raise LabError(f"{short} runs in namespaces {' and '.join(namespaces)}",
                           f"say which: `invoke logs {short} -n {namespaces[0]}`")
        chosen = [p for p in chosen if p.startswith(default_namespace + "/")]
    if chosen:
        return chosen
    names = sorted({*(p for p in processes if "/" not in p), *(_deployment_of(p) for p in pods)})
    close = difflib.get_close_matches(short, names, n=1, cutoff=0.5)
    where = f" in namespace {namespace}" if namespace else ""
    raise LabError(f"no pod or Deployment named {short!r} runs in the lab{where}",
                   (f"did you mean {close[0]}? " if close else "") + f"try one of: {', '.join(names)}")


def _deployment_of(process: str) -> str:
    """canary-lab/httpbin-1a2b3c4d-0 → httpbin (a pod's name is DEPLOYMENT-HASH-INDEX)."""
    return process.split("/", 1)[-1].rsplit("-", 2)[0]


def read_lines(files: dict[str, Path], tail: int = 0, follow: bool = False) -> Iterator[str]:
    """Each file's lines (its last `tail` when tail > 0), prefixed with its name when there are
    several; with follow, then each new line as it is written, until the caller stops."""
    prefix = len(files) > 1
    offsets = {}
    for name, path in files.items():
        text, offsets[name] = _read_from(path, 0)
        lines = text.splitlines()
        for line in (deque(lines, maxlen=tail) if tail > 0 else lines):
            yield f"[{name}] {line}" if prefix else line
    pending = {name: "" for name in files}
    while follow:
        time.sleep(FOLLOW_INTERVAL)
        for name, path in files.items():
            text, offsets[name] = _read_from(path, offsets[name])
            *complete, pending[name] = (pending[name] + text).split("\n")
            for line in complete:
                yield f"[{name}] {line}" if prefix else line


def _read_from(path: Path, offset: int) -> tuple[str, int]:
    try:
        with open(path, "rb") as log:
            log.seek(offset)
            data = log.read()
    except FileNotFoundError:
        return "", offset
    return data.decode(errors="replace"), offset + len(data)
