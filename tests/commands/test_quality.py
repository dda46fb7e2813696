"""``dasag quality``: a suite by name, shipped overrides by name, one sentence for options of another suite."""

from __future__ import annotations

import pytest

from dasag.commands.quality import main


@pytest.mark.parametrize(("args", "words"), [
    (["transfer", "--samples", "2"], "--samples narrows the das_ag_v2 suite"),
    (["das_ag_v2", "--classes", "2"], "--classes/--seeds narrow the transfer suite"),
    (["transfer", "--override", "no_such_overlay"], "config 'no_such_overlay' does not exist, here or among the shipped configs"),
    (["transfer", "--classes", "99"], "--classes must be at most"),
])
def test_options_of_another_suite_are_one_sentence_and_write_nothing(tmp_path, capsys, args, words):
    out = tmp_path / "out"
    assert main([*args, "--out", str(out)]) == 2
    assert words in capsys.readouterr().err and not out.exists()


@pytest.mark.slow
def test_a_shipped_overlay_is_taken_by_name(tmp_path, capsys):
    out = tmp_path / "out"
    args = ["transfer", "--out", str(out), "--classes", "1", "--seeds", "1", "--steps", "1", "--methods", "pyramid", "--threads", "1",
            "--override", "quality/draft"]
    assert main(args) == 0
    assert '"quality/draft"' not in (out / "run.json").read_text()  # the overlay's settings are stored, not its name
    assert "1 images in" in capsys.readouterr().out
