"""Regenerate the README's animation and print the cost docs/animation.md quotes.

    python examples/make_clip.py [--out-dir docs/images] [--keep runs/daisy_to_volcano]   # from the repository root

Runs ``configs/animation/daisy_to_volcano.yaml`` through :func:`dasag.animation.animate.make_clip` (the
code behind ``python -m dasag.animation.animate``) on 2 CPU threads into a temporary folder, then writes
``animation_daisy_to_volcano.gif`` (the run's ``clip.gif``, byte for byte) and
``animation_frames.png`` (every fourth frame side by side, for pages that do not play GIFs).
Prints seconds per frame (frame 0 from noise; the later ones, which start from the previous
frame), the process's peak resident memory (``ru_maxrss``) and the GIF's size and sha256.
Deterministic on one machine: a second run writes the same bytes (CPU convolution sums in a
thread-dependent order, hence the fixed thread count).
"""

from __future__ import annotations

import hashlib
import platform
import shutil
import statistics
import tempfile
from pathlib import Path

from dasag.commands.skeleton import Command, run_command

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "dasag" / "configs" / "animation" / "daisy_to_volcano.yaml"
#: CPU threads: the committed GIF was made with 2 (this machine's cores); the bytes depend on it.
THREADS = 2
#: Every how many frames the contact sheet shows one.
SHEET_EVERY = 4


def contact_sheet(frames: list[Path], gap: int = 4):
    from PIL import Image

    chosen = frames[::SHEET_EVERY]
    with Image.open(chosen[0]) as first:
        side = first.width
    out = Image.new("RGB", (len(chosen) * side + (len(chosen) - 1) * gap, side), (255, 255, 255))
    for i, path in enumerate(chosen):
        with Image.open(path) as im:
            out.paste(im.convert("RGB"), (i * (side + gap), 0))
    return out


def add_options(parser) -> None:
    parser.add_argument("--out-dir", type=Path, default=ROOT / "docs" / "images")
    parser.add_argument("--keep", type=Path | None, default=None, help="make the clip here (and keep its frames, MP4 and TensorBoard events)")


def run(args) -> int:
    from dasag.animation.animate import ClipSpec, make_clip

    args.out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="dasag-clip-") as tmp:
        folder = args.keep or Path(tmp) / "clip"
        result = make_clip(ClipSpec.from_file(CONFIG, folder, threads=THREADS))
        gif = args.out_dir / "animation_daisy_to_volcano.gif"
        shutil.copyfile(result.gif, gif)
        contact_sheet(result.frames).save(args.out_dir / "animation_frames.png", optimize=True)
    seconds = dict(zip(result.made, result.seconds))
    later = [s for f, s in seconds.items() if f > 0]
    data = gif.read_bytes()
    print(f"machine: {platform.processor() or platform.machine()}, {THREADS} threads")
    if 0 in seconds:
        print(f"frame 0 (from noise): {seconds[0]:.1f} s")
    if later:
        print(f"later frames: {statistics.mean(later):.2f} s per frame (median {statistics.median(later):.2f}, {len(later)} frames)")
    print(f"total: {sum(result.seconds):.0f} s for {len(result.made)} frames; peak memory {result.peak_rss / 2**20:.0f} MiB (ru_maxrss)")
    print(f"wrote {gif} ({len(data) / 1e6:.2f} MB, sha256 {hashlib.sha256(data).hexdigest()}) and {args.out_dir / 'animation_frames.png'}")
    return 0


COMMAND = Command('make_clip', 'Regenerate the README clip and its contact sheet, and print its cost.', run, add_options)

if __name__ == "__main__":
    raise SystemExit(run_command(COMMAND))
