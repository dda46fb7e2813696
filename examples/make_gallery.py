"""Regenerate docs/gallery.md: the transfer suite's 20 classes made with the shipped default recipe, one picture each.

    python examples/make_gallery.py                    # from the repository root: writes docs/gallery.md and docs/images/gallery/
    python examples/make_gallery.py --check            # the page and its pictures as committed, byte for byte, and the
                                                       # first class's picture made again from nothing (--classes N for more)

The pictures are the committed transfer run's (``reproduce/results/transfer``): seed 0 of each class,
of the suite's method that is the shipped default recipe (:data:`METHOD`: the demo's quality presets,
robust + logit + drop_connect + coarse + shared, on the suite's 192 px picture), so the page shows
exactly what the benchmark measured. Under each:
the class asked for, what the held-out EfficientNet-Lite2 (which never guided the picture) sees in
it first and with what probability, and the picture's fine-scale share (``dasag/image/stats.py``;
photographs of objects 0.05-0.08). Everything is a function of the committed files: a second run
writes the same bytes.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from dasag.commands.skeleton import Command, run_command

ROOT = Path(__file__).resolve().parents[1]
#: The transfer suite's method whose pictures the page shows: the shipped default recipe.
METHOD = "coarse_shared"
#: The held-out judge named under each picture.
JUDGE = "lite2"
#: Pictures per row of the page.
COLUMNS = 4


def slug(class_name: str) -> str:
    return class_name.replace(" ", "_")


def gallery_rows(run: Path, method: str = METHOD) -> list[dict]:
    """Seed 0 of each suite class, in the suite's order: class, picture file, the judge's first class and its
    probability, and the fine-scale share."""
    import numpy as np
    import pandas as pd
    from PIL import Image

    from dasag.core.process import threads
    from dasag.image.picture import load_image
    from dasag.image.stats import fine_scale
    from dasag.quality.suites import SEED_STRIDE, TRANSFER_CLASSES
    from dasag.scorers import heldout
    from dasag.scorers.imagenet import class_names

    table = pd.read_csv(run / "scores.csv")
    table = table[(table["method"] == method) & (table["sample"] % SEED_STRIDE == 0)]
    if table.empty:
        raise SystemExit(f"{run}/scores.csv has no seed-0 pictures of method {method!r}.")
    judge = heldout.judge(JUDGE).load()
    rows = []
    for class_name in TRANSFER_CLASSES:
        match = table[table["class_name"] == class_name]
        if match.empty:
            continue
        png = run / "images" / f"{match['file_hash'].iloc[0]}.png"
        with threads(1):  # the judge's probabilities to the last printed digit on any machine
            probs = judge.logits(load_image(png).unsqueeze(0)).softmax(dim=-1)[0]
        with Image.open(png) as image:
            share = fine_scale(np.array(image.convert("RGB")))
        first = int(probs.argmax())
        rows.append({"class_name": class_name, "png": png, "seen": class_names()[first], "p": float(probs[first]),
                     "p_target": float(probs[int(match["class_index"].iloc[0])]), "fine_scale": share})
    return rows


def page(rows: list[dict], method: str = METHOD) -> str:
    """docs/gallery.md for ``rows`` (pictures under ``images/gallery/``)."""
    from dasag.quality.suites import TRANSFER

    label = TRANSFER.method(method).label
    config = TRANSFER.method(method).config.name
    seen = sum(r["seen"] == r["class_name"] for r in rows)
    lines = [
        "# Gallery: the transfer suite's classes with the shipped default recipe", "",
        f"One picture per class, seed 0 of the committed transfer run's **{label}** method (`configs/{config}`: the demo's "
        "quality presets, robust + logit + drop_connect + coarse + shared, on the suite's 192 px picture, EfficientNet-Lite0 guiding "
        "for 60 steps of 4 copies). Under each: the "
        f"class asked for; what EfficientNet-{JUDGE.capitalize()}, which never guided the picture, ranks first, with its "
        "probability; and the picture's fine-scale share (the share of its grey level's spectral power above a quarter of the "
        "Nyquist frequency at 256 px: photographs of objects 0.05-0.08, of textures 0.39-0.57; `dasag/image/stats.py`).", "",
        f"{JUDGE.capitalize()} ranks the class asked for first in {seen} of {len(rows)}; mean fine-scale share "
        f"{sum(r['fine_scale'] for r in rows) / len(rows):.3f}. Made by `python examples/make_gallery.py` from "
        "`reproduce/results/transfer` (`--check` compares this page and its pictures byte for byte and makes the first "
        "class's picture again from nothing).", "",
    ]
    head = "| " + " | ".join([""] * COLUMNS) + " |"
    lines += [head, "|" + "---|" * COLUMNS]
    for start in range(0, len(rows), COLUMNS):
        cells = []
        for r in rows[start:start + COLUMNS]:
            verdict = f"{JUDGE.capitalize()}: {r['seen']} {r['p']:.2f}"
            if r["seen"] != r["class_name"]:
                verdict += f" ({r['class_name']}: {r['p_target']:.2f})"
            cells.append(f"![{r['class_name']}](images/gallery/{slug(r['class_name'])}.png)<br>**{r['class_name']}**<br>"
                         f"{verdict}<br>fine-scale {r['fine_scale']:.3f}")
        cells += [""] * (COLUMNS - len(cells))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write(rows: list[dict], docs: Path, method: str = METHOD) -> list[Path]:
    """The page and its pictures (the run's PNGs, copied byte for byte) under ``docs``; the files written."""
    folder = docs / "images" / "gallery"
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for r in rows:
        target = folder / f"{slug(r['class_name'])}.png"
        shutil.copyfile(r["png"], target)
        written.append(target)
    (docs / "gallery.md").write_text(page(rows, method))
    return [docs / "gallery.md", *written]


def differences(made: Path, committed: Path) -> list[str]:
    """The files under ``made`` whose bytes differ from (or are missing in) ``committed``."""
    return [str(p.relative_to(made)) for p in sorted(made.rglob("*")) if p.is_file()
            and (not (committed / p.relative_to(made)).is_file() or (committed / p.relative_to(made)).read_bytes() != p.read_bytes())]


def add_options(parser) -> None:
    parser.add_argument("--run", type=Path, default=ROOT / "reproduce" / "results" / "transfer", help="the transfer run the pictures come from")
    parser.add_argument("--docs", type=Path, default=ROOT / "docs", help="where gallery.md and images/gallery/ go")
    parser.add_argument("--check", action="store_true", help="compare with --docs byte for byte and make the first classes' pictures again")
    parser.add_argument("--classes", type=int, default=1, help="with --check: how many classes' pictures to make again from nothing")


def run(args) -> int:
    rows = gallery_rows(args.run)
    if not args.check:
        written = write(rows, args.docs)
        print(f"wrote {written[0]} and {len(written) - 1} pictures under {written[1].parent}")
        return 0
    from dasag.commands import main

    with tempfile.TemporaryDirectory() as tmp:
        write(rows, Path(tmp))
        changed = differences(Path(tmp), args.docs)
    if changed:
        print(f"differs from {args.docs}: {', '.join(changed)}")
        return 1
    print(f"{args.docs / 'gallery.md'} and its {len(rows)} pictures: identical")
    # the pictures themselves: made again from their config and seed, compared with the run's bytes
    return main(["quality", "transfer", "--out", str(args.run), "--check", "--methods", METHOD, "--classes", str(args.classes), "--seeds", "1"])


COMMAND = Command("make_gallery", "Regenerate docs/gallery.md from the committed transfer run, or --check it byte for byte.", run, add_options)

if __name__ == "__main__":
    raise SystemExit(run_command(COMMAND))
