"""Regenerate the README's DAS-effect picture and print the figures its caption quotes.

    python examples/make_readme_images.py [--out-dir docs/images]     # from the repository root

Runs the ``demo`` config twice on CPU: once as shipped (the pyramid) and once with a
single-resolution canvas (``min_size`` set to the canvas size: plain pixels, same budget and
recipe). Writes ``demo_final.png`` (the demo's ``final.png``, byte for byte) and
``das_effect.png`` (pyramid left, pixels right), then prints what EfficientNet-Lite1 and
Lite2, which never guided either image, make of them, as made and after all four everyday edits
(``dasag/quality/edits.py``), and each picture's RMS contrast and fine-scale share
(``dasag/image/stats.py``). Deterministic: a second run writes the same bytes.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from make_feature_images import run_config  # the sibling script (examples/ is on sys.path)
from PIL import Image

from dasag.commands.skeleton import Command, run_command

ROOT = Path(__file__).resolve().parents[1]



def pixels_override() -> list[str]:
    """One level at the demo's canvas size: plain pixels with the demo's budget and recipe (without the
    levels' gains, which weigh levels against each other: a single level has none to weigh)."""
    from dasag.core.config import CONFIGS, load_config

    canvas = load_config(CONFIGS / "demo.yaml")["model"]["pyramid"]["init_args"]["max_size"]
    return ["--model.pyramid.init_args.min_size", str(canvas), "--model.pyramid.init_args.level_gains", "null"]


def side_by_side(left: Path, right: Path, gap: int = 8) -> Image.Image:
    with Image.open(left) as a, Image.open(right) as b:
        a, b = a.convert("RGB"), b.convert("RGB")
        out = Image.new("RGB", (a.width + gap + b.width, max(a.height, b.height)), (255, 255, 255))
        out.paste(a, (0, 0))
        out.paste(b, (a.width + gap, 0))
    return out


def add_options(parser) -> None:
    parser.add_argument("--out-dir", type=Path, default=ROOT / "docs" / "images")


def run(args) -> int:
    import numpy as np

    from dasag.image.picture import from_uint8, load_image
    from dasag.image.stats import fine_scale, rms_contrast
    from dasag.quality.edits import all_four
    from dasag.scorers import EfficientNetLite, heldout

    args.out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        pyramid = run_config("demo.yaml", Path(tmp) / "pyramid", []) / "final.png"
        pixels = run_config("demo.yaml", Path(tmp) / "pixels", pixels_override()) / "final.png"
        shutil.copyfile(pyramid, args.out_dir / "demo_final.png")
        side_by_side(pyramid, pixels).save(args.out_dir / "das_effect.png", optimize=True)
        for judge in ("lite1", "lite2"):
            model = EfficientNetLite(judge).load()
            for name, png in (("pyramid", pyramid), ("pixels", pixels)):
                s = heldout.score(judge, model, load_image(png).unsqueeze(0), ["goldfish"], [])
                with Image.open(png) as image:
                    edited = from_uint8(np.array(all_four(image.convert("RGB")))).unsqueeze(0)
                e = heldout.score(judge, model, edited, ["goldfish"], [])
                print(f"{judge} on {name}: p(goldfish) = {s[f'heldout/{judge}/prob']:.3f}, top-1 = {bool(s[f'heldout/{judge}/top1'])}; "
                      f"after all four edits {e[f'heldout/{judge}/prob']:.3f}, top-1 = {bool(e[f'heldout/{judge}/top1'])}")
        for name, png in (("pyramid", pyramid), ("pixels", pixels)):
            with Image.open(png) as image:
                rgb = np.array(image.convert("RGB"))
            print(f"{name}: RMS contrast {rms_contrast(rgb):.3f}, fine-scale share {fine_scale(rgb):.3f}")
    print(f"wrote {args.out_dir / 'demo_final.png'} and {args.out_dir / 'das_effect.png'}")
    return 0


COMMAND = Command("make_readme_images", "Regenerate the README's demo and DAS-effect pictures and print their figures.", run, add_options)

if __name__ == "__main__":
    raise SystemExit(run_command(COMMAND))
