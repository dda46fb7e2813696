"""``dasag <command>``: the command table; every command has help and refuses a bad option in one sentence, writing nothing."""

from __future__ import annotations

import os

import pytest

from dasag.commands import COMMANDS, main
from dasag.commands.skeleton import BAD_INPUT


@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_command_has_help(command, capsys):
    assert main([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert "usage: dasag " + command in out and "examples:" in out


#: What each command requires, so the bad option is the only thing wrong.
REQUIRED = {"fit": ["--config", "demo"], "animate": ["--config", "x.yaml", "--out", "out"], "grow": ["--config", "x.yaml", "--out", "out"],
            "batch": ["rows.csv", "--config", "demo", "--out", "out"], "quality": ["transfer", "--out", "out"],
            "personalize": ["--images", "x", "--out", "x.pt", "--config", "style"], "bench": [], "app": []}


def test_every_command_is_in_the_table_above():
    assert set(REQUIRED) == set(COMMANDS)


@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_command_refuses_a_bad_option_in_one_sentence_and_writes_nothing(command, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main([command, *REQUIRED[command], "--no-such-option", "1"]) == BAD_INPUT
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "no-such-option" in err[0], err
    assert os.listdir(tmp_path) == []


def test_dasag_lists_the_commands_and_refuses_an_unknown_one(capsys):
    assert main([]) == 0
    listed = capsys.readouterr().out
    assert all(f"  {name} " in listed for name in COMMANDS)
    assert main(["fitt"]) == BAD_INPUT
    assert "unknown command 'fitt'" in capsys.readouterr().err
