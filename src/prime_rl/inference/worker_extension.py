"""Methods mixed into every vLLM worker (``--worker-extension-cls``) to hot-swap policy weights.

vLLM resolves this class inside each worker process before the model is built, so the import-time
hook below runs early enough to change how the CPU build prepares its linear layers.

CPU build: by default it repacks linear weights into oneDNN / SGL kernel layouts after loading,
computes with the packed copies and empties the ``weight`` parameters, so a later in-place load
either misses those layers or fails part-way (after embeddings and norms were already replaced).
Turning both packers off makes every layer compute from its ``weight`` parameter, which
``load_weights`` updates in place. GPU builds are left untouched.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch


def _disable_cpu_weight_packing() -> None:
    from vllm.platforms import current_platform

    if not current_platform.is_cpu():
        return
    import vllm._custom_ops as ops
    from vllm.model_executor.layers import utils as layer_utils

    ops._supports_onednn = False
    layer_utils.check_cpu_sgl_kernel = _never_use_sgl_kernel


def _never_use_sgl_kernel(n: int, k: int, dtype: torch.dtype) -> bool:
    return False


_disable_cpu_weight_packing()


def _iter_safetensors(files: list[str]) -> Iterator[tuple[str, torch.Tensor]]:
    from safetensors import safe_open

    for path in files:
        with safe_open(path, framework="pt", device="cpu") as handle:
            for name in handle.keys():  # noqa: SIM118 - safe_open handles are not iterable
                yield name, handle.get_tensor(name)


class WeightUpdateExtension:
    """Collective-RPC targets: ``prime_load_weights(files)`` and ``prime_reload_base_weights()``.

    Names carry a prefix because vLLM refuses extensions whose attributes clash with the worker's
    own (``update_weights`` and ``reload_weights`` already exist there with other meanings).
    """

    model_runner: Any

    def prime_load_weights(self, files: list[str]) -> int:
        """Load Hugging Face-named tensors from already validated safetensors files; return how many."""
        count = 0

        def counted() -> Iterator[tuple[str, torch.Tensor]]:
            nonlocal count
            for item in _iter_safetensors(files):
                count += 1
                yield item

        self.model_runner.get_model().load_weights(counted())
        return count

    def prime_reload_base_weights(self) -> str:
        """Reload the weights the server started with; return where they came from."""
        # The worker's own reload reads from model_config.model, which this extension never re-points.
        self.reload_weights()  # type: ignore[attr-defined]
        return str(self.model_runner.model_config.model)
