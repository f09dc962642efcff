"""`python -m apps` (what `cdk8s synth` runs, see cdk8s.yaml): write `<outdir>/<app>.k8s.yaml` for every app.

The output directory is `$CDK8S_OUTDIR` when the cdk8s CLI sets it, else `dist/` in the repository.
Files are written only after every app synthesized, and manifests of removed apps are deleted.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from apps import MANIFEST_SUFFIX, REPO, synth_all


def main() -> int:
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    from prime_rl_k8s.errors import PrimeRLConfigError
    from prime_rl_k8s.output import write_atomically

    outdir = Path(os.environ.get("CDK8S_OUTDIR") or REPO / "dist")
    try:
        files = synth_all()
    except PrimeRLConfigError as exc:
        print(f"apps: {exc}", file=sys.stderr)
        return 2
    write_atomically(outdir, files, prune_suffix=MANIFEST_SUFFIX)
    for name in files:
        print(outdir / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
