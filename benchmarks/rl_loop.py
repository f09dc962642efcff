"""RL loop figures on the tiny model (CPU is enough): async overlap, weight-update cost, rollout overhead.

    python benchmarks/rl_loop.py [--steps 8] [--batch-size 64] [--rollouts-per-example 8]

1. Async overlap: the loop runs once synchronously (max_async_level 0) and once with async level 1.
   inference and train time per step come from the synchronous run (each runs alone there);
   efficiency = max(train, inference) / step time (1.0 = perfect overlap; on a machine whose
   cores are shared by trainer and vLLM the overlapped phases slow each other down).
2. Weight update, on a wider model of its own (default hidden size 2048, 4 layers: about 600 MB in
   float32, so the figure is not just fixed costs): publishing a broadcast (safetensors + STABLE)
   and POST /update_weights, against writing and reading the same bytes raw. Medians of
   interleaved repeats; the target is at most 2x.
3. Rollouts: tokens/s of the orchestrator's rollout path (chat template, environment, scoring)
   against plain concurrent /v1/completions requests for the same prompts and lengths.

Prints figures and ratios; asserts nothing about time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

PY = sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    env = {
        k: v for k, v in os.environ.items() if k not in ("TRAINER_WORLD_SIZE", "INFERENCE_URLS", "OUTPUT_DIR")
    }
    with log.open("ab") as fh:
        return subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT, env=env, start_new_session=True)


def stop(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def post(url: str, payload: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=300) as response:
        return json.loads(response.read() or b"{}")


def wait_healthy(root: str, proc: subprocess.Popen[bytes], timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"{root}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("the inference server did not become healthy")
        time.sleep(0.5)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# ---------------------------------------------------------------------------------------------


def run_loop(
    work: Path, model: Path, url: str, args: argparse.Namespace, async_level: int
) -> dict[str, float]:
    out = work / f"loop-async{async_level}"
    common = ["--output-dir", str(out), "--max-steps", str(args.steps), "--max-async-level", str(async_level)]
    orchestrator = spawn(
        [
            PY, "-m", "prime_rl.orchestrator.orchestrator", *common,
            "--model.name", str(model), "--client.urls", json.dumps([url]),
            "--environment.id", "fixed-answer", "--batch-size", str(args.batch_size),
            "--rollouts-per-example", str(args.rollouts_per_example), "--seq-len", "512",
            "--sampling.max-tokens", str(args.max_tokens), "--poll-interval-s", "0.05",
        ],
        work / f"orchestrator-async{async_level}.log",
    )  # fmt: skip
    trainer = spawn(
        [
            PY, "-m", "prime_rl.trainer.rl.train", *common, "--model.name", str(model),
            "--optim.lr", "1e-3", "--rollouts.poll-interval", "0.05",
        ],
        work / f"trainer-async{async_level}.log",
    )  # fmt: skip
    started = time.perf_counter()
    for proc in (orchestrator, trainer):
        if proc.wait(1800) != 0:
            raise SystemExit(f"loop with async level {async_level} failed; see the logs in {work}")
    wall = time.perf_counter() - started
    orch = read_jsonl(out / "logs" / "orchestrator" / "metrics.jsonl")
    train = read_jsonl(out / "logs" / "trainer" / "metrics.jsonl")
    steady = slice(2, None)  # skip start-up
    return {
        "wall_s": wall,
        "step_s": statistics.mean(m["step_time_s"] for m in orch[steady]),
        "collect_s": statistics.mean(m["collect_s"] for m in orch[steady]),
        "train_s": statistics.mean(m["step_time_s"] for m in train[steady]),
    }


def weight_update(work: Path, model: Path, root: str, repeats: int) -> tuple[float, float, int]:
    """Publish + /update_weights against a raw write and read of the same bytes, interleaved."""
    import shutil

    import torch
    from safetensors.torch import load_file

    from prime_rl.trainer.weights import publish_broadcast

    state = load_file(str(model / "model.safetensors"))
    out = work / "weights-bench"
    update, raw = [], []
    for i in range(repeats):
        started = time.perf_counter()
        target = publish_broadcast(state, out, i + 1, torch.float32)
        post(f"{root}/update_weights", {"weight_dir": str(target)})
        update.append(time.perf_counter() - started)
        data = (target / "model.safetensors").read_bytes()
        started = time.perf_counter()
        raw_path = out / f"raw_{i}.bin"
        raw_path.write_bytes(data)
        assert len(raw_path.read_bytes()) == len(data)
        raw.append(time.perf_counter() - started)
        raw_path.unlink()
        del data
        shutil.rmtree(target)
    post(f"{root}/reload_weights", {})
    return (
        statistics.median(update),
        statistics.median(raw),
        sum(t.numel() * t.element_size() for t in state.values()),
    )


def start_server(work: Path, model: Path, name: str) -> tuple[subprocess.Popen[bytes], str, str]:
    port = free_port()
    config = work / f"{name}.toml"
    config.write_text(
        f'kv_cache_memory_bytes = 134217728\nmax_num_seqs = 128\n[model]\nname = "{model}"\n'
        f'dtype = "float32"\nenforce_eager = true\nmax_model_len = 1024\n'
        f'[server]\nhost = "127.0.0.1"\nport = {port}\n'
    )
    server = spawn([PY, "-m", "prime_rl.inference.server", "@", str(config)], work / f"{name}.log")
    return server, f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port}/v1"


async def rollout_throughput(model: Path, url: str, args: argparse.Namespace) -> tuple[float, float]:
    import httpx
    from transformers import AutoTokenizer

    from prime_rl.envs import load_environment
    from prime_rl.orchestrator.client import InferenceClient
    from prime_rl.orchestrator.config import ClientConfig
    from prime_rl.orchestrator.rollout import ChatTokenizer, run_group

    chat = ChatTokenizer(AutoTokenizer.from_pretrained(model))
    env = load_environment("reverse-text")
    examples = env.examples(0)
    groups = args.batch_size // args.rollouts_per_example
    size, max_tokens = args.rollouts_per_example, args.max_tokens
    client = InferenceClient(url, str(model), ClientConfig(urls=[url]))
    try:
        started = time.perf_counter()
        results = await asyncio.gather(
            *(run_group(client, chat, env, examples[g], g, size, 512, max_tokens, 1.0) for g in range(groups))
        )
        ours = time.perf_counter() - started
    finally:
        await client.aclose()
    rollouts = [r for group in results for r in group]
    ours_tokens = sum(r.completion_len for r in rollouts)

    async with httpx.AsyncClient(timeout=300) as http:

        async def one(prompt: list[int], n: int) -> int:
            # The orchestrator's own request, with each sample's exact length.
            payload = {
                "model": str(model),
                "prompt": prompt,
                "max_tokens": n,
                "temperature": 1.0,
                "logprobs": 0,
                "return_token_ids": True,
                "ignore_eos": True,
            }
            body = (await http.post(f"{url}/completions", json=payload)).json()
            return int(body["usage"]["completion_tokens"])

        started = time.perf_counter()
        counts = await asyncio.gather(*(one(r.input_ids[: r.prompt_len], r.completion_len) for r in rollouts))
        plain = time.perf_counter() - started
    return ours_tokens / ours, sum(counts) / plain


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--rollouts-per-example", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--weights-hidden-size", type=int, default=2048, help="width of the weight-update model"
    )
    parser.add_argument("--weights-layers", type=int, default=4, help="layers of the weight-update model")
    args = parser.parse_args()

    from prime_rl.tiny_model import build_tiny_model

    with tempfile.TemporaryDirectory(prefix="rl-loop-bench-") as tmp:
        work = Path(tmp)
        model = build_tiny_model(work / "tiny")
        wide = build_tiny_model(
            work / "wide", hidden_size=args.weights_hidden_size, num_layers=args.weights_layers
        )
        server, root, url = start_server(work, wide, "inference-wide")
        try:
            wait_healthy(root, server)
            update_s, raw_s, nbytes = weight_update(work, wide, root, args.repeats)
        finally:
            stop(server)
        server, root, url = start_server(work, model, "inference")
        try:
            wait_healthy(root, server)
            ours_tps, plain_tps = [], []
            for _ in range(3):
                a, b = asyncio.run(rollout_throughput(model, url, args))
                ours_tps.append(a)
                plain_tps.append(b)
            sync = run_loop(work, model, url, args, async_level=0)
            post(f"{root}/reload_weights", {})
            overlapped = run_loop(work, model, url, args, async_level=1)
        finally:
            stop(server)

    # Both measured in the synchronous run, where each runs while the other waits.
    inference_s, train_s = sync["collect_s"], sync["train_s"]
    ideal = max(inference_s, train_s)
    shape = f"{args.batch_size} samples/step ({args.rollouts_per_example} per example)"
    print(f"tiny model, {shape}, {args.steps} steps")
    print("1. async overlap (steady-state means)")
    print(f"   inference time/step (sync run)  {inference_s:8.3f} s")
    print(f"   train time/step (sync run)      {train_s:8.3f} s")
    print(f"   step time, async level 0        {sync['step_s']:8.3f} s")
    print(f"   step time, async level 1        {overlapped['step_s']:8.3f} s")
    print(f"   overlap efficiency max(train, inference) / step, async 1: {ideal / overlapped['step_s']:.2f}")
    print(f"   overlap efficiency, async 0 (no overlap, reference):     {ideal / sync['step_s']:.2f}")
    print(f"   speed-up async 1 vs async 0: {sync['step_s'] / overlapped['step_s']:.2f}x")
    print(f"2. weight update ({nbytes / 1e6:.0f} MB model, median of {args.repeats} interleaved)")
    print(f"   publish + /update_weights       {update_s * 1e3:8.1f} ms")
    print(f"   raw write + read of same bytes  {raw_s * 1e3:8.1f} ms")
    print(f"   ratio update / raw: {update_s / raw_s:.2f}x (target: at most 2x)")
    print("3. rollout throughput (completion tokens/s, median of 3)")
    ours, plain = statistics.median(ours_tps), statistics.median(plain_tps)
    print(f"   orchestrator rollouts           {ours:8.0f} tok/s")
    print(f"   plain vLLM requests             {plain:8.0f} tok/s")
    print(f"   ratio orchestrator / plain: {ours / plain:.2f}")


if __name__ == "__main__":
    main()
