"""Broadcast checks: a weight directory is loaded only when it is complete and shaped for the served model."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from vllm_server import publish_broadcast  # noqa: E402

from prime_rl.inference.weights import (  # noqa: E402
    ExpectedTensors,
    WeightDirError,
    check_broadcast,
    expected_tensors,
    read_safetensors_header,
)


@pytest.fixture(scope="module")
def expected(tiny_model_dir: Path) -> ExpectedTensors:
    from transformers import AutoConfig

    return expected_tensors(AutoConfig.from_pretrained(tiny_model_dir))


@pytest.fixture(scope="module")
def base_state(tiny_model_dir: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(tiny_model_dir / "model.safetensors")


def test_expected_tensors_know_the_tied_head(expected: ExpectedTensors, base_state: dict) -> None:
    assert set(base_state) <= set(expected.shapes)
    assert expected.tied_groups == (frozenset({"model.embed_tokens.weight", "lm_head.weight"}),)
    for name, tensor in base_state.items():
        assert expected.shapes[name] == tuple(tensor.shape)


def test_accepts_a_complete_broadcast(tmp_path: Path, expected: ExpectedTensors, base_state: dict) -> None:
    root = publish_broadcast(tmp_path / "step_1", base_state)
    broadcast = check_broadcast(str(root), expected)
    assert broadcast.files == (root / "model.safetensors",)
    assert broadcast.num_tensors == len(base_state)


def test_accepts_the_tied_head_under_both_names(
    tmp_path: Path, expected: ExpectedTensors, base_state: dict
) -> None:
    full = {**base_state, "lm_head.weight": base_state["model.embed_tokens.weight"].clone()}
    root = publish_broadcast(tmp_path / "step_1", full)
    assert check_broadcast(str(root), expected).num_tensors == len(full)


def test_reads_header_shapes_and_dtypes(tmp_path: Path, base_state: dict) -> None:
    root = publish_broadcast(tmp_path / "step_1", base_state)
    header = read_safetensors_header(root / "model.safetensors")
    assert header["model.norm.weight"] == ("F32", (64,))
    assert len(header) == len(base_state)


def test_fails_when_the_directory_is_missing(tmp_path: Path, expected: ExpectedTensors) -> None:
    with pytest.raises(WeightDirError) as info:
        check_broadcast(str(tmp_path / "step_9"), expected)
    assert info.value.status == 404
    assert "does not exist" in info.value.message


def test_fails_without_stable_marker(tmp_path: Path, expected: ExpectedTensors, base_state: dict) -> None:
    root = publish_broadcast(tmp_path / "step_1", base_state, stable=False)
    with pytest.raises(WeightDirError) as info:
        check_broadcast(str(root), expected)
    assert info.value.status == 409
    assert "STABLE" in info.value.message


def test_fails_without_safetensors(tmp_path: Path, expected: ExpectedTensors) -> None:
    root = tmp_path / "step_1"
    root.mkdir()
    (root / "STABLE").touch()
    with pytest.raises(WeightDirError) as info:
        check_broadcast(str(root), expected)
    assert info.value.status == 422
    assert "model.safetensors" in info.value.message


def test_fails_on_a_truncated_file(tmp_path: Path, expected: ExpectedTensors, base_state: dict) -> None:
    root = publish_broadcast(tmp_path / "step_1", base_state)
    data = (root / "model.safetensors").read_bytes()
    (root / "model.safetensors").write_bytes(data[: len(data) - 100])
    with pytest.raises(WeightDirError) as info:
        check_broadcast(str(root), expected)
    assert info.value.status == 422
    assert "not a readable safetensors file" in info.value.message


def test_fails_on_garbage(tmp_path: Path, expected: ExpectedTensors) -> None:
    root = tmp_path / "step_1"
    root.mkdir()
    (root / "model.safetensors").write_bytes(b"\x05\x00\x00\x00\x00\x00\x00\x00{nope")
    (root / "STABLE").touch()
    with pytest.raises(WeightDirError) as info:
        check_broadcast(str(root), expected)
    assert info.value.status == 422


def test_fails_on_wrong_shapes(tmp_path: Path, expected: ExpectedTensors, base_state: dict) -> None:
    bad = {**base_state, "model.norm.weight": torch.ones(65)}
    with pytest.raises(WeightDirError) as info:
        check_broadcast(str(publish_broadcast(tmp_path / "step_1", bad)), expected)
    assert info.value.status == 422
    assert "model.norm.weight [65] (expected [64])" in info.value.message


def test_fails_on_missing_tensors(tmp_path: Path, expected: ExpectedTensors, base_state: dict) -> None:
    partial = {k: v for k, v in base_state.items() if "layers.1." not in k}
    with pytest.raises(WeightDirError) as info:
        check_broadcast(str(publish_broadcast(tmp_path / "step_1", partial)), expected)
    assert info.value.status == 422
    assert "missing" in info.value.message
    assert "model.layers.1." in info.value.message


def test_fails_when_the_tied_embedding_is_absent(
    tmp_path: Path, expected: ExpectedTensors, base_state: dict
) -> None:
    partial = {k: v for k, v in base_state.items() if k != "model.embed_tokens.weight"}
    with pytest.raises(WeightDirError) as info:
        check_broadcast(str(publish_broadcast(tmp_path / "step_1", partial)), expected)
    assert "lm_head.weight" in info.value.message or "embed_tokens" in info.value.message


def test_fails_on_unknown_tensors(tmp_path: Path, expected: ExpectedTensors, base_state: dict) -> None:
    extra = {**base_state, "model.layers.7.mlp.up_proj.weight": torch.zeros(2, 2)}
    with pytest.raises(WeightDirError) as info:
        check_broadcast(str(publish_broadcast(tmp_path / "step_1", extra)), expected)
    assert info.value.status == 422
    assert "model.layers.7.mlp.up_proj.weight" in info.value.message
