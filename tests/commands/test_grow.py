"""``dasag grow``: a growth config by file or shipped name; bad input is one sentence before anything is written."""

from __future__ import annotations

from dasag.commands.grow import main


def test_a_config_without_a_growth_block_is_one_sentence_and_writes_nothing(tmp_path, capsys):
    assert main(["--config", "demo", "--out", str(tmp_path / "out")]) == 2
    assert "has no growth block" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_shipped_growth_config_is_found_by_its_name_and_a_bad_thread_count_refused(tmp_path, capsys):
    for threads in ("0", "100000"):
        assert main(["--config", "large/cpu_1024", "--out", str(tmp_path / "out"), "--threads", threads]) == 2
        assert "--threads must be a whole number from 1 to 1024" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
