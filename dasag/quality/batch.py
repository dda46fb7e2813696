"""Batch runs: a CSV or YAML of rows -> one image per row, with the harness's guarantees.

    python -m dasag.batch rows.csv --config configs/demo.yaml --out runs/batch
    python -m dasag.batch rows.csv --config configs/demo.yaml --out runs/batch --check

A row is a prompt (the weighted syntax of :mod:`dasag.prompts`), optionally a negative prompt,
a seed, a name, and any config override as a dotted key (``trainer.max_steps``,
``model.pyramid.init_args.max_size``, ``model.objective.init_args.aesthetic_weight``). The rows
run through the quality harness (:mod:`dasag.quality.harness`) as the tasks of a one-method
suite, so a batch has everything a benchmark has: every row checked before anything loads or is
written, images written before their row, ``scores.csv`` rewritten atomically, a rerun making only
the missing rows (rows may be appended to the file between runs; a row whose image exists and
that was changed is refused rather than silently left stale), ``--check`` regenerating the bytes,
several devices or nodes sharing one folder, and at the end a contact sheet with the scores.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path
from typing import Any

import yaml

from dasag.config import MAX_CONFIG_VALUES, ConfigError, expanded_size
from dasag.quality.suites import Method, Suite, Task

#: The columns a row may have besides dotted config keys.
ROW_KEYS = ("prompt", "negative", "seed", "name", "steps")
#: The top-level config keys a dotted override may start with.
CONFIG_ROOTS = ("trainer", "model", "data", "seed_everything")
#: The method name of every batch task (``scores.csv``'s ``method`` column).
METHOD = "batch"
#: Columns of a batch's ``scores.csv`` that identify the row.
KEY_COLUMNS = ("method", "sample", "seed", "name", "prompt", "negative", "row_digest", "file_hash")


def batch_suite(config: Path) -> Suite:
    """The one-method suite a batch runs as: every row is a task of ``config`` with its overrides."""
    return Suite(name="batch", methods=(Method(METHOD, "batch", Path(config)),), key_columns=KEY_COLUMNS, score_columns=(),
                 look_columns=("look/contrast", "look/colourfulness"))


def read_rows_file(path: str | Path) -> list[dict[str, Any]]:
    """The rows of a ``.csv`` (header line, one row per line) or ``.yaml`` (a list of mappings, or a
    mapping with a ``rows`` list) file; CSV cells are read as YAML scalars (``60`` a number, ``true`` a
    boolean, ``[a, b]`` a list) except the prompt columns, which stay text."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"rows file {str(path)!r} does not exist.")
    if path.suffix.lower() == ".csv":
        try:
            text = path.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError:
            raise ConfigError(f"rows file {str(path)!r} is not a UTF-8 text file.") from None
        reader = csv.DictReader(io.StringIO(text))
        rows = []
        for n, raw in enumerate(reader, start=2):
            if None in raw or any(v is None for v in raw.values()):
                cells = len(reader.fieldnames or []) + len(raw[None]) if None in raw else sum(v is not None for v in raw.values())
                raise ConfigError(f"rows file {str(path)!r} line {n} has {cells} cells but the header has {len(reader.fieldnames or [])}; "
                                  f"quote a cell that contains a comma.")
            rows.append({k.strip(): _cell(k.strip(), v) for k, v in raw.items() if v.strip() != ""})
    elif path.suffix.lower() in (".yaml", ".yml"):
        try:
            data: Any = yaml.safe_load(path.read_text())
        except (yaml.YAMLError, UnicodeDecodeError) as e:
            raise ConfigError(f"rows file {str(path)!r} is not valid YAML ({str(e).splitlines()[0]}).") from None
        if expanded_size(data) > MAX_CONFIG_VALUES:
            raise ConfigError(f"rows file {str(path)!r} expands to more than {MAX_CONFIG_VALUES:,} values (YAML aliases nested inside each other).")
        rows = data.get("rows") if isinstance(data, dict) else data
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise ConfigError(f"rows file {str(path)!r} must hold a list of rows (mappings), or a mapping with a rows list.")
    else:
        raise ConfigError(f"rows file {str(path)!r} must be a .csv or a .yaml file.")
    if not rows:
        raise ConfigError(f"rows file {str(path)!r} holds no rows.")
    return rows


def _cell(key: str, value: str) -> Any:
    if key in ("prompt", "negative", "name"):
        return value.strip()
    try:
        return yaml.safe_load(value)
    except yaml.YAMLError:
        return value.strip()


def _nested(dotted: str, value: Any) -> dict[str, Any]:
    out: Any = value
    for part in reversed(dotted.split(".")):
        out = {part: out}
    return out


def row_task(row: dict[str, Any], index: int, base_seed: int, where: str) -> Task:
    """One row -> its task: the seed (the row's, else ``base_seed + index``), the prompts as the
    config's prompt lists and every dotted key as an override; an unknown key is one sentence."""
    from dasag.config import deep_merge

    overrides: dict[str, Any] = {}
    for key, value in row.items():
        key = str(key)
        if key in ROW_KEYS:
            continue
        if "." not in key and key != "seed_everything" or key.split(".")[0] not in CONFIG_ROOTS or "" in key.split("."):
            raise ConfigError(f"{where} has an unknown key {key!r}; allowed: {', '.join(ROW_KEYS)}, or a dotted config key "
                              f"starting with {', '.join(CONFIG_ROOTS)} (e.g. model.pyramid.init_args.max_size).")
        overrides = deep_merge(overrides, _nested(key, value))
    prompt = row.get("prompt")
    if not isinstance(prompt, (str, int)) or isinstance(prompt, bool) or not str(prompt).strip():
        raise ConfigError(f"{where} needs a prompt (a text, an ImageNet class, or the weighted form 'a | b:0.5'); got {prompt!r}.")
    negative = row.get("negative")
    data: dict[str, Any] = {"positive_prompts": [str(prompt)], "negative_prompts": [str(negative)] if negative not in (None, "") else []}
    overrides = deep_merge(overrides, {"data": data})
    if "steps" in row:
        steps = row["steps"]
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ConfigError(f"{where} steps must be a positive integer; got {steps!r}.")
        overrides = deep_merge(overrides, {"trainer": {"max_steps": steps}})
    seed = row.get("seed", base_seed + index)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise ConfigError(f"{where} seed must be a whole number from 0 to {2**32 - 1}; got {seed!r}.")
    name = str(row.get("name", "") or "")
    columns = {"name": name, "prompt": str(prompt), "negative": "" if negative is None else str(negative)}
    return Task(METHOD, index, int(seed), overrides=overrides, columns=columns)


def batch_tasks(rows_file: str | Path, base_seed: int, first: int | None = None) -> list[Task]:
    """Every row of the file (or its first ``first``) as a task; row i is sample i."""
    rows = read_rows_file(rows_file)
    tasks = [row_task(r, i, base_seed, f"row {i + 1} of {str(rows_file)!r}") for i, r in enumerate(rows)]
    return tasks[:first] if first else tasks


def row_digest(config: dict[str, Any]) -> str:
    """A short fingerprint of a row's whole config: a rerun refuses a row changed after its image was made."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:16]


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


def write_report(table, out: Path, spec: Any) -> dict[str, Path]:
    """``contact_sheet.png`` and ``report.md`` of a finished batch (``scores.csv`` is already written)."""
    from dasag.files import write_bytes_atomic

    out = Path(out)
    written: dict[str, Path] = {}
    if table.empty:
        return written
    table = table.sort_values("sample", kind="stable").reset_index(drop=True)
    written["contact_sheet"] = write_bytes_atomic(out / "contact_sheet.png", contact_sheet(table, out))
    scores = [c for c in table.columns if "/" in c and not c.startswith("look/")]
    total = float(table["seconds"].sum())
    lines = [f"# Batch `{Path(str(spec.rows)).name}`", "",
             f"Made by `python -m dasag.batch {spec.rows} --config {spec.config} --out {spec.out}`; row i has seed base_seed + i unless it sets one.", "",
             f"Rows: {len(table)}; compute time {total / 60:.1f} min (mean {total / len(table):.1f} s per image).", "",
             "| row | name | prompt | seed | " + " | ".join(scores) + " | s |", "|---" * (len(scores) + 5) + "|"]
    for row in table.to_dict("records"):
        values = " | ".join(f"{float(row[c]):.3f}" for c in scores)
        prompt = _text(row["prompt"]).replace("|", "\\|")
        lines.append(f"| {int(row['sample']) + 1} | {_text(row.get('name'))} | {prompt} | {int(row['seed'])} | {values} | {float(row['seconds']):.1f} |")
    lines += ["", "Files: `scores.csv` (one row per image), `contact_sheet.png`, `images/<sha256>.png` (each with its config in a PNG text chunk).", ""]
    written["report"] = write_bytes_atomic(out / "report.md", "\n".join(lines).encode())
    return written
