"""What pinning the CPU kernels costs: the demo's step with the pins every command sets against this
machine's own kernel choice, side by side: ``python reproduce/pin_cost.py``.

Every dasag command caps ATen's CPU capability, oneDNN's ISA and MKL's code path to AVX2 at its
edge (:data:`dasag.core.process.CPU_KERNEL_PINS`), so a deterministic CPU run gives the same bytes
on any x86-64 machine with AVX2. Each row runs in its own process (the settings are read once, at
a library's first use), rows alternate round after round on the same machine, and the median of
the rounds is reported, so a change in how busy the machine is hits both rows alike.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from dasag.commands.skeleton import Command, run_command

ROOT = Path(__file__).resolve().parents[1]


def add_options(parser) -> None:
    parser.add_argument("--steps", type=int, default=10, help="timed steps per row and round (after 2 untimed ones)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; each row's median is reported")
    parser.add_argument("--threads", type=int, default=2)


def measure(steps: int, threads: int) -> dict:
    """One row in this process: seconds per step of the demo config (real Lite0 weights)."""
    import tempfile

    from dasag.core.config import CONFIGS, deep_merge, load_config
    from dasag.run.build import QUIET_TRAINER, build_run
    from dasag.speed.measure import StepClock

    with tempfile.TemporaryDirectory() as tmp:
        cfg = deep_merge(load_config(CONFIGS / "demo.yaml"), {"threads": threads, "trainer": {**QUIET_TRAINER, "max_steps": steps + 2,
                                                                                                "default_root_dir": tmp}})
        run = build_run(cfg, load_weights=True)
        clock = StepClock(warmup=2, sync_probe_step=None)
        run.trainer.callbacks.append(clock)
        run.fit()
    import torch

    return {"seconds_per_step": clock.median, "capability": torch.backends.cpu.get_cpu_capability()}


def run(args) -> int:
    from dasag.core.process import CPU_KERNEL_PINS

    figures: dict[str, list[dict]] = {"pinned": [], "native": []}
    for _ in range(args.rounds):
        for row in figures:
            env = {k: v for k, v in os.environ.items() if k not in CPU_KERNEL_PINS}
            # a child that calls measure() without a command's edge: the pins are what its environment says
            command = [sys.executable, "-c", f"import json, runpy; m = runpy.run_path({str(Path(__file__))!r}); "
                       f"print(json.dumps(m['measure']({args.steps}, {args.threads})))"]
            if row == "pinned":
                env.update(CPU_KERNEL_PINS)
            done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=ROOT)
            if done.returncode != 0:
                raise SystemExit(done.stderr[-3000:])
            figures[row].append(json.loads(done.stdout.strip().splitlines()[-1]))
    pinned, native = (statistics.median(r["seconds_per_step"] for r in figures[k]) for k in ("pinned", "native"))
    print(f"| kernels | capability | s/step |\n|---|---|---|\n| this machine's own | {figures['native'][0]['capability']} | {native:.3f} |\n"
          f"| pinned (every command) | {figures['pinned'][0]['capability']} | {pinned:.3f} |\n")
    print(f"pinned / own: {pinned / native:.3f}x (median of {args.rounds} rounds of {args.steps} steps, {args.threads} threads, the demo config)")
    return 0


COMMAND = Command("pin_cost", "Time the demo's step with the CPU kernels pinned against this machine's own choice.", run, add_options)

if __name__ == "__main__":
    sys.exit(run_command(COMMAND))
