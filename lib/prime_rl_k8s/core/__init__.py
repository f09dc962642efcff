"""The render core: typed props (frozen dataclasses) in, plain Kubernetes manifest dicts out.

No cdk8s, no jsii, no Node: the CLI renders through this package alone, and the constructs
wrap the same models, so both paths emit the same objects and every rule has one home here.
"""
