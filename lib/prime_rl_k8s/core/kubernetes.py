"""Kubernetes structures users pass through as given (affinity, spread constraints, env sources,
network peers), checked against the API's own shape at synth instead of at `kubectl apply`.

Each shape is a small declarative schema: field name -> kind. Unknown fields, missing required
fields, wrong types and bad enum values fail with the usual one-line error naming the path.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .validation import (
    MAX_INT32,
    fail,
    require_dns1123_label,
    require_dns1123_subdomain,
    require_int,
    require_label_key,
    require_labels,
    require_list,
    require_one_of,
    require_port,
    require_port_name,
    require_str,
)

Check = Callable[[Any, str], Any]


def _integer(minimum: int, maximum: int = MAX_INT32) -> Check:
    return lambda value, field: require_int(value, field, minimum=minimum, maximum=maximum)


def _enum(*choices: str) -> Check:
    return lambda value, field: require_one_of(value, field, choices)


def _boolean(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise fail(field, value, "true or false")
    return value


def _list(item: Check) -> Check:
    def check(value: Any, field: str) -> list[Any]:
        return [item(entry, f"{field}[{index}]") for index, entry in enumerate(require_list(value, field))]

    return check


def _also(check: Check, rule: Callable[[dict[str, Any], str], None]) -> Check:
    """``check``, then a rule across its fields (the API's own cross-field validation)."""

    def checked(value: Any, field: str) -> Any:
        result = check(value, field)
        rule(result, field)
        return result

    return checked


def _requirement_values(requirement: dict[str, Any], field: str) -> None:
    """In/NotIn need values, Exists/DoesNotExist take none, Gt/Lt take one integer."""
    operator, values = requirement["operator"], requirement.get("values") or []
    if operator in ("In", "NotIn") and not values:
        raise fail(f"{field}.values", requirement.get("values"), f"a non-empty list with operator {operator}")
    if operator in ("Exists", "DoesNotExist") and values:
        raise fail(f"{field}.values", values, f"absent with operator {operator}")
    if operator in ("Gt", "Lt") and (len(values) != 1 or not values[0].lstrip("-").isdigit()):
        raise fail(f"{field}.values", values, f"one integer with operator {operator}")


def _port(value: Any, field: str) -> int | str:
    """A port number (1-65535) or a container port name."""
    if isinstance(value, str):
        return require_port_name(value, field)
    return require_port(value, field)


def _cidr(value: Any, field: str) -> str:
    import ipaddress  # only network policies with IP blocks pay for it

    try:
        ipaddress.ip_network(require_str(value, field), strict=False)
    except ValueError:
        raise fail(field, value, "a CIDR such as 10.0.0.0/8 or 2001:db8::/32") from None
    return value


def _peer(peer: dict[str, Any], field: str) -> None:
    if "ipBlock" in peer and len(peer) > 1:
        raise fail(field, peer, "an ipBlock alone, or a podSelector and/or namespaceSelector")
    if not peer:
        raise fail(field, peer, "one of podSelector, namespaceSelector or ipBlock")


def _port_range(port: dict[str, Any], field: str) -> None:
    if "endPort" in port and (not isinstance(port.get("port"), int) or port["endPort"] < port["port"]):
        raise fail(f"{field}.endPort", port["endPort"], "at least port, which must be a number")


def _object(fields: Mapping[str, Check], required: Sequence[str] = ()) -> Check:
    def check(value: Any, field: str) -> dict[str, Any]:
        allowed = "a mapping with keys " + ", ".join(sorted(fields))
        if not isinstance(value, Mapping):
            raise fail(field, value, allowed)
        for key in value:
            if key not in fields:
                raise fail(
                    f"{field}.{key}", value[key], "absent; allowed keys are " + ", ".join(sorted(fields))
                )
        for key in required:
            if value.get(key) is None:
                raise fail(f"{field}.{key}", None, "set")
        return {key: fields[key](item, f"{field}.{key}") for key, item in value.items() if item is not None}

    return check


_LABEL_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")
_label_requirement = _also(
    _object(
        {"key": require_label_key, "operator": _enum(*_LABEL_OPERATORS), "values": _list(require_str)},
        required=("key", "operator"),
    ),
    _requirement_values,
)
label_selector = _object({"matchLabels": require_labels, "matchExpressions": _list(_label_requirement)})
_node_requirement = _also(
    _object(
        {"key": require_str, "operator": _enum(*_LABEL_OPERATORS, "Gt", "Lt"), "values": _list(require_str)},
        required=("key", "operator"),
    ),
    _requirement_values,
)
_node_term = _object({"matchExpressions": _list(_node_requirement), "matchFields": _list(_node_requirement)})
_node_affinity = _object(
    {
        "requiredDuringSchedulingIgnoredDuringExecution": _object(
            {"nodeSelectorTerms": _list(_node_term)}, required=("nodeSelectorTerms",)
        ),
        "preferredDuringSchedulingIgnoredDuringExecution": _list(
            _object({"weight": _integer(1, 100), "preference": _node_term}, required=("weight", "preference"))
        ),
    }
)
_pod_affinity_term = _object(
    {
        "labelSelector": label_selector,
        "namespaceSelector": label_selector,
        "namespaces": _list(require_dns1123_label),
        "topologyKey": require_label_key,
        "matchLabelKeys": _list(require_label_key),
        "mismatchLabelKeys": _list(require_label_key),
    },
    required=("topologyKey",),
)
#: A Kubernetes PodAffinity or PodAntiAffinity (the two have one shape).
pod_affinity = _object(
    {
        "requiredDuringSchedulingIgnoredDuringExecution": _list(_pod_affinity_term),
        "preferredDuringSchedulingIgnoredDuringExecution": _list(
            _object(
                {"weight": _integer(1, 100), "podAffinityTerm": _pod_affinity_term},
                required=("weight", "podAffinityTerm"),
            )
        ),
    }
)
#: A Kubernetes Affinity.
affinity = _object(
    {"nodeAffinity": _node_affinity, "podAffinity": pod_affinity, "podAntiAffinity": pod_affinity}
)
#: A Kubernetes TopologySpreadConstraint.
topology_spread_constraint = _object(
    {
        "maxSkew": _integer(1),
        "topologyKey": require_label_key,
        "whenUnsatisfiable": _enum("DoNotSchedule", "ScheduleAnyway"),
        "labelSelector": label_selector,
        "minDomains": _integer(1),
        "nodeAffinityPolicy": _enum("Honor", "Ignore"),
        "nodeTaintsPolicy": _enum("Honor", "Ignore"),
        "matchLabelKeys": _list(require_label_key),
    },
    required=("maxSkew", "topologyKey", "whenUnsatisfiable"),
)
_source_ref = _object({"name": require_dns1123_subdomain, "optional": _boolean}, required=("name",))


def env_from_source(value: Any, field: str) -> dict[str, Any]:
    """A container EnvFromSource: exactly one of configMapRef and secretRef, and an optional prefix."""
    checked = _object({"configMapRef": _source_ref, "secretRef": _source_ref, "prefix": require_str})(
        value, field
    )
    if ("configMapRef" in checked) == ("secretRef" in checked):
        raise fail(field, value, "exactly one of configMapRef and secretRef (and optionally prefix)")
    return checked


_ip_block = _object({"cidr": _cidr, "except": _list(_cidr)}, required=("cidr",))
#: A NetworkPolicyPeer (who may connect): pods and/or namespaces, or an IP block.
network_peer = _also(
    _object({"podSelector": label_selector, "namespaceSelector": label_selector, "ipBlock": _ip_block}),
    _peer,
)
_policy_port = _also(
    _object({"port": _port, "endPort": _integer(1, 65535), "protocol": _enum("TCP", "UDP", "SCTP")}),
    _port_range,
)
#: A NetworkPolicyEgressRule (where pods may connect).
egress_rule = _object({"to": _list(network_peer), "ports": _list(_policy_port)})


def checked_list(value: Any, field: str, item: Check) -> list[dict[str, Any]]:
    """A list whose every item has the shape ``item`` checks."""
    return _list(item)(value, field)
