"""dasag animate: bad run settings and options are one sentence and write nothing."""

from __future__ import annotations

from pathlib import Path

from dasag.commands.animate import main
from feature_helpers import clip_config, run_main, write_yaml


def test_bad_run_settings_and_options_are_one_sentence(tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    config = clip_config()
    config["seed_everything"] = True
    rc, err = run_main(main, ["--config", str(write_yaml(tmp_path, config)), "--out", str(out)], capsys)
    assert rc == 2 and len(err) == 1 and "whole-number seed_everything" in err[0]
    config = clip_config()
    config["data"] = {"prompts_file": "configs/prompts/mona_lisa.yaml"}
    rc, err = run_main(main, ["--config", str(write_yaml(tmp_path, config)), "--out", str(out)], capsys)
    assert rc == 2 and len(err) == 1 and "prompts_file cannot be used in an animation" in err[0]
    rc, err = run_main(main, ["--config", str(tmp_path / "missing.yaml"), "--out", str(out)], capsys)
    assert rc == 2 and len(err) == 1 and "does not exist" in err[0]
    rc, err = run_main(main, ["--config", str(write_yaml(tmp_path, clip_config()))], capsys)
    assert rc == 2 and len(err) == 1 and "--out" in err[0]
    for threads in ("0", "100000"):  # 100,000: libgomp ran out of memory after animation.json and the lock were written
        rc, err = run_main(main, ["--config", str(write_yaml(tmp_path, clip_config())), "--out", str(out), "--threads", threads], capsys)
        assert rc == 2 and len(err) == 1 and "--threads must be a whole number from 1 to 1024 (CPU threads: more than any machine has" in err[0]
        assert err[0].endswith(f"got {threads}.")
    assert not out.exists()
