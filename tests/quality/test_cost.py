"""Counted image cost (:mod:`dasag.quality.cost`): steps x copies x the guides' FLOPs, from a PNG's config."""

from __future__ import annotations

import pandas as pd
import pytest

from dasag.quality.cost import guide_flops, image_flops
from dasag.scorers import EfficientNetLite


def _config(scorer: dict, steps: int = 60, copies: int | None = 4) -> dict:
    model = {"scorer": scorer}
    if copies is not None:
        model["augment"] = {"class_path": "dasag.Augmentations", "init_args": {"batch_size": copies, "noise": 0.1}}
    return {"model": model, "trainer": {"max_steps": steps}}


LITE0 = {"class_path": "dasag.scorers.EfficientNetLite"}
LITE1 = {"class_path": "dasag.scorers.EfficientNetLite", "init_args": {"variant": "lite1", "score": "logit"}}


def test_an_image_costs_steps_times_copies_times_each_guides_passes() -> None:
    lite0, lite1 = guide_flops(EfficientNetLite("lite0"), 224), guide_flops(EfficientNetLite("lite1"))
    assert 1.0e9 < lite0 < 2.5e9 and 1.3 < lite1 / lite0 < 1.8  # a bigger network at a bigger side
    assert guide_flops(EfficientNetLite("lite0"), 112) < lite0 / 3  # a quarter of the pixels
    assert image_flops(_config(LITE0)) == 60 * 4 * lite0
    assert image_flops(_config(LITE0, steps=24, copies=2)) == 24 * 2 * lite0
    assert image_flops(_config(LITE0, copies=None)) == 60 * 8 * lite0  # the constructor's default copies
    ensemble = {"class_path": "dasag.scorers.ScorerEnsemble", "init_args": {"scorers": [LITE0, LITE1]}}
    assert image_flops(_config(ensemble)) == 60 * 4 * (lite0 + lite1)
    sized = {"class_path": "dasag.scorers.EfficientNetLite", "init_args": {"input_size": 112}}
    assert image_flops(_config(sized)) == 60 * 4 * guide_flops(EfficientNetLite("lite0"), 112)
    drawn = {"class_path": "dasag.scorers.EfficientNetLite", "init_args": {"input_sizes": [112, 336]}}  # mean side² 1.23x 224²
    assert image_flops(_config(drawn)) == pytest.approx(60 * 4 * lite0 * (sum(s * s for s in range(112, 337)) / 225) / 224**2, rel=1e-6)


@pytest.mark.parametrize("config", [
    {"model": {"scorer": LITE0}},  # no step count
    _config({"class_path": "dasag.scorers.SigLIP"}),  # not a counted guide
    _config({"class_path": "dasag.scorers.ScorerEnsemble", "init_args": {"scorers": [LITE0, {"class_path": "dasag.scorers.CLIP"}]}}),
])
def test_a_config_without_a_counted_cost_has_none(config) -> None:
    assert image_flops(config) is None


def test_the_frontier_uses_counted_cost_when_every_method_has_one(tmp_path) -> None:
    from PIL import Image

    from dasag.quality.report import frontier
    from dasag.quality.suites import get_suite

    suite = get_suite("transfer")
    table = pd.DataFrame({"method": ["pyramid", "robust"], "heldout/lite2/top1": [0, 1]})  # no seconds: the count alone
    path = frontier(suite, table, tmp_path / "f.png", costs={"pyramid": int(1e12), "robust": int(2e12)})
    with Image.open(path) as img:
        assert img.size == (1000, 500)
    assert frontier(suite, table, tmp_path / "none.png", costs={"pyramid": int(1e12), "robust": None}) is None  # neither count nor seconds
