"""User-facing errors: one clear line each, turned into exit code 2 by the CLI.

Every message is one line of at most ``MAX_MESSAGE_CHARS`` characters: values quoted in it go through
:func:`short_repr` (bounded work even for a huge nested value) and :class:`HwsimError` itself folds
newlines and elides the middle of anything longer, as a last line of defence.
"""
from __future__ import annotations

import reprlib

MAX_MESSAGE_CHARS = 500     # a whole error line, before the CLI's "hwsim: error: " prefix (a hard cap;
                            # messages built from short_repr/elide values stay well under 300)
MAX_VALUE_CHARS = 80        # one quoted value (a field value, a CSV row)
MAX_PATH_CHARS = 160        # a file name in a message
SHORT_MESSAGE_CHARS = 300   # a ConfigError adds its second and later problems only within this length

_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxdict, _REPR.maxlist, _REPR.maxtuple = 2, 4, 4, 4
_REPR.maxset = _REPR.maxfrozenset = _REPR.maxdeque = _REPR.maxarray = 4
_REPR.maxstring, _REPR.maxother, _REPR.maxlong = MAX_VALUE_CHARS, MAX_VALUE_CHARS, 40


def elide(text: str, limit: int = MAX_VALUE_CHARS) -> str:
    """``text`` on one line, at most ``limit`` characters: the middle replaced by ``...`` if longer."""
    text = " ".join(str(text).splitlines())
    if len(text) <= limit:
        return text
    head = max(1, (limit - 3) * 2 // 3)
    tail = max(0, limit - 3 - head)
    return text[:head] + "..." + (text[-tail:] if tail else "")


def short_repr(value, limit: int = MAX_VALUE_CHARS) -> str:
    """``repr(value)`` bounded in time and length (``reprlib``: nested containers and long strings are
    cut before they are formatted), then :func:`elide`-d to ``limit`` characters."""
    return elide(_REPR.repr(value), limit)


class HwsimError(Exception):
    """Bad user input (file, name, field or value). The message is one line meant for the user."""

    def __init__(self, *args):
        if len(args) == 1 and isinstance(args[0], str):
            args = (elide(args[0], MAX_MESSAGE_CHARS),)
        super().__init__(*args)


class ConfigError(HwsimError):
    """One or more invalid fields in a config file or override.

    Every problem names the file, the field, the bad value and what is allowed; all problems of
    a file are collected and raised once. The first problem always shows; later ones only while the
    line stays within ``SHORT_MESSAGE_CHARS``, then the message ends with how many more there are
    (``problems`` keeps them all).
    """

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = list(problems)
        head = elide(source, MAX_PATH_CHARS) + ": "
        shown: list[str] = []
        for i, p in enumerate(self.problems):
            p = elide(p, MAX_MESSAGE_CHARS - len(head))
            rest = len(self.problems) - i
            # the first problem always shows; later ones while the line stays within SHORT_MESSAGE_CHARS
            if shown and len(head) + len("; ".join(shown + [p])) + len(f"; (+{rest - 1} more)") > SHORT_MESSAGE_CHARS:
                shown.append(f"(+{rest} more)")
                break
            shown.append(p)
        super().__init__(head + "; ".join(shown))


class UnknownName(HwsimError):
    """A model, preset, backend or algorithm name that does not exist; lists the valid ones."""

    def __init__(self, what: str, name: str, available):
        self.name = name
        names = sorted(available)
        listed = elide(", ".join(names), MAX_MESSAGE_CHARS - 60 - len(what))
        super().__init__(f"unknown {what} {short_repr(str(name), 60)}; available: {listed}")
