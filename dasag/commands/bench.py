"""``dasag bench``: how fast an ascent step is, and how close to the hardware (docs/performance.md)."""

from __future__ import annotations

import json
import platform
import sys
import time
from argparse import Namespace
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from dasag.commands.skeleton import Command, run_command

EXAMPLES = """examples:
  dasag bench --out runs/bench                       every configuration and speed variant that runs here
  dasag bench --out runs/bench --quick               2 warm-up + 2 timed steps, eager and shipped variants only
  dasag bench --out runs/bench --families siglip --shapes 768/8/1     the das_ag_plus headline row (CUDA)"""


def add_options(parser) -> None:
    from dasag.speed.bench import VARIANTS

    parser.add_argument("--out", type=Path, default=Path("bench_out"), help="where bench.json, bench.md and run logs go")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--steps", type=int | None, default=None, help="timed steps per row (default: 10 on CPU, 20 on GPU)")
    parser.add_argument("--warmup", type=int | None, default=None, help="untimed steps first (default 2 on CPU, 3 on GPU; compile happens here)")
    parser.add_argument("--families", nargs="+", choices=("demo", "siglip"), default=["demo", "siglip"], help="which configurations")
    parser.add_argument("--variants", nargs="+", choices=tuple(VARIANTS), default=[], help="speed variants (default: all that apply)")
    parser.add_argument("--shapes", nargs="+", default=[], help="siglip shapes as px/batch/images, e.g. 768/8/1 (default: all)")
    parser.add_argument("--budget-s", type=float | None, default=None,
                        help="start no new row after this many seconds (default: 480 on CPU, so the bench ends within 10 min on a busy "
                             "machine; none on GPU; 0: none)")
    parser.add_argument("--siglip-size", choices=("so400m", "tiny"), default="so400m",
                        help="das_ag_plus scorer: so400m (the real cost; CUDA only) or tiny (runs anywhere: checks the GPU rows' code "
                             "path, its figures mean nothing)")
    parser.add_argument("--quick", action="store_true", help="2 warm-up + 2 timed steps, eager and shipped variants only")


def run(args: Namespace) -> int:
    import torch

    from dasag.speed.bench import finish, markdown, plan_cases, print_table, run_rows
    from dasag.speed.measure import matmul_peak

    if args.quick:
        args.steps, args.warmup = args.steps or 2, args.warmup if args.warmup is not None else 2
        args.variants = args.variants or ["eager_fp32", "shipped"]
    device = torch.device("cuda" if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available()) else "cpu")
    steps = args.steps or (20 if device.type == "cuda" else 10)
    warmup = args.warmup if args.warmup is not None else (3 if device.type == "cuda" else 2)
    args.out.mkdir(parents=True, exist_ok=True)
    budget = args.budget_s if args.budget_s is not None else (None if device.type == "cuda" else 480.0)
    peak = matmul_peak(device)
    print(f"matmul peak: {peak['tflops']:.3f} TFLOP/s ({peak['dtype']}, {peak['size']}^2) on {device}", flush=True)
    cases = plan_cases(args, device)
    run_rows(cases, device, warmup, steps, args.out, budget)
    finish(cases, peak["tflops"])
    meta = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({platform.processor() or platform.machine()})",
        "device_type": device.type, "torch": torch.__version__, "threads": torch.get_num_threads(), "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "date": time.strftime("%Y-%m-%d %H:%M"), "peak": peak, "steps": steps, "warmup": warmup,
        "command": "dasag bench " + " ".join(sys.argv[1:]),
    }
    (args.out / "bench.json").write_text(json.dumps({"meta": meta, "rows": [asdict(c) for c in cases]}, indent=2))
    (args.out / "bench.md").write_text(markdown(cases, meta))
    print()
    print_table(cases)
    print(f"\nwrote {args.out / 'bench.json'} and {args.out / 'bench.md'}")
    return 0


COMMAND = Command("bench", "Measure the speed of an ascent step: seconds per image, TFLOP/s against the device's peak, memory, host syncs.",
                  run, add_options, examples=EXAMPLES)


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(COMMAND, argv)
