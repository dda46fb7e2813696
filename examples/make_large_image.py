"""Regenerate the large-image pictures of docs/large.md and print the figures it quotes.

    python examples/make_large_image.py [--out-dir docs/images]     # from the repository root

Runs ``python -m dasag.growth.grow --config configs/large/cpu_1024.yaml --threads 2`` (through
``dasag.growth.grow.main``) into a temporary folder, then writes

* ``large_1024.png``: the run's ``final.png``, byte for byte (its metadata says how to make it);
* ``large_detail.png``: one 320 px window at full size, left the first stage's 256 px image
  enlarged 4x (bicubic), right the same window of the grown 1024 px image: what growth adds.

and prints the seconds of each stage on this machine, the guide's score and what EfficientNet-Lite1
and Lite2, which never guided the image, make of it. CPU image bytes depend on the thread count,
so it is fixed (2). Deterministic: a second run writes the same bytes.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from PIL import Image

from dasag.commands.skeleton import Command, run_command

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "dasag" / "configs" / "large" / "cpu_1024.yaml"
#: The window shown in large_detail.png, (left, top) in px of the 1024 px image.
WINDOW = (544, 352)
SIDE = 320


def detail(stage_1: Path, final: Path, gap: int = 8) -> Image.Image:
    """The first stage enlarged 4x beside the grown image, over the same window at full size."""
    box = (WINDOW[0], WINDOW[1], WINDOW[0] + SIDE, WINDOW[1] + SIDE)
    with Image.open(stage_1) as small, Image.open(final) as large:
        scale = large.width // small.width
        left = small.convert("RGB").resize((large.width, large.height), Image.BICUBIC).crop(box)
        right = large.convert("RGB").crop(box)
        assert scale == 4, scale
    out = Image.new("RGB", (2 * SIDE + gap, SIDE), (255, 255, 255))
    out.paste(left, (0, 0))
    out.paste(right, (SIDE + gap, 0))
    return out


def add_options(parser) -> None:
    parser.add_argument("--out-dir", type=Path, default=ROOT / "docs" / "images")


def run(args) -> int:
    from dasag.growth.grow import prepare
    from dasag.growth.grow import run as grow
    from dasag.image.picture import load_image, read_metadata
    from dasag.scorers import EfficientNetLite, heldout

    args.out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "large"
        grow(prepare(CONFIG, out, threads=2))
        shutil.copyfile(out / "final.png", args.out_dir / "large_1024.png")
        detail(next(out.glob("stage_1_*px.png")), out / "final.png").save(args.out_dir / "large_detail.png", optimize=True)
        timings = json.loads((out / "timings.json").read_text())
    meta = read_metadata(args.out_dir / "large_1024.png")
    print("seconds per stage (this machine, 2 threads): " + ", ".join(f"{k} {v:.0f}" for k, v in timings.items())
          + f"; total {sum(timings.values()):.0f}")
    print(f"guide: {meta['scores']}")
    image = load_image(args.out_dir / "large_1024.png").unsqueeze(0)
    for judge in ("lite1", "lite2"):
        s = heldout.score(judge, EfficientNetLite(judge).load(), image, ["goldfish"], [])
        print(f"{judge} on the 1024 px image: p(goldfish) = {s[f'heldout/{judge}/prob']:.3f}, top-1 = {bool(s[f'heldout/{judge}/top1'])}")
    print(f"wrote {args.out_dir / 'large_1024.png'} and {args.out_dir / 'large_detail.png'}")
    return 0


COMMAND = Command('make_large_image', 'Regenerate the 1024 px README picture and its detail figure.', run, add_options)

if __name__ == "__main__":
    raise SystemExit(run_command(COMMAND))
