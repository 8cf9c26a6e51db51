"""JSON patches (RFC 6902), written as YAML or JSON, like `kubectl patch --type json`.

A patch is read with the same YAML loader and limits as a manifest, and applied one operation at
a time within the same limits: `copy` doubles what it copies, so forty of them in a 2 KB patch
would otherwise make an object of a trillion values before anything could measure it.
"""

import copy
from pathlib import Path

import jsonpatch

from lab.errors import ManifestError
from lab.manifests import Measure, check_limits, decode_text, load_documents, measure, read_bounded

OPS = ("add", "remove", "replace", "move", "copy", "test")
# What each operation needs besides op and path (RFC 6902 section 4).
NEEDS = {"add": ("value",), "replace": ("value",), "test": ("value",), "move": ("from",), "copy": ("from",),
         "remove": ()}
EXAMPLE = "e.g. - {op: replace, path: /spec/http/0/route/0/weight, value: 50}"


def parse_patch(text: str, source: str) -> list[dict]:
    docs = [doc for doc in load_documents(text, source) if doc is not None]
    if len(docs) != 1 or not isinstance(docs[0], list) or not docs[0]:
        raise ManifestError(f"{source}: a JSON patch is a non-empty list of operations", EXAMPLE)
    operations: list[dict] = docs[0]
    for index, operation in enumerate(operations):
        where = f"{source}: operation {index + 1}"
        if not isinstance(operation, dict) or operation.get("op") not in OPS:
            raise ManifestError(f"{where} needs op ({', '.join(OPS)})", f"fix that entry; {EXAMPLE}")
        for pointer in ("path", *(["from"] if "from" in NEEDS[operation["op"]] else [])):
            value = operation.get(pointer)
            # RFC 6901: a pointer is "" (the whole document) or starts with "/".
            if not isinstance(value, str) or not value.startswith("/"):
                raise ManifestError(f"{where} ({operation['op']}): {pointer} {value!r} is not a JSON pointer "
                                    "starting with /", f"fix that entry; {EXAMPLE}")
        missing = [field for field in NEEDS[operation["op"]] if field not in operation]
        if missing:
            raise ManifestError(f"{where} ({operation['op']}) has no {', '.join(missing)}",
                                f"fix that entry; {EXAMPLE}")
    return operations


def load_patch(path: str | Path) -> list[dict]:
    path = Path(path)
    data = read_bounded(path, "give the patch file itself")
    return parse_patch(decode_text(data, str(path)), str(path))


def apply_patch(obj: dict, operations: list[dict], target: str) -> dict:
    """`obj` with the patch applied, one operation at a time, within the lab's limits all along.
    An upper bound of the size grows with what each operation adds; only when it passes a limit is
    the object measured again, so a long patch stays fast and a doubling one stops at the limit."""
    result: object = copy.deepcopy(obj)
    bound = measure([obj])
    for index, operation in enumerate(operations):
        operation = copy.deepcopy(operation)   # YAML aliases may share one value between operations
        grows = _growth(result, operation)
        try:
            result = jsonpatch.JsonPatch([operation]).apply(result, in_place=True)
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException, TypeError, KeyError,
                IndexError, ValueError) as e:
            raise ManifestError(f"the patch does not apply to {target}: operation {index + 1} "
                                f"({operation['op']} {operation['path']}): {e}",
                                "check each operation's path against the object (`invoke get`)") from None
        if grows is not None:
            bound.values += grows.values
            bound.chars += grows.chars
            bound.depth = max(bound.depth, grows.depth)
            if not bound.within_limits():
                check_limits([result], f"{target} after operation {index + 1} of the patch")
                bound = measure([result])
    if not isinstance(result, dict):
        raise ManifestError(f"the patch replaces the whole of {target} with {type(result).__name__}",
                            "patch its fields (paths like /spec/...), not the object itself")
    return result


def _growth(document: object, operation: dict) -> Measure | None:
    """How much an operation can add (values, characters, the depth it reaches), or None if nothing."""
    op = operation["op"]
    if op in ("add", "replace"):
        added = measure([operation["value"]])
    elif op in ("copy", "move"):
        try:
            added = measure([jsonpatch.JsonPointer(operation["from"]).resolve(document)])
        except (jsonpatch.JsonPointerException, TypeError, KeyError, IndexError):
            return None   # the operation fails when applied, and says why
        if op == "move":
            added = Measure(0, added.depth, 0)   # moves what is there: only deeper
    else:
        return None
    levels = operation["path"].count("/")
    return Measure(added.values, levels + added.depth, added.chars)
