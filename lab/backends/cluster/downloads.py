"""Files the cluster lab downloads once into .lab/downloads/ and uses only if their sha256 is the one
pinned or published for them (Argo Rollouts' install.yaml, Istio's addon manifests)."""

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from lab.errors import LabError


def get(url: str, what: str, fix: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.read()
    except urllib.error.HTTPError as e:
        raise LabError(f"cannot download {what}: HTTP {e.code} from {url}", fix) from None
    except (urllib.error.URLError, OSError) as e:
        raise LabError(f"cannot download {what}: {getattr(e, 'reason', e)} (offline?)",
                       "connect to the internet once; the lab keeps the file afterwards") from None


def keep_verified(data: bytes, sha256: str, target: Path, what: str) -> Path:
    """Written (atomically) only when its sha256 is the expected one; else nothing is kept."""
    if hashlib.sha256(data).hexdigest() != sha256:
        raise LabError(f"{what}: the download's sha256 is not the pinned one; nothing was installed",
                       "try again later (a broken download); if it persists, the pin needs a look")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.replace(tmp, target)
    return target


def verified(target: Path, sha256: str) -> bool:
    """A file kept before, still what was pinned (a cache edited by hand is fetched again)."""
    return target.is_file() and hashlib.sha256(target.read_bytes()).hexdigest() == sha256
