"""The one exception type the construct library raises for bad input."""

from __future__ import annotations


class PrimeRLConfigError(ValueError):
    """A prop or values-file field was rejected.

    The message is one lowercase line that names the field (spelled as in the values file when the
    construct knows it), the value received and what is allowed, so a CLI can print it as is.
    """
