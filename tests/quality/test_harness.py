"""The reproduction harness (``reproduce/run.py`` and :mod:`dasag.quality`) on tiny budgets.

Every run here is a few steps on a 64 px canvas with two augmented copies, so the whole
file takes a couple of minutes on one CPU core; the real budgets are the configs'.
"""

from __future__ import annotations

import hashlib
import importlib.util
import shutil
from pathlib import Path

import pandas as pd
import pytest
import torch
from PIL import Image

from dasag import files as files_mod
from dasag.quality import RunSpec, check, run
from dasag.quality import rows as rows_mod
from dasag.quality.harness import plan
from dasag.cli import ConfigError
from dasag.images import read_metadata

REPO = Path(__file__).resolve().parents[1]
REFERENCE_STATS = REPO / "reproduce" / "reference" / "das_ag_v2_stats.csv"

#: Shrinks every method config: 64 px canvas (48 px visible), 2 copies per step.
TINY = {"model": {"pyramid": {"init_args": {"max_size": 64, "max_shift": 8}}, "augment": {"init_args": {"batch_size": 2}}}}
#: The transfer guide also reads a 64 px input (held-out scorers keep their native sizes).
TINY_TRANSFER = {**TINY, "model": {**TINY["model"], "scorer": {"init_args": {"input_size": 64}}}}


def load_cli():
    spec = importlib.util.spec_from_file_location("reproduce_run", REPO / "reproduce" / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def transfer_spec(out: Path, **kw) -> RunSpec:
    return RunSpec(**{"suite": "transfer", "out": out, "classes": 2, "seeds": 1, "steps": 2, "overrides": TINY_TRANSFER, "accelerator": "cpu", "threads": 1, **kw})


@pytest.fixture(scope="module")
def transfer_run(tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    out = tmp_path_factory.mktemp("transfer")
    threads = torch.get_num_threads()
    table = run(transfer_spec(out))  # threads=1 while it runs ...
    assert torch.get_num_threads() == threads  # ... and the caller's count afterwards
    return out, table


# --------------------------------------------------------------------- transfer
def test_transfer_end_to_end_writes_every_output(transfer_run) -> None:
    out, table = transfer_run
    assert list(table["method"]) == ["pyramid", "pyramid", "pixel", "pixel"]
    assert list(table["sample"]) == [0, 100, 0, 100] and list(table["seed"]) == [0, 100, 0, 100]
    assert list(table["class_name"][:2]) == ["goldfish", "great white shark"] and list(table["class_index"][:2]) == [1, 2]
    for col in ("lite0_top1", "lite0_prob", "lite1_top1", "lite1_prob", "lite2_top1", "lite2_prob", "seconds", "device"):
        assert col in table.columns
    assert table["lite2_prob"].between(0, 1).all() and set(table["lite2_top1"]) <= {0, 1}
    assert (table["device"] == "cpu").all() and (table["seconds"] > 0).all()
    # images named by the SHA-256 of their bytes, and carrying their own config
    for h in table["file_hash"]:
        assert hashlib.sha256((out / "images" / f"{h}.png").read_bytes()).hexdigest() == h
    meta = read_metadata(out / "images" / f"{table['file_hash'][2]}.png")
    assert meta["method"] == "pixel" and meta["seed"] == 0 and meta["prompts"]["positive"] == ["goldfish"]
    assert meta["config"]["model"]["pyramid"]["init_args"]["min_size"] == 64  # the single-resolution baseline
    assert meta["config"]["trainer"]["max_steps"] == 2
    # pyramid and pixel with the same seed start from different parametrisations: different images
    assert table["file_hash"][0] != table["file_hash"][2]
    stats = pd.read_csv(out / "stats.csv")
    assert list(stats["method"]) == ["DAS pyramid", "pixel baseline"]
    assert {"lite2_top1_mean", "lite2_prob_mean", "lite2_prob_std", "lite1_prob_mean"} <= set(stats.columns)
    assert stats["lite2_prob_mean"].iloc[0] == pytest.approx(table["lite2_prob"][:2].mean())
    report = (out / "report.md").read_text()
    assert "| DAS pyramid | 2 |" in report and "| pixel baseline | 2 |" in report
    assert "held-out (lite1, lite2) top-1 agreement" in report and "0.82" in report  # the reference figure
    for name in ("scatter.png", "top3.png"):
        with Image.open(out / name) as img:
            assert img.size[0] > 100
    with Image.open(out / "top3.png") as img:  # 2 methods x 3 columns of 48 px cells (+2 px padding)
        assert img.size == (3 * 50 + 2, 2 * 50 + 2)
    assert not (out / rows_mod.PARTS_DIR).exists() or not list((out / rows_mod.PARTS_DIR).iterdir())


def test_rerun_skips_finished_images(transfer_run, tmp_path) -> None:
    out, table = transfer_run
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    made: list[dict] = []
    again = run(transfer_spec(copy), on_row=made.append)
    assert made == []  # nothing regenerated
    pd.testing.assert_frame_equal(again, table)


def test_check_passes_on_fresh_run_and_fails_after_one_png_changes(transfer_run, tmp_path, capsys) -> None:
    out, table = transfer_run
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    cli = load_cli()
    # A subset: only the first class, through the command line.
    assert cli.main(["transfer", "--out", str(copy), "--check", "--classes", "1", "--seeds", "1"]) == 0
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
    assert cli.main(["transfer", "--out", str(copy), "--check"]) == 1
    printed = capsys.readouterr().out
    assert "pixel/0: stored image" in printed and "1 mismatch" in printed and "pyramid/0: identical" in printed


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


def test_a_kill_during_a_row_write_leaves_the_previous_table(tmp_path, monkeypatch) -> None:
    log = rows_mod.RowLog(tmp_path / "scores.csv", ["method", "sample", "x"])
    log.append({"method": "a", "sample": 0, "x": 1.5})

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(files_mod.os, "replace", killed)  # the kill lands between write and rename
    with pytest.raises(KeyboardInterrupt):
        log.append({"method": "a", "sample": 1, "x": 2.5})
    monkeypatch.undo()
    table = pd.read_csv(tmp_path / "scores.csv")
    assert table.to_dict("records") == [{"method": "a", "sample": 0, "x": 1.5}]
    assert list(tmp_path.glob(".*.tmp")) == []  # and the half-done temp file is gone


def test_shards_merge_into_one_table(tmp_path) -> None:
    out = tmp_path / "merged"
    parts = out / rows_mod.PARTS_DIR
    cols = ["method", "sample", "x"]
    rows_mod.RowLog(parts / "scores.rank1.csv", cols).append({"method": "pixel", "sample": 0, "x": 2})
    log0 = rows_mod.RowLog(parts / "scores.rank0.csv", cols)
    log0.append({"method": "pyramid", "sample": 100, "x": 1})
    log0.append({"method": "pyramid", "sample": 0, "x": 0})
    rows_mod.RowLog(out / "scores.csv", cols).append({"method": "pyramid", "sample": 0, "x": 0})  # a duplicate
    table = rows_mod.merge(out, cols, ["pyramid", "pixel"])
    assert table.to_dict("records") == [
        {"method": "pyramid", "sample": 0, "x": 0}, {"method": "pyramid", "sample": 100, "x": 1}, {"method": "pixel", "sample": 0, "x": 2}]
    assert not list(parts.iterdir()) and pd.read_csv(out / "scores.csv").equals(table)


# -------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("kw", "words"),
    [
        ({"methods": ["pyramid", "dream"]}, ["'dream'", "pyramid, pixel"]),
        ({"classes": 0}, ["--classes", "0"]),
        ({"classes": 99}, ["--classes", "24"]),
        ({"eval_scorers": ["dino"]}, ["'dino'", "lite2", "clip"]),
        ({"samples": 3}, ["--samples", "--classes"]),
    ],
)
def test_bad_options_are_one_sentence_before_anything_is_written(tmp_path, kw, words) -> None:
    out = tmp_path / "never"
    with pytest.raises(ValueError) as err:
        run(transfer_spec(out, **kw))
    assert all(w in str(err.value) for w in words), str(err.value)
    assert not out.exists()


def test_a_run_cannot_be_continued_with_another_budget(transfer_run, tmp_path, capsys) -> None:
    out, _ = transfer_run
    with pytest.raises(ConfigError, match="steps=2; got steps=5"):
        plan(transfer_spec(out, steps=5))
    cli = load_cli()
    assert cli.main(["das_ag_v2", "--out", str(out), "--samples", "1"]) == 2
    assert "holds a 'transfer' run" in capsys.readouterr().err


def test_check_without_a_run_is_refused(tmp_path) -> None:
    with pytest.raises(ConfigError, match="no run.json"):
        check(transfer_spec(tmp_path / "empty"))


# ------------------------------------------------------------ das_ag_v2
def test_das_ag_v2_suite_on_tiny_checkpoints(tiny_weights_env, tmp_path) -> None:
    out = tmp_path / "v2"
    spec = RunSpec(suite="das_ag_v2", out=out, samples=1, steps=2, overrides=TINY, eval_scorers=["clip"], accelerator="cpu")
    table = run(spec)
    assert list(table["method"]) == ["das", "das_ag", "das_ag_plus", "das_rag", "das_rag_plus"]
    assert (table["seed"] == 0).all() and (table["sample"] == 0).all()
    for col in ("file_hash", "aesthetic_score", "pos_clip_score", "neg_clip_score", "clip_positive", "clip_negative", "clip_aesthetic", "seconds", "device"):
        assert table[col].notna().all(), col
    assert table["pos_clip_score"].between(-1, 1).all()
    stats = pd.read_csv(out / "stats.csv")
    reference = pd.read_csv(REFERENCE_STATS)
    assert list(stats.columns[: len(reference.columns)]) == list(reference.columns)
    assert list(stats["method"]) == ["DAS", "DAS-AG", "DAS-AG+", "DAS-rAG", "DAS-rAG+"]
    assert "clip_aesthetic_mean" in stats.columns
    report = (out / "report.md").read_text()
    assert "aesthetic (published)" in report and "6.155 ± 0.312" in report  # DAS-AG+ published figure
    assert "Held-out scores" in report and "clip_positive" in report
    meta = read_metadata(out / "images" / f"{table['file_hash'][0]}.png")
    assert meta["prompts"]["positive"][0].startswith("A photorealistic illustration")
    assert len(meta["prompts"]["negative"]) == 2
    # the rAG methods flip the aesthetic weight's sign in the config that made them
    rag = read_metadata(out / "images" / f"{table['file_hash'][3]}.png")
    assert rag["config"]["model"]["objective"]["init_args"]["reverse_aesthetic"] is True
    assert check(RunSpec(suite="das_ag_v2", out=out, methods=["das_ag_plus"], samples=1, overrides=TINY, accelerator="cpu"), log=lambda m: None) == []


def test_two_worker_processes_make_the_same_images(transfer_run, tmp_path) -> None:
    """--devices 2: Fabric spawns two workers (gloo on CPU); their rows merge into one table."""
    _, single = transfer_run
    out = tmp_path / "sharded"
    table = run(transfer_spec(out, devices=2))
    assert list(table["file_hash"]) == list(single["file_hash"])
    assert not list((out / rows_mod.PARTS_DIR).glob("*.csv"))
    assert (out / "report.md").is_file()
