"""Batch runs: a CSV or YAML of rows -> one image per row, with the harness's guarantees.

    dasag batch rows.csv --config demo --out runs/batch
    dasag batch rows.csv --config demo --out runs/batch --check

A row is a prompt (the weighted syntax of :mod:`dasag.core.prompts`), optionally a negative prompt,
a seed, a name, and any config override as a dotted key (``trainer.max_steps``,
``model.pyramid.init_args.max_size``, ``model.objective.init_args.aesthetic_weight``). The rows
run through the quality harness (:mod:`dasag.batch.engine`) as the tasks of a one-method
suite, so a batch has everything a benchmark has: every row checked before anything loads or is
written, images written before their row, ``scores.csv`` rewritten atomically, a rerun making only
the missing rows (rows may be appended to the file between runs; a row whose image exists and
that was changed is refused rather than silently left stale), ``--check`` regenerating the bytes,
several devices or nodes sharing one folder, and at the end a contact sheet with the scores.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

import yaml

from dasag.batch.report import write_report
from dasag.batch.tasks import Method, RunSpec, Suite, Task
from dasag.core.errors import ConfigError
from dasag.core.safe_yaml import MAX_CONFIG_VALUES, expanded_size

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
                 look_columns=("look/contrast", "look/colourfulness"), make_tasks=_tasks_of, write_report=write_report,
                 report_files=("contact_sheet.png", "report.md"))


def _tasks_of(suite: Suite, spec: RunSpec) -> list[Task]:
    """A batch's tasks: the rows of ``--rows`` (its first ``--samples``); ``--classes``/``--seeds`` are refused."""
    if spec.classes or spec.seeds:
        raise ConfigError("--classes/--seeds narrow the transfer suite; for a batch use --samples (its first N rows).")
    return batch_tasks(spec.rows, spec.base_seed, spec.samples)


def read_rows_file(path: str | Path) -> list[dict[str, Any]]:
    """The rows of a ``.csv`` (header line, one row per line) or ``.yaml`` (a list of mappings, or a
    mapping with a ``rows`` list) file; CSV cells are read as YAML scalars (``60`` a number, ``true`` a
    boolean, ``[a, b]`` a list) except the prompt columns, which stay text."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".yaml", ".yml"):
        raise ConfigError(f"rows file {str(path)!r} must be a .csv or a .yaml file.")
    text = _text(path)
    if suffix == ".csv":
        rows = _csv_rows(text, path)
    else:
        try:
            data: Any = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise ConfigError(f"rows file {str(path)!r} is not valid YAML ({str(e).splitlines()[0]}).") from None
        if expanded_size(data) > MAX_CONFIG_VALUES:
            raise ConfigError(f"rows file {str(path)!r} expands to more than {MAX_CONFIG_VALUES:,} values (YAML aliases nested inside each other).")
        rows = data.get("rows") if isinstance(data, dict) else data
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise ConfigError(f"rows file {str(path)!r} must hold a list of rows (mappings), or a mapping with a rows list.")
    if not rows:
        raise ConfigError(f"rows file {str(path)!r} holds no rows.")
    return rows


def _text(path: Path) -> str:
    """The rows file's text (UTF-8, a byte-order mark dropped); a folder, a missing or unreadable
    file, or one that is not UTF-8 text is one sentence."""
    if path.is_dir():
        raise ConfigError(f"rows file {str(path)!r} is a folder; name a .csv or .yaml rows file.")
    if not path.exists():
        raise ConfigError(f"rows file {str(path)!r} does not exist.")
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError(f"rows file {str(path)!r} is not a UTF-8 text file.") from None
    except OSError as e:  # no permission to read it, a link that leads nowhere, an I/O error under it
        raise ConfigError(f"rows file {str(path)!r} cannot be read ({e.strerror or type(e).__name__}).") from None


def _csv_rows(text: str, path: Path) -> list[dict[str, Any]]:
    """A CSV rows file's rows: a header of distinct, non-empty column names, then one row per line,
    each with as many cells as the header; a cell past Python's CSV field limit is one sentence."""
    reader = csv.DictReader(io.StringIO(text))
    rows = []
    try:
        header = [name.strip() for name in reader.fieldnames or []]
        if "" in header or len(set(header)) != len(header):
            repeated = sorted({name for name in header if header.count(name) > 1 and name})
            problem = f"repeats the column {repeated[0]!r}" if repeated else "has a column without a name"
            raise ConfigError(f"rows file {str(path)!r} header {problem}; name each column once (prompt, negative, seed, name, steps, "
                              f"or a dotted config key).")
        for n, raw in enumerate(reader, start=2):
            if None in raw or any(v is None for v in raw.values()):
                cells = len(header) + len(raw[None]) if None in raw else sum(v is not None for v in raw.values())
                raise ConfigError(f"rows file {str(path)!r} line {n} has {cells} cells but the header has {len(header)}; "
                                  f"quote a cell that contains a comma.")
            rows.append({k.strip(): _cell(k.strip(), v) for k, v in raw.items() if v.strip() != ""})
    except csv.Error as e:
        if "field limit" in str(e):
            raise ConfigError(f"rows file {str(path)!r} line {reader.reader.line_num} has a cell longer than {csv.field_size_limit():,} characters, "
                              f"the most a CSV cell may hold; shorten it (a scorer reads a prompt's first few dozen words).") from None
        raise ConfigError(f"rows file {str(path)!r} line {reader.reader.line_num} is not CSV ({e}).") from None
    return rows


#: A cell YAML reads as a plain decimal integer (no leading zero: YAML 1.1 reads ``010`` as octal).
_PLAIN_INT = re.compile(r"[-+]?(0|[1-9][0-9]*)")
#: libyaml's loader where PyYAML was built with it (about 10x faster per cell), else the Python one.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _cell(key: str, value: str) -> Any:
    """A CSV cell as YAML reads it. Seeds and step counts (plain integers) skip the YAML parser:
    it cost 50 us a cell, most of the time to read a million-row file."""
    if key in ("prompt", "negative", "name"):
        return value.strip()
    text = value.strip()
    if _PLAIN_INT.fullmatch(text):
        return int(text)
    try:
        return yaml.load(value, Loader=_LOADER)  # noqa: S506 - a safe loader (CSafeLoader or SafeLoader)
    except yaml.YAMLError:
        return text


def _nested(dotted: str, value: Any) -> dict[str, Any]:
    out: Any = value
    for part in reversed(dotted.split(".")):
        out = {part: out}
    return out


def row_task(row: dict[str, Any], index: int, base_seed: int, where: str) -> Task:
    """One row -> its task: the seed (the row's, else ``base_seed + index``), the prompts as the
    config's prompt lists and every dotted key as an override; an unknown key is one sentence."""
    from dasag.core.config import deep_merge

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
    """Every row of the file (or its first ``first``) as a task; row i is sample i. Two rows with
    one name are one sentence: names are how a person finds a row's picture in the report."""
    rows = read_rows_file(rows_file)
    tasks = [row_task(r, i, base_seed, f"row {i + 1} of {str(rows_file)!r}") for i, r in enumerate(rows)]
    seen: dict[str, int] = {}
    for task in tasks:
        name = task.columns["name"]
        if name and name in seen:
            raise ConfigError(f"row {task.sample + 1} of {str(rows_file)!r} repeats the name {name!r} of row {seen[name] + 1}; "
                              "give each row its own name, or leave the name empty.")
        seen.setdefault(name, task.sample)
    return tasks[:first] if first else tasks


def batch_spec(rows: str | Path, config: str | Path, out: str | Path, **options: Any) -> RunSpec:
    """The run options of a batch; ``options`` are :class:`RunSpec` fields (``steps``, ``devices``, ``threads``, ...)."""
    from dasag.core.config import config_file

    return RunSpec(suite="batch", out=Path(out), rows=Path(rows), config=config_file(config), **options)


def run_batch(rows: str | Path, config: str | Path, out: str | Path, **options: Any):
    """Make every missing row's image (one per row of ``rows``, each from ``config`` with the row's
    settings) into ``out``; returns the scores table (``None`` on workers other than rank 0)."""
    from dasag.batch import engine

    spec = batch_spec(rows, config, out, **options)
    return engine.run(spec, batch_suite(spec.config))


def check_batch(rows: str | Path, config: str | Path, out: str | Path, **options: Any) -> list[str]:
    """Regenerate the batch's images and compare them byte for byte; returns one message per mismatch."""
    from dasag.batch import engine

    spec = batch_spec(rows, config, out, **options)
    return engine.check(spec, batch_suite(spec.config))
