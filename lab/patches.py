"""JSON patches (RFC 6902), written as YAML or JSON, like `kubectl patch --type json`."""

from pathlib import Path

import yaml

from lab.errors import ManifestError
from lab.manifests import MAX_APPLY_BYTES, decode_text

OPS = {"add", "remove", "replace", "move", "copy", "test"}


def parse_patch(text: str, source: str) -> list[dict]:
    try:
        operations = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ManifestError(f"{source}: malformed patch ({str(e).splitlines()[0]})",
                            "a JSON patch is a list of {op, path, value} entries") from None
    if not isinstance(operations, list) or not operations:
        raise ManifestError(f"{source}: a JSON patch is a non-empty list of operations",
                            "e.g. - {op: replace, path: /spec/http/0/route/0/weight, value: 50}")
    for index, operation in enumerate(operations):
        if not isinstance(operation, dict) or operation.get("op") not in OPS or \
                not str(operation.get("path", "")).startswith("/"):
            raise ManifestError(f"{source}: operation {index + 1} needs op ({', '.join(sorted(OPS))}) "
                                "and a path starting with /", "fix that entry")
    return operations


def load_patch(path: str | Path) -> list[dict]:
    path = Path(path)
    try:
        with path.open("rb") as f:
            text = decode_text(f.read(MAX_APPLY_BYTES + 1), str(path))
    except FileNotFoundError:
        raise ManifestError(f"{path}: no such file", "check the path") from None
    except IsADirectoryError:
        raise ManifestError(f"{path} is a folder, not a patch file", "give the patch file itself") from None
    except OSError as e:
        raise ManifestError(f"{path}: cannot be read ({e.strerror or e})", "check the path") from None
    return parse_patch(text, str(path))
