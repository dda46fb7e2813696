"""``dasag quality``: regenerate a quality benchmark deterministically, or check a stored one byte for byte."""

from __future__ import annotations

from argparse import Namespace
from collections.abc import Sequence
from pathlib import Path

from dasag.commands.skeleton import Command, run_command

EXAMPLES = """examples:
  dasag quality transfer --out runs/transfer                      offline, real weights (20 classes x 3 seeds x 6 methods)
  dasag quality transfer --out runs/transfer --check --classes 2 --seeds 1
  dasag quality das_ag_v2 --out runs/das_ag_v2 --samples 5 --devices 4
  dasag quality das_ag_v2 --out runs/v2_original --override compat/das_ag_v2_original --compare runs/das_ag_v2
  torchrun --nnodes 2 --nproc-per-node 1 --node-rank R --master-addr HOST --master-port 29500 -m dasag quality transfer --out DIR --num-nodes 2
exit status: 0 done (or every image identical under --check), 1 --check found mismatches, 2 bad options."""


def add_run_options(parser) -> None:
    """The options every task-engine run takes (a quality suite or a batch)."""
    parser.add_argument("--out", required=True, type=Path, help="output folder; running again into it continues the run")
    parser.add_argument("--steps", type=int | None, default=None, help="ascent steps per image (default: the configs' max_steps)")
    parser.add_argument("--base-seed", type=int | None, default=None, help="sample i gets seed BASE_SEED + i (default 0, or the stored run's)")
    parser.add_argument("--eval-scorer", nargs="+", default=[], help="extra held-out judges by scorer name: lite0, lite1, lite2, siglip, clip, "
                        "open_clip:MODEL/TAG, timm:NAME[.TAG][@FILE], hf:HUB_ID_OR_FOLDER (docs/scorers.md); each once, none a guide")
    parser.add_argument("--devices", type=int, default=1, help="worker processes (on each machine), one device each")
    parser.add_argument("--num-nodes", type=int, default=1,
                        help="machines sharing the run and the --out folder; start the command on each with torchrun or srun")
    parser.add_argument("--node-timeout", type=float, default=180.0,
                        help="seconds a machine of a multi-node run may stay silent before the run ends naming it (default 180)")
    parser.add_argument("--threads", type=int | None, default=None,
                        help="CPU threads per worker; CPU image bytes depend on it (default: the stored run's, else 2)")
    parser.add_argument("--accelerator", default="auto", choices=["auto", "cpu", "gpu"], help="default: gpu when available")
    parser.add_argument("--check", action="store_true", help="regenerate the selected images and compare them with --out")


def add_options(parser) -> None:
    parser.add_argument("suite", choices=["das_ag_v2", "transfer"], help="which benchmark")
    add_run_options(parser)
    parser.add_argument("--methods", nargs="+", default=None, help="only these methods (default: all of the suite)")
    parser.add_argument("--samples", type=int | None, default=None, help="das_ag_v2: samples per method (default 5)")
    parser.add_argument("--classes", type=int | None, default=None, help="transfer: the first N classes of the fixed list (default 20)")
    parser.add_argument("--seeds", type=int | None, default=None, help="transfer: seeds per class (default 3)")
    parser.add_argument("--override", nargs="+", default=[], help="configs merged over every method's config (files, or shipped configs by name)")
    parser.add_argument("--compare", nargs="+", type=Path, default=[],
                        help="finished runs of the same suite shown beside this one in report.md (e.g. the corrected and the original mode)")


def spec_of(args: Namespace, **fields):
    """The run options the parsed options describe (``fields``: the suite's own)."""
    from dasag.batch.tasks import RunSpec

    return RunSpec(out=args.out, steps=args.steps, base_seed=args.base_seed, eval_scorers=list(args.eval_scorer), devices=args.devices,
                   accelerator=args.accelerator, threads=args.threads, num_nodes=args.num_nodes, node_timeout=args.node_timeout, **fields)


def finish(args: Namespace, run, check) -> int:
    """Check (status 1 on a mismatch) or run (the table's line on the worker that reports)."""
    if args.check:
        problems = check()
        print(f"check: {len(problems)} mismatch(es)" if problems else "check: every image identical")
        return 1 if problems else 0
    table = run()
    if table is not None:  # on several machines, the worker of global rank 0 reports
        print(f"{len(table)} images in {args.out}; report: {args.out / 'report.md'}")
    return 0


def run(args: Namespace) -> int:
    from dasag.core.config import config_file, deep_merge, load_config
    from dasag.quality import harness

    overrides: dict = {}
    for path in args.override:
        overrides = deep_merge(overrides, load_config(config_file(path)))
    spec = spec_of(args, suite=args.suite, methods=args.methods, samples=args.samples, classes=args.classes, seeds=args.seeds,
                   overrides=overrides or None, compare=list(args.compare))
    return finish(args, lambda: harness.run(spec), lambda: harness.check(spec))


def kept(args: Namespace) -> str:
    return f"every finished image and its row are kept in {str(args.out)!r}: free some space and run the same command again to make the rest"


COMMAND = Command("quality", "Regenerate a quality benchmark (transfer, das_ag_v2) deterministically, or --check a stored one byte for byte.",
                  run, add_options, kept, EXAMPLES)


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(COMMAND, argv)
