"""The rows of reproduce/large_cost.py (:mod:`dasag.speed.large_cost`): each one is a stage of a shipped growth config, with whole-image
copies or the config's cutouts, and builds (no weights load) on any machine, so a lent GPU is never
spent on a crash. The figures themselves are measured by the script, never asserted."""

from __future__ import annotations

from pathlib import Path

import pytest

from dasag.core.config import deep_merge
from dasag.run.build import build_run
from dasag.speed import large_cost as script


@pytest.mark.parametrize("kind", ["full", "cutouts"])
def test_every_row_is_a_stage_of_its_config_and_builds(kind: str, tmp_path: Path) -> None:
    for _device, config, size in script.SHAPES:
        cfg = script.row_config(config, size, kind, steps=3)
        cfg = deep_merge(cfg, {"trainer": {"accelerator": "cpu", "default_root_dir": str(tmp_path)}})
        if size > 1024:  # the CUDA rows' 2048/4096 px canvases: the config is checked, the pyramid not allocated here
            assert cfg["model"]["scorer"]["class_path"] == "dasag.speed.random_siglip.RandomSigLIP"
            continue
        run = build_run(cfg)
        pyramid = run.model.pyramid
        assert pyramid.visible_size == size and run.trainer.max_steps == 3
        assert type(run.model.augment).__name__ == ("Cutouts" if kind == "cutouts" else "Augmentations")
        assert run.model.augment.copies == 8 and not any(m.loaded for m in run.model.scorer.members)
