"""What a large image's step costs, full-canvas scoring against cutouts, side by side: ``python reproduce/large_cost.py``.

Each row is one configuration of a growth config's stage at one visible size: ``full`` scores
8 copies of the whole visible image (the robust recipe's jitter, zoom and flip; the scorer then
shrinks each to its input), ``cutouts`` scores 8 crops resampled straight to the scorer's input
(:class:`dasag.image.cutouts.Cutouts`). Every row runs in its own process, so its peak memory is its
own: on CPU the process's peak resident memory (``getrusage`` ``ru_maxrss``) and its growth over
the process just before the first step (weights loaded, run built); on CUDA
``torch.cuda.max_memory_allocated``. Rows run in turn, round after round, and the median of the
rounds is reported, so a change in how busy the machine is hits every row alike.

CPU rows: EfficientNet-Lite0 (real weights, 224 px) at 256, 512 and 1024 px (``configs/large/cpu_1024.yaml``'s
three stages, so their s/step times the stages' steps is the cost of its image). CUDA rows: SigLIP
so400m with random weights (the real one's cost, bf16) at 1536 and 2048 px (``siglip_1536.yaml`` and
``siglip_2048.yaml``'s last stages); printed as skipped without a GPU. Writes ``large_cost.json`` and ``large_cost.md`` into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from dasag.commands.skeleton import Command, run_command
from dasag.speed.large_cost import KINDS, SHAPES, markdown, measure_one

ROOT = Path(__file__).resolve().parents[1]






def add_options(parser) -> None:
    parser.add_argument("--out", type=Path, default=ROOT / "reproduce" / "results" / "large", help="folder for large_cost.json / .md")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per row and round (after --warmup untimed ones)")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=2, help="rounds; each row's median is reported")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads of every row")
    parser.add_argument("--one", nargs=3, default=None, help=argparse.SUPPRESS)  # a child process's row: CONFIG SIZE KIND


def run(args) -> int:
    from dasag.core.errors import ConfigError
    from dasag.run.build import RunFailed

    if min(args.steps, args.warmup + 1, args.rounds, args.threads) < 1:
        raise ConfigError("--steps, --rounds and --threads must be positive integers and --warmup at least 0.")
    if args.one:
        print(json.dumps(measure_one(args.one[0], int(args.one[1]), args.one[2], args.warmup, args.steps, args.threads)))
        return 0

    import torch

    cuda = torch.cuda.is_available()
    figures: dict[tuple, list[dict[str, Any]]] = {}
    for _ in range(args.rounds):
        for device, config, size in SHAPES:
            if device == "cuda" and not cuda:
                continue
            for kind in KINDS:
                command = [sys.executable, __file__, "--one", config, str(size), kind, "--steps", str(args.steps),
                           "--warmup", str(args.warmup), "--threads", str(args.threads)]
                done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
                if done.returncode != 0:
                    raise RunFailed(f"row {config} {size} {kind} failed:\n{done.stderr[-3000:]}")
                figures.setdefault((device, config, size, kind), []).append(json.loads(done.stdout.strip().splitlines()[-1]))
                print(f"{config} {size} px {kind}: {figures[(device, config, size, kind)][-1]['seconds_per_step']:.2f} s/step", flush=True)
    rows = []
    for device, config, size in SHAPES:
        for kind in KINDS:
            runs = figures.get((device, config, size, kind))
            if not runs:
                rows.append({"device": device, "config": config, "size": size, "copies": kind, "status": "skipped: needs CUDA"})
                continue
            row = {"device": device, "config": config, "size": size, "copies": kind, "status": "ok",
                   "seconds_per_step": statistics.median(r["seconds_per_step"] for r in runs),
                   "peak_gib": statistics.median(r["peak_gib"] for r in runs), "memory": runs[0]["memory"]}
            if "step_gib" in runs[0]:
                row["step_gib"] = statistics.median(r["step_gib"] for r in runs)
            rows.append(row)
    for row in rows:  # cutouts against full-canvas copies of the same shape
        if row["copies"] == "cutouts" and row["status"] == "ok":
            full = next(r for r in rows if r["size"] == row["size"] and r["copies"] == "full")
            row["time_vs_full"] = row["seconds_per_step"] / full["seconds_per_step"]
            key = "step_gib" if "step_gib" in row else "peak_gib"
            row["memory_vs_full"] = row[key] / full[key]
    machine = (torch.cuda.get_device_name(0) if cuda else f"{platform.processor() or platform.machine()} CPU, {args.threads} threads")
    meta = {"machine": machine, "torch": torch.__version__, "steps": args.steps, "warmup": args.warmup, "rounds": args.rounds}
    md = markdown(rows, meta)
    print("\n" + md)
    args.out.mkdir(parents=True, exist_ok=True)
    from dasag.core.files import write_bytes_atomic

    write_bytes_atomic(args.out / "large_cost.json", json.dumps({"meta": meta, "rows": rows}, indent=2).encode())
    write_bytes_atomic(args.out / "large_cost.md", md.encode())
    return 0




COMMAND = Command("large_cost", "Time a large image's step with full-canvas copies against cutouts, each row in its own process.", run,
                  add_options)

if __name__ == "__main__":
    sys.exit(run_command(COMMAND))
