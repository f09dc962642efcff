"""User-facing trainer errors: entry points print these as one line and exit non-zero."""


class TrainerError(Exception):
    """A problem with the trainer's input (config, model path, rollout file), not a bug."""
