"""How synthesis scales: 1, 10 and 100 experiments in one cdk8s app.

    .venv/bin/python benchmarks/synth.py [--sizes 1 10 100] [--values examples/k8s/reverse-text.yaml]

Each size runs in a fresh interpreter (so peak-memory figures do not carry over) and goes through
the CLI's code path: values file → props → one PrimeRLExperiment per Chart, then `synth_yaml`.
Printed per size: wall time (construct + synth), milliseconds per experiment, the Python heap
peak (tracemalloc), the interpreter's peak RSS and the peak RSS of the jsii Node.js processes that
hold the construct tree.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_VALUES = REPO / "examples" / "k8s" / "reverse-text.yaml"


def _descendants_peak_rss_kib(pid: int) -> int:
    """Sum of peak RSS (VmHWM) over every descendant of `pid`: the jsii Node.js processes (Linux)."""
    children: dict[int, list[int]] = {}
    peaks: dict[int, int] = {}
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
        except OSError:
            continue
        child = int(status.parent.name)
        children.setdefault(int(fields["PPid"]), []).append(child)
        peaks[child] = int(fields["VmHWM"].split()[0]) if "VmHWM" in fields else 0
    total, stack = 0, list(children.get(pid, []))
    while stack:
        child = stack.pop()
        total += peaks.get(child, 0)
        stack.extend(children.get(child, []))
    return total


def measure(count: int, values_file: Path) -> dict[str, float]:
    """Synthesize `count` experiments in one app and return the figures for this process."""
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    import cdk8s
    from prime_rl_k8s.cli_synth import build_chart
    from prime_rl_k8s.values import resolve_values

    values = resolve_values(files=[values_file])
    cdk8s.App().synth_yaml()  # start the jsii runtime outside the timed region
    tracemalloc.start()
    started = time.perf_counter()
    app = cdk8s.App()
    for index in range(count):
        build_chart(app, f"exp-{index:03d}", values)
    text = app.synth_yaml()
    elapsed = time.perf_counter() - started
    _, heap_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "experiments": count,
        "objects": text.count("\nkind: ") + int(text.startswith("kind: ")),
        "yaml_bytes": len(text.encode()),
        "wall_s": elapsed,
        "ms_per_experiment": elapsed * 1000 / count,
        "python_heap_peak_mib": heap_peak / 2**20,
        "python_max_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "node_max_rss_mib": _descendants_peak_rss_kib(os.getpid()) / 1024,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 10, 100])
    parser.add_argument("--values", type=Path, default=DEFAULT_VALUES)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(measure(args.one, args.values)))
        return 0
    columns = [
        ("experiments", "experiments", "d"),
        ("objects", "objects", "d"),
        ("wall s", "wall_s", ".2f"),
        ("ms/exp", "ms_per_experiment", ".1f"),
        ("py heap MiB", "python_heap_peak_mib", ".1f"),
        ("py RSS MiB", "python_max_rss_mib", ".1f"),
        ("node RSS MiB", "node_max_rss_mib", ".1f"),
    ]
    print(f"values: {args.values}")
    print(" ".join(f"{title:>12}" for title, _, _ in columns))
    for size in args.sizes:
        result = subprocess.run(
            [sys.executable, __file__, "--one", str(size), "--values", str(args.values)],
            capture_output=True,
            text=True,
            check=True,
        )
        row = json.loads(result.stdout.strip().splitlines()[-1])
        print(" ".join(f"{row[key]:>12{spec}}" for _, key, spec in columns))
    return 0


if __name__ == "__main__":
    sys.exit(main())
