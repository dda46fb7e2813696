"""``--help`` a person can read: short usage, no Sphinx markup, one paragraph per option.

jsonargparse builds each option's help from its constructor's docstring, which is written for
the API documentation (``:class:`~lightning.pytorch.Trainer```, double back-quotes, several
paragraphs on the Trainer's options). :class:`HelpFormatter` shows the same text as a terminal
reader wants it: roles reduced to their names, literals unquoted, only the first sentence, and
a usage line that says how a command is called instead of listing a hundred options.
"""

from __future__ import annotations

import re

from jsonargparse import DefaultHelpFormatter

#: ``:class:`~a.b.C``` / ``:func:`f``` / ``:paramref:`x``` -> the last name.
_ROLE = re.compile(r":[a-z]+:`~?(?:[^`<]*<)?([^`>]+?)>?`")
_LITERAL = re.compile(r"``([^`]+)``")


#: The end of a docstring's first sentence: a full stop before a space and a capital or the end.
_SENTENCE_END = re.compile(r"(?<=[a-z0-9)\]])\.(?=\s+[A-Z(]|$)")


def plain(text: str) -> str:
    """Docstring text as a terminal shows it: the first sentence, roles and literals unmarked."""
    text = " ".join(text.strip().split("\n\n")[0].split())
    text = _ROLE.sub(lambda m: m.group(1).rsplit(".", 1)[-1], text)
    text = _LITERAL.sub(r"\1", text)
    end = _SENTENCE_END.search(text)
    return text[: end.end()] if end else text


class HelpFormatter(DefaultHelpFormatter):
    """jsonargparse's formatter (types and defaults shown) with plain help text and a short usage."""

    def _get_help_string(self, action) -> str:
        if action.help:
            action.help = plain(action.help)
        return super()._get_help_string(action)

    def _format_usage(self, usage, actions, groups, prefix) -> str:
        return f"usage: {self._prog} --config FILE [--KEY VALUE ...]\n\n"
