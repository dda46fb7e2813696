"""The task engine (:mod:`dasag.batch.engine`) on tiny transfer runs: resume, check, one folder per process, two workers."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pandas as pd
import pytest
from PIL import Image

from dasag.batch import scores_file as rows_mod
from dasag.commands.quality import main as harness_main
from dasag.core.errors import ConfigError
from dasag.core.files import this_host
from dasag.core.output_folder import lock_is_free
from dasag.quality.harness import check, plan, run
from feature_helpers import REPO, TINY_TRANSFER, folder_listing, transfer_spec


@pytest.mark.slow
def test_rerun_skips_finished_images(transfer_run, tmp_path) -> None:
    out, table = transfer_run
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    made: list[dict] = []
    again = run(transfer_spec(copy), on_row=made.append)
    assert made == []  # nothing regenerated
    pd.testing.assert_frame_equal(again, table)


@pytest.mark.slow
def test_check_passes_on_fresh_run_and_fails_after_one_png_changes(transfer_run, tmp_path, capsys) -> None:
    out, table = transfer_run
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    # A subset: only the first class, through the command line.
    assert harness_main(["transfer", "--out", str(copy), "--check", "--classes", "1", "--seeds", "1", "--methods", "pyramid", "pixel"]) == 0
    assert "check: every image identical" in capsys.readouterr().out
    victim = copy / "images" / f"{table['file_hash'][2]}.png"
    with Image.open(victim) as img:
        pixels = img.convert("RGB")
        text = dict(img.text)
    x = pixels.getpixel((0, 0))
    pixels.putpixel((0, 0), ((x[0] + 1) % 256, x[1], x[2]))
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    for k, v in text.items():
        info.add_text(k, v)
    pixels.save(victim, pnginfo=info)
    problems = check(transfer_spec(copy), log=lambda m: None)
    assert len(problems) == 1 and "pixel/0" in problems[0] and victim.name in problems[0]
    assert harness_main(["transfer", "--out", str(copy), "--check"]) == 1
    printed = capsys.readouterr().out
    assert "pixel/0: stored image" in printed and "1 mismatch" in printed and "pyramid/0: identical" in printed


@pytest.mark.slow
def test_resume_after_interruption_has_no_duplicate_or_missing_rows(transfer_run, tmp_path) -> None:
    _, full = transfer_run
    out = tmp_path / "killed"

    class Killed(BaseException):
        pass

    def kill_after_first(row: dict) -> None:
        raise Killed

    with pytest.raises(Killed):
        run(transfer_spec(out), on_row=kill_after_first)
    partial = pd.read_csv(out / "scores.csv")
    assert len(partial) == 1 and partial["method"][0] == "pyramid"
    resumed = run(transfer_spec(out))
    assert len(resumed) == 4 and not resumed.duplicated(["method", "sample"]).any()
    # the same images as the uninterrupted run: every task is a pure function of its seed
    assert list(resumed["file_hash"]) == list(full["file_hash"])
    assert sorted(p.name for p in (out / "images").iterdir()) == sorted(f"{h}.png" for h in full["file_hash"])


@pytest.mark.slow
def test_a_run_cannot_be_continued_with_another_budget(transfer_run, tmp_path, capsys) -> None:
    out, _ = transfer_run
    with pytest.raises(ConfigError, match="steps=2; got steps=5"):
        plan(transfer_spec(out, steps=5))
    assert harness_main(["das_ag_v2", "--out", str(out), "--samples", "1"]) == 2
    assert "holds a 'transfer' run" in capsys.readouterr().err


def test_an_unreadable_run_json_is_one_sentence_with_the_fix(tmp_path, capsys) -> None:
    """A kill while run.json was written by an older version left it empty: say so, say what to do."""
    out = tmp_path / "cut"
    out.mkdir()
    (out / "run.json").write_text("")
    assert harness_main(["transfer", "--out", str(out), "--classes", "1", "--seeds", "1", "--accelerator", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "run.json' is unreadable (empty): delete it and run again with the same options" in err and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in out.iterdir()) == ["run.json"]


def test_a_second_harness_process_on_the_same_out_is_refused(tmp_path, capsys) -> None:
    """The lock of a live process (a real one, here a sleeping child): one sentence, nothing touched."""

    out = tmp_path / "busy"
    out.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", f"import time\nfrom dasag.core.output_folder import folder_lock\n"
                                                     f"with folder_lock({str(out)!r}):\n    print('held', flush=True)\n    time.sleep(60)"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert harness_main(["transfer", "--out", str(out), "--classes", "1", "--seeds", "1", "--accelerator", "cpu"]) == 2
    finally:
        holder.kill()
        holder.wait()
    err = capsys.readouterr().err
    assert f"is in use by another process (pid {holder.pid} on host {this_host()})" in err and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in out.iterdir()) == [".lock", ".lock.holder"]  # the holder's, nothing of ours


@pytest.mark.slow
def test_two_harness_processes_started_together_lose_and_duplicate_nothing(tmp_path) -> None:
    """Two real processes on one --out, started at once: the second is refused while the first
    runs (or runs after it); either way every row is there once and the lock is released."""

    import yaml

    tiny = tmp_path / "tiny.yaml"
    tiny.write_text(yaml.safe_dump(TINY_TRANSFER))
    out = tmp_path / "shared"
    cmd = [sys.executable, str(REPO / "reproduce" / "run.py"), "transfer", "--out", str(out), "--classes", "2", "--seeds", "1",
           "--steps", "2", "--accelerator", "cpu", "--threads", "1", "--override", str(tiny), "--methods", "pyramid", "pixel"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(p.wait(timeout=600), p.stderr.read()) for p in procs]
    assert sorted(code for code, _ in results) in ([0, 0], [0, 2]), results
    for code, err in results:
        if code == 2:
            assert "is in use by another process" in err and "Traceback" not in err
    table = pd.read_csv(out / "scores.csv")
    assert len(table) == 4 and not table.duplicated(["method", "sample"]).any()
    assert sorted(p.name for p in (out / "images").iterdir()) == sorted(f"{h}.png" for h in table["file_hash"])
    assert lock_is_free(out)


def test_check_without_a_run_is_refused(tmp_path) -> None:
    with pytest.raises(ConfigError, match="no run.json"):
        check(transfer_spec(tmp_path / "empty"))


@pytest.mark.slow
def test_two_worker_processes_make_the_same_images(transfer_run, tmp_path) -> None:
    """--devices 2: Fabric spawns two workers (gloo on CPU); their rows merge into one table."""
    _, single = transfer_run
    out = tmp_path / "sharded"
    table = run(transfer_spec(out, devices=2))
    assert list(table["file_hash"]) == list(single["file_hash"])
    assert not list((out / rows_mod.PARTS_DIR).glob("*.csv"))
    assert (out / "report.md").is_file()


# ------------------------------------------------------------------ what is already in --out, checked before it is taken
def _left_by_a_killed_run(out) -> list[str]:
    """run.json and the lock file as a run of transfer_spec(out) leaves them (a kill before its first row); returns
    the columns of its scores.csv."""
    from dasag.batch.engine import output_folder, stored_options

    spec = transfer_spec(out)
    columns = plan(spec).generator().columns()  # plan fills in the defaults a run stores
    with output_folder(out).claim(stored_options(spec)):
        pass
    return columns


def test_a_damaged_scores_csv_or_part_file_is_refused_before_the_folder_is_taken(tmp_path, capsys) -> None:
    """pandas' EmptyDataError (or a KeyError, or a NaN row) came after run.json was rewritten and the lock taken;
    every kind of damage is in tests/batch/test_scores_file.py, here the two files a run reads."""
    out = tmp_path / "out"
    header = ",".join(_left_by_a_killed_run(out))
    for name, data, words in (("scores.csv", (header + "\npyramid,0").encode(), "is cut short (its last line has no end)"),
                              (f"{rows_mod.PARTS_DIR}/scores.rank1.csv", b"method,sample\npyramid,0\n",
                               "lacks the columns 'seed', 'class_name', 'class_index' and ")):
        (out / name).parent.mkdir(exist_ok=True)
        (out / name).write_bytes(data)
        before = folder_listing(out)
        assert harness_main(["transfer", "--out", str(out), "--classes", "2", "--seeds", "1", "--accelerator", "cpu"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(f"error: {str(out / name)!r} {words}") and err[0].endswith(f"{rows_mod.ROWS_ADVICE}."), err
        assert folder_listing(out) == before
        (out / name).unlink()


def test_a_folder_where_a_report_file_goes_is_refused_before_the_folder_is_taken(tmp_path) -> None:
    """IsADirectoryError once every image was made and scores.csv, stats.csv and the figures were written."""
    out = tmp_path / "out"
    for name in ("report.md", "stats.csv", "frontier.png", "scores.csv"):
        (out / name).mkdir(parents=True)
        with pytest.raises(ConfigError, match=rf"'{out}/{name}' is a folder, where the run keeps a file: move it away, then run again\."):
            plan(transfer_spec(out))
        assert folder_listing(out) == [(name, "dir")]
        (out / name).rmdir()
    (out / rows_mod.PARTS_DIR).write_text("x")
    with pytest.raises(ConfigError, match=r"parts' is a file, not a folder, where the run keeps a folder"):
        plan(transfer_spec(out))


def test_a_method_named_twice_and_a_thread_count_past_any_machine_are_refused(tmp_path) -> None:
    """--methods pyramid pyramid made the image twice and dropped a row; --threads 100000 ran libgomp out of memory
    after run.json and the lock were written."""
    out = tmp_path / "out"
    with pytest.raises(ConfigError, match=r"^--methods names 'pyramid' more than once \(each would be made twice and one row dropped\); "
                                          r"name each method once\.$"):
        plan(transfer_spec(out, methods=["pyramid", "pixel", "pyramid"]))
    with pytest.raises(ConfigError, match=r"^--threads must be a whole number from 1 to 1024 \(CPU threads"):
        plan(transfer_spec(out, threads=100_000))
    assert not out.exists()


def test_a_compared_run_with_a_damaged_scores_csv_is_one_sentence(tmp_path) -> None:
    """The --compare run's scores.csv was read with pandas only when the report was written, after every image."""
    other = tmp_path / "other"
    _left_by_a_killed_run(other)
    (other / "scores.csv").write_text("method,sample\npyramid,zero\n")
    out = tmp_path / "out"
    with pytest.raises(ConfigError, match=r"other/scores\.csv' (lacks the columns|has 'zero').*: name a finished run of the transfer suite in --compare\.$"):
        plan(transfer_spec(out, compare=[other]))
    assert not out.exists()
