"""``dasag animate``: a clip over keyframes, frame by frame (docs/animation.md)."""

from __future__ import annotations

from argparse import Namespace
from collections.abc import Sequence
from pathlib import Path

from dasag.commands.skeleton import Command, run_command

EXAMPLES = """examples:
  dasag animate --config animation/daisy_to_volcano --out runs/clip     the shipped offline clip (Lite0, 24 frames)
  dasag animate --config my_clip.yaml --out runs/clip                   running it again continues from the first missing frame
outputs: frames/NNNN.png (each with its metadata), clip.mp4, clip.gif, animation.json and tensorboard/."""


def add_options(parser) -> None:
    parser.add_argument("--config", required=True, help="a run config with an animation: block (a file, or a shipped config by name)")
    parser.add_argument("--out", required=True, type=Path, help="output folder; running again into it continues the clip")
    parser.add_argument("--threads", type=int | None, default=None, help="CPU threads; CPU frame bytes depend on it (default: the folder's, else 2)")


def run(args: Namespace) -> int:
    from dasag.animation.animate import TENSORBOARD_DIR, ClipSpec, make_clip
    from dasag.core.config import config_file

    result = make_clip(ClipSpec.from_file(config_file(args.config), args.out, args.threads))
    if result.made:
        later = [s for f, s in zip(result.made, result.seconds) if f > 0]
        per = f", {sum(later) / len(later):.1f} s per later frame" if later else ""
        print(f"{len(result.made)} frames made in {sum(result.seconds):.0f} s{per}; peak memory {result.peak_rss / 2**20:.0f} MiB (ru_maxrss)")
    print(f"clip in {args.out}: clip.mp4, clip.gif, frames/ and tensorboard/ (tensorboard --logdir {args.out / TENSORBOARD_DIR})")
    return 0


def kept(args: Namespace) -> str:
    return f"every finished frame is kept in {str(args.out)!r}: free some space and run the same command again to make the rest"


COMMAND = Command("animate", "Make a clip: frames that fade between keyframe prompts while the camera moves.", run, add_options, kept, EXAMPLES)


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(COMMAND, argv)
