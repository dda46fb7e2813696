"""Regenerate a benchmark deterministically, or check that a stored one regenerates byte for byte.

    python reproduce/run.py transfer --out runs/transfer              # offline, real weights
    python reproduce/run.py transfer --out runs/transfer --check --classes 2 --seeds 1
    python reproduce/run.py das_ag_v2 --out runs/das_ag_v2 --samples 5 --devices 4

Exit status: 0 done (or check identical), 1 check found mismatches, 2 bad options.
"""

from __future__ import annotations

import os

# cuBLAS reads this when CUDA initialises: set it before torch is even imported.
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")

import argparse  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import yaml  # noqa: E402


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("suite", choices=["das_ag_v2", "transfer"], help="which benchmark")
    p.add_argument("--out", required=True, type=Path, help="output directory (re-using it resumes the run)")
    p.add_argument("--methods", nargs="+", help="only these methods (default: all of the suite)")
    p.add_argument("--samples", type=int, help="das_ag_v2: samples per method (default 5)")
    p.add_argument("--classes", type=int, help="transfer: the first N classes of the fixed list (default 20)")
    p.add_argument("--seeds", type=int, help="transfer: seeds per class (default 3)")
    p.add_argument("--steps", type=int, help="ascent steps per image (default: the method configs' max_steps)")
    p.add_argument("--base-seed", type=int, help="sample i gets seed BASE_SEED + i (default 0, or the stored run's)")
    p.add_argument("--eval-scorer", action="append", default=[], metavar="NAME",
                   help="extra held-out scorer, repeatable: lite0, lite1, lite2, clip, siglip")
    p.add_argument("--override", type=Path, action="append", default=[], metavar="YAML",
                   help="YAML merged over every method config, e.g. configs/preset_384.yaml (repeatable)")
    p.add_argument("--devices", type=int, default=1, help="worker processes, one device each (default 1)")
    p.add_argument("--threads", type=int, help="CPU threads per worker; CPU image bytes depend on it (default: the stored run's, else cores / devices)")
    p.add_argument("--accelerator", default="auto", choices=["auto", "cpu", "gpu"], help="default: gpu when available")
    p.add_argument("--check", action="store_true", help="regenerate the selected images and compare them with --out")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from dasag.benchmark import RunSpec, check, run
    from dasag.cli import ConfigError, _load_with_bases, deep_merge

    try:
        overrides: dict = {}
        for path in args.override:
            overrides = deep_merge(overrides, _load_with_bases(path))
        spec = RunSpec(
            suite=args.suite, out=args.out, methods=args.methods, samples=args.samples, classes=args.classes,
            seeds=args.seeds, steps=args.steps, base_seed=args.base_seed, eval_scorers=args.eval_scorer,
            overrides=overrides or None, devices=args.devices, accelerator=args.accelerator, threads=args.threads,
        )
        if args.check:
            problems = check(spec)
            print(f"check: {len(problems)} mismatch(es)" if problems else "check: every image identical")
            return 1 if problems else 0
        table = run(spec)
    except (ConfigError, ValueError, FileNotFoundError, yaml.YAMLError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{len(table)} images in {args.out}; report: {args.out / 'report.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
