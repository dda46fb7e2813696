"""Everyday edits: does a picture keep its class once it is shared the way pictures are shared?

A pattern that only fools classifiers at its exact pixels is fragile: a messenger app halves
and re-enlarges it, recompresses it as JPEG, a user crops it or mirrors it. An image whose
object is really there survives all of that. Each edit here is the ordinary version of one of
those steps, applied to the 8-bit PNG a method wrote, and the edited picture is scored by a
held-out judge (a classifier that did not guide the image).

The scores go into ``edits.csv`` in the run's folder, one row per image hash, so a run that is
continued (or reported again) scores only the images it has not scored yet.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from dasag.image.picture import from_uint8

#: How much of each side the centre crop keeps (a typical "crop to the subject").
CROP_SIDE = 0.8
#: The JPEG quality of the recompression (what photo-sharing services commonly use).
JPEG_QUALITY = 75


def resize_round_trip(image: Image.Image) -> Image.Image:
    """Half the size and back (bicubic both ways): the fine detail a thumbnail loses."""
    w, h = image.size
    return image.resize((max(w // 2, 1), max(h // 2, 1)), Image.Resampling.BICUBIC).resize((w, h), Image.Resampling.BICUBIC)


def jpeg(image: Image.Image) -> Image.Image:
    """A JPEG round trip at quality 75 with 4:2:0 chroma subsampling (the encoder's default)."""
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=JPEG_QUALITY)
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return decoded.convert("RGB")


def centre_crop(image: Image.Image) -> Image.Image:
    """The centre 80 % of each side, enlarged back to the original size (bicubic)."""
    w, h = image.size
    cw, ch = round(w * CROP_SIDE), round(h * CROP_SIDE)
    left, top = (w - cw) // 2, (h - ch) // 2
    return image.crop((left, top, left + cw, top + ch)).resize((w, h), Image.Resampling.BICUBIC)


def mirror(image: Image.Image) -> Image.Image:
    """Left and right swapped."""
    return image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)


def all_four(image: Image.Image) -> Image.Image:
    """Every edit above, one after another (crop, mirror, resize round trip, JPEG last, as a share does)."""
    return jpeg(resize_round_trip(mirror(centre_crop(image))))


#: The edits, by the name their columns carry, with the words the report uses.
EDITS: dict[str, tuple[str, Callable[[Image.Image], Image.Image]]] = {
    "resize": ("half size and back", resize_round_trip),
    "jpeg": (f"JPEG q{JPEG_QUALITY}", jpeg),
    "crop": (f"centre crop {CROP_SIDE:.0%}", centre_crop),
    "mirror": ("mirrored", mirror),
    "all": ("all four", all_four),
}

#: Scores an edited picture: (1, 3, H, W) in [0, 1] and the target class's name -> (top-1 0/1, p(target)).
Judge = Callable[[object, str], tuple[int, float]]


def column(edit: str, field: str) -> str:
    return f"edit/{edit}/{field}"


def score_image(path: Path, class_name: str, judge: Judge) -> dict[str, float]:
    """One PNG -> its judge's top-1 and target probability under every edit."""
    with Image.open(path) as opened:
        image = opened.convert("RGB")
    row: dict[str, float] = {}
    for name, (_, edit) in EDITS.items():
        pixels = from_uint8(np.array(edit(image))).unsqueeze(0)
        top1, prob = judge(pixels, class_name)
        row[column(name, "top1")] = top1
        row[column(name, "prob")] = prob
    return row


def read_edits(path: Path) -> pd.DataFrame:
    """``edits.csv`` as a run wrote it (a column per edit and field, a number in every cell), or an
    empty table when there is none; anything else is one sentence naming it (a harness run checks it
    before it takes its folder: its scores are only a record, made again from the images)."""
    from dasag.batch.scores_file import read_table

    columns = ["file_hash", *(column(e, f) for e in EDITS for f in ("top1", "prob"))]
    known = read_table(path, columns, numbers=lambda c: c != "file_hash", filled=lambda c: c in columns,
                       advice="delete it and run again (its scores are made again from the images; nothing else is lost)")
    return known if len(known.columns) else pd.DataFrame({"file_hash": pd.Series(dtype=str)})


def edit_scores(out: Path, table: pd.DataFrame, judge: Judge, write: Callable[[Path, pd.DataFrame], None]) -> pd.DataFrame:
    """The edit scores of every image in ``table`` (columns ``file_hash``, ``class_name``), one row per
    hash: read from ``out/edits.csv`` where an image was scored before, scored now otherwise, and the
    file written again (through ``write``, atomic) when anything was added."""
    path = out / "edits.csv"
    known = read_edits(path)
    done = set(known["file_hash"])
    new = [{"file_hash": row["file_hash"], **score_image(out / "images" / f"{row['file_hash']}.png", row["class_name"], judge)}
           for _, row in table.drop_duplicates("file_hash").iterrows() if row["file_hash"] not in done]
    if new:  # rows of images outside this table (a narrower report) stay in the file
        known = pd.concat([known, pd.DataFrame(new)], ignore_index=True) if done else pd.DataFrame(new)
        known = known.sort_values("file_hash").reset_index(drop=True)
        write(path, known)
    return known[known["file_hash"].isin(table["file_hash"])].reset_index(drop=True)
