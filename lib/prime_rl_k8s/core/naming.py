"""Labels, namespaces and DNS names shared by every construct (the contract in DESIGN.md)."""

from __future__ import annotations

APP_NAME = "prime-rl"
MANAGED_BY = "cdk8s"
#: Used in FQDNs when no namespace is known: the namespace `kubectl apply` uses without `-n`.
DEFAULT_NAMESPACE = "default"
DEFAULT_CLUSTER_DOMAIN = "cluster.local"


def selector_labels(instance: str, component: str) -> dict[str, str]:
    """What selectors match: the instance is always included so two experiments never share pods."""
    return {
        "app.kubernetes.io/name": APP_NAME,
        "app.kubernetes.io/instance": instance,
        "app.kubernetes.io/component": component,
    }


def instance_labels(instance: str) -> dict[str, str]:
    """Labels of an object that belongs to the whole experiment (the claim, the JobSet)."""
    return {
        "app.kubernetes.io/name": APP_NAME,
        "app.kubernetes.io/instance": instance,
        "app.kubernetes.io/managed-by": MANAGED_BY,
        "app": APP_NAME,
    }


def standard_labels(instance: str, component: str) -> dict[str, str]:
    """Recommended Kubernetes labels plus the original chart's `app`/`role` labels its docs rely on."""
    return {
        **selector_labels(instance, component),
        "app.kubernetes.io/managed-by": MANAGED_BY,
        "app": APP_NAME,
        "role": component,
    }


def service_fqdn(service: str, namespace: str | None, cluster_domain: str = DEFAULT_CLUSTER_DOMAIN) -> str:
    """`<service>.<namespace>.svc.<domain>`; a missing namespace means `default`."""
    return f"{service}.{namespace or DEFAULT_NAMESPACE}.svc.{cluster_domain}"


def headless_service_name(statefulset: str) -> str:
    """The governing Service of a StatefulSet: `<statefulset>-headless`."""
    return f"{statefulset}-headless"


def pod_fqdn(
    statefulset: str, index: int, namespace: str | None, cluster_domain: str = DEFAULT_CLUSTER_DOMAIN
) -> str:
    """`<statefulset>-<i>.<statefulset>-headless.<ns>.svc.<domain>`: stable across restarts."""
    return (
        f"{statefulset}-{index}.{service_fqdn(headless_service_name(statefulset), namespace, cluster_domain)}"
    )
