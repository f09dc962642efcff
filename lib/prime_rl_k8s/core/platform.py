"""The objects a platform team adds around an experiment: service account, network policies, PodMonitor."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .manifest import manifest, metadata
from .naming import APP_NAME

#: Port of the trainer's and orchestrator's Prometheus endpoint (``METRICS_PORT``).
DEFAULT_METRICS_PORT = 9464
PODMONITOR_API_VERSION = "monitoring.coreos.com/v1"
#: Where kube-prometheus-stack and most Prometheus installs run: the scraper's namespace.
DEFAULT_PROMETHEUS_NAMESPACE_LABELS = {"kubernetes.io/metadata.name": "monitoring"}
#: Private address ranges: the model hub rule reaches the internet, never the cluster's networks.
PRIVATE_RANGES = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")


def experiment_selector(instance: str) -> dict[str, str]:
    """Every pod of one experiment, whatever its role or workload mode."""
    return {"app.kubernetes.io/name": APP_NAME, "app.kubernetes.io/instance": instance}


def service_account_manifest(
    name: str, namespace: str | None, labels: Mapping[str, str], annotations: Mapping[str, str]
) -> dict[str, Any]:
    """A ServiceAccount whose token is never mounted: the pods need no Kubernetes API access."""
    return manifest(
        "v1",
        "ServiceAccount",
        metadata(name, namespace, dict(labels), annotations=dict(annotations) or None),
        automountServiceAccountToken=False,
    )


def network_policy_manifest(
    instance: str,
    namespace: str | None,
    labels: Mapping[str, str],
    *,
    metrics_ports: Sequence[int],
    prometheus_namespace_labels: Mapping[str, str],
    allow_model_hub: bool,
    extra_egress: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    """The experiment's pods reach each other, DNS, (optionally) HTTPS outside the cluster, and the
    Prometheus scraper reaches their metrics ports; nothing else gets in or out."""
    own = {"podSelector": {"matchLabels": experiment_selector(instance)}}
    # DNS on port 53 wherever the resolver runs (CoreDNS, NodeLocal DNSCache, OpenShift DNS).
    dns = {"ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]}
    egress: list[dict[str, Any]] = [{"to": [own]}, dns]
    if allow_model_hub:
        egress.append(
            {
                "to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": list(PRIVATE_RANGES)}}],
                "ports": [{"port": 443, "protocol": "TCP"}],
            }
        )
    egress.extend(dict(rule) for rule in extra_egress)
    ingress: list[dict[str, Any]] = [{"from": [own]}]
    if metrics_ports:
        ingress.append(
            {
                "from": [{"namespaceSelector": {"matchLabels": dict(prometheus_namespace_labels)}}],
                "ports": [{"port": port, "protocol": "TCP"} for port in metrics_ports],
            }
        )
    return manifest(
        "networking.k8s.io/v1",
        "NetworkPolicy",
        metadata(instance, namespace, dict(labels)),
        spec={
            "podSelector": {"matchLabels": experiment_selector(instance)},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": ingress,
            "egress": egress,
        },
    )


def inference_clients_policy_manifest(
    name: str,
    namespace: str | None,
    labels: Mapping[str, str],
    inference_selector: Mapping[str, str],
    port: int,
    clients: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    """Lets the clients a user names call the inference servers' API port."""
    return manifest(
        "networking.k8s.io/v1",
        "NetworkPolicy",
        metadata(name, namespace, dict(labels)),
        spec={
            "podSelector": {"matchLabels": dict(inference_selector)},
            "policyTypes": ["Ingress"],
            "ingress": [
                {"from": [dict(peer) for peer in clients], "ports": [{"port": port, "protocol": "TCP"}]}
            ],
        },
    )


def pod_monitor_manifest(
    instance: str,
    namespace: str | None,
    labels: Mapping[str, str],
    *,
    interval: str,
    scrape_inference: bool,
) -> dict[str, Any]:
    """Scrapes the trainer's and orchestrator's ``metrics`` port and vLLM's own ``/metrics``."""
    endpoints: list[dict[str, Any]] = [{"interval": interval, "path": "/metrics", "port": "metrics"}]
    if scrape_inference:
        endpoints.append(
            {
                "interval": interval,
                "path": "/metrics",
                "port": "http",
                # Only inference serves /metrics on its API port.
                "relabelings": [
                    {
                        "action": "keep",
                        "regex": "inference",
                        "sourceLabels": ["__meta_kubernetes_pod_label_app_kubernetes_io_component"],
                    }
                ],
            }
        )
    return manifest(
        PODMONITOR_API_VERSION,
        "PodMonitor",
        metadata(instance, namespace, dict(labels)),
        spec={
            "podMetricsEndpoints": endpoints,
            # Series carry the experiment and role, so dashboards can select one experiment.
            "podTargetLabels": ["app.kubernetes.io/instance", "app.kubernetes.io/component"],
            "selector": {"matchLabels": experiment_selector(instance)},
        },
    )
