"""The quality harness (:mod:`dasag.quality`, ``reproduce/run.py``) on tiny budgets.

Every run here is a few steps on a 64 px canvas with two augmented copies, so the whole
file takes a couple of minutes on one CPU core; the real budgets are the configs'.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from dasag.batch import scores_file as rows_mod
from dasag.batch.tasks import RunSpec
from dasag.commands.quality import main as harness_main
from dasag.core.errors import ConfigError
from dasag.image.picture import read_metadata
from dasag.quality.harness import check, plan, run
from dasag.quality.suites import REFERENCE
from feature_helpers import TINY, transfer_spec

REPO = Path(__file__).resolve().parents[2]
REFERENCE_STATS = REFERENCE / "das_ag_v2_stats.csv"


# --------------------------------------------------------------------- transfer
@pytest.mark.slow
def test_transfer_end_to_end_writes_every_output(transfer_run) -> None:
    out, table = transfer_run
    assert list(table["method"]) == ["pyramid", "pyramid", "pixel", "pixel"]
    assert list(table["sample"]) == [0, 100, 0, 100] and list(table["seed"]) == [0, 100, 0, 100]
    assert list(table["class_name"][:2]) == ["goldfish", "great white shark"] and list(table["class_index"][:2]) == [1, 2]
    for col in (*(f"heldout/{n}/{f}" for n in ("lite0", "lite1", "lite2") for f in ("top1", "prob")), "seconds", "device"):
        assert col in table.columns
    assert table["heldout/lite2/prob"].between(0, 1).all() and set(table["heldout/lite2/top1"]) <= {0, 1}
    assert (table["device"] == "cpu").all() and (table["seconds"] > 0).all()
    # images named by the SHA-256 of their bytes, and carrying their own config
    for h in table["file_hash"]:
        assert hashlib.sha256((out / "images" / f"{h}.png").read_bytes()).hexdigest() == h
    meta = read_metadata(out / "images" / f"{table['file_hash'][2]}.png")
    assert meta["method"] == "pixel" and meta["seed"] == 0 and meta["prompts"]["positive"] == ["goldfish"]
    assert meta["config"]["seed_everything"] == 0 and meta["config"]["model"]["augment"]["init_args"]["noise"] == 0.1  # resolved, as the CLI writes it
    assert meta["config"]["model"]["pyramid"]["init_args"]["min_size"] == 64  # the single-resolution baseline
    assert meta["config"]["trainer"]["max_steps"] == 2
    # pyramid and pixel with the same seed start from different parametrisations: different images
    assert table["file_hash"][0] != table["file_hash"][2]
    stats = pd.read_csv(out / "stats.csv")
    assert list(stats["method"]) == ["DAS pyramid", "pixel baseline"]
    assert {"heldout/lite2/top1_mean", "heldout/lite2/prob_mean", "heldout/lite2/prob_std", "heldout/lite1/prob_mean"} <= set(stats.columns)
    assert stats["heldout/lite2/prob_mean"].iloc[0] == pytest.approx(table["heldout/lite2/prob"][:2].mean())
    report = (out / "report.md").read_text()
    assert "| DAS pyramid | 2 |" in report and "| pixel baseline | 2 |" in report
    pyramid_seconds = f"{table['seconds'][:2].mean():.1f}"
    assert f"| DAS pyramid | 2 | lite0 | {pyramid_seconds} |" in report  # each method's mean seconds per image, for equal-time comparisons
    assert "held-out (lite1, lite2) top-1 agreement" in report and "0.82" in report  # the reference figure
    for name in ("scatter.png", "frontier.png", "top3.png"):
        with Image.open(out / name) as img:
            assert img.size[0] > 100
    # the held-out judge under everyday edits: one row per image, every edit, in the report
    edited = pd.read_csv(out / "edits.csv")
    assert sorted(edited["file_hash"]) == sorted(table["file_hash"]) and edited["edit/jpeg/prob"].between(0, 1).all()
    assert set(edited["edit/mirror/top1"]) <= {0, 1} and "Under everyday edits (held-out lite2 top-1" in report
    assert "| DAS pyramid | 2 | " in report.split("Under everyday edits")[1] and "JPEG q75" in report
    with Image.open(out / "top3.png") as img:  # 2 methods x 3 columns of 48 px cells (+2 px padding)
        assert img.size == (3 * 50 + 2, 2 * 50 + 2)
    assert not (out / rows_mod.PARTS_DIR).exists() or not list((out / rows_mod.PARTS_DIR).iterdir())


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


# ------------------------------------------------------------ das_ag_v2
@pytest.mark.slow
def test_das_ag_v2_suite_on_tiny_checkpoints(tiny_weights_env, tmp_path) -> None:
    out = tmp_path / "v2"
    spec = RunSpec(suite="das_ag_v2", out=out, samples=1, steps=2, overrides=TINY, eval_scorers=["clip"], accelerator="cpu")
    table = run(spec)
    assert list(table["method"]) == ["das", "das_ag", "das_ag_plus", "das_rag", "das_rag_plus"]
    assert (table["seed"] == 0).all() and (table["sample"] == 0).all()
    guide = ("siglip/aesthetic", "siglip/positive", "siglip/negative")
    for col in ("file_hash", *guide, "heldout/clip/positive", "heldout/clip/negative", "heldout/clip/aesthetic", "seconds", "device"):
        assert table[col].notna().all(), col
    assert table["siglip/positive"].between(-1, 1).all()
    stats = pd.read_csv(out / "stats.csv")
    reference = pd.read_csv(REFERENCE_STATS)
    assert list(stats.columns[: len(reference.columns)]) == list(reference.columns)
    assert list(stats["method"]) == ["DAS", "DAS-AG", "DAS-AG+", "DAS-rAG", "DAS-rAG+"]
    assert "heldout/clip/aesthetic_mean" in stats.columns
    report = (out / "report.md").read_text()
    assert "aesthetic (published)" in report and "6.155 ± 0.312" in report  # DAS-AG+ published figure
    assert "Held-out scores" in report and "heldout/clip/positive" in report
    meta = read_metadata(out / "images" / f"{table['file_hash'][0]}.png")
    assert meta["prompts"]["positive"][0].startswith("A photorealistic illustration")
    assert len(meta["prompts"]["negative"]) == 2
    # the rAG methods flip the aesthetic weight's sign in the config that made them
    rag = read_metadata(out / "images" / f"{table['file_hash'][3]}.png")
    assert rag["config"]["model"]["objective"]["init_args"]["reverse_aesthetic"] is True
    assert check(RunSpec(suite="das_ag_v2", out=out, methods=["das_ag_plus"], samples=1, overrides=TINY, accelerator="cpu"), log=lambda m: None) == []


@pytest.mark.slow
def test_das_ag_v2_in_both_modes_side_by_side_with_the_published_table(tiny_weights_env, tmp_path) -> None:
    """The corrected default and the original (compat overlay) on tiny checkpoints, through the
    command line, and one report that shows both beside the published figures."""
    import yaml

    from dasag.core.config import CONFIGS

    tiny = tmp_path / "tiny.yaml"
    tiny.write_text(yaml.safe_dump(TINY))
    tiny_input = tmp_path / "tiny_input.yaml"  # the tiny SigLIP's 4x4 patch grid takes 32-39 px: 34 stands for 386
    tiny_input.write_text(yaml.safe_dump({"model": {"scorer": {"init_args": {"input_size": 34}}}}))
    corrected, original = tmp_path / "corrected", tmp_path / "original"
    common = ["--samples", "1", "--steps", "2", "--accelerator", "cpu", "--threads", "1"]
    assert harness_main(["das_ag_v2", "--out", str(corrected), *common, "--override", str(tiny)]) == 0
    overlay = CONFIGS / "compat" / "das_ag_v2_original.yaml"
    assert harness_main(["das_ag_v2", "--out", str(original), *common, "--override", str(tiny), str(overlay), str(tiny_input),
                         "--compare", str(corrected)]) == 0
    a, b = pd.read_csv(corrected / "scores.csv"), pd.read_csv(original / "scores.csv")
    assert list(a["method"]) == list(b["method"]) == ["das", "das_ag", "das_ag_plus", "das_rag", "das_rag_plus"]
    assert set(a["file_hash"]).isdisjoint(b["file_hash"])  # the modes make different images from the same seeds
    meta = read_metadata(original / "images" / f"{b['file_hash'][1]}.png")
    assert meta["config"]["model"]["schedule_time_base"] == "steps"
    assert meta["config"]["model"]["scorer"]["init_args"]["aesthetic_dropout"] == [0.5, 0.5, 0.5, 0.2]
    report = (original / "report.md").read_text()
    assert "Side by side" in report and "`this run`: original (compat overlay)" in report and "`corrected`: corrected (default)" in report
    row = next(line for line in report.splitlines() if line.startswith("| DAS-AG+ | aesthetic |"))
    assert "6.155 ± 0.312" in row and row.count("|") == 6  # published, this run, the compared run
    assert check(RunSpec(suite="das_ag_v2", out=original, methods=["das_ag"], samples=1, accelerator="cpu"), log=lambda m: None) == []
    # a --compare that is not a finished run is one sentence, before anything is written
    assert harness_main(["das_ag_v2", "--out", str(tmp_path / "third"), *common, "--override", str(tiny), "--compare", str(tmp_path)]) == 2
    assert not (tmp_path / "third").exists()


@pytest.mark.slow
def test_an_ensemble_override_goes_through_the_transfer_suite_and_its_report(tmp_path) -> None:
    """Any config the CLI accepts goes through the harness: an ensemble of Lite0 and Lite1 as the
    guide (the report then marks both as guides and holds out only Lite2)."""
    lite = "dasag.scorers.EfficientNetLite"
    ensemble = {"class_path": "dasag.scorers.ScorerEnsemble", "init_args": {"scorers": [
        {"class_path": lite, "init_args": {"input_size": 64}}, {"class_path": lite, "init_args": {"variant": "lite1", "input_size": 64}}]}}
    overrides = {"model": {**TINY["model"], "scorer": ensemble}}
    spec = transfer_spec(tmp_path / "out", classes=1, methods=["pyramid"], overrides=overrides)
    table = run(spec)
    assert len(table) == 1
    report = (tmp_path / "out" / "report.md").read_text()
    row = next(line for line in report.splitlines() if line.startswith("| DAS pyramid |"))
    assert "| lite0 + lite1 |" in row and row.count("†") == 4  # both guides' top-1 and p marked, lite2's not
    assert "held-out (lite2) top-1 agreement" in report
    assert spec.overrides == overrides  # the caller's mapping is never turned into Namespaces


@pytest.mark.slow
def test_the_robust_methods_run_their_share_of_the_budget_and_report_their_guides(tmp_path) -> None:
    """The recipe's methods at the pyramid's wall time: 95 % and 40 % of the step budget (at least
    one step), the recipe's settings in each image's config, and the ensemble's two guides marked."""
    spec = transfer_spec(tmp_path / "out", classes=1, steps=4, methods=["robust_same_time", "robust_ensemble_same_time"])
    table = run(spec)
    assert list(table["method"]) == ["robust_same_time", "robust_ensemble_same_time"]
    robust, ensemble = (read_metadata(tmp_path / "out" / "images" / f"{h}.png")["config"] for h in table["file_hash"])
    assert (robust["trainer"]["max_steps"], ensemble["trainer"]["max_steps"]) == (4, 2)  # round(3.8), round(1.6)
    assert robust["model"]["pyramid"]["init_args"]["contrast"] == 0.6 and robust["model"]["augment"]["init_args"]["zoom_enabled"] is True
    report = (tmp_path / "out" / "report.md").read_text()
    row = next(line for line in report.splitlines() if line.startswith("| robust recipe, Lite0+Lite1, pyramid's time |"))
    assert "| lite0 + lite1 |" in row and row.count("†") == 4
    assert {"look/contrast", "look/colourfulness"} <= set(table.columns) and table["look/contrast"].gt(0).all()


def test_a_damaged_edits_csv_is_refused_before_anything_is_rewritten(tmp_path, capsys) -> None:
    """The report read edits.csv last, after run.json, scores.csv, stats.csv and the figures were rewritten; now the
    run checks it before it takes the folder (a stand-in for the other files: the run must not touch them)."""
    out = tmp_path / "out"
    out.mkdir()
    for name, data in (("run.json", b"{}"), ("scores.csv", b"kept"), ("stats.csv", b"kept"), ("scatter.png", b"kept")):
        (out / name).write_bytes(data)
    (out / "edits.csv").write_bytes(b"file_hash,edit/resize/top1\nabc,1\n")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert harness_main(["transfer", "--out", str(out), "--classes", "1", "--seeds", "1", "--accelerator", "cpu"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {str(out / 'edits.csv')!r} lacks the columns 'edit/resize/prob', 'edit/jpeg/top1', ")
    assert err[0].endswith(" more: delete it and run again (its scores are made again from the images; nothing else is lost).")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    with pytest.raises(ConfigError, match="edits.csv' lacks the columns"):
        plan(transfer_spec(out))  # the harness's plan checks it too (not --check's, which writes no report)
