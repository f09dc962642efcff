"""What synthesis costs: the construct path, the render core, the CLI and `python -m apps`.

    .venv/bin/python benchmarks/synth.py [--sizes 1 10 100] [--runs 7] [--helm PATH --chart DIR]

Printed, all from one run so the ratios share the machine's state:

1. Marginal milliseconds per experiment for 1, 10 and 100 reverse-text experiments, through the
   cdk8s constructs (construct + ``synth_yaml``) and through the render core alone
   (``ExperimentPlan(...).manifests()``), timed in this process with the two paths interleaved.
   The marginal figure is ``(t(n) - t(1)) / (n - 1)``; at n = 1 it is the whole cost.
2. Whole processes, interleaved round by round, timed first (before this process starts Node.js,
   which would slow every fork): ``prime-rl-k8s synth`` of the reverse-text values
   file, a bare ``python -c 'import yaml'``, ``python -m apps`` and, when ``--helm`` and
   ``--chart`` are given, ``helm template`` of the original chart with the same values file.
   Medians, and the medians of the per-round ratios.
3. Memory, in a separate process (tracemalloc slows what it watches, so it never runs inside a
   timed region): the Python heap peak and the Node.js peak RSS for 100 experiments.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VALUES = REPO / "examples" / "k8s" / "reverse-text.yaml"
BIN = Path(sys.executable).parent
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")


def _props(index: int):
    from prime_rl_k8s import PrimeRLExperimentProps, RoleProps

    return PrimeRLExperimentProps(
        name=f"exp-{index}",
        namespace="default",
        inference=RoleProps(gpu_count=1, cpu_request="1", memory_request="4Gi"),
        trainer=RoleProps(gpu_count=1, cpu_request="1", memory_request="4Gi"),
    )


def construct_path(count: int) -> None:
    import cdk8s
    from prime_rl_k8s import PrimeRLExperiment

    app = cdk8s.App(outdir=tempfile.gettempdir())
    for index in range(count):
        chart = cdk8s.Chart(app, f"exp-{index}", namespace="default")
        PrimeRLExperiment.from_props(chart, f"exp-{index}", _props(index))
    app.synth_yaml()


def core_path(count: int) -> None:
    from prime_rl_k8s import ExperimentPlan

    for index in range(count):
        ExperimentPlan(_props(index)).manifests()


def _timed(fn: Callable[[int], None], count: int) -> float:
    started = time.perf_counter()
    fn(count)
    return (time.perf_counter() - started) * 1000


def in_process(sizes: list[int], runs: int) -> None:
    construct_path(1)  # start the jsii runtime and load every module outside the timed regions
    core_path(1)
    totals: dict[tuple[str, int], list[float]] = {}
    for _ in range(runs):
        for size in sizes:
            for name, fn in (("constructs", construct_path), ("core", core_path)):
                totals.setdefault((name, size), []).append(_timed(fn, size))
    print(f"\n## Per experiment, in process (median of {runs} interleaved runs)")
    print("| experiments | constructs ms | constructs marginal ms/exp | core ms | core marginal ms/exp |")
    print("|---|---|---|---|---|")
    base = {name: statistics.median(totals[(name, sizes[0])]) for name in ("constructs", "core")}
    for size in sizes:
        row = [str(size)]
        for name in ("constructs", "core"):
            total = statistics.median(totals[(name, size)])
            marginal = total / size if size == sizes[0] else (total - base[name]) / (size - sizes[0])
            row += [f"{total:.2f}", f"{marginal:.3f}"]
        print("| " + " | ".join(row) + " |")


def _run(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return (time.perf_counter() - started) * 1000


def whole_processes(runs: int, helm: str | None, chart: str | None) -> None:
    commands = {
        "prime-rl-k8s synth": [str(BIN / "prime-rl-k8s"), "synth", "reverse-text", "-f", str(VALUES)],
        "python -c 'import yaml'": [sys.executable, "-c", "import yaml"],
    }
    if helm and chart:
        commands["helm template"] = [helm, "template", "reverse-text", chart, "-f", str(VALUES)]
    with tempfile.TemporaryDirectory() as outdir:
        commands["python -m apps"] = [sys.executable, "-m", "apps"]
        os.environ["CDK8S_OUTDIR"] = outdir
        for command in commands.values():
            _run(command)  # warm the page cache
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(runs):
            for name, command in commands.items():
                times[name].append(_run(command))
        del os.environ["CDK8S_OUTDIR"]
    print(f"## Whole processes (median of {runs} interleaved rounds)")
    print("| command | median ms |")
    print("|---|---|")
    for name, values in times.items():
        print(f"| `{name}` | {statistics.median(values):.0f} |")
    cli = times["prime-rl-k8s synth"]
    bare = times["python -c 'import yaml'"]
    ratios = [("bare `python -c 'import yaml'`", bare)]
    if "helm template" in times:
        ratios.insert(0, ("`helm template`", times["helm template"]))
    else:
        print(
            "\n`helm template` not measured: pass --helm PATH --chart DIR (the original chart, k8s/prime-rl)"
        )
    for label, other in ratios:
        per_round = statistics.median(a / b for a, b in zip(cli, other, strict=True))
        print(f"\nCLI / {label}: {per_round:.2f} (median of per-round ratios)")


def memory(count: int) -> None:
    code = f"""
import json, os, resource, tracemalloc
from pathlib import Path
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
import sys; sys.path.insert(0, {str(REPO / "benchmarks")!r})
from synth import construct_path
construct_path(1)
tracemalloc.start()
construct_path({count})
heap = tracemalloc.get_traced_memory()[1]
node = 0
for status in Path("/proc").glob("[0-9]*/status"):
    try:
        fields = dict(l.split(":", 1) for l in status.read_text().splitlines() if ":" in l)
    except OSError:
        continue
    if int(fields["PPid"]) == os.getpid() and "VmHWM" in fields:
        node += int(fields["VmHWM"].split()[0])
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({{"heap_mib": heap / 2**20, "python_rss_mib": rss, "node_rss_mib": node / 1024}}))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    print(f"\n## Memory for {count} experiments through the constructs (separate process, tracemalloc)")
    print(
        f"Python heap peak {figures['heap_mib']:.1f} MiB, "
        f"Python peak RSS {figures['python_rss_mib']:.0f} MiB, "
        f"Node.js peak RSS {figures['node_rss_mib']:.0f} MiB"
    )


def compile_bytecode() -> None:
    """Compile the library as `pip install` does, so no run pays for compiling the sources
    (shells with PYTHONDONTWRITEBYTECODE would otherwise recompile them on every start)."""
    import compileall

    for folder in ("lib", "apps"):
        compileall.compile_dir(REPO / folder, quiet=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 10, 100])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--helm", help="a helm binary, to time `helm template` of the original chart")
    parser.add_argument("--chart", help="the original chart's directory (k8s/prime-rl)")
    args = parser.parse_args()
    compile_bytecode()
    whole_processes(args.runs, args.helm, args.chart)
    in_process(sorted(args.sizes), args.runs)
    memory(max(args.sizes))


if __name__ == "__main__":
    main()
