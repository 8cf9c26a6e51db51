"""Values in traffic policies, as Istio and the Gateway API's CRDs take them: whole numbers in a range,
durations, and Envoy's JSON form of a duration. Each refusal names its field.

Istio's durations are Go durations ("1s", "500ms", "1m30s") of at least 1 ms, in whole milliseconds
(istio release-1.31 pkg/config/validation/agent/validation.go ValidateDuration; the CRDs' rule
`duration(self) >= duration('1ms')`); the Gateway API's are GEP-2257's (its CRD's pattern).
"""

import json
import re

from lab.errors import ManifestError
from lab.manifests import Ref

UINT32_MAX = 2**32 - 1
_GO_DURATION = re.compile(r"^(?:(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h))+$")
_GO_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_NANOS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}
# The Gateway API's Duration (GEP-2257), the CRD's pattern.
_GATEWAY_DURATION = re.compile(r"^([0-9]{1,5}(h|m|s|ms)){1,4}$")


def count(ref: Ref, where: str, value: object, maximum: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= maximum:
        raise ManifestError(f"{ref}: {where} is {value!r}, not a whole number from 0 to {maximum}",
                            f"write a whole number, e.g. {where.rsplit('.', 1)[-1]}: 3")
    return value


def istio_duration(ref: Ref, where: str, value: object, zero: bool = False) -> int:
    """Nanoseconds of an Istio duration: a Go duration of at least 1 ms, in whole milliseconds (`zero`:
    a field without that rule, such as a cookie's ttl, may be any duration, 0s included)."""
    text = str(value).strip()
    if isinstance(value, bool) or not _GO_DURATION.match(text):
        raise ManifestError(f"{ref}: {where} is {json.dumps(value)}, not a duration; a cluster refuses it too",
                            f"give it a unit: {text}s (or ms, m, h)" if text.isdigit() else
                            "write it like 1s, 500ms or 1m30s")
    nanos = round(sum(float(number) * _NANOS[unit] for number, unit in _GO_PART.findall(text)))
    if zero:
        return nanos
    if nanos < 1_000_000 or nanos % 1_000_000:
        raise ManifestError(f"{ref}: {where} is {value!r}: Istio takes durations of at least 1ms, in whole "
                            "milliseconds", "write it like 1s, 500ms or 1m30s")
    return nanos


def gateway_duration(ref: Ref, where: str, value: object) -> int | None:
    """Nanoseconds of a Gateway API duration (GEP-2257: up to four of N h|m|s|ms); None when not given."""
    if value is None:
        return None
    if not isinstance(value, str) or not _GATEWAY_DURATION.match(value):
        raise ManifestError(f"{ref}: {where} is {value!r}, not a Gateway API duration (the CRD's pattern: "
                            "up to four of a number and h, m, s or ms)", "write it like 1s, 500ms or 1m30s")
    return sum(int(number) * _NANOS[unit] for number, unit in _GO_PART.findall(value))


def envoy_duration(nanos: int) -> str:
    """Envoy's JSON Duration: seconds with up to nine decimals ("1.500s")."""
    seconds, rest = divmod(nanos, 10**9)
    return f"{seconds}.{rest:09d}".rstrip("0").rstrip(".") + "s"
