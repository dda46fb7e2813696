"""``dasag batch``: a rows file and a config by name; bad rows and options are one sentence before anything is written."""

from __future__ import annotations

from dasag.commands.batch import main


def test_a_missing_rows_file_is_one_sentence(tmp_path, capsys):
    assert main([str(tmp_path / "rows.csv"), "--config", "demo", "--out", str(tmp_path / "out")]) == 2
    assert "rows file" in capsys.readouterr().err and not (tmp_path / "out").exists()


def test_a_row_with_an_unknown_key_is_named_before_anything_is_written(tmp_path, capsys):
    rows = tmp_path / "rows.csv"
    rows.write_text("prompt,colour\ngoldfish,red\n")
    assert main([str(rows), "--config", "demo", "--out", str(tmp_path / "out")]) == 2
    assert "row 1 of" in capsys.readouterr().err and not (tmp_path / "out").exists()
