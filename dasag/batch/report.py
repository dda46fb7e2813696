"""What a finished batch shows: a contact sheet of every row's picture and a table of its scores."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

#: Side of one picture in the contact sheet, and the caption band under it.
THUMB = 256


CAPTION = 34


def contact_sheet(table, out: Path, columns: int | None = None) -> bytes:
    """Every row's picture in row order, each captioned with its row number, name or prompt and
    the first guide's positive score: PNG bytes that depend only on the images and the table."""
    import math

    from PIL import Image, ImageDraw, ImageFont

    n = len(table)
    cols = columns or min(n, max(1, math.ceil(math.sqrt(n))))
    rows_ = math.ceil(n / cols)
    pad = 4
    sheet = Image.new("RGB", (cols * (THUMB + pad) + pad, rows_ * (THUMB + CAPTION + pad) + pad), "white")
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=13)
    score = next((c for c in table.columns if c.endswith("/positive")), None)
    for i, row in enumerate(table.to_dict("records")):
        r, c = divmod(i, cols)
        x, y = pad + c * (THUMB + pad), pad + r * (THUMB + CAPTION + pad)
        with Image.open(out / "images" / f"{row['file_hash']}.png") as picture:
            sheet.paste(picture.convert("RGB").resize((THUMB, THUMB), Image.Resampling.LANCZOS), (x, y))
        line = f"{int(row['sample']) + 1}. {_text(row.get('name')) or _text(row['prompt'])}"
        while draw.textlength(line, font=font) > THUMB - 4 and len(line) > 4:
            line = line[:-2] + "…"
        draw.text((x + 2, y + THUMB + 2), line, fill="black", font=font)
        if score is not None:
            draw.text((x + 2, y + THUMB + 17), f"{score} {float(row[score]):.3f}", fill=(90, 90, 90), font=font)
    buffer = io.BytesIO()
    sheet.save(buffer, format="PNG")
    return buffer.getvalue()


def _text(value: Any) -> str:
    """A table cell as text: pandas reads an empty cell as NaN."""
    return "" if value is None or (isinstance(value, float) and value != value) else str(value)


def write_report(suite: Any, table, out: Path, spec: Any, *_: Any) -> dict[str, Path]:
    """``contact_sheet.png`` and ``report.md`` of a finished batch (``scores.csv`` is already written);
    the signature of :attr:`~dasag.batch.tasks.Suite.write_report`."""
    from dasag.core.files import write_bytes_atomic

    out = Path(out)
    written: dict[str, Path] = {}
    if table.empty:
        return written
    table = table.sort_values("sample", kind="stable").reset_index(drop=True)
    written["contact_sheet"] = write_bytes_atomic(out / "contact_sheet.png", contact_sheet(table, out))
    scores = [c for c in table.columns if "/" in c and not c.startswith("look/")]
    total = float(table["seconds"].sum())
    lines = [f"# Batch `{Path(str(spec.rows)).name}`", "",
             f"Made by `dasag batch {spec.rows} --config {spec.config} --out {spec.out}`; row i has seed base_seed + i unless it sets one.", "",
             f"Rows: {len(table)}; compute time {total / 60:.1f} min (mean {total / len(table):.1f} s per image).", "",
             "| row | name | prompt | seed | " + " | ".join(scores) + " | s |", "|---" * (len(scores) + 5) + "|"]
    for row in table.to_dict("records"):
        values = " | ".join(f"{float(row[c]):.3f}" for c in scores)
        prompt = _text(row["prompt"]).replace("|", "\\|")
        lines.append(f"| {int(row['sample']) + 1} | {_text(row.get('name'))} | {prompt} | {int(row['seed'])} | {values} | {float(row['seconds']):.1f} |")
    lines += ["", "Files: `scores.csv` (one row per image), `contact_sheet.png`, `images/<sha256>.png` (each with its config in a PNG text chunk).", ""]
    written["report"] = write_bytes_atomic(out / "report.md", "\n".join(lines).encode())
    return written
