"""The DAS effect, end to end with real weights: the shipped demo's pyramid image is
recognised by a classifier that never guided it; pixels optimised with the same budget are not.

This is the property the whole method rests on, so it is tested on the real demo config
(EfficientNet-Lite0 guides, EfficientNet-Lite2 judges), not on a toy.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dasag.commands import main
from dasag.core.config import CONFIGS, load_config
from dasag.image.picture import load_image
from dasag.scorers import EfficientNetLite, heldout

ROOT = Path(__file__).resolve().parents[2]


def demo_image(out: Path, *extra: str) -> Path:
    """Run configs/demo.yaml (plus ``extra`` CLI overrides) and return its final.png."""
    rc = main(["fit", "--config", str(ROOT / "configs" / "demo.yaml"), "--trainer.default_root_dir", str(out), *extra])
    assert rc == 0
    return next(out.rglob("final.png"))


@pytest.fixture(scope="module")
def lite2() -> EfficientNetLite:
    return EfficientNetLite("lite2").load()


#: The objective the comparison is made under. With the log-probability a pixel canvas stays an
#: adversarial pattern only its guide believes; with the logit objective even pixels can carry over
#: a little for a class as distinctive as goldfish (Lite2 p 0.36 against the pyramid's 0.91 before
#: the demo gained coarse levels and the shared edits; 0.006 against 0.94 with them), so one image
#: says less, while the transfer suite's 60 images per method tell them apart (pixels 23% Lite2
#: top-1 against 85% with the logit).
LOG_PROB = ["--model.scorer.init_args.score", "log_prob"]


@pytest.mark.slow
def test_demo_image_transfers_to_a_held_out_classifier_and_pixels_do_not(tmp_path: Path, lite2: EfficientNetLite) -> None:
    shipped = demo_image(tmp_path / "demo")
    pyramid = demo_image(tmp_path / "pyramid", *LOG_PROB)
    canvas = load_config(CONFIGS / "demo.yaml")["model"]["pyramid"]["init_args"]["max_size"]
    # one level: plain pixels (without the levels' gains: a single level has none to weigh against)
    pixels = demo_image(tmp_path / "pixels", *LOG_PROB, "--model.pyramid.init_args.min_size", str(canvas), "--model.pyramid.init_args.level_gains", "null")

    held_out = {}
    for name, png in (("shipped", shipped), ("pyramid", pyramid), ("pixels", pixels)):
        image = load_image(png).unsqueeze(0)
        held_out[name] = heldout.score("lite2", lite2, image, ["goldfish"], [])
    # The demo as shipped: Lite2, never used during the optimisation, sees a goldfish.
    assert held_out["shipped"]["heldout/lite2/top1"] == 1 and held_out["shipped"]["heldout/lite2/prob"] > 0.5, held_out
    # Lite2 sees a goldfish in the pyramid image ...
    # (one image is one sample: over the transfer benchmark's 60 pyramid images Lite2's
    # p(target) is 0.18 +- 0.23, so the test pins top-1 and the gap to pixels, not a value)
    assert held_out["pyramid"]["heldout/lite2/top1"] == 1, held_out
    assert held_out["pyramid"]["heldout/lite2/prob"] > 0.2, held_out
    # ... but not in the pixel image, which only fools the guide (an adversarial pattern).
    assert held_out["pixels"]["heldout/lite2/top1"] == 0, held_out
    assert held_out["pixels"]["heldout/lite2/prob"] < 0.05, held_out
    assert held_out["pyramid"]["heldout/lite2/prob"] > 10 * held_out["pixels"]["heldout/lite2/prob"], held_out
