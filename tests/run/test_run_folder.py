"""One folder per run, and a failed start leaves none behind."""

from __future__ import annotations

from pathlib import Path


def test_a_run_folder_is_discarded_only_if_this_logger_made_it_and_nothing_was_computed(tmp_path):
    from dasag.run.run_folder import RunLogger

    made = RunLogger(save_dir=str(tmp_path), name="logs")
    folder = Path(made.log_dir)
    (folder / "config.yaml").write_text("x: 1\n")
    assert made.created_dir == folder and made.discard_if_nothing_computed() and not folder.exists()
    kept = RunLogger(save_dir=str(tmp_path), name="logs")
    (Path(kept.log_dir) / "images").mkdir()
    (Path(kept.log_dir) / "images" / "step_000020.png").write_bytes(b"png")
    assert not kept.discard_if_nothing_computed() and Path(kept.log_dir).is_dir()  # an image was computed
    named = tmp_path / "logs" / "mine"
    named.mkdir(parents=True)
    (named / "notes.txt").write_text("the user's")
    users = RunLogger(save_dir=str(tmp_path), name="logs", version="mine")
    assert users.log_dir == str(named) and users.created_dir is None
    assert not users.discard_if_nothing_computed() and (named / "notes.txt").exists()  # never the user's folder
