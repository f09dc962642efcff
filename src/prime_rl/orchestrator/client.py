"""Asynchronous client of one inference server: health, served model, completions, weight updates.

Transport failures and 5xx answers are retried with exponential backoff while the server's
``/health`` is polled; a server that stays away longer than ``health_timeout_s`` ends the run with
an error naming its URL. After a server comes back (it may have restarted with the base weights)
the ``on_reconnect`` callback re-applies the current policy before any request is retried.
4xx answers are the caller's mistake and fail at once with the server's message.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from prime_rl.orchestrator.config import NEUTRAL_SAMPLING, ClientConfig

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 8


class InferenceError(RuntimeError):
    """An inference server is unreachable or refused a request; the message names its URL."""


@dataclass(frozen=True)
class Completion:
    """Sampled token ids with the log-probability the server assigned to each."""

    token_ids: list[int]
    logprobs: list[float]
    finish_reason: str | None


def server_root(base_url: str) -> str:
    """``http://host:port/v1`` -> ``http://host:port`` (where /health and the admin routes live)."""
    url = base_url.rstrip("/")
    return url.removesuffix("/v1")


class InferenceClient:
    """One server; ``version`` is the policy version it has loaded (0 = base model)."""

    def __init__(
        self,
        base_url: str,
        model: str,
        config: ClientConfig,
        on_reconnect: Callable[[InferenceClient], Awaitable[None]] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.root = server_root(base_url)
        self.model = model
        self.config = config
        self.on_reconnect = on_reconnect
        self.version = 0
        self.weight_dir: str | None = None
        self.in_flight = 0
        self._http = httpx.AsyncClient(timeout=httpx.Timeout(config.timeout_s, connect=10.0))
        self._limit = asyncio.Semaphore(config.max_concurrent_requests)
        self._recover_lock = asyncio.Lock()
        self._epoch = 0  # bumped after each recovery so concurrent failures recover once

    async def aclose(self) -> None:
        await self._http.aclose()

    def _backoff(self, attempt: int) -> float:
        return min(self.config.backoff_max_s, self.config.backoff_initial_s * 2**attempt)

    async def wait_healthy(self) -> None:
        """Polls ``/health`` with backoff until it answers 200, or raises after ``health_timeout_s``."""
        deadline = time.monotonic() + self.config.health_timeout_s
        attempt = 0
        last = "no answer"
        while True:
            try:
                response = await self._http.get(f"{self.root}/health", timeout=10.0)
                if response.status_code == 200:
                    return
                last = f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            attempt += 1
            delay = self._backoff(attempt - 1)
            if time.monotonic() + delay > deadline:
                raise InferenceError(
                    f"inference server {self.base_url} unreachable: /health did not answer 200 within "
                    f"{self.config.health_timeout_s:g} s ({attempt} attempts, last: {last})"
                )
            if attempt == 1 or attempt % 10 == 0:
                logger.info("waiting for inference server %s (%s)", self.base_url, last)
            await asyncio.sleep(delay)

    async def _recover(self, seen_epoch: int) -> None:
        """Waits for the server to be healthy again and re-applies its weights, once per outage."""
        async with self._recover_lock:
            if self._epoch != seen_epoch:
                return
            logger.warning("inference server %s went away; waiting for it to come back", self.base_url)
            await self.wait_healthy()
            if self.on_reconnect is not None and not await self._holds_expected_weights():
                await self.on_reconnect(self)
            self._epoch += 1
            logger.info("inference server %s is back", self.base_url)

    async def _holds_expected_weights(self) -> bool:
        """Whether the server still serves the weights this client loaded last (a transport error
        on a healthy server must not cost a full weight resync)."""
        try:
            response = await self._http.get(f"{self.root}/weights", timeout=10.0)
            return response.status_code == 200 and response.json().get("weight_dir") == self.weight_dir
        except (httpx.HTTPError, ValueError):
            return False

    async def request(self, method: str, url: str, payload: dict[str, Any] | None = None) -> Any:
        """One JSON request with retries; returns the decoded body."""
        attempt = 0
        while True:
            epoch = self._epoch
            try:
                response = await self._http.request(method, url, json=payload)
            except httpx.HTTPError as exc:
                reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                attempt += 1
                if attempt > MAX_ATTEMPTS:
                    raise InferenceError(
                        f"inference server {self.base_url}: {method} {url} failed {attempt} times, "
                        f"last: {reason}"
                    ) from None
                logger.warning("request to %s failed (%s)", url, reason)
                await self._recover(epoch)
                continue
            if response.status_code >= 500:
                attempt += 1
                if attempt > MAX_ATTEMPTS:
                    raise InferenceError(
                        f"inference server {self.base_url} answered {response.status_code} to {method} {url} "
                        f"{attempt} times: {response.text[:500]}"
                    )
                await asyncio.sleep(self._backoff(attempt - 1))
                continue
            if response.status_code >= 400:
                raise InferenceError(
                    f"inference server {self.base_url} refused {method} {url} "
                    f"(HTTP {response.status_code}): {response.text[:500]}"
                )
            return response.json() if response.content else None

    async def served_models(self) -> list[str]:
        body = await self.request("GET", f"{self.base_url}/models")
        return [m["id"] for m in body.get("data", [])]

    async def check_model(self) -> None:
        """Fails unless the server serves the configured model name."""
        served = await self.served_models()
        if self.model not in served:
            raise InferenceError(
                f"served model mismatch: inference server {self.base_url} serves {served}, "
                f"but model.name is {self.model!r}; set model.name to the served name"
            )

    async def complete(self, prompt_ids: Sequence[int], max_tokens: int, temperature: float) -> Completion:
        """Samples a continuation of token ids; returns the sampled ids and their log-probabilities."""
        payload = {
            "model": self.model,
            "prompt": list(prompt_ids),
            "max_tokens": max_tokens,
            "temperature": temperature,
            **NEUTRAL_SAMPLING,
            "logprobs": 0,
            "return_token_ids": True,
            "skip_special_tokens": False,
        }
        async with self._limit:
            self.in_flight += 1
            try:
                body = await self.request("POST", f"{self.base_url}/completions", payload)
            finally:
                self.in_flight -= 1
        choice = body["choices"][0]
        token_ids = list(choice.get("token_ids") or [])
        logprobs = [
            float(x) if x is not None else 0.0
            for x in (choice.get("logprobs") or {}).get("token_logprobs", [])
        ]
        if len(logprobs) != len(token_ids):
            raise InferenceError(
                f"inference server {self.base_url} returned {len(token_ids)} token ids but "
                f"{len(logprobs)} logprobs; it must support return_token_ids and logprobs"
            )
        return Completion(token_ids=token_ids, logprobs=logprobs, finish_reason=choice.get("finish_reason"))

    async def update_weights(self, weight_dir: str, version: int) -> None:
        """Loads a published broadcast into the server and records the version it now serves."""
        await self.request("POST", f"{self.root}/update_weights", {"weight_dir": weight_dir})
        self.version = version
        self.weight_dir = weight_dir

    async def reload_base_weights(self) -> None:
        """Puts the server back on the base model's weights: policy version 0 of a fresh run."""
        await self.request("POST", f"{self.root}/reload_weights", {})
        self.version = 0
        self.weight_dir = None

    async def update_weights_once(self, weight_dir: str, version: int) -> None:
        """``update_weights`` without retries, for use while the client is recovering."""
        url = f"{self.root}/update_weights"
        try:
            response = await self._http.post(url, json={"weight_dir": weight_dir})
        except httpx.HTTPError as exc:
            raise InferenceError(f"inference server {self.base_url}: POST {url} failed: {exc!r}") from None
        if response.status_code >= 400:
            raise InferenceError(
                f"inference server {self.base_url} refused POST {url} "
                f"(HTTP {response.status_code}): {response.text[:500]}"
            )
        self.version = version
        self.weight_dir = weight_dir
