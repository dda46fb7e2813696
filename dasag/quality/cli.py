"""The quality harness on the command line (``reproduce/run.py``; ``python -m dasag.quality``).

    python reproduce/run.py transfer --out runs/transfer              # offline, real weights
    python reproduce/run.py transfer --out runs/transfer --check --classes 2 --seeds 1
    python reproduce/run.py das_ag_v2 --out runs/das_ag_v2 --samples 5 --devices 4
    python reproduce/run.py das_ag_v2 --out runs/v2_original --override configs/compat/das_ag_v2_original.yaml --compare runs/das_ag_v2
    python reproduce/run.py batch --rows rows.csv --config configs/demo.yaml --out runs/batch     # = python -m dasag.batch
    torchrun --nnodes 2 --nproc-per-node 1 --node-rank R --master-addr HOST --master-port 29500 -m dasag.quality transfer --out DIR --num-nodes 2

Exit status: 0 done (or check identical), 1 check found mismatches, 2 bad options.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path


def parser():
    from jsonargparse import ArgumentParser

    p = ArgumentParser(prog="python reproduce/run.py", description=__doc__.split("\n\n")[0], exit_on_error=False)
    p.add_argument("suite", choices=["das_ag_v2", "transfer", "batch"], help="which suite (batch: one image per row of --rows)")
    p.add_argument("--out", required=True, type=Path, help="output directory (re-using it resumes the run)")
    p.add_argument("--methods", nargs="+", default=None, help="only these methods (default: all of the suite)")
    p.add_argument("--rows", type=Path | None, default=None, help="batch: a .csv or .yaml of rows (prompt, negative, seed, name, steps, dotted config keys)")
    p.add_argument("--config", type=Path | None, default=None, help="batch: the config every row starts from (with its base: files)")
    p.add_argument("--samples", type=int | None, default=None, help="das_ag_v2: samples per method (default 5); batch: only the first N rows")
    p.add_argument("--classes", type=int | None, default=None, help="transfer: the first N classes of the fixed list (default 20)")
    p.add_argument("--seeds", type=int | None, default=None, help="transfer: seeds per class (default 3)")
    p.add_argument("--steps", type=int | None, default=None, help="ascent steps per image (default: the method configs' max_steps)")
    p.add_argument("--base-seed", type=int | None, default=None, help="sample i gets seed BASE_SEED + i (default 0, or the stored run's)")
    p.add_argument("--eval-scorer", nargs="+", default=[], help="extra held-out scorers: lite0, lite1, lite2, clip, siglip")
    p.add_argument("--override", nargs="+", type=Path, default=[], help="YAML files merged over every method config, e.g. configs/preset_384.yaml")
    p.add_argument("--devices", type=int, default=1, help="worker processes (on each machine), one device each (default 1)")
    p.add_argument("--num-nodes", type=int, default=1,
                   help="machines sharing the run and the --out folder; start the command on each with torchrun or srun (default 1)")
    p.add_argument("--threads", type=int | None, default=None,
                   help="CPU threads per worker; CPU image bytes depend on it (default: the stored run's, else cores / devices)")
    p.add_argument("--accelerator", default="auto", choices=["auto", "cpu", "gpu"], help="default: gpu when available")
    p.add_argument("--compare", nargs="+", type=Path, default=[],
                   help="finished runs of the same suite shown beside this one in report.md (e.g. the corrected and the original mode)")
    p.add_argument("--check", action="store_true", help="regenerate the selected images and compare them with --out")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Parse, run or check; bad options are one sentence and exit status 2."""
    from jsonargparse import ArgumentError

    from dasag.config import ConfigError, command_failed, deep_merge, load_config, quiet_loading_bars
    from dasag.quality import RunSpec, check, run

    quiet_loading_bars()

    try:
        args = parser().parse_args(list(sys.argv[1:] if argv is None else argv))
        overrides: dict = {}
        for path in args.override:
            overrides = deep_merge(overrides, load_config(path))
        spec = RunSpec(
            suite=args.suite, out=args.out, methods=args.methods, samples=args.samples, classes=args.classes,
            seeds=args.seeds, steps=args.steps, base_seed=args.base_seed, eval_scorers=list(args.eval_scorer),
            overrides=overrides or None, devices=args.devices, accelerator=args.accelerator, threads=args.threads,
            compare=list(args.compare), rows=args.rows, config=args.config, num_nodes=args.num_nodes,
        )
        if args.check:
            problems = check(spec)
            print(f"check: {len(problems)} mismatch(es)" if problems else "check: every image identical")
            return 1 if problems else 0
        table = run(spec)
    except (ArgumentError, ConfigError, ValueError, OSError) as e:
        return command_failed(e, lambda: f"every finished image and its row are kept in {str(args.out)!r}: free some space and run the same "
                                         f"command again to make the rest.")
    if table is not None:  # on several machines, the worker of global rank 0 reports
        print(f"{len(table)} images in {args.out}; report: {args.out / 'report.md'}")
    return 0
