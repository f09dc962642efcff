"""The original Helm chart's values: the only package that knows its keys.

It loads values files and ``--set`` flags as Helm does, checks them against the chart's schema,
maps them onto the render core's props and restates the core's errors in values keys. It imports
neither cdk8s nor the constructs, so the CLI starts no Node.js.
"""

from .load import default_values, load_values_file, merge, resolve_values, validate
from .props import experiment_props, plan, values_key

__all__ = [
    "default_values",
    "experiment_props",
    "load_values_file",
    "merge",
    "plan",
    "resolve_values",
    "validate",
    "values_key",
]
