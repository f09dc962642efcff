"""Checks Kubernetes would otherwise make at apply time, done at synth time with one clear message.

Every function takes the value and the field path to blame (the prop's own name, such as
``trainer.gpu_count``) and either returns the normalised value or raises
:class:`PrimeRLConfigError`. The values layer restates these errors in Helm keys, so both the
Python API and the CLI report every rule in the same words.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from ..errors import PrimeRLConfigError, escape

DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
# The rule kube-apiserver applied to env names up to 1.31 (the strictest of the versions we target).
ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
PORT_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
IMAGE_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
IMAGE_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
#: An OpenAI-compatible base URL such as http://vllm:8000/v1 (no spaces or commas: URLs are joined by ",").
HTTP_BASE_URL = re.compile(r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[^\s,]*)?$")
IMAGE_REPOSITORY = re.compile(
    r"^[a-z0-9]+([._-][a-z0-9]+|__[a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+|__[a-z0-9]+)*)*$"
)
#: The largest value of an int32 API field (replicas, uids, ports): kube-apiserver rejects more.
MAX_INT32 = 2**31 - 1
#: The largest uid kube-apiserver accepts in a security context (int32).
MAX_USER_ID = MAX_INT32
_QUANTITY = re.compile(
    r"^\+?(?P<number>[0-9]+(\.[0-9]*)?|\.[0-9]+)(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?$"
)
_BINARY_SUFFIXES = ("Ki", "Mi", "Gi", "Ti", "Pi", "Ei")
_SUFFIX_FACTORS: dict[str, Decimal] = {
    "": Decimal(1),
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
    **{suffix: Decimal(1024) ** power for power, suffix in enumerate(_BINARY_SUFFIXES, 1)},
}

PULL_POLICIES = ("Always", "IfNotPresent", "Never")
SERVICE_TYPES = ("ClusterIP", "NodePort", "LoadBalancer")
ACCESS_MODES = ("ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod")
ANTI_AFFINITY_MODES = ("required", "preferred")
TOLERATION_OPERATORS = ("Exists", "Equal")
TOLERATION_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
TOLERATION_KEYS = ("key", "operator", "value", "effect", "tolerationSeconds")
MAX_NAME_LENGTH = 63
MAX_STATEFULSET_NAME_LENGTH = 52


def is_dns1123_subdomain(text: str) -> bool:
    """Dot-separated DNS-1123 labels, at most 253 characters (Secret, claim, class names)."""
    return 0 < len(text) <= 253 and all(DNS1123_LABEL.match(part) for part in text.split("."))


def is_label_key(text: str) -> bool:
    """A qualified name: an optional DNS-1123 subdomain prefix and '/', then a name of at most 63."""
    prefix, _, name = text.rpartition("/")
    if prefix and not is_dns1123_subdomain(prefix):
        return False
    return len(name) <= MAX_NAME_LENGTH and LABEL_NAME.match(name) is not None


def fail(field: str, value: Any, allowed: str) -> PrimeRLConfigError:
    """Build the one-line error every check raises: field, value received, what is allowed."""
    return PrimeRLConfigError("{0} must be " + escape(f"{allowed}, got {shown(value)}"), field)


def shown(value: Any) -> str:
    """``repr`` of a received value, cut short so a huge input never makes a huge message."""
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def config_error(template: str, *fields: str) -> PrimeRLConfigError:
    """An error whose text names several fields: ``{0}``, ``{1}`` in ``template`` stand for them."""
    return PrimeRLConfigError(template, *fields)


def require_str(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise fail(field, value, "a string")
    return value


def require_text(value: Any, field: str, valid: Callable[[str], bool], allowed: str) -> str:
    """A string that `valid` accepts; anything else, a non-string included, fails with `allowed`."""
    if not isinstance(value, str) or not valid(value):
        raise fail(field, value, allowed)
    return value


def _is_label_value(text: str) -> bool:
    return len(text) <= MAX_NAME_LENGTH and LABEL_VALUE.match(text) is not None


def require_bool(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise fail(field, value, "true or false")
    return value


def require_int(value: Any, field: str, *, minimum: int = 0, maximum: int = MAX_INT32) -> int:
    """An integer from `minimum` to `maximum` (int32 by default, as the API fields are).

    Bools and floats (even 2.0) are rejected as YAML typos.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        bounds = f"of at least {minimum}" if maximum == MAX_INT32 else f"from {minimum} to {maximum}"
        raise fail(field, value, f"an integer {bounds}")
    if value < minimum:
        raise fail(field, value, f"at least {minimum}")
    if value > maximum:
        raise fail(field, value, f"at most {maximum}")
    return value


def require_user_id(value: Any, field: str) -> int:
    """A uid the API server accepts for ``runAsUser`` (0 is root; the API caps it at 2^31 - 1)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_USER_ID:
        raise fail(field, value, f"an integer user id from 0 to {MAX_USER_ID}, or None for the image's user")
    return value


def require_port(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise fail(field, value, "an integer port between 1 and 65535")
    return value


def require_one_of(value: Any, field: str, allowed: Iterable[str]) -> str:
    options = tuple(allowed)
    if value not in options:
        raise fail(field, value, "one of " + ", ".join(options))
    return value


def require_dns1035_label(value: Any, field: str) -> str:
    """Service and StatefulSet names: lowercase letters, digits and '-', starting with a letter."""
    return require_text(
        value,
        field,
        lambda text: len(text) <= MAX_NAME_LENGTH and DNS1035_LABEL.match(text) is not None,
        "a DNS-1035 label (at most 63 lowercase letters, digits or '-', starting with a letter "
        "and ending with a letter or digit)",
    )


def require_dns1123_label(value: Any, field: str) -> str:
    """Namespace names: lowercase letters, digits and '-', starting and ending alphanumeric."""
    return require_text(
        value,
        field,
        lambda text: len(text) <= MAX_NAME_LENGTH and DNS1123_LABEL.match(text) is not None,
        "a DNS-1123 label (at most 63 lowercase letters, digits or '-', starting and ending "
        "with a letter or digit)",
    )


def require_dns1123_subdomain(value: Any, field: str) -> str:
    """Secret, claim and storage-class names: dot-separated DNS-1123 labels, at most 253 characters."""
    return require_text(
        value,
        field,
        is_dns1123_subdomain,
        "a DNS-1123 subdomain (at most 253 lowercase letters, digits, '-' or '.', starting and "
        "ending with a letter or digit)",
    )


def require_label_value(value: Any, field: str) -> str:
    rule = "at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
    if not isinstance(value, str):
        # YAML reads `true` or `1` as a boolean or number: say so, or the value looks valid.
        raise fail(field, value, f"a label value string (quote numbers and booleans): {rule}")
    return require_text(value, field, _is_label_value, f"a label value ({rule})")


def require_run_id(value: Any, field: str) -> str:
    """A run id: it goes into env values, files and label values, so a non-empty label value."""
    return require_text(
        value,
        field,
        lambda text: text != "" and _is_label_value(text),
        "1 to 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit",
    )


def require_label_key(value: Any, field: str) -> str:
    """A label key as :func:`is_label_key` defines it."""
    return require_text(
        value,
        field,
        is_label_key,
        "a label key ([prefix/]name: name at most 63 letters, digits, '-', '_' or '.', prefix a "
        "DNS subdomain)",
    )


def require_labels(value: Any, field: str) -> dict[str, str]:
    """A mapping of label keys to label values, as node selectors and extra labels use."""
    if not isinstance(value, Mapping):
        raise fail(field, value, "a mapping of label keys to label values")
    return {
        require_label_key(key, f"{field} key"): require_label_value(item, f"{field}.{key}")
        for key, item in value.items()
    }


def require_list(value: Any, field: str) -> Sequence[Any]:
    """A list (a string or a mapping is not one, although Python would iterate them)."""
    if isinstance(value, str | Mapping) or not isinstance(value, Sequence):
        raise fail(field, value, "a list")
    return value


def require_extended_resource(value: Any, field: str) -> str:
    """A fully qualified extended resource name such as rdma/ib or example.com/fpga."""
    if not isinstance(value, str) or "/" not in value or not is_label_key(value):
        raise fail(field, value, "an extended resource name such as rdma/ib or example.com/fpga")
    return value


def require_env_name(value: Any, field: str) -> str:
    return require_text(
        value,
        field,
        lambda text: ENV_NAME.match(text) is not None,
        "an environment variable name (letters, digits, '_', '-' or '.', not starting with a digit)",
    )


def require_port_name(value: Any, field: str) -> str:
    return require_text(
        value,
        field,
        lambda text: (
            len(text) <= 15
            and PORT_NAME.match(text) is not None
            and re.search("[a-z]", text) is not None
            and "--" not in text
        ),
        "a port name (at most 15 lowercase letters, digits or '-', with a letter)",
    )


def parse_quantity(value: Any, field: str) -> Decimal:
    """The numeric value of a Kubernetes quantity (`500m`, `16Gi`, `1e3`, 4); negatives are rejected."""
    allowed = "a non-negative Kubernetes quantity such as 500m, 4, 16Gi or 1Ti"
    if isinstance(value, bool):
        raise fail(field, value, allowed)
    if isinstance(value, int | float):
        if value < 0 or value != value or value in (float("inf"), float("-inf")):
            raise fail(field, value, allowed)
        return Decimal(str(value))
    if not isinstance(value, str):
        raise fail(field, value, allowed)
    match = _QUANTITY.match(value)
    if not match:
        raise fail(field, value, allowed)
    suffix = match.group("suffix") or ""
    try:
        number = Decimal(match.group("number"))
    except InvalidOperation as exc:
        raise fail(field, value, allowed) from exc
    if suffix[:1] in ("e", "E"):
        return number * Decimal(10) ** int(suffix[1:])
    return number * _SUFFIX_FACTORS[suffix]


def require_quantity(value: Any, field: str, *, positive: bool = False) -> str:
    """Validate a quantity and return the string form written to the manifest."""
    amount = parse_quantity(value, field)
    if positive and amount <= 0:
        raise fail(field, value, "a Kubernetes quantity greater than zero")
    return value if isinstance(value, str) else format(Decimal(str(value)).normalize(), "f")


def require_image_repository(value: Any, field: str) -> str:
    return require_text(
        value,
        field,
        lambda text: len(text) <= 255 and IMAGE_REPOSITORY.match(text) is not None,
        "an image repository such as ghcr.io/org/name",
    )


def require_image_tag(value: Any, field: str) -> str:
    """A tag, or ``sha256:<digest>`` to pin the image by digest."""
    return require_text(
        value,
        field,
        lambda text: IMAGE_TAG.match(text) is not None or IMAGE_DIGEST.match(text) is not None,
        "an image tag (at most 128 letters, digits, '_', '.' or '-') or sha256:<digest>",
    )


def require_image(repository: Any, tag: Any, repository_field: str, tag_field: str) -> str:
    """`repository:tag`, or `repository@sha256:...` when the tag is a digest."""
    repo = require_image_repository(repository, repository_field)
    digest = require_image_tag(tag, tag_field)
    return f"{repo}@{digest}" if IMAGE_DIGEST.match(digest) else f"{repo}:{digest}"


def require_number(value: Any, field: str, *, minimum: float = 0, allowed: str | None = None) -> int | float:
    """A finite int or float of at least `minimum` (bools are rejected as YAML typos)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < minimum
    ):
        raise fail(field, value, allowed or f"a finite number of at least {minimum}")
    return value


def require_base_url(value: Any, field: str) -> str:
    """An OpenAI-compatible base URL; no spaces or commas, since URL lists are joined by ','."""
    return require_text(
        value,
        field,
        lambda text: HTTP_BASE_URL.match(text) is not None,
        "an http(s) base URL such as http://vllm:8000/v1",
    )


def require_command(value: Any, field: str) -> list[str]:
    """A container command: a shell string (run as ``bash -c``, verbatim) or an argv list."""
    if isinstance(value, str):
        if not value.strip():
            raise fail(field, value, "a non-empty shell command or argv list")
        return ["bash", "-c", value]
    if (
        isinstance(value, str | bytes)
        or not isinstance(value, Sequence)
        or not value
        or not all(isinstance(arg, str) for arg in value)
    ):
        raise fail(field, value, "a non-empty shell command or a list of strings")
    return list(value)


def require_access_modes(value: Any, field: str) -> list[str]:
    if isinstance(value, str) or not isinstance(value, Sequence) or not value:
        raise fail(field, value, "a non-empty list of " + ", ".join(ACCESS_MODES))
    return [require_one_of(mode, field, ACCESS_MODES) for mode in value]


def require_generated_name(name: str, kind: str, limit: int, source_field: str, source_value: str) -> str:
    """Reject a name derived from user input that Kubernetes would refuse for being too long.

    The only home of the name-length rule: StatefulSets, Services and the claim all come here.
    """
    if len(name) > limit:
        longest = len(source_value) - (len(name) - limit)
        raise config_error(
            "{0} "
            + escape(
                f"{source_value!r} is too long: the generated {kind} name {name!r} has {len(name)} "
                f"characters, at most {limit} are allowed (use at most {max(longest, 1)} characters)"
            ),
            source_field,
        )
    return name


def require_mount_path(value: object, field: str) -> str:
    """An absolute, normalised container path that does not hide the root or /dev/shm."""
    path = value if isinstance(value, str) else ""
    parts = path.split("/")
    if (
        not path.startswith("/")
        or path == "/"
        or path.endswith("/")
        or "" in parts[1:]
        or ".." in parts
        or "." in parts
        or ":" in path
        or "\n" in path
        or path in ("/dev", "/dev/shm")
        or path.startswith("/dev/shm/")
    ):
        raise fail(field, value, "an absolute path such as /data (not /, /dev or /dev/shm)")
    return path


#: Directories of the image that a volume mounted over them would hide (its venv, its Python,
#: its system files): the shared volume may be mounted neither on, above nor below them.
IMAGE_PATHS = (
    "/app",
    "/bin",
    "/boot",
    "/etc",
    "/home",
    "/lib",
    "/lib64",
    "/opt",
    "/proc",
    "/root",
    "/run",
    "/sbin",
    "/sys",
    "/usr",
    "/var",
)


def require_data_mount_path(value: object, field: str) -> str:
    """Where the shared volume goes: a mount path that hides nothing the image needs."""
    path = require_mount_path(value, field)
    for image_path in IMAGE_PATHS:
        if path == image_path or path.startswith(image_path + "/") or image_path.startswith(path + "/"):
            raise fail(
                field,
                value,
                f"a path outside the image's own directories ({', '.join(IMAGE_PATHS)}), such as /data; "
                f"{path} would hide {image_path}",
            )
    return path


_DURATION = re.compile(r"^([0-9]+(ms|s|m|h))+$")


def require_duration(value: Any, field: str) -> str:
    """A Prometheus duration such as 30s or 1m30s."""
    if not isinstance(value, str) or not _DURATION.match(value):
        raise fail(field, value, "a Prometheus duration such as 15s, 1m or 1m30s")
    return value


def require_annotations(value: Any, field: str) -> dict[str, str]:
    """A mapping of annotation keys (label-key syntax) to any strings."""
    if not isinstance(value, Mapping):
        raise fail(field, value, "a mapping of annotation keys to strings")
    for key, item in value.items():
        require_label_key(key, f"{field} key")
        require_str(item, f"{field}.{key}")
    return dict(value)
