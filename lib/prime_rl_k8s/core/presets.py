"""Per-example defaults: model, GPUs per role, resources and the runtime command each role runs.

The commands run the runtime's console scripts on the TOMLs the image ships under
``/app/examples/<directory>/``; the runtime reads everything cluster-specific (URLs, world size,
output dir) from the env the constructs set, so the commands stay short and identical per cluster.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .validation import fail

ORCHESTRATOR = "orchestrator"
INFERENCE = "inference"
TRAINER = "trainer"
ROLES = (ORCHESTRATOR, INFERENCE, TRAINER)
#: Where the image keeps the example TOMLs.
EXAMPLES_ROOT = "/app/examples"
#: Where the smoke example builds its tiny model on the shared volume (its TOMLs point there).
SMOKE_MODEL_DIR = "/data/models/tiny"


@dataclass(frozen=True)
class RoleDefaults:
    """What a role gets when its props leave a field unset."""

    gpu_count: int
    cpu_request: str
    memory_request: str
    cpu_limit: str
    memory_limit: str


#: (cpu request, memory request, cpu limit, memory limit). The requests are the original chart's
#: defaults, so a values file and the Python props that leave them unset render the same pods.
_GPU_ROLE_RESOURCES = {
    ORCHESTRATOR: ("1", "2Gi", "4", "16Gi"),
    INFERENCE: ("1", "4Gi", "16", "64Gi"),
    TRAINER: ("1", "4Gi", "16", "128Gi"),
}
_CPU_ROLE_RESOURCES = {
    ORCHESTRATOR: ("500m", "1Gi", "2", "4Gi"),
    INFERENCE: ("1", "4Gi", "2", "8Gi"),
    TRAINER: ("1", "4Gi", "2", "8Gi"),
}


@dataclass(frozen=True)
class ExamplePreset:
    """One runnable example.

    ``name`` is the ``example`` label value and the key users select it by; ``directory`` is its
    folder under ``/app/examples``; ``gpus`` maps inference/trainer to GPUs per pod (the
    orchestrator never needs one); ``lora`` says the example trains LoRA adapters; ``cpu_only``
    examples also build the tiny model before each role starts.
    """

    name: str
    directory: str
    model: str
    gpus: Mapping[str, int] = field(default_factory=dict)
    lora: bool = False
    cpu_only: bool = False

    @property
    def volume_paths(self) -> tuple[str, ...]:
        """Paths on the shared volume that the example's configs name (so the mount must hold them)."""
        return (SMOKE_MODEL_DIR,) if self.cpu_only else ()

    def role_defaults(self, role: str) -> RoleDefaults:
        resources = _CPU_ROLE_RESOURCES if self.cpu_only else _GPU_ROLE_RESOURCES
        cpu_request, memory_request, cpu_limit, memory_limit = resources[_require_role(role)]
        return RoleDefaults(self.gpus.get(role, 0), cpu_request, memory_request, cpu_limit, memory_limit)

    def config_path(self, role: str) -> str:
        """The TOML the role reads, e.g. `/app/examples/wordle/configs/train.toml`."""
        stem = {ORCHESTRATOR: "orch", INFERENCE: "infer", TRAINER: "train"}[_require_role(role)]
        if self.cpu_only:
            return f"{EXAMPLES_ROOT}/{self.directory}/{stem}.toml"
        return f"{EXAMPLES_ROOT}/{self.directory}/configs/{stem}.toml"

    def command(self, role: str, *, replicas: int = 1, gpu_count: int | None = None) -> str:
        """The shell command a role's pods run.

        A trainer with more than one process in total (several pods, or several GPUs in a pod) runs
        under torchrun with one node per pod; rank and peers come from the pod env.
        """
        gpus = self.gpus.get(role, 0) if gpu_count is None else gpu_count
        toml = self.config_path(role)
        if role == TRAINER and (replicas > 1 or gpus > 1):
            command = (
                "torchrun --nnodes=$STATEFUL_REPLICAS --node-rank=$POD_INDEX "
                f"--nproc-per-node={max(gpus, 1)} --master-addr=$MASTER_ADDR --master-port=$MASTER_PORT "
                f"-m prime_rl.trainer.rl.train @ {toml}"
            )
        else:
            command = f"{role} @ {toml}"
        if self.cpu_only:
            # exec: the role process replaces bash, so it receives SIGTERM and its exit code is the pod's.
            return f"prime-rl-tiny-model {SMOKE_MODEL_DIR} && exec {command}"
        return command


PRESETS: dict[str, ExamplePreset] = {
    preset.name: preset
    for preset in (
        ExamplePreset("reverse-text", "reverse_text", "Qwen/Qwen3-0.6B", {INFERENCE: 1, TRAINER: 1}),
        ExamplePreset("wordle", "wordle", "Qwen/Qwen3-1.7B", {INFERENCE: 2, TRAINER: 2}),
        ExamplePreset(
            "alphabet-sort",
            "alphabet_sort",
            "Qwen/Qwen3-4B-Instruct-2507",
            {INFERENCE: 1, TRAINER: 1},
            lora=True,
        ),
        ExamplePreset("smoke", "smoke", SMOKE_MODEL_DIR, cpu_only=True),
    )
}


def get_preset(example: str, field: str = "example") -> ExamplePreset:
    """The preset called `example`, or an error listing the ones that exist."""
    try:
        return PRESETS[example]
    except (KeyError, TypeError):
        raise fail(field, example, "one of " + ", ".join(sorted(PRESETS))) from None


def _require_role(role: str) -> str:
    if role not in ROLES:
        raise fail("role", role, "one of " + ", ".join(ROLES))
    return role
