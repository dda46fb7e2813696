"""Regenerate the README's weighted-prompt and batch pictures and print their costs.

    python examples/make_batch_images.py [--out-dir docs/images]     # from the repository root

Runs two batches of ``configs/demo.yaml`` (EfficientNet-Lite0, real weights, CPU) with
:func:`dasag.batch.rows_file.run_batch`: ``examples/batch/weights.csv`` (one seed, the weight moving from
goldfish to volcano, then volcano as a negative prompt) and ``examples/batch/rows.csv`` (six rows
with their own prompts, negatives, seeds and config overrides). Writes
``prompt_weights.png`` (the first batch in one row) and ``batch_contact_sheet.png`` (the second
batch's contact sheet, as the batch writes it), then prints seconds per image and the process's
peak memory. Two CPU threads per image, fixed, so a second run writes the same bytes.
"""

from __future__ import annotations

import resource
import shutil
import tempfile
from pathlib import Path

from dasag.commands.skeleton import Command, run_command

ROOT = Path(__file__).resolve().parents[1]
#: CPU threads per image: CPU convolution sums in a thread-dependent order, so the bytes depend on it.
THREADS = 2


def add_options(parser) -> None:
    parser.add_argument("--out-dir", type=Path, default=ROOT / "docs" / "images")


def run(args) -> int:
    from dasag.batch.report import contact_sheet
    from dasag.batch.rows_file import run_batch
    from dasag.core.config import CONFIGS
    from dasag.core.files import write_bytes_atomic

    config = CONFIGS / "demo.yaml"
    with tempfile.TemporaryDirectory(prefix="dasag-batch-") as tmp:
        weights = run_batch(ROOT / "examples" / "batch" / "weights.csv", config, Path(tmp) / "weights", threads=THREADS)
        write_bytes_atomic(args.out_dir / "prompt_weights.png", contact_sheet(weights, Path(tmp) / "weights", columns=len(weights)))
        rows = run_batch(ROOT / "examples" / "batch" / "rows.csv", config, Path(tmp) / "rows", threads=THREADS)
        shutil.copyfile(Path(tmp) / "rows" / "contact_sheet.png", args.out_dir / "batch_contact_sheet.png")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux
    for name, table in (("weights.csv", weights), ("rows.csv", rows)):
        print(f"{name}: {len(table)} images, {table['seconds'].mean():.1f} s per image (min {table['seconds'].min():.1f}, max {table['seconds'].max():.1f})")
        for row in table.to_dict("records"):
            print(f"  {row['sample'] + 1}. {row['prompt']!s:32} lite0/positive {row['lite0/positive']:.3f}")
    print(f"peak memory of the process: {peak:.2f} GiB; wrote {args.out_dir / 'prompt_weights.png'} and {args.out_dir / 'batch_contact_sheet.png'}")
    return 0


COMMAND = Command('make_batch_images', "Regenerate the README's weighted-prompt strip and batch contact sheet.", run, add_options)

if __name__ == "__main__":
    raise SystemExit(run_command(COMMAND))
