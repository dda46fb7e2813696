"""Errors a user reads, and the helpers that make every one of them one sentence.

Bad input is a :class:`ConfigError` whose message is the sentence shown (``error: ...``, exit
status 2). Errors raised deeper (a constructor's ``ValueError``, jsonargparse's nested report,
a reader's long complaint) become one sentence through :func:`first_line`.
"""

from __future__ import annotations

import re


class ConfigError(ValueError):
    """A configuration value that is not allowed; the message is the one sentence shown."""


def root_cause(error: BaseException) -> BaseException:
    """The innermost cause: jsonargparse wraps a constructor's one-sentence ``ValueError``
    in a long "does not validate against any of the Union subtypes" report (and so a constructor's
    ``ImportError``: a zoo library that is missing or does not fit torch, whose message is its sentence)."""
    while True:  # a ``raise ... from None`` already chose its sentence: its hidden context is not a cause
        inner = error.__cause__ or (None if error.__suppress_context__ else error.__context__)
        if inner is None:
            break
        if not isinstance(inner, (ValueError, FileNotFoundError, ImportError)):
            break
        error = inner
    return error


_PARSER_KEY = re.compile(r'^\s*(?:- )?(?:(?:Problem with given class_path|Type .* expects) .*:\s*)?Parser key "([^"]+)":\s*$')


_STRUCTURE = ("Does not validate", "Subtypes:", "Errors:", "Given value", "- Problem with given class_path", "Problem with given class_path",
              "- Expected a <class 'NoneType'>", "Expected a path but", "Expected a dot import path")


_EXPECTED = re.compile(r"^Expected an? (.*?)(?:\. Got value: (.*))?$")


def _type_words(text: str) -> str:
    literal = re.fullmatch(r"typing\.Literal\[(.*)\]", text)
    if literal:
        return f"one of {literal.group(1)}"
    return re.sub(r"<class '(?:[\w.]+\.)?(\w+)'>", r"\1", text)


def parser_sentence(text: str) -> str:
    """jsonargparse's nested report ("Parser key ...", union subtypes, ...) as one sentence:
    the full key path and the innermost complaint, e.g. ``model.objective.arctanh_on: expected
    one of 'copy', 'batch_mean'; got 'batch'.``"""
    lines = text.splitlines()
    keys, last_key = [], 0
    for n, line in enumerate(lines):
        match = _PARSER_KEY.match(line)
        if match:
            keys.append(match.group(1))
            last_key = n
    depth = len(lines[last_key]) - len(lines[last_key].lstrip(" -"))
    inner = []
    for line in lines[last_key + 1 :]:  # the innermost key's own block: lines indented deeper than it
        if line.strip() and len(line) - len(line.lstrip(" -")) <= depth:
            break
        inner.append(line.strip())
    problem = next((line.removeprefix("- ") for line in inner if line and not line.startswith(_STRUCTURE)
                    and not line.removeprefix("- ").startswith(_STRUCTURE)), "")
    if not problem:
        return lines[0].strip()
    given = next((line.removeprefix("Given value:").split(". Got value:")[0].strip() for line in inner if line.startswith("Given value:")), None)
    expected = _EXPECTED.match(problem)
    if expected:
        got = expected.group(2) if expected.group(2) is not None else given
        nullable = " or null" if "- Expected a <class 'NoneType'>" in inner else ""
        problem = f"expected {_type_words(expected.group(1))}{nullable}" + (f"; got {got!r}" if got is not None else "")
    sentence = f"{'.'.join(keys)}: {problem[0].lower() + problem[1:]}" if keys else problem
    return sentence.rstrip(".") + "."


_CLASS_PROBLEM = re.compile(r"^Problem with given class_path '([^']+)':\s*$")
_NOT_ACCEPTED = re.compile(r"^Option '([^']+)' is not accepted")


def unaccepted_argument(text: str) -> tuple[str, str, str] | None:
    """``(key, class_path, argument)`` when jsonargparse's report ``text`` refuses an ``init_args``
    entry the configured class does not take, else ``None``. Its own sentence names the wrong thing
    when the key takes a union (a scorer or an ensemble): "import path ScorerEnsemble does not
    correspond to a subclass of Scorer" for ``drop_connect`` on an ensemble. The key is the config's
    path to that class, ``init_args`` included (``model.scorer.init_args.scorers`` for a member)."""
    lines = text.splitlines()

    def indent(line: str) -> int:
        return len(line) - len(line.lstrip(" -"))

    for n, line in enumerate(lines):
        option = _NOT_ACCEPTED.match(line.strip(" -"))
        if not option:
            continue
        ancestors, depth = [], indent(line)
        for above in reversed(lines[:n]):  # the lines this one is nested in, innermost first
            if above.strip() and indent(above) < depth:
                ancestors.append(above.strip(" -"))
                depth = indent(above)
        classes = [m.group(1) for m in map(_CLASS_PROBLEM.match, ancestors) if m]
        if not classes:
            return None
        keys = []
        for above in reversed(ancestors):  # outermost first: a key nested in a class's report is one of its init_args
            key = _PARSER_KEY.match(above)
            if key:
                keys.append(("init_args." if keys else "") + key.group(1))
        return ".".join(keys), classes[0], option.group(1)
    return None


#: A quoted value longer than this is shown as an excerpt (its start and end) in an error sentence.
EXCERPT_CHARS = 200


_LONG_QUOTED = re.compile(r"""(['"])([^'"\n]{""" + str(EXCERPT_CHARS + 1) + r""",})\1""")


def bounded(sentence: str) -> str:
    """``sentence`` with every long quoted value cut to an excerpt and its length: a
    100,000-character prompt is named, not echoed."""
    def excerpt(m: re.Match) -> str:
        quote, value = m.group(1), m.group(2)
        return f"{quote}{value[:100]}...{value[-40:]}{quote} ({len(value):,} characters)"

    return _LONG_QUOTED.sub(excerpt, sentence)


def error_text(error: BaseException) -> str:
    """An error's own first line, or its type's name when it has no message: the one reading
    of an exception every sentence built around one starts from."""
    text = str(error).strip()
    return text.splitlines()[0].strip() if text else type(error).__name__


def first_line(error: BaseException) -> str:
    """The sentence of an error: the root cause's first line (jsonargparse appends usage
    text), or for jsonargparse's own nested report the key path and its complaint; long
    quoted values are excerpted (:func:`bounded`)."""
    root = root_cause(error)
    text = str(root).strip()
    if not text:
        return type(error).__name__
    if _PARSER_KEY.match(text.splitlines()[0]):
        return bounded(parser_sentence(text))
    return bounded(error_text(root))

