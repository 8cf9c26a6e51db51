"""Small, safe file helpers: atomic writes and JSON that fails with a clear line."""

import errno
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from lab.errors import LabError


def write_atomic(path: Path, text: str) -> None:
    """Replace `path` in one step, so a reader (or Envoy) never sees half a file.

    Envoy's file-based xDS only notices a change made by rename, so this is
    also how the gateway's config is swapped in. The file is 0600 from its
    first byte (mkstemp's mode): state, config and keys are the learner's alone.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    except OSError as e:
        raise _write_error(path, e) from None
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise _write_error(path, e) from None
        raise


def _write_error(path: Path, e: OSError) -> LabError:
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        return LabError(f"no space left on the disk to write {path.name} (the old file is kept)",
                        "free some disk space, then run the command again")
    return LabError(f"cannot write {path}: {e.strerror or e}", "check the folder's permissions and free space")


def write_json(path: Path, data: Any) -> None:
    write_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def read_json(path: Path, default: Any = None) -> Any:
    """Read a JSON file the lab wrote; a damaged one is a LabError, never overwritten."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return default
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise LabError(
            f"{path} is damaged (line {e.lineno}: {e.msg})",
            "repair or delete that file; the lab will not overwrite it",
        ) from None


def open_private_log(path: Path):
    """A log opened for appending, readable by its owner only (it may hold paths, env and config)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab")
