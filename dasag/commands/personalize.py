"""``dasag personalize``: a personal aesthetic (style) embedding from a folder of pictures."""

from __future__ import annotations

from argparse import Namespace
from collections.abc import Sequence

from dasag.commands.skeleton import Command, run_command

EXAMPLES = """examples:
  dasag personalize --images my_pictures/ --out my_style.pt --config style
then name my_style.pt in a run's StyleTerm (model.objective.init_args.terms; configs/style.yaml shows how)."""


def add_options(parser) -> None:
    from dasag.scorers.embeddings import EMBED_SIZE

    parser.add_argument("--images", required=True, help="a folder of pictures (png, jpg, webp, bmp) or one picture")
    parser.add_argument("--out", required=True, help="the .pt file to write")
    parser.add_argument("--config", required=True, help="a run config whose model.scorer embeds the pictures (a file, or a shipped config by name)")
    parser.add_argument("--member", type=int, default=0, help="which scorer of an ensemble")
    parser.add_argument("--size", type=int, default=EMBED_SIZE, help="side the pictures are centre-cropped and resized to first")


def run(args: Namespace) -> int:
    from dasag.personalize import personalize

    style = personalize(args.images, args.out, args.config, args.member, args.size)
    print(f"wrote {args.out}: mean of {style.num_images} image embeddings, {style.scorer.describe()}")
    return 0


COMMAND = Command("personalize", "Make a personal aesthetic embedding (the mean embedding of your pictures) for a style term.", run,
                  add_options, examples=EXAMPLES)


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(COMMAND, argv)
