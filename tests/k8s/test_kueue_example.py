"""examples/kueue/queues.yaml holds what examples/k8s/kueue.yaml needs, and admits it."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import yaml
from prime_rl_k8s.core.validation import parse_quantity

REPO = Path(__file__).resolve().parents[2]


def test_queues_admit_the_kueue_example() -> None:
    queues = {
        doc["kind"]: doc for doc in yaml.safe_load_all((REPO / "examples/kueue/queues.yaml").read_text())
    }
    assert set(queues) == {"ResourceFlavor", "ClusterQueue", "LocalQueue"}
    assert all(doc["apiVersion"] == "kueue.x-k8s.io/v1beta1" for doc in queues.values())
    local, cluster = queues["LocalQueue"], queues["ClusterQueue"]
    assert local["spec"]["clusterQueue"] == cluster["metadata"]["name"]
    (jobset,) = [
        doc
        for doc in yaml.safe_load_all((REPO / "dist/kueue.k8s.yaml").read_text())
        if doc and doc["kind"] == "JobSet"
    ]
    assert jobset["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == local["metadata"]["name"]
    assert jobset["metadata"]["namespace"] == local["metadata"]["namespace"]
    # Kueue admits the whole JobSet only if the quota holds every pod's requests at once.
    needed: dict[str, Decimal] = {}
    for job in jobset["spec"]["replicatedJobs"]:
        pods = job["replicas"] * job["template"]["spec"]["parallelism"]
        requests = job["template"]["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]
        for resource, amount in requests.items():
            needed[resource] = needed.get(resource, Decimal(0)) + pods * parse_quantity(amount, resource)
    (group,) = cluster["spec"]["resourceGroups"]
    assert set(needed) <= set(group["coveredResources"])
    flavor = next(f for f in group["flavors"] if f["name"] == queues["ResourceFlavor"]["metadata"]["name"])
    quota = {r["name"]: parse_quantity(r["nominalQuota"], r["name"]) for r in flavor["resources"]}
    for resource, amount in needed.items():
        assert amount <= quota[resource], (resource, amount, quota[resource])
