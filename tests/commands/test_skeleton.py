"""The one skeleton every command runs on: options without abbreviations, one sentence and exit 2 for bad input, exit 1 for a full disk."""

from __future__ import annotations

from dasag.commands import main
from dasag.commands.skeleton import BAD_INPUT, Command, run_command


def test_a_misspelt_prefix_is_refused_not_completed(capsys, tmp_path):
    assert main(["fit", "--config", "demo", "--trainer.max_step", "3", "--trainer.default_root_dir", str(tmp_path / "run")]) == BAD_INPUT
    assert "--trainer.max_step" in capsys.readouterr().err and not (tmp_path / "run").exists()


def test_a_missing_required_option_is_named_as_typed(capsys):
    assert main(["animate", "--config", "animation/daisy_to_volcano"]) == BAD_INPUT
    assert "the following arguments are required: --out (dasag animate --help lists the options)." in capsys.readouterr().err


def test_a_full_disk_is_one_sentence_saying_what_is_kept_and_status_1(capsys):
    import errno

    def fill(args):
        raise OSError(errno.ENOSPC, "No space left on device", "/x/y.png")

    command = Command("demo", "a command whose disk fills", fill, kept=lambda args: "every finished picture is kept in 'out'")
    assert run_command(command, []) == 1
    err = capsys.readouterr().err.strip()
    assert err == "error: no space left on device while writing '/x/y.png'; every finished picture is kept in 'out'"
