"""Report tables: per-method statistics (pandas groupby), published column names for das_ag_v2."""

from __future__ import annotations

import pandas as pd
import pytest

from dasag.quality.report import stats_table
from dasag.quality.suites import get_suite


def test_das_ag_v2_stats_have_the_published_files_columns_first():
    table = pd.DataFrame({
        "method": ["das", "das", "das_ag_plus"], "sample": [0, 1, 0], "seed": [0, 1, 0], "file_hash": ["a", "b", "c"],
        "siglip/aesthetic": [5.0, 6.0, 7.0], "siglip/positive": [0.1, 0.3, 0.2], "siglip/negative": [0.0, 0.0, 0.0],
        "heldout/clip/positive": [0.2, 0.4, 0.3], "seconds": [1.0, 1.0, 1.0], "device": ["cpu"] * 3,
    })
    stats = stats_table(get_suite("das_ag_v2"), table)
    reference = pd.read_csv(get_suite("das_ag_v2").reference_stats)
    assert list(stats.columns[: len(reference.columns)]) == list(reference.columns)
    assert list(stats["method"]) == ["DAS", "DAS-AG+"]  # the suite's order and labels, only methods with rows
    assert stats["aesthetic_score_mean"].tolist() == [5.5, 7.0] and stats["aesthetic_score_std"].iloc[0] == pytest.approx(0.7071, rel=1e-4)
    assert "heldout/clip/positive_mean" in stats.columns and "seconds_mean" not in stats.columns


def test_the_frontier_has_one_labelled_point_per_method_and_needs_its_columns(tmp_path) -> None:
    from PIL import Image

    from dasag.quality.report import frontier

    suite = get_suite("transfer")
    table = pd.DataFrame({"method": ["pyramid", "pyramid", "robust"], "seconds": [8.0, 9.0, 10.0], "heldout/lite2/top1": [0, 1, 1]})
    path = frontier(suite, table, tmp_path / "frontier.png")
    with Image.open(path) as img:
        assert img.size == (1000, 500)
    assert frontier(suite, table.drop(columns=["seconds"]), tmp_path / "none.png") is None and not (tmp_path / "none.png").exists()


def _grating_png(path, cycles_per_pixel: float) -> None:
    """A 192 px grey grating (the suite's picture side) of one spatial frequency, as a PNG."""
    import numpy as np
    from PIL import Image

    x = np.arange(192)
    grey = np.round(127.5 + 100 * np.sin(2 * np.pi * cycles_per_pixel * x))[None, :].repeat(192, 0).astype(np.uint8)
    Image.fromarray(np.repeat(grey[..., None], 3, axis=2)).save(path)


def test_the_fine_scale_share_is_measured_on_each_png_and_shown_for_every_method_and_in_the_edits_table(tmp_path) -> None:
    from dasag.quality import edits
    from dasag.quality.report import FINE_SCALE, markdown, with_fine_scale

    (tmp_path / "images").mkdir()
    _grating_png(tmp_path / "images" / "coarse.png", 0.02)
    _grating_png(tmp_path / "images" / "fine.png", 0.3)
    suite = get_suite("transfer")
    table = pd.DataFrame({"method": ["pyramid", "pyramid", "pixel"], "sample": [0, 1, 0], "seed": [0, 1, 0], "class_name": ["hen"] * 3,
                          "file_hash": ["coarse", "coarse", "fine"], "look/contrast": [0.2] * 3, "look/colourfulness": [50.0] * 3,
                          **{f"heldout/{n}/{f}": [1, 0, 0] for n in ("lite0", "lite1", "lite2") for f in ("top1", "prob")}})
    measured = with_fine_scale(tmp_path, table)
    assert FINE_SCALE not in table.columns  # the caller's table is left as it was
    coarse, fine = measured.groupby("method", sort=False)[FINE_SCALE].mean()
    assert coarse < 0.02 and fine > 0.9
    edited = pd.DataFrame({"file_hash": ["coarse", "fine"], **{edits.column(e, f): [1, 0] for e in edits.EDITS for f in ("top1", "prob")}})
    text = markdown(suite, measured, stats_table(suite, measured), {}, edited=edited)
    main_head = next(line for line in text.splitlines() if line.startswith("| method | n | guides"))
    assert main_head.endswith("| contrast | colourfulness | fine_scale |")
    assert f"| {coarse:.3f} ± 0.000 |" in text and f"| {fine:.3f} |" in text and "fine_scale: the share of the grey level's spectral power" in text
    edits_head = next(line for line in text.splitlines() if line.startswith("| method | n | fine-scale | as made |"))
    rows = text.splitlines()[text.splitlines().index(edits_head) + 2:][:2]
    assert rows[0].startswith(f"| DAS pyramid | 2 | {coarse:.3f} | 50% ") and rows[1].startswith(f"| pixel baseline | 1 | {fine:.3f} | 0% ")
    assert "look/fine_scale_mean" in stats_table(suite, measured).columns
