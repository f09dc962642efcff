"""`prime-rl-k8s synth`: the chart's values files and `--set` flags in, plain Kubernetes YAML out.

    prime-rl-k8s synth my-exp -f examples/k8s/reverse-text.yaml --set trainer.replicas=2 \\
        | kubectl apply -f -

User mistakes (bad values, names, files or flags) print one line on stderr and exit 2; nothing is
written unless the whole synthesis succeeded. Rendering goes through the render core alone: no
cdk8s, no Node.js, so the CLI answers as fast as ``helm template``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

PROG = "prime-rl-k8s"
USAGE_ERROR = 2


class _OneLineParser(argparse.ArgumentParser):
    """argparse, but usage errors are one line (plus exit 2) instead of a usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE_ERROR, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(
        prog=PROG,
        description="Synthesize PRIME-RL experiments into Kubernetes manifests from Helm-style values.",
    )
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=_OneLineParser
    )
    synth = commands.add_parser(
        "synth",
        help="render one experiment (like `helm template RELEASE`)",
        description="Render one experiment. Values merge as in Helm: -f files in order (later wins), "
        "then every --set, then every --set-string, then every --set-file; -n overrides the values' "
        "namespace.",
    )
    synth.add_argument("release", metavar="RELEASE", help="experiment name; prefixes every object name")
    synth.add_argument(
        "-f", "--values", dest="files", action="append", default=[], metavar="VALUES",
        help="values YAML file ('-' for stdin); repeatable, later files win",
    )  # fmt: skip
    synth.add_argument(
        "--set", dest="sets", action="append", default=[], metavar="K=V",
        help="override a value with Helm typing (ints, true/false, null, a={x,y}, a[0].b=x); repeatable",
    )  # fmt: skip
    synth.add_argument(
        "--set-string", dest="set_strings", action="append", default=[], metavar="K=V",
        help="like --set but every value stays a string; repeatable",
    )  # fmt: skip
    synth.add_argument(
        "--set-file", dest="set_files", action="append", default=[], metavar="K=PATH",
        help="set a value to a file's text, e.g. trainer.config=train.toml; repeatable",
    )  # fmt: skip
    synth.add_argument("-n", "--namespace", help="namespace for every object and URL (overrides values)")
    synth.add_argument(
        "-o", "--output-dir", type=Path, metavar="DIR",
        help="write DIR/RELEASE.k8s.yaml instead of printing YAML to stdout",
    )  # fmt: skip
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point; returns the exit status (0, or 2 for a user error)."""
    args = build_parser().parse_args(argv)
    # Imported after argument parsing, so `--help` and usage errors load neither YAML nor the core.
    from prime_rl_k8s.errors import PrimeRLConfigError
    from prime_rl_k8s.output import write_atomically

    try:
        text = synth_release_yaml(
            args.release,
            files=args.files,
            sets=args.sets,
            set_strings=args.set_strings,
            namespace=args.namespace,
            set_files=args.set_files,
        )
        if args.output_dir is None:
            sys.stdout.write(text)
        else:
            write_atomically(args.output_dir, {f"{args.release}.k8s.yaml": text})
    except PrimeRLConfigError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return USAGE_ERROR
    except OSError as exc:
        print(f"{PROG}: -o {args.output_dir}: cannot write ({exc.strerror or exc})", file=sys.stderr)
        return USAGE_ERROR
    return 0


def synth_release_yaml(
    release: str,
    files: Sequence[str | Path] = (),
    sets: Sequence[str] = (),
    set_strings: Sequence[str] = (),
    namespace: str | None = None,
    set_files: Sequence[str] = (),
) -> str:
    """Multi-document YAML for one release, exactly what `prime-rl-k8s synth` prints."""
    from prime_rl_k8s.output import manifests_yaml
    from prime_rl_k8s.values import plan, resolve_values

    values = resolve_values(
        files=files, sets=sets, set_strings=set_strings, namespace=namespace, set_files=set_files
    )
    return manifests_yaml(plan(release, values).manifests())


if __name__ == "__main__":
    sys.exit(main())
