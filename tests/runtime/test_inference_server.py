"""A real `inference` server (vLLM CPU build, tiny model): serving, weight updates, reloads, bad input.

One server for the whole module (starting vLLM costs ~30 s of CPU); every test leaves it serving the
base weights again.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("vllm")

import httpx
import torch
from safetensors.torch import load_file
from vllm_server import InferenceServer, publish_broadcast, start_inference_server

pytestmark = [pytest.mark.vllm, pytest.mark.slow]

SERVED_NAME = "tiny-policy"
PROMPT = "Reverse the text.<|im_end|>\n<|im_start|>user\n<reversed_text>hello world</reversed_text>"
# vLLM and transformers both compute in float32 here; they agree to ~1e-6.
TOLERANCE = 2e-3


@pytest.fixture(scope="module")
def server(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[InferenceServer]:
    # `--max-logprobs 3` after `--` checks that unknown flags reach vLLM.
    server = start_inference_server(
        tiny_model_dir,
        tmp_path_factory.mktemp("inference"),
        served_model_name=SERVED_NAME,
        vllm_args=["--max-logprobs", "3"],
    )
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def back_to_base(server: InferenceServer) -> Iterator[None]:
    yield
    httpx.post(f"{server.root_url}/reload_weights", timeout=120).raise_for_status()


@pytest.fixture(scope="module")
def base_state(tiny_model_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(tiny_model_dir / "model.safetensors")


@pytest.fixture(scope="module")
def perturbed_state(base_state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Every tensor changed; the tied head is included under its own name, as a trainer state dict has it."""
    generator = torch.Generator().manual_seed(1)
    state = {
        name: tensor + 0.1 * torch.randn(tensor.shape, generator=generator)
        for name, tensor in base_state.items()
    }
    state["lm_head.weight"] = state["model.embed_tokens.weight"].clone()
    return state


def served_logprobs(server: InferenceServer) -> list[float]:
    """log p(token_t | tokens < t) for every prompt token after the first, as the server computes it."""
    response = httpx.post(
        f"{server.v1_url}/completions",
        json={
            "model": SERVED_NAME,
            "prompt": PROMPT,
            "max_tokens": 1,
            "temperature": 0,
            "prompt_logprobs": 0,
        },
        timeout=120,
    )
    response.raise_for_status()
    entries = response.json()["choices"][0]["prompt_logprobs"]
    assert entries[0] is None
    return [next(iter(entry.values()))["logprob"] for entry in entries[1:]]


def reference_logprobs(model_dir: Path, state: dict[str, torch.Tensor] | None = None) -> list[float]:
    """The same numbers from transformers, optionally with ``state`` loaded over the base weights."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    if state is not None:
        model.load_state_dict({k: v for k, v in state.items() if k != "lm_head.weight"}, strict=False)
        model.tie_weights()
    ids = tokenizer(PROMPT, return_tensors="pt").input_ids
    with torch.no_grad():
        logprobs = torch.log_softmax(model(ids).logits[0, :-1].float(), dim=-1)
    return logprobs.gather(1, ids[0, 1:, None])[:, 0].tolist()


def max_diff(a: list[float], b: list[float]) -> float:
    assert len(a) == len(b)
    return max(abs(x - y) for x, y in zip(a, b, strict=True))


def test_models_lists_the_served_name(server: InferenceServer) -> None:
    models = httpx.get(f"{server.v1_url}/models", timeout=30).json()
    assert [m["id"] for m in models["data"]] == [SERVED_NAME]


def test_health_answers_200(server: InferenceServer) -> None:
    assert httpx.get(f"{server.root_url}/health", timeout=30).status_code == 200


def test_completion_returns_token_logprobs(server: InferenceServer) -> None:
    response = httpx.post(
        f"{server.v1_url}/completions",
        json={
            "model": SERVED_NAME,
            "prompt": PROMPT,
            "max_tokens": 8,
            "temperature": 1.0,
            "logprobs": 1,
            "ignore_eos": True,
            "seed": 0,
        },
        timeout=120,
    )
    response.raise_for_status()
    choice = response.json()["choices"][0]
    token_logprobs = choice["logprobs"]["token_logprobs"]
    assert len(token_logprobs) == 8
    assert all(lp <= 0.0 for lp in token_logprobs)


def test_passthrough_flag_reaches_vllm(server: InferenceServer) -> None:
    response = httpx.post(
        f"{server.v1_url}/completions",
        json={"model": SERVED_NAME, "prompt": PROMPT, "max_tokens": 1, "logprobs": 5},
        timeout=60,
    )
    assert response.status_code == 400


def test_base_logprobs_match_transformers(server: InferenceServer, tiny_model_dir: Path) -> None:
    assert max_diff(served_logprobs(server), reference_logprobs(tiny_model_dir)) < TOLERANCE


def test_update_weights_changes_every_tensor_and_reload_restores_base(
    server: InferenceServer, tiny_model_dir: Path, tmp_path: Path, perturbed_state: dict, base_state: dict
) -> None:
    base = served_logprobs(server)
    expected = reference_logprobs(tiny_model_dir, perturbed_state)
    # The check below is sharp enough: leaving any single tensor at its base value moves the
    # reference logprobs by far more than the tolerance.
    for name in base_state:
        partly = {**perturbed_state, name: base_state[name]}
        if name == "model.embed_tokens.weight":
            partly["lm_head.weight"] = base_state[name]
        assert max_diff(reference_logprobs(tiny_model_dir, partly), expected) > 10 * TOLERANCE, name

    response = httpx.post(
        f"{server.root_url}/update_weights",
        json={"weight_dir": str(publish_broadcast(tmp_path / "step_1", perturbed_state))},
        timeout=120,
    )
    assert response.status_code == 200, response.text
    assert response.json()["num_tensors"] == len(perturbed_state)
    assert f"loaded {len(perturbed_state)} tensors from {tmp_path / 'step_1'}" in server.log_path.read_text()
    updated = served_logprobs(server)
    assert max_diff(updated, base) > 10 * TOLERANCE
    assert max_diff(updated, expected) < TOLERANCE

    response = httpx.post(f"{server.root_url}/reload_weights", timeout=120)
    assert response.status_code == 200, response.text
    assert max_diff(served_logprobs(server), base) < 1e-5


def test_update_while_a_completion_is_running(
    server: InferenceServer, tmp_path: Path, perturbed_state: dict
) -> None:
    weight_dir = publish_broadcast(tmp_path / "step_1", perturbed_state)
    results: dict[str, httpx.Response] = {}

    def generate() -> None:
        results["completion"] = httpx.post(
            f"{server.v1_url}/completions",
            json={"model": SERVED_NAME, "prompt": PROMPT, "max_tokens": 256, "ignore_eos": True},
            timeout=300,
        )

    thread = threading.Thread(target=generate)
    thread.start()
    update = httpx.post(
        f"{server.root_url}/update_weights", json={"weight_dir": str(weight_dir)}, timeout=120
    )
    thread.join(timeout=300)
    assert update.status_code == 200, update.text
    assert results["completion"].status_code == 200
    assert results["completion"].json()["usage"]["completion_tokens"] == 256


def _assert_rejected(server: InferenceServer, body: object, status: int, words: str) -> None:
    before = served_logprobs(server)
    response = httpx.post(f"{server.root_url}/update_weights", json=body, timeout=120)
    assert response.status_code == status, response.text
    assert words in response.json()["error"]
    assert served_logprobs(server) == before


def test_fails_update_with_missing_weight_dir(server: InferenceServer, tmp_path: Path) -> None:
    _assert_rejected(server, {"weight_dir": str(tmp_path / "step_5")}, 404, "does not exist")


def test_fails_update_without_stable_marker(
    server: InferenceServer, tmp_path: Path, perturbed_state: dict
) -> None:
    root = publish_broadcast(tmp_path / "step_1", perturbed_state, stable=False)
    _assert_rejected(server, {"weight_dir": str(root)}, 409, "STABLE")


def test_fails_update_without_weights_file(server: InferenceServer, tmp_path: Path) -> None:
    root = tmp_path / "step_1"
    root.mkdir()
    (root / "STABLE").touch()
    _assert_rejected(server, {"weight_dir": str(root)}, 422, "model.safetensors")


def test_fails_update_with_wrong_shapes_and_keeps_the_current_weights(
    server: InferenceServer, tmp_path: Path, perturbed_state: dict, base_state: dict
) -> None:
    good = publish_broadcast(tmp_path / "step_1", perturbed_state)
    update = httpx.post(f"{server.root_url}/update_weights", json={"weight_dir": str(good)}, timeout=120)
    assert update.is_success, update.text
    bad_state = {**base_state, "model.layers.1.mlp.down_proj.weight": torch.zeros(64, 64)}
    bad = publish_broadcast(tmp_path / "step_2", bad_state)
    _assert_rejected(server, {"weight_dir": str(bad)}, 422, "model.layers.1.mlp.down_proj.weight")


def test_fails_update_with_missing_tensors(server: InferenceServer, tmp_path: Path, base_state: dict) -> None:
    partial = {k: v for k, v in base_state.items() if k != "model.norm.weight"}
    _assert_rejected(
        server, {"weight_dir": str(publish_broadcast(tmp_path / "step_1", partial))}, 422, "model.norm.weight"
    )


def test_fails_update_with_truncated_file(
    server: InferenceServer, tmp_path: Path, perturbed_state: dict
) -> None:
    root = publish_broadcast(tmp_path / "step_1", perturbed_state)
    data = (root / "model.safetensors").read_bytes()
    (root / "model.safetensors").write_bytes(data[:-1000])
    _assert_rejected(server, {"weight_dir": str(root)}, 422, "not a readable safetensors file")


def test_fails_update_without_weight_dir_field(server: InferenceServer) -> None:
    _assert_rejected(server, {"path": "/tmp"}, 400, "weight_dir")


def test_fails_update_with_get(server: InferenceServer) -> None:
    response = httpx.get(f"{server.root_url}/update_weights", timeout=30)
    assert response.status_code == 405
    assert "POST" in response.json()["error"]


def test_weights_route_reports_what_the_server_holds_so_clients_resync_only_when_needed(
    server: InferenceServer, tmp_path: Path, perturbed_state: dict
) -> None:
    import asyncio

    from prime_rl.orchestrator.client import InferenceClient
    from prime_rl.orchestrator.config import ClientConfig

    assert httpx.get(f"{server.root_url}/weights", timeout=30).json() == {"weight_dir": None}
    weight_dir = str(publish_broadcast(tmp_path / "step_1", perturbed_state))

    async def go() -> tuple[bool, bool]:
        client = InferenceClient(server.v1_url, SERVED_NAME, ClientConfig(urls=[server.v1_url]))
        try:
            await client.update_weights(weight_dir, 1)
            healthy = await client._holds_expected_weights()
            httpx.post(f"{server.root_url}/reload_weights", timeout=120).raise_for_status()
            return healthy, await client._holds_expected_weights()
        finally:
            await client.aclose()

    healthy, after_reload = asyncio.run(go())
    # A transport error on this healthy server costs no resync; a server back on other weights does.
    assert (healthy, after_reload) == (True, False)
    assert httpx.get(f"{server.root_url}/weights", timeout=30).json() == {"weight_dir": None}
