"""The example Grafana dashboard queries only metrics that exist: the runtime's (as prometheus_client
exposes them), vLLM's own (as named in the installed vllm package) and the DCGM exporter's default
counters. A metric renamed on either side fails here instead of leaving an empty panel."""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from prime_rl.metrics import METRIC_NAMES, OrchestratorMetrics, TrainerMetrics

DASHBOARD = Path(__file__).resolve().parents[2] / "examples" / "monitoring" / "grafana-dashboard.json"

#: GPU metrics the dashboard may use: fields of the NVIDIA DCGM exporter's default counters
#: (default-counters.csv), which the exporter serves under these names.
DCGM_METRICS = ("DCGM_FI_DEV_FB_USED", "DCGM_FI_DEV_FB_FREE", "DCGM_FI_DEV_GPU_UTIL")

#: Suffixes prometheus_client (and vLLM, which uses it) add to counter and histogram samples.
SAMPLE_SUFFIXES = ("_total", "_bucket", "_sum", "_count")

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_LABEL_LIST = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_IDENTIFIER = re.compile(r"(?<![\w:.$])([A-Za-z_:][\w:]*)(\s*\()?")
_KEYWORDS = {"bool", "offset", "and", "or", "unless", "inf", "nan", "group_left", "group_right"}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (Grafana variables allowed in matchers,
    ranges and label lists; `label_values(metric{...}, label)` of variable queries too)."""
    values = re.fullmatch(r"\s*label_values\(\s*([A-Za-z_:][\w:]*)\s*(?:\{[^}]*\})?\s*,\s*\w+\s*\)\s*", expr)
    if values:
        return {values.group(1)}
    text = _STRING.sub('""', expr)
    text = re.sub(r"\{[^{}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = _LABEL_LIST.sub(" ", text)
    return {
        m.group(1) for m in _IDENTIFIER.finditer(text) if m.group(2) is None and m.group(1) not in _KEYWORDS
    }


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


def expressions(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, PromQL) of every panel target and every query variable."""
    for panel in _panels(dashboard["panels"]):
        for target in panel.get("targets", []):
            yield f"panel {panel['title']!r} {target['refId']}", target["expr"]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]
            yield f"variable {variable['name']!r}", query["query"] if isinstance(query, dict) else query


@cache
def runtime_samples() -> frozenset[str]:
    """Every sample name the runtime exposes, with the suffixes prometheus_client really adds."""
    roles = (TrainerMetrics(), OrchestratorMetrics())
    return frozenset(s.name for role in roles for family in role.registry.collect() for s in family.samples)


@cache
def vllm_metric_names() -> frozenset[str]:
    """Every `"vllm:..."` string in the installed vllm package (read as text; vllm is not imported)."""
    spec = importlib.util.find_spec("vllm")
    assert spec is not None and spec.submodule_search_locations, "vllm is not installed"
    names: set[str] = set()
    for root in spec.submodule_search_locations:
        for path in Path(root).rglob("*.py"):
            names.update(re.findall(r"[\"'](vllm:[a-z0-9_]+)[\"']", path.read_text(errors="replace")))
    return frozenset(names)


def is_known(name: str) -> bool:
    if name.startswith("prime_rl_"):
        family = next(
            (f for f in METRIC_NAMES if name == f or name in {f + s for s in SAMPLE_SUFFIXES}), None
        )
        return family is not None and name in runtime_samples()
    if name.startswith("vllm:"):
        bases = {name} | {name.removesuffix(s) for s in SAMPLE_SUFFIXES if name.endswith(s)}
        return bool(bases & vllm_metric_names())
    return name in DCGM_METRICS


def unknown_metrics(dashboard: dict[str, Any]) -> list[str]:
    return sorted(
        f"{where}: {name}"
        for where, expr in expressions(dashboard)
        for name in metric_names(expr)
        if not is_known(name)
    )


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def test_the_parser_finds_metrics_and_nothing_else() -> None:
    expr = (
        'histogram_quantile(0.9, max by (le, $label) (rate(a_seconds_bucket{pod=~"$x-.*", $label="y"}'
        "[$__rate_interval]))) / on (pod) group_left sum without (gpu) (vllm:b_total offset 5m) "
        '+ label_replace(c{n="1"}, "dst", "$1", "src", "(.*)") > bool 1e3'
    )
    assert metric_names(expr) == {"a_seconds_bucket", "vllm:b_total", "c"}
    assert metric_names('label_values(d_info{namespace="$namespace"}, pod)') == {"d_info"}


def test_every_metric_the_dashboard_queries_exists(dashboard: dict[str, Any]) -> None:
    assert unknown_metrics(dashboard) == []


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("prime_rl_trainer_loss{", "prime_rl_trainer_losses{"),
        ("prime_rl_trainer_step_duration_seconds_sum", "prime_rl_trainer_step_duration_seconds_total"),
        ("vllm:num_requests_running", "vllm:num_requests_active"),
        ("DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_GPU_UTILISATION"),
    ],
)
def test_a_renamed_metric_fails(dashboard: dict[str, Any], old: str, new: str) -> None:
    text = json.dumps(dashboard)
    assert old in text
    renamed = json.loads(text.replace(old, new))
    assert any(new.rstrip("{") in problem for problem in unknown_metrics(renamed))


def test_it_shows_what_an_experiment_needs(dashboard: dict[str, Any]) -> None:
    used = {name for _, expr in expressions(dashboard) for name in metric_names(expr)}
    assert {
        "prime_rl_orchestrator_reward",
        "prime_rl_trainer_loss",
        "prime_rl_trainer_tokens_per_second",
        "prime_rl_trainer_step_duration_seconds_sum",
        "prime_rl_orchestrator_async_lag_steps",
        "prime_rl_trainer_mismatch_kl",
        "prime_rl_trainer_step",
        "prime_rl_run_info",
        "vllm:num_requests_running",
        "vllm:num_requests_waiting",
        "vllm:generation_tokens_total",
        *DCGM_METRICS,
    } <= used


def test_every_panel_query_is_scoped_to_one_experiment(dashboard: dict[str, Any]) -> None:
    """Two experiments in one namespace, or one name in two namespaces, never mix on a panel."""
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    assert {"datasource", "namespace", "experiment"} <= variables
    for panel in _panels(dashboard["panels"]):
        if panel["type"] == "row":
            continue
        assert panel["targets"], panel["title"]
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        for target in panel["targets"]:
            for selector in re.findall(r"\{[^{}]*\}", target["expr"]):
                assert "$experiment" in selector and "$namespace" in selector, (panel["title"], selector)
