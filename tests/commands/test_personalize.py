"""``dasag personalize``: the options reach the embedding, and a bad one is one sentence that writes nothing."""

from __future__ import annotations

from dasag.commands.personalize import main


def test_a_missing_picture_folder_is_one_sentence_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "style.pt"
    assert main(["--images", str(tmp_path / "none"), "--out", str(out), "--config", "style"]) == 2
    assert "is neither an image file nor a folder" in capsys.readouterr().err and not out.exists()


def test_the_size_option_is_checked(tmp_path, capsys):
    (tmp_path / "pics").mkdir()
    assert main(["--images", "assets/style", "--out", str(tmp_path / "s.pt"), "--config", "style", "--size", "8"]) == 2
    assert "--size must be at least 32 px" in capsys.readouterr().err
