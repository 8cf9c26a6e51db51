"""Small, safe file helpers: atomic writes, and the one typed loader of the lab's state files.

Every file the lab keeps between commands (state.json, progress.json, the local lab's objects,
what its supervisor runs, release records) is read by `read_model` against a pydantic model of
its shape: a damaged file (not JSON, not UTF-8, another shape) is one line naming the file and how
to recover, never a crash, and it is never written over (`DamagedFile`).
"""

import errno
import json
import os
import tempfile
from pathlib import Path
from typing import IO, Any, TypeVar

from pydantic import TypeAdapter, ValidationError

from lab.errors import LabError

T = TypeVar("T")
KEEP = "the lab will not overwrite it"


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


class DamagedFile(LabError):
    """A file the lab keeps is not in the shape the lab wrote: refused, kept, and named."""


def read_model(path: Path, shape: type[T] | Any, fix: str) -> T | None:
    """The file as `shape` (a pydantic model, or a type pydantic validates), None when it does not
    exist; a damaged one raises DamagedFile with `fix` (how to recover), and is left as it is."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as e:
        raise DamagedFile(f"{path} cannot be read ({e.strerror or e})", f"{fix}; {KEEP}") from None
    try:
        return TypeAdapter(shape).validate_json(data)
    except ValidationError as e:
        raise DamagedFile(f"{path} is damaged ({_first_problem(e)})", f"{fix}; {KEEP}") from None


def _first_problem(error: ValidationError) -> str:
    problem = error.errors(include_url=False)[0]
    where = ".".join(str(part) for part in problem["loc"])
    return f"{where}: {problem['msg']}" if where else problem["msg"]


def inside(path: Path, folder: Path) -> Path:
    """`path`, once it is certain to stay inside `folder` (a name that becomes a path may hold
    `..` or start with `/`): the lab writes nothing outside its own folder."""
    resolved, root = path.resolve(), folder.resolve()
    if resolved != root and root not in resolved.parents:
        raise LabError(f"{path} is outside the lab's folder {folder}", "use a plain name (no '/', no '..')")
    return path


def read_json(path: Path, default: Any = None) -> Any:
    """Read a JSON file the lab wrote; a damaged one is a LabError, never overwritten."""
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        return default
    try:
        return json.loads(text)
    except UnicodeDecodeError as e:
        raise DamagedFile(f"{path} is damaged (not UTF-8 text at byte {e.start})",
                          "repair or delete that file; the lab will not overwrite it") from None
    except json.JSONDecodeError as e:
        raise DamagedFile(f"{path} is damaged (line {e.lineno}: {e.msg})",
                          "repair or delete that file; the lab will not overwrite it") from None


def open_private_log(path: Path) -> IO[bytes]:
    """A log opened for appending, readable by its owner only (it may hold paths, env and config)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab")
