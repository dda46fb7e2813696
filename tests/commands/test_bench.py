"""``dasag bench``: its options are checked in one sentence before anything runs; a quick row prints its figures."""

from __future__ import annotations

import json

import pytest

from dasag.commands.bench import main


def test_an_unknown_variant_is_one_sentence_before_anything_runs(tmp_path, capsys):
    assert main(["--out", str(tmp_path / "b"), "--variants", "warp_drive"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "warp_drive" in err[0] and not (tmp_path / "b").exists()


@pytest.mark.slow
def test_a_quick_demo_row_writes_its_table(tmp_path, capsys):
    assert main(["--out", str(tmp_path / "b"), "--families", "demo", "--variants", "eager_fp32", "--steps", "1", "--warmup", "1"]) == 0
    data = json.loads((tmp_path / "b" / "bench.json").read_text())
    assert data["meta"]["command"].startswith("dasag bench") and data["meta"]["cpu_capability"]
    assert [r["variant"] for r in data["rows"]] == ["eager_fp32"] and data["rows"][0]["seconds_per_step"] > 0
    assert (tmp_path / "b" / "bench.md").read_text().count("eager_fp32") >= 1
