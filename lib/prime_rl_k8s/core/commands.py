"""Settings a role's command repeats, checked against the manifest that runs it.

A command is free text, but three of its flags must agree with the pods: the port vLLM listens
on (the Services and probes target it), the processes torchrun starts per pod (the GPUs the pod
gets) and the output directory (each experiment owns one directory of the shared volume).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Sequence

from ..errors import escape
from .validation import config_error, fail

_TORCHRUN = re.compile(r"(^|[\s;&|(/])torchrun(\s|$)|-m\s+torch\.distributed\.run\b")
_NPROC = re.compile(r"--nproc[-_]per[-_]node(?:=|\s+)(\S+)")
_PORT = re.compile(r"(?:^|\s)--port(?:=|\s+)(\S+)")
_OUTPUT_DIR = re.compile(r"(?:^|\s)--output[-_]dir(?:=|\s+)(\S+)")
#: torchrun's own words for "one process per visible GPU": the pod sees exactly its GPUs.
_PER_GPU = ("gpu", "auto")


def command_text(argv: Sequence[str]) -> str:
    """The command as one line: the script of ``bash -c``, else the argv joined by spaces."""
    if len(argv) >= 3 and argv[0] in ("bash", "sh") and argv[1] == "-c":
        return argv[2]
    return " ".join(argv)


def _unquoted(value: str) -> str:
    return value.strip("'\"")


def check_torchrun_processes(argv: Sequence[str], gpu_count: int, command_field: str, gpu_field: str) -> None:
    """A torchrun command on GPU pods starts one process per GPU of the pod, no more, no fewer."""
    text = command_text(argv)
    if gpu_count < 1 or not _TORCHRUN.search(text):
        return
    counts = [_unquoted(value) for value in _NPROC.findall(text)]
    if not counts and gpu_count > 1:
        raise config_error(
            "{0} runs torchrun without --nproc-per-node; pass --nproc-per-node="
            + str(gpu_count)
            + " to start one process per GPU of {1} (torchrun's default is 1)",
            command_field,
            gpu_field,
        )
    for count in counts:
        # A variable is the user's to set; a number must be the pod's GPUs.
        if count != str(gpu_count) and count not in _PER_GPU and not count.startswith("$"):
            raise config_error(
                "{0} passes --nproc-per-node="
                + escape(count)
                + " but {1} is "
                + str(gpu_count)
                + "; start one process per GPU (--nproc-per-node="
                + str(gpu_count)
                + ")",
                command_field,
                gpu_field,
            )


def check_port(argv: Sequence[str], port: int | None, command_field: str, port_field: str) -> None:
    """A ``--port`` in the command must be the port the Services and probes target."""
    for value in _PORT.findall(command_text(argv)):
        value = _unquoted(value)
        if value.startswith("$"):
            continue
        if port is None or value != str(port):
            raise config_error(
                "{0} passes --port "
                + escape(value)
                + " but {1} is "
                + str(port)
                + "; drop --port (the server listens on INFERENCE_PORT) or set both alike",
                command_field,
                port_field,
            )


def check_output_dir(argv: Sequence[str], output_dir: str, command_field: str) -> None:
    """A literal ``--output-dir`` must stay inside the experiment's own directory."""
    for value in _OUTPUT_DIR.findall(command_text(argv)):
        value = _unquoted(value)
        if value.startswith("$"):
            continue
        value = posixpath.normpath(value)
        if value == output_dir or value.startswith(output_dir + "/"):
            continue
        raise fail(
            command_field,
            f"... --output-dir {value} ...",
            f"no --output-dir (the runtime reads OUTPUT_DIR={output_dir}) or one under {output_dir}, "
            "so experiments sharing a volume never write into each other's files",
        )
