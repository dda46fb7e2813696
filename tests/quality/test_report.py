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
