"""User-facing errors: one clear line each, turned into exit code 2 by the CLI."""
from __future__ import annotations


class HwsimError(Exception):
    """Bad user input (file, name, field or value). The message is one line meant for the user."""


class ConfigError(HwsimError):
    """One or more invalid fields in a config file or override.

    Every problem names the file, the field, the bad value and what is allowed; all problems of
    a file are collected and raised once.
    """

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = list(problems)
        super().__init__(f"{source}: " + "; ".join(self.problems))


class UnknownName(HwsimError):
    """A model, preset, backend or algorithm name that does not exist; lists the valid ones."""

    def __init__(self, what: str, name: str, available):
        self.name = name
        super().__init__(f"unknown {what} '{name}'; available: {', '.join(sorted(available))}")
