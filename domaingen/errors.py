"""Errors a user can cause, each naming the thing at fault and the fix.

The CLI prints these in one or two lines (no traceback unless ``--debug``) and exits
with ``exit_code``: 2 for usage and validation errors, 1 for other failures.
"""

from __future__ import annotations

__all__ = [
    "DomaingenError",
    "UsageError",
    "RecipeError",
    "DataError",
    "ConditionError",
    "BundleError",
    "PluginError",
]


class DomaingenError(Exception):
    """Base of every error a user can cause; ``exit_code`` is what the CLI returns."""

    exit_code = 1


class UsageError(DomaingenError):
    """The command or its arguments are wrong (exit code 2)."""

    exit_code = 2


class RecipeError(UsageError):
    """A recipe failed validation; ``problems`` lists every problem found at once."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        count = len(self.problems)
        super().__init__(f"{source}: {count} problem{'s' if count != 1 else ''} in the recipe:\n{lines}")


class DataError(UsageError):
    """Input data is missing, unreadable, empty or of a type that cannot be handled."""


class ConditionError(UsageError):
    """A generation condition names an unknown column/value or cannot be satisfied."""


class BundleError(UsageError):
    """A bundle is missing, truncated, tampered with or made by an incompatible version."""


class PluginError(DomaingenError):
    """A plugin or model family is unknown or failed to import."""

    exit_code = 2
