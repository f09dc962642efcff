"""The one exception type the construct library raises for bad input."""

from __future__ import annotations

from collections.abc import Callable


def escape(text: str) -> str:
    """Make literal text safe inside an error template (braces are format fields there)."""
    return text.replace("{", "{{").replace("}", "}}")


class PrimeRLConfigError(ValueError):
    """A prop or values-file field was rejected.

    The message is one lowercase line that names the field, the value received and what is
    allowed, so a CLI can print it as is. The fields it names are kept apart from the text
    (``template`` with ``{0}``, ``{1}``… and ``fields``), so a layer that knows other names for
    them (the values layer speaks in Helm keys) can restate the same error in its own terms.
    """

    def __init__(self, template: str, *fields: str) -> None:
        self.template = template
        self.fields = fields
        super().__init__(template.format(*fields) if fields else template)

    def renamed(self, rename: Callable[[str], str]) -> PrimeRLConfigError:
        """The same error with every field name passed through ``rename``."""
        if not self.fields:
            return self
        return PrimeRLConfigError(self.template, *(rename(field) for field in self.fields))
