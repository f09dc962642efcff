"""The example experiments, built with the typed props as a cdk8s user would build them.

Each function adds one experiment to a Chart. Every one has a values file of the same name in
``examples/k8s/`` for CLI users, and a test checks that ``prime-rl-k8s synth <name> -f
examples/k8s/<name>.yaml`` prints the same objects as this app: the two stay one example.
Roles left without ``auto_start=True`` idle in ``sleep infinity`` (the chart's interactive
default, which the values files keep).
"""

from __future__ import annotations

from collections.abc import Callable

from constructs import Construct
from prime_rl_k8s import PrimeRLExperiment, RoleProps

INTERACTIVE = RoleProps(auto_start=False)
#: App name -> the function that builds it into a Chart.
EXAMPLES: dict[str, Callable[[Construct, str], PrimeRLExperiment]] = {}


def example(
    name: str,
) -> Callable[[Callable[[Construct, str], PrimeRLExperiment]], Callable[..., PrimeRLExperiment]]:
    def register(build: Callable[[Construct, str], PrimeRLExperiment]) -> Callable[..., PrimeRLExperiment]:
        EXAMPLES[name] = build
        return build

    return register


@example("reverse-text")
def reverse_text(scope: Construct, name: str) -> PrimeRLExperiment:
    """Qwen3-0.6B, one GPU for inference and one for the trainer, each role running its preset."""
    return PrimeRLExperiment(
        scope,
        name,
        name=name,
        example="reverse-text",
        shared_config={"max_steps": 20, "seq_len": 2048},
        orchestrator=RoleProps(config={"batch_size": 128}, cpu_request="500m", memory_request="1Gi"),
        inference=RoleProps(gpu_count=1, cpu_request="8", memory_request="32Gi"),
        trainer=RoleProps(
            config={"optim": {"lr": 3e-06}}, gpu_count=1, cpu_request="8", memory_request="64Gi"
        ),
    )


@example("wordle")
def wordle(scope: Construct, name: str) -> PrimeRLExperiment:
    """Qwen3-1.7B with two GPUs per role; the two trainer processes run under torchrun."""
    return PrimeRLExperiment(
        scope,
        name,
        name=name,
        example="wordle",
        shared_config={"max_steps": 100, "seq_len": 4096},
        orchestrator=RoleProps(config={"batch_size": 1024}, cpu_request="1", memory_request="2Gi"),
        inference=RoleProps(gpu_count=2, cpu_request="8", memory_request="64Gi"),
        trainer=RoleProps(
            config={"optim": {"lr": 1e-06}}, gpu_count=2, cpu_request="16", memory_request="128Gi"
        ),
    )


@example("alphabet-sort")
def alphabet_sort(scope: Construct, name: str) -> PrimeRLExperiment:
    """Qwen3-4B-Instruct trained with LoRA adapters, one GPU per role."""
    return PrimeRLExperiment(
        scope,
        name,
        name=name,
        example="alphabet-sort",
        shared_config={"max_steps": 100, "seq_len": 2048},
        orchestrator=RoleProps(config={"batch_size": 512}, cpu_request="1", memory_request="2Gi"),
        inference=RoleProps(gpu_count=1, cpu_request="8", memory_request="64Gi"),
        trainer=RoleProps(
            config={"optim": {"lr": 1e-05}}, gpu_count=1, cpu_request="16", memory_request="128Gi"
        ),
    )


@example("multi-node")
def multi_node(scope: Construct, name: str) -> PrimeRLExperiment:
    """2 trainer pods x 8 GPUs on distinct nodes; 2 inference pods spread across nodes if possible."""
    return PrimeRLExperiment(
        scope,
        name,
        name=name,
        example="reverse-text",
        inference=RoleProps(replicas=2, gpu_count=1, pod_anti_affinity="preferred"),
        trainer=RoleProps(
            replicas=2, gpu_count=8, cpu_request="32", memory_request="256Gi", pod_anti_affinity="required"
        ),
    )


@example("jobset")
def jobset(scope: Construct, name: str) -> PrimeRLExperiment:
    """reverse-text as one JobSet: done when the trainer is, deleted a day later."""
    return PrimeRLExperiment(
        scope,
        name,
        name=name,
        example="reverse-text",
        workload="jobset",
        jobset_ttl_seconds_after_finished=86400,
        inference=RoleProps(gpu_count=1),
        trainer=RoleProps(gpu_count=1),
    )


@example("kueue")
def kueue(scope: Construct, name: str) -> PrimeRLExperiment:
    """multi-node as a JobSet in the Kueue queue `prime-rl`: all 4 GPU pods admitted at once."""
    return PrimeRLExperiment(
        scope,
        name,
        name=name,
        example="reverse-text",
        workload="jobset",
        kueue_queue_name="prime-rl",
        inference=RoleProps(replicas=2, gpu_count=1, pod_anti_affinity="preferred"),
        trainer=RoleProps(
            replicas=2, gpu_count=8, cpu_request="32", memory_request="256Gi", pod_anti_affinity="required"
        ),
    )


@example("platform")
def platform(scope: Construct, name: str) -> PrimeRLExperiment:
    """multi-node with a platform team's settings: registry, identity, affinity, RDMA, monitoring, policy."""
    return PrimeRLExperiment(
        scope,
        name,
        name=name,
        example="reverse-text",
        image_pull_secrets=("registry-credentials",),
        service_account_create=True,
        service_account_annotations={
            "iam.gke.io/gcp-service-account": "prime-rl@research.iam.gserviceaccount.com"
        },
        monitoring_pod_monitor_enabled=True,
        monitoring_pod_monitor_labels={"release": "kube-prometheus-stack"},
        network_policy_enabled=True,
        inference=RoleProps(
            replicas=2,
            gpu_count=1,
            topology_spread_constraints=(
                {
                    "maxSkew": 1,
                    "topologyKey": "kubernetes.io/hostname",
                    "whenUnsatisfiable": "ScheduleAnyway",
                    "labelSelector": {"matchLabels": {"role": "inference"}},
                },
            ),
        ),
        trainer=RoleProps(
            replicas=2,
            gpu_count=8,
            cpu_request="32",
            memory_request="256Gi",
            rdma_enabled=True,
            pod_annotations={"cluster-autoscaler.kubernetes.io/safe-to-evict": "false"},
            affinity={
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [
                            {
                                "matchExpressions": [
                                    {
                                        "key": "nvidia.com/gpu.product",
                                        "operator": "In",
                                        "values": ["NVIDIA-H100-80GB-HBM3", "NVIDIA-H200"],
                                    }
                                ]
                            }
                        ]
                    }
                }
            },
            pod_anti_affinity={
                "requiredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "labelSelector": {
                            "matchExpressions": [{"key": "role", "operator": "In", "values": ["trainer"]}]
                        },
                        "topologyKey": "kubernetes.io/hostname",
                    }
                ]
            },
        ),
    )


@example("distributed-training")
def distributed_training(scope: Construct, name: str) -> PrimeRLExperiment:
    """80 trainer processes (10 pods x 8 GPUs) and 4 inference servers on a 4 TiB volume."""
    return PrimeRLExperiment(
        scope,
        name,
        name=name,
        example="alphabet-sort",
        storage_size="4Ti",
        orchestrator=RoleProps(cpu_request="4", memory_request="8Gi"),
        inference=RoleProps(
            replicas=4, gpu_count=1, cpu_request="4", memory_request="32Gi", pod_anti_affinity="preferred"
        ),
        trainer=RoleProps(
            replicas=10,
            gpu_count=8,
            shm_size_gib=64,
            cpu_request="64",
            memory_request="512Gi",
            memory_limit="1Ti",
            pod_anti_affinity="required",
        ),
    )


@example("inference-only")
def inference_only(scope: Construct, name: str) -> PrimeRLExperiment:
    """One 8-GPU vLLM server with data parallelism, without orchestrator or trainer."""
    return PrimeRLExperiment(
        scope,
        name,
        name=name,
        example="reverse-text",
        orchestrator=RoleProps(enabled=False),
        trainer=RoleProps(enabled=False),
        inference=RoleProps(
            gpu_count=8,
            cpu_request="16",
            memory_request="128Gi",
            command=(
                "inference @ /app/examples/reverse_text/configs/infer.toml --parallel.data-parallel-size 8"
            ),
        ),
    )


@example("custom-gpu")
def custom_gpu(scope: Construct, name: str) -> PrimeRLExperiment:
    """Interactive pods (``kubectl exec`` in to start each role) with 4 inference and 2 trainer GPUs."""
    return PrimeRLExperiment(
        scope,
        name,
        name=name,
        orchestrator=INTERACTIVE,
        inference=RoleProps(auto_start=False, gpu_count=4),
        trainer=RoleProps(auto_start=False, gpu_count=2),
    )


@example("custom-resources")
def custom_resources(scope: Construct, name: str) -> PrimeRLExperiment:
    """Interactive pods with a larger trainer: 16-32 CPUs and 64-128 GiB of memory."""
    return PrimeRLExperiment(
        scope,
        name,
        name=name,
        orchestrator=INTERACTIVE,
        inference=INTERACTIVE,
        trainer=RoleProps(
            auto_start=False, cpu_request="16", memory_request="64Gi", cpu_limit="32", memory_limit="128Gi"
        ),
    )


@example("custom-values")
def custom_values(scope: Construct, name: str) -> PrimeRLExperiment:
    """Interactive pods on a 500 GiB claim of another storage class, kept when the app is deleted."""
    return PrimeRLExperiment(
        scope,
        name,
        name=name,
        storage_class_name="my-storage-class",
        storage_size="500Gi",
        storage_retain_on_delete=True,
        orchestrator=INTERACTIVE,
        inference=INTERACTIVE,
        trainer=INTERACTIVE,
    )


@example("smoke")
def smoke(scope: Construct, name: str) -> PrimeRLExperiment:
    """The whole loop with the tiny model on CPU nodes (kind, minikube, any CPU pool)."""
    return PrimeRLExperiment(
        scope,
        name,
        name=name,
        example="smoke",
        storage_class_name=None,
        storage_access_modes=("ReadWriteOnce",),
        storage_size="5Gi",
        orchestrator=RoleProps(
            env={"HF_DATASETS_OFFLINE": "1"}, cpu_request="250m", memory_request="1Gi", memory_limit="2Gi"
        ),
        inference=RoleProps(
            gpu_count=0,
            env={"VLLM_CPU_KVCACHE_SPACE": "1"},
            shm_size_gib=1,
            cpu_request="1",
            memory_request="3Gi",
            memory_limit="6Gi",
        ),
        trainer=RoleProps(gpu_count=0, cpu_request="1", memory_request="2Gi", memory_limit="4Gi"),
    )
