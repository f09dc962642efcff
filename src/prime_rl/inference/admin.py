"""Admin routes ``POST /update_weights`` and ``POST /reload_weights`` as an ASGI middleware.

vLLM installs it through its public ``--middleware`` flag; the middleware answers only these two
paths and hands every other request to vLLM unchanged. It reaches the engine through
``app.state.engine_client`` (set by vLLM before serving) and the workers through
``collective_rpc`` into ``WeightUpdateExtension``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any

from starlette.responses import JSONResponse

from prime_rl.inference.weights import ExpectedTensors, WeightDirError, check_broadcast, expected_tensors

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

UPDATE_PATH = "/update_weights"
RELOAD_PATH = "/reload_weights"
#: GET: which weights the server holds ({"weight_dir": null} for the base model), so a client that
#: lost its connection resyncs only a server that lost its weights.
WEIGHTS_PATH = "/weights"
_MAX_BODY_BYTES = 64 * 1024


def _make_logger() -> logging.Logger:
    """vLLM configures only its own logger tree, so this one gets its own handler (stderr, INFO)."""
    log = logging.getLogger("prime_rl.inference.admin")
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("(inference) %(levelname)s %(asctime)s %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
    return log


logger = _make_logger()


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > _MAX_BODY_BYTES:
            raise WeightDirError(413, f"request body is larger than {_MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _weight_dir_from(body: bytes) -> str:
    try:
        payload = json.loads(body or b"null")
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise WeightDirError(
            400, 'request body must be JSON like {"weight_dir": "/path/to/broadcast"}'
        ) from None
    weight_dir = payload.get("weight_dir") if isinstance(payload, dict) else None
    if not isinstance(weight_dir, str) or not weight_dir:
        raise WeightDirError(
            400, f'request body must be JSON like {{"weight_dir": "/path/to/broadcast"}}, got {payload!r}'
        )
    return weight_dir


@contextlib.asynccontextmanager
async def _paused(engine: Any) -> AsyncIterator[None]:
    """No scheduling step between the weight load and the cache reset: requests are frozen (kept,
    not aborted) for the swap, so none decodes new weights against the old weights' KV cache."""
    pause = getattr(engine, "pause_generation", None)
    if pause is None:
        logger.warning("this vLLM cannot pause generation: a weight swap may race a scheduling step")
        yield
        return
    await pause(mode="keep", clear_cache=False)
    try:
        yield
    finally:
        await engine.resume_generation()


class WeightRoutesMiddleware:
    """Serves the two admin routes; one weight change at a time, others wait their turn."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._lock = asyncio.Lock()
        self._expected: ExpectedTensors | None = None
        self._loaded: str | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path") if scope["type"] == "http" else None
        if path == WEIGHTS_PATH and scope["method"] == "GET":
            await JSONResponse({"weight_dir": self._loaded})(scope, receive, send)
            return
        if path not in (UPDATE_PATH, RELOAD_PATH):
            await self.app(scope, receive, send)
            return
        if scope["method"] != "POST":
            response = JSONResponse({"error": f"{path} accepts POST only"}, status_code=405)
            await response(scope, receive, send)
            return
        engine = scope["app"].state.engine_client
        try:
            body = await _read_body(receive)
            if path == UPDATE_PATH:
                content = await self._update(engine, _weight_dir_from(body))
            else:
                content = await self._reload(engine)
            response = JSONResponse(content)
        except WeightDirError as exc:
            logger.warning("%s rejected: %s", path, exc.message)
            response = JSONResponse({"error": exc.message}, status_code=exc.status)
        except Exception as exc:
            logger.exception("%s failed", path)
            response = JSONResponse({"error": f"{path} failed in the engine: {exc}"}, status_code=500)
        await response(scope, receive, send)

    async def _update(self, engine: Any, weight_dir: str) -> dict[str, Any]:
        async with self._lock:
            started = time.perf_counter()
            if self._expected is None:
                model_config = engine.model_config
                self._expected = await asyncio.to_thread(
                    self._expected_for,
                    model_config.hf_config,
                    bool(getattr(model_config, "trust_remote_code", False)),
                )
            broadcast = await asyncio.to_thread(check_broadcast, weight_dir, self._expected)
            files = [str(path) for path in broadcast.files]
            async with _paused(engine):
                await engine.collective_rpc("prime_load_weights", args=(files,))
                # Cached KV blocks were computed with the old weights; running requests are recomputed.
                await engine.reset_prefix_cache(reset_running_requests=True)
            self._loaded = weight_dir
            seconds = time.perf_counter() - started
        logger.info("loaded %d tensors from %s in %.2f s", broadcast.num_tensors, weight_dir, seconds)
        return {
            "status": "ok",
            "weight_dir": weight_dir,
            "num_tensors": broadcast.num_tensors,
            "seconds": seconds,
        }

    @staticmethod
    def _expected_for(hf_config: Any, trust_remote_code: bool) -> ExpectedTensors:
        try:
            return expected_tensors(hf_config, trust_remote_code)
        except Exception as exc:
            raise WeightDirError(
                500, f"cannot derive the served model's tensor names and shapes from its config: {exc}"
            ) from exc

    async def _reload(self, engine: Any) -> dict[str, Any]:
        async with self._lock:
            started = time.perf_counter()
            async with _paused(engine):
                sources = await engine.collective_rpc("prime_reload_base_weights")
                await engine.reset_prefix_cache(reset_running_requests=True)
            self._loaded = None
            seconds = time.perf_counter() - started
        source = sources[0] if sources else engine.model_config.model
        logger.info("reloaded base weights from %s in %.2f s", source, seconds)
        return {"status": "ok", "model": source, "seconds": seconds}
