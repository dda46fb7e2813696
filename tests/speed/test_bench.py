"""The speed bench (``reproduce/bench.py``, :mod:`dasag.speed.bench`) end to end on CPU.

The GPU rows run here with a tiny random SigLIP (``--siglip-size tiny``): their code path is
checked anywhere, so a lent GPU is never wasted on a crash.
"""

from __future__ import annotations

import json

import pytest

from dasag.commands.bench import main


@pytest.mark.slow
def test_bench_runs_end_to_end_and_writes_the_table(tmp_path, capsys):
    out = tmp_path / "bench"
    assert main(["--out", str(out), "--device", "cpu", "--steps", "2", "--warmup", "2", "--variants", "eager_fp32", "act_ckpt",
                 "--shapes", "768/8/1"]) == 0
    data = json.loads((out / "bench.json").read_text())
    rows = data["rows"]
    assert data["meta"]["peak"]["tflops"] > 0
    demo = [r for r in rows if r["family"] == "demo"]
    assert [r["variant"] for r in demo] == ["eager_fp32", "act_ckpt"]
    for r in demo:
        assert r["status"] == "ok", r["status"]
        assert r["seconds_per_step"] > 0 and r["images_per_minute"] > 0 and r["flops_per_step"] > 0
        assert 0 < r["fraction_of_peak"] and 0 <= r["outside_scorer_fraction"] <= 1 and r["peak_memory_gb"] > 0
        assert r["host_syncs"] == 0
        assert r["seconds_per_image"] == pytest.approx(r["seconds_per_step"] * 60)  # demo: 60 steps, 1 image
    assert demo[0]["speedup_vs_eager"] == pytest.approx(1.0)
    gpu = [r for r in rows if r["family"] == "das_ag_plus"]
    assert gpu and all(r["status"] == "skipped: needs CUDA" and r["seconds_per_step"] is None for r in gpu)
    md = (out / "bench.md").read_text()
    for column in ("s/step", "s/image", "images/min", "TFLOP/s", "of peak", "peak mem GB", "outside scorer", "host syncs", "vs eager"):
        assert f"| {column} |" in md or f" {column} |" in md
    assert "skipped: needs CUDA" in md and "skipped: needs CUDA" in capsys.readouterr().out


@pytest.mark.slow
def test_bench_gpu_rows_run_end_to_end_with_a_tiny_siglip(tmp_path):
    """The das_ag_plus rows' code path (config, variants, scorer switches, FLOPs, table) on CPU:
    the real so400m rows only run on CUDA, where a crash would waste a lent GPU."""
    out = tmp_path / "bench"
    assert main(["--out", str(out), "--device", "cpu", "--families", "siglip", "--siglip-size", "tiny", "--shapes", "384/8/4",
                 "--steps", "2", "--warmup", "1", "--variants", "eager_fp32", "bf16_sdpa", "act_ckpt"]) == 0
    rows = json.loads((out / "bench.json").read_text())["rows"]
    assert [(r["variant"], r["status"]) for r in rows] == [("eager_fp32", "ok"), ("bf16_sdpa", "ok"), ("act_ckpt", "ok")]
    eager, sdpa, ckpt = rows
    assert (eager["switches"]["attention"], eager["switches"]["precision"]) == ("eager", "fp32")
    assert (sdpa["switches"]["attention"], sdpa["switches"]["precision"], sdpa["switches"]["weights"]) == ("sdpa", "bf16", "bf16")
    assert ckpt["switches"]["act_ckpt"] is True
    for r in rows:
        assert r["flops_per_step"] == eager["flops_per_step"] > 0 and r["host_syncs"] == 0
        assert r["seconds_per_image"] == pytest.approx(r["seconds_per_step"] * 100 / 4)  # das_ag_plus: 100 steps, 4 images
    assert "das_ag_plus (tiny SigLIP) 384px" in (out / "bench.md").read_text()


@pytest.mark.slow
def test_bench_starts_no_row_after_its_time_budget(tmp_path):
    out = tmp_path / "bench"
    assert main(["--out", str(out), "--device", "cpu", "--families", "demo", "--variants", "eager_fp32", "--budget-s", "1e-6"]) == 0
    (row,) = json.loads((out / "bench.json").read_text())["rows"]
    assert row["status"].startswith("skipped: time budget") and row["seconds_per_step"] is None


def test_bad_options_are_one_sentence_before_anything_runs(tmp_path, capsys):
    assert main(["--out", str(tmp_path / "never"), "--variants", "warp_drive"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "warp_drive" in err[0]
    assert not (tmp_path / "never").exists()
