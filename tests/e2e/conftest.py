"""One real vLLM server on the tiny model, shared by the end-to-end tests that do not start their own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from vllm_server import InferenceServer


@pytest.fixture(scope="session")
def vllm_server(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[InferenceServer]:
    """Started once; every test that uses it gets it back on the base weights."""
    pytest.importorskip("vllm")
    server = InferenceServer(tiny_model_dir, tmp_path_factory.mktemp("vllm"))
    server.start()
    try:
        server.wait_healthy()
        yield server
    finally:
        server.stop()


@pytest.fixture
def base_server(vllm_server: InferenceServer) -> Iterator[InferenceServer]:
    """The shared server, healthy and serving the base weights before and after the test."""
    if vllm_server.process is None:
        vllm_server.start()
    vllm_server.wait_healthy()
    vllm_server.reload_base()
    yield vllm_server
    if vllm_server.process is None:
        vllm_server.start()
    vllm_server.wait_healthy()
    vllm_server.reload_base()
