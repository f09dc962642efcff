"""Checks a published broadcast directory before any of it reaches the served model.

A broadcast is ``<dir>/model.safetensors`` (or several ``*.safetensors`` shards) followed by an empty
``STABLE`` marker. Everything here reads only safetensors headers and file sizes, so a broadcast
that is missing, unfinished, truncated or shaped for another model is rejected without touching the
weights being served.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STABLE_MARKER = "STABLE"
WEIGHTS_FILE = "model.safetensors"
_MAX_HEADER_BYTES = 100 * 1024 * 1024


class WeightDirError(Exception):
    """A weight directory that cannot be loaded; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class ExpectedTensors:
    """The Hugging Face state dict the served architecture needs."""

    shapes: dict[str, tuple[int, ...]]
    """Every key a full state dict may hold, with its shape."""

    tied_groups: tuple[frozenset[str], ...]
    """Keys that share one tensor (tied embeddings): any one key of a group is enough."""


@dataclass(frozen=True)
class Broadcast:
    """A broadcast that passed every check."""

    files: tuple[Path, ...]
    num_tensors: int


def expected_tensors(hf_config: Any, trust_remote_code: bool = False) -> ExpectedTensors:
    """State-dict keys and shapes of ``hf_config``'s causal LM, built on the meta device (no memory).

    A model whose code ships with its checkpoint needs ``trust_remote_code``, as when it was served.
    """
    import torch
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(hf_config, trust_remote_code=trust_remote_code)
    shapes = {name: tuple(tensor.shape) for name, tensor in model.state_dict().items()}
    by_tensor: dict[int, set[str]] = {}
    for name, param in model.named_parameters(remove_duplicate=False):
        by_tensor.setdefault(id(param), set()).add(name)
    groups = tuple(frozenset(names) for names in by_tensor.values() if len(names) > 1)
    return ExpectedTensors(shapes=shapes, tied_groups=groups)


def read_safetensors_header(path: Path) -> dict[str, tuple[str, tuple[int, ...]]]:
    """``{name: (dtype, shape)}`` from a safetensors header; raises ValueError if the file is torn."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        prefix = handle.read(8)
        if len(prefix) != 8:
            raise ValueError("file is shorter than a safetensors header")
        (header_len,) = struct.unpack("<Q", prefix)
        if header_len > min(size - 8, _MAX_HEADER_BYTES):
            raise ValueError(f"header length {header_len} does not fit in a {size}-byte file")
        try:
            header = json.loads(handle.read(header_len))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"header is not valid JSON ({exc})") from None
    if not isinstance(header, dict):
        raise ValueError("header is not a JSON object")
    tensors: dict[str, tuple[str, tuple[int, ...]]] = {}
    data_end = 0
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype, shape, (start, end) = (
                info["dtype"],
                tuple(int(d) for d in info["shape"]),
                info["data_offsets"],
            )
        except (TypeError, KeyError, ValueError):
            raise ValueError(f"header entry {name!r} is malformed") from None
        tensors[name] = (str(dtype), shape)
        data_end = max(data_end, int(end), int(start))
    if 8 + header_len + data_end != size:
        raise ValueError(f"file holds {size} bytes but its header describes {8 + header_len + data_end}")
    return tensors


def _describe(names: set[str], limit: int = 5) -> str:
    shown = sorted(names)[:limit]
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(shown) + more


def check_broadcast(weight_dir: str, expected: ExpectedTensors) -> Broadcast:
    """Validate a broadcast directory against the served architecture; raises WeightDirError."""
    root = Path(weight_dir)
    if not root.is_dir():
        raise WeightDirError(404, f"weight_dir {weight_dir!r} does not exist or is not a directory")
    if not (root / STABLE_MARKER).is_file():
        raise WeightDirError(
            409, f"weight_dir {weight_dir!r} has no {STABLE_MARKER} marker: the broadcast is not complete"
        )
    files = tuple(sorted(root.glob("*.safetensors")))
    if not files:
        raise WeightDirError(
            422, f"weight_dir {weight_dir!r} holds no {WEIGHTS_FILE} (no *.safetensors file)"
        )

    found: dict[str, tuple[int, ...]] = {}
    for path in files:
        try:
            header = read_safetensors_header(path)
        except (OSError, ValueError) as exc:
            raise WeightDirError(422, f"{path} is not a readable safetensors file: {exc}") from None
        for name, (_dtype, shape) in header.items():
            if name in found:
                raise WeightDirError(422, f"tensor {name!r} appears in more than one file of {weight_dir!r}")
            found[name] = shape

    unknown = set(found) - set(expected.shapes)
    if unknown:
        raise WeightDirError(
            422, f"weight_dir {weight_dir!r} has tensors the served model does not have: {_describe(unknown)}"
        )
    tied = set().union(*expected.tied_groups) if expected.tied_groups else set()
    missing = {name for name in expected.shapes if name not in found and name not in tied}
    missing |= {min(group) for group in expected.tied_groups if not group & set(found)}
    if missing:
        raise WeightDirError(
            422, f"weight_dir {weight_dir!r} is missing tensors of the served model: {_describe(missing)}"
        )
    wrong = {
        f"{name} {list(shape)} (expected {list(expected.shapes[name])})"
        for name, shape in found.items()
        if shape != expected.shapes[name]
    }
    if wrong:
        raise WeightDirError(
            422, f"weight_dir {weight_dir!r} has tensors of the wrong shape: {_describe(wrong)}"
        )
    return Broadcast(files=files, num_tensors=len(found))
