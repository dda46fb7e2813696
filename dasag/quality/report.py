"""Tables, plots and ``report.md`` from ``scores.csv`` (pandas + matplotlib).

``stats.csv`` for das_ag_v2 has exactly the published file's columns (method label,
aesthetic and SigLIP similarity mean/std, sample std as pandas computes it) so the two can
be read side by side; held-out columns, when present, follow as ``<column>_mean/_std``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from dasag.batch.tasks import Suite
from dasag.core.files import write_bytes_atomic
from dasag.core.process import threads
from dasag.image.picture import from_uint8, grid, read_metadata, write_png
from dasag.image.stats import fine_scale
from dasag.quality import edits as everyday
from dasag.quality.cost import image_flops
from dasag.scorers import heldout

#: Columns that are not scores (never averaged).
_NOT_SCORES = {"method", "sample", "seed", "file_hash", "class_name", "class_index", "seconds", "device"}


#: The fine-scale share of each picture (:func:`dasag.image.stats.fine_scale`), measured on its PNG when the report is written.
FINE_SCALE = "look/fine_scale"


def with_fine_scale(out: Path, table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with each picture's fine-scale share read from ``out/images/<file_hash>.png``: measured
    here, not in ``scores.csv``, so the rows of runs made before the measure existed get it from their
    own files and every method of a run is measured alike (a pure function of the PNG: the same bytes
    give the same report)."""
    import numpy as np
    from PIL import Image

    shares = {}
    for digest in table["file_hash"].unique():
        with Image.open(out / "images" / f"{digest}.png") as image:
            shares[digest] = fine_scale(np.array(image.convert("RGB")))
    return table.assign(**{FINE_SCALE: table["file_hash"].map(shares)})


def score_columns(table: pd.DataFrame) -> list[str]:
    return [c for c in table.columns if c not in _NOT_SCORES]


#: das_ag_v2: the guide's score keys -> the published file's column names (so the two read side by side).
PUBLISHED_NAMES = {"siglip/aesthetic": "aesthetic_score", "siglip/positive": "clip_score"}


def stats_table(suite: Suite, table: pd.DataFrame) -> pd.DataFrame:
    """Mean and std per method (methods in the suite's order, labelled as in the reference)."""
    if suite.name == "das_ag_v2":
        table = table.drop(columns=["siglip/negative"], errors="ignore").rename(columns=PUBLISHED_NAMES)
    cols = score_columns(table)
    numeric = table[cols].apply(pd.to_numeric, errors="coerce").assign(method=table["method"])
    stats = numeric.groupby("method", sort=False).agg(["mean", "std"])
    stats.columns = [f"{c}_{kind}" for c, kind in stats.columns]
    order = [m.name for m in suite.methods if m.name in stats.index]
    stats = stats.loc[order].reset_index()
    stats["method"] = stats["method"].map({m.name: m.label for m in suite.methods})
    return stats


def reference_stats(suite: Suite) -> pd.DataFrame | None:
    if suite.reference_stats is None or not suite.reference_stats.is_file():
        return None
    return pd.read_csv(suite.reference_stats)


def scatter(suite: Suite, table: pd.DataFrame, path: Path) -> Path:
    """One point per image, one colour per method: guide score against the other axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x, y = suite.scatter
    fig, ax = plt.subplots(figsize=(6, 4.5), dpi=100)
    for m in suite.methods:
        part = table[table["method"] == m.name]
        if not part.empty and x in part and y in part:
            ax.scatter(part[x], part[y], label=f"{m.label} (n={len(part)})", alpha=0.75, s=28)
    ref = reference_stats(suite)
    if ref is not None and suite.name == "das_ag_v2":
        ax.scatter(ref["clip_score_mean"], ref["aesthetic_score_mean"], marker="x", c="k", label="published means")
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.set_title(f"{suite.name}: {y} against {x}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, metadata={"Software": None})  # no version/timestamp in the file
    plt.close(fig)
    return path


def method_flops(out: Path, table: pd.DataFrame) -> dict[str, int | None]:
    """Per method, the counted guide FLOPs of one of its images (:mod:`dasag.quality.cost`), read
    from its first image's config (a method's images differ only in class and seed)."""

    costs: dict[str, int | None] = {}
    for method, part in table.groupby("method", sort=False):
        costs[str(method)] = image_flops(read_metadata(out / "images" / f"{part['file_hash'].iloc[0]}.png").get("config") or {})
    return costs


def frontier(suite: Suite, table: pd.DataFrame, path: Path, judge: str = "lite2", costs: dict[str, int | None] | None = None) -> Path | None:
    """The transfer frontier: one point per method, held-out ``judge`` top-1 against the cost of an
    image (log scale), each method in the legend: the counted guide FLOPs relative to the suite's
    first method where every method has them (``costs``), else the run's compute seconds; ``None``
    when the run has no such column."""
    column = heldout.key(judge, "top1")
    first = suite.methods[0]
    counted = costs is not None and bool(costs.get(first.name)) and all(costs.get(m) for m in table["method"].unique())
    if column not in table or (not counted and "seconds" not in table):
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    fig, ax = plt.subplots(figsize=(10, 5), dpi=100)
    markers = "osD^v<>pXP*h"
    for i, m in enumerate(suite.methods):
        part = table[table["method"] == m.name]
        if part.empty:
            continue
        x = costs[m.name] / costs[first.name] if counted else float(pd.to_numeric(part["seconds"]).mean())
        y = 100 * float(part[column].mean())
        ax.scatter([x], [y], s=55, marker=markers[i % len(markers)], label=f"{m.label}: {y:.0f}% (n={len(part)})", alpha=0.85)
    ax.set_xscale("log")
    if counted:
        ax.set_xlim(0.7, max(4.0, ax.get_xlim()[1]))
        ax.xaxis.set_major_locator(LogLocator(base=2))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}x"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(f"cost of an image relative to the {first.label} (log scale)\ncounted guide FLOPs: steps x copies x forward + backward")
    else:
        ax.set_xlabel("compute seconds per image (this run's machine; log scale)")
    ax.set_ylabel(f"held-out {judge} top-1 (%)")
    ax.set_ylim(0, 105)
    ax.set_title(f"{suite.name}: held-out {judge} top-1 against the cost of an image")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)
    return path


def _load_png(path: Path) -> torch.Tensor:
    import numpy as np
    from PIL import Image

    with Image.open(path) as img:
        return from_uint8(np.array(img.convert("RGB")))


def top3_grid(suite: Suite, table: pd.DataFrame, out: Path, path: Path) -> Path | None:
    """One row per method: its three best images by ``suite.rank_by`` (white where fewer)."""
    cells: list[torch.Tensor] = []
    size = None
    for m in suite.methods:
        part = table[table["method"] == m.name]
        if part.empty:
            continue
        best = part.sort_values([suite.rank_by, "sample"], ascending=[False, True]).head(3)
        row = [_load_png(out / "images" / f"{h}.png") for h in best["file_hash"]]
        size = size or row[0].shape
        cells += row + [torch.ones(size)] * (3 - len(row))
    if not cells:
        return None
    return write_png(path, grid(torch.stack(cells), columns=3))


def _fmt(mean: float, std: float, digits: int = 3) -> str:
    if pd.isna(mean):
        return "–"
    return f"{mean:.{digits}f} ± {std:.{digits}f}" if not pd.isna(std) else f"{mean:.{digits}f}"


def mode_of(stored: dict[str, Any]) -> str:
    """A run's mode in words, from its stored overrides: the compat overlay sets the original's time base."""
    model = (stored.get("overrides") or {}).get("model") or {}
    return "original (compat overlay)" if model.get("schedule_time_base") == "steps" else "corrected (default)"


def _side_by_side(suite: Suite, runs: list[tuple[str, pd.DataFrame, str]]) -> list[str]:
    """One row per method: the published figure, then each run's, for both columns of the published table."""
    ref = reference_stats(suite)
    ref_by = {} if ref is None else {r["method"]: r for _, r in ref.iterrows()}
    stats = [(name, mode, stats_table(suite, table).set_index("method")) for name, table, mode in runs]
    head = "| method | column | published | " + " | ".join(f"`{name}`: {mode}" for name, mode, _ in stats) + " |"
    lines = ["Side by side (mean ± std over each run's images):", "", head, "|---|---|---|" + "---|" * len(stats)]
    for m in suite.methods:
        for column, words in (("aesthetic_score", "aesthetic"), ("clip_score", "SigLIP similarity")):
            r = ref_by.get(m.label)
            cells = [_fmt(r[f"{column}_mean"], r[f"{column}_std"]) if r is not None else "–"]
            for _, _, st in stats:
                cells.append(_fmt(st.loc[m.label, f"{column}_mean"], st.loc[m.label, f"{column}_std"]) if m.label in st.index else "–")
            lines.append(f"| {m.label} | {words} | " + " | ".join(cells) + " |")
    return lines


def _markdown_das_ag_v2(suite: Suite, table: pd.DataFrame, stats: pd.DataFrame) -> list[str]:
    ref = reference_stats(suite)
    ref_by = {} if ref is None else {r["method"]: r for _, r in ref.iterrows()}
    lines = ["| method | n | aesthetic (ours) | aesthetic (published) | SigLIP similarity (ours) | SigLIP similarity (published) |",
             "|---|---|---|---|---|---|"]
    for _, s in stats.iterrows():
        r = ref_by.get(s["method"])
        n = int((table["method"] == suite.methods[[m.label for m in suite.methods].index(s["method"])].name).sum())
        lines.append(
            f"| {s['method']} | {n} | {_fmt(s['aesthetic_score_mean'], s['aesthetic_score_std'])} | "
            f"{_fmt(r['aesthetic_score_mean'], r['aesthetic_score_std']) if r is not None else '–'} | "
            f"{_fmt(s['clip_score_mean'], s['clip_score_std'])} | "
            f"{_fmt(r['clip_score_mean'], r['clip_score_std']) if r is not None else '–'} |"
        )
    lines += ["", "Published: `dasag/quality/reference/das_ag_v2_stats.csv` (5 images per method, every sample with seed 0, "
              "SigLIP so400m + Aesthetic Predictor V2.5, 768 px). Ours: each sample its own seed."]
    extra = [c[:-5] for c in stats.columns if c.endswith("_mean") and c[:-5] not in ("aesthetic_score", "clip_score")]
    if extra:
        lines += ["", "Held-out scores (models that did not guide the images):", "",
                  "| method | " + " | ".join(extra) + " |", "|---|" + "---|" * len(extra)]
        for _, s in stats.iterrows():
            lines.append(f"| {s['method']} | " + " | ".join(_fmt(s[f'{c}_mean'], s[f'{c}_std']) for c in extra) + " |")
    return lines


def _markdown_edits(suite: Suite, table: pd.DataFrame, edited: pd.DataFrame, judge: str) -> list[str]:
    """Per method: the held-out judge's top-1 (and mean p(target)) on the picture as made and under each edit."""
    looks = [FINE_SCALE] if FINE_SCALE in table.columns else []
    merged = table[["method", "file_hash", heldout.key(judge, "top1"), heldout.key(judge, "prob"), *looks]].merge(edited, on="file_hash", how="left")
    names = list(everyday.EDITS)
    head = "| method | n | " + ("fine-scale | " if looks else "") + "as made | " + " | ".join(words for words, _ in everyday.EDITS.values()) + " |"
    lines = [f"Under everyday edits (held-out {judge} top-1, mean p(target) in brackets; each edit applied to the 8-bit PNG, "
             f"`dasag/quality/edits.py`; scores in `edits.csv`" + ("; fine-scale: the pictures' share as made" if looks else "") + "):", "",
             head, "|---|---|" + "---|" * len(looks) + "---|" + "---|" * len(names)]
    for m in suite.methods:
        part = merged[merged["method"] == m.name]
        if part.empty:
            continue
        cells = [f"{part[c].mean():.3f}" for c in looks]
        cells += [f"{part[heldout.key(judge, 'top1')].mean():.0%} ({part[heldout.key(judge, 'prob')].mean():.2f})"]
        cells += [f"{part[everyday.column(e, 'top1')].mean():.0%} ({part[everyday.column(e, 'prob')].mean():.2f})" for e in names]
        lines.append(f"| {m.label} | {len(part)} | " + " | ".join(cells) + " |")
    return lines


def _markdown_transfer(suite: Suite, table: pd.DataFrame, stats: pd.DataFrame, guides: dict[str, Sequence[str]] | None = None,
                       edited: pd.DataFrame | None = None, costs: dict[str, int | None] | None = None) -> list[str]:
    """Per method: each classifier's top-1 and p(target) (a dagger where that classifier guided
    the method: not a held-out judgement), the picture's contrast and colourfulness, a
    held-out summary over the classifiers outside that method's guides and, with ``edited``,
    the held-out judge's verdict under everyday edits."""
    default = [suite.extra.get("guide", "lite0")]

    def guides_of(method: str) -> set[str]:
        return set((guides or {}).get(method) or default)

    names = heldout.classifier_judges(table.columns)
    looks = [c for c in dict.fromkeys((*suite.look_columns, FINE_SCALE)) if c in table.columns]
    timed = "seconds" in table.columns
    counted = costs is not None and any(costs.values())
    base = (costs or {}).get(suite.methods[0].name)
    head = "| method | n | guides | " + ("s/image | " if timed else "") + ("guide TFLOPs/image | " if counted else "")
    head += " | ".join(f"{n} top-1 | {n} p(target)" for n in names)
    head += "".join(f" | {c.split('/')[1]}" for c in looks) + " |"
    lines = [head, "|---|---|---|" + ("---|" if timed else "") + ("---|" if counted else "") + "---|---|" * len(names) + "---|" * len(looks)]
    for m in suite.methods:
        part = table[table["method"] == m.name]
        if part.empty:
            continue
        mine = guides_of(m.name)
        cells = [f"{pd.to_numeric(part['seconds']).mean():.1f}"] if timed else []
        if counted:
            flops = (costs or {}).get(m.name)
            cells.append("–" if not flops else f"{flops / 1e12:.2f}" + (f" ({flops / base:.2f}x)" if base else ""))
        for n in names:
            mark = "†" if n in mine else ""
            cells.append(f"{part[heldout.key(n, 'top1')].mean():.0%}{mark}")
            cells.append(_fmt(part[heldout.key(n, "prob")].mean(), part[heldout.key(n, "prob")].std()) + mark)
        cells += [_fmt(pd.to_numeric(part[c]).mean(), pd.to_numeric(part[c]).std(), 1 if c.endswith("colourfulness") else 3) for c in looks]
        lines.append(f"| {m.label} | {len(part)} | {' + '.join(sorted(mine))} | " + " | ".join(cells) + " |")
    lines += ["", "† that classifier guided the method's images: what the guide believes, not a held-out judgement."]
    if timed:
        lines += ["", "s/image: compute seconds per image, including held-out scoring. Methods run one after another, so a "
                  "change in how busy the machine is between them shows here as a cost difference; per-step cost ratios timed "
                  "side by side: `python reproduce/quality_cost.py`."]
    if counted:
        lines += ["", "guide TFLOPs/image: the guides' forward and backward passes an image takes (steps x copies x each guide's "
                  "FLOPs at its input side, counted with PyTorch's FlopCounterMode: `dasag/quality/cost.py`), and the ratio to "
                  f"the {suite.methods[0].label}'s; unlike seconds, it does not depend on how busy the machine was."]
    summary = []
    for m in suite.methods:
        part = table[table["method"] == m.name]
        held = [n for n in names if n not in guides_of(m.name)]
        if part.empty or not held:
            continue
        top1 = pd.concat([part[heldout.key(n, "top1")] for n in held]).mean()
        prob = pd.concat([part[heldout.key(n, "prob")] for n in held]).mean()
        summary.append(f"- **{m.label}**: held-out ({', '.join(held)}) top-1 agreement {top1:.1%}, mean target probability {prob:.3f}")
    lines += ["", "Held-out summary (classifiers that did not guide each method's images):", ""] + summary
    if edited is not None:
        lines += [""] + _markdown_edits(suite, table, edited, suite.extra["edit_judge"])
    lines += ["", "Reference (DESIGN.md prototype: goldfish, 60 steps, 256 px canvas, batch 8, guided by lite0): "
              "held-out lite2 p(goldfish) = 0.82 for the pyramid, 0.001 for single-resolution pixels."]
    if looks:
        lines += ["", "contrast: RMS of the grey level in [0, 1]; colourfulness: Hasler and Süsstrunk's M "
                  "(the photograph `assets/images/portrait.png`: 0.265 and 72)"
                  + ("; fine_scale: the share of the grey level's spectral power above a quarter of the Nyquist frequency, at "
                     "256 px through a Hann window (`dasag/image/stats.py`; photographs of objects 0.05-0.08, of textures 0.39-0.57)"
                     if FINE_SCALE in looks else "") + "."]
    return lines


def markdown(suite: Suite, table: pd.DataFrame, stats: pd.DataFrame, settings: dict[str, Any],
             others: list[tuple[str, pd.DataFrame, dict[str, Any]]] | None = None, guides: dict[str, Sequence[str]] | None = None,
             edited: pd.DataFrame | None = None, costs: dict[str, int | None] | None = None) -> str:
    lines = [f"# Benchmark `{suite.name}`", "",
             f"Made by `dasag quality {suite.name} --out DIR` (deterministic mode; sample i has seed base_seed + i).", "",
             "Settings: `" + json.dumps(settings, sort_keys=True) + "`", ""]
    devices = sorted(set(map(str, table["device"]))) if "device" in table else []
    total = float(pd.to_numeric(table.get("seconds", pd.Series(dtype=float))).sum())
    lines += [f"Images: {len(table)}; devices: {', '.join(devices) or '–'}; compute time {total / 60:.1f} min "
              f"(mean {total / max(len(table), 1):.1f} s per image).", ""]
    lines += _markdown_das_ag_v2(suite, table, stats) if suite.name == "das_ag_v2" else _markdown_transfer(suite, table, stats, guides, edited, costs)
    if others and suite.name == "das_ag_v2":
        runs = [("this run", table, mode_of(settings))] + [(name, t, mode_of(stored)) for name, t, stored in others]
        lines += [""] + _side_by_side(suite, runs)
    lines += ["", "Files: `scores.csv` (one row per image), `stats.csv`, `scatter.png`, "
              + ("`frontier.png` (held-out lite2 top-1 against the guide TFLOPs per image, one point per method), " if suite.name == "transfer" else "")
              + ("`edits.csv` (the held-out judge under each everyday edit, one row per image), " if edited is not None else "")
              + "`top3.png` (three best per method, one row each), "
              "`images/<sha256>.png` (each carries its config and scores in a `dasag` PNG text chunk).", ""]
    return "\n".join(lines)


def _classifier_judge(name: str, cpu_threads: int | None) -> everyday.Judge:
    """A held-out classifier as an edit judge, its weights read at its first picture (a report whose
    images were all scored before loads nothing); CPU threads as the run's, like its held-out scores."""
    loaded: list[Any] = []

    def judge(pixels: Any, class_name: str) -> tuple[int, float]:
        if not loaded:
            loaded.append(heldout.judge(name).load())
        with threads(cpu_threads):
            scores = heldout.score(name, loaded[0], pixels, [class_name], [])
        return int(scores[heldout.key(name, "top1")]), float(scores[heldout.key(name, "prob")])

    return judge


def write_all(suite: Suite, table: pd.DataFrame, out: Path, spec: Any,
              others: list[tuple[str, pd.DataFrame, dict[str, Any]]] | None = None,
              guides: dict[str, Sequence[str]] | None = None) -> dict[str, Path]:
    """stats.csv, scatter.png, top3.png and report.md for the rows in ``table``; ``guides``: per
    method, the scorer names that guided its images (default: the suite's own guide)."""
    from dasag.batch.scores_file import write_atomic

    out = Path(out)
    written: dict[str, Path] = {}
    if suite.look_columns and not table.empty:
        table = with_fine_scale(out, table)
    stats = stats_table(suite, table) if not table.empty else pd.DataFrame()
    write_atomic(out / "stats.csv", stats)
    written["stats"] = out / "stats.csv"
    if table.empty:
        return written
    written["scatter"] = scatter(suite, table, out / "scatter.png")
    costs = method_flops(out, table) if suite.name == "transfer" else None
    if suite.name == "transfer" and (front := frontier(suite, table, out / "frontier.png", costs=costs)) is not None:
        written["frontier"] = front
    top = top3_grid(suite, table, out, out / "top3.png")
    if top is not None:
        written["top3"] = top
    edited = None
    if (judge := suite.extra.get("edit_judge")) is not None and "class_name" in table:
        edited = everyday.edit_scores(out, table, _classifier_judge(judge, getattr(spec, "threads", None)), write_atomic)
        written["edits"] = out / "edits.csv"
    settings = {k: v for k, v in spec.to_json().items() if k not in ("out", "compare")} if hasattr(spec, "to_json") else {}
    written["report"] = write_bytes_atomic(out / "report.md", markdown(suite, table, stats, settings, others, guides, edited, costs).encode())
    return written
