"""``--help`` a person can read: the first sentence of each docstring, no Sphinx roles or literal quotes, a short usage line."""

from __future__ import annotations

import pytest

from dasag.commands import main
from dasag.run.help import plain


def test_plain_keeps_the_first_sentence_of_the_first_paragraph():
    assert plain("Weight of the prompt term. Zero makes the run prompt-free.") == "Weight of the prompt term."
    assert plain("The first paragraph,\n  wrapped over lines.\n\nA second paragraph.") == "The first paragraph, wrapped over lines."
    assert plain("  no full stop at all  ") == "no full stop at all"
    assert plain("Steps (each one step of Adam). (Default: 60)") == "Steps (each one step of Adam)."


def test_plain_does_not_cut_at_a_full_stop_inside_a_number_or_a_name():
    assert plain("A side of 0.5 of the canvas, e.g. half.") == "A side of 0.5 of the canvas, e.g. half."
    assert plain("Reads ``config.yaml`` beside the checkpoint. Then resumes.") == "Reads config.yaml beside the checkpoint."


@pytest.mark.parametrize(("text", "expected"), [
    (":class:`~lightning.pytorch.Trainer` options.", "Trainer options."),
    (":class:`lightning.pytorch.Trainer` options.", "Trainer options."),
    ("See :func:`dasag.core.files.write_bytes_atomic`.", "See write_bytes_atomic."),
    ("Like :paramref:`max_steps`.", "Like max_steps."),
    ("A :class:`trainer <lightning.pytorch.Trainer>` runs it.", "A Trainer runs it."),
])
def test_plain_reduces_a_role_to_its_last_name(text, expected):
    assert plain(text) == expected


def test_plain_unquotes_literals():
    assert plain("Use ``last_step`` or ``steps``.") == "Use last_step or steps."
    assert "``" not in plain("``a`` and ``b``") and ":class:" not in plain(":class:`~a.b.C` and :class:`D`")


def test_fit_help_has_the_short_usage_and_no_markup(capsys):
    assert main(["fit", "--help"]) == 0
    out = capsys.readouterr().out
    usage = [line for line in out.splitlines() if line.startswith("usage:")]
    assert usage == ["usage: dasag fit --config FILE [--KEY VALUE ...]"]
    assert ":class:" not in out and "``" not in out and ":func:" not in out
    assert "--trainer.max_steps" in out and "--model.pyramid" in out  # the options themselves are still listed
