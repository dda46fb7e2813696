"""What each quality recipe and preset costs, timed side by side: ``python reproduce/quality_cost.py``.

The transfer report's seconds per image come from methods run one after another, so a change
in how busy the machine is between two methods looks like a cost difference. Here every
config runs a few steps in turn, round after round, on the same loaded guide weights, and
the median of the rounds is compared with the pyramid's (``configs/transfer.yaml``) from the
same rounds. Prints per-step time, the config's own step count and the cost of one image
relative to the pyramid's.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path

from dasag.commands.skeleton import Command, run_command

#: (label, config files stacked in order); the first row is the reference.
ROWS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("pyramid (transfer.yaml)", ("transfer.yaml",)),
    ("pixel baseline (transfer.yaml, one level)", ("transfer.yaml",)),
    ("robust recipe (transfer_robust.yaml)", ("transfer_robust.yaml",)),
    ("robust recipe, Lite0+Lite1 (transfer_robust_ensemble.yaml)", ("transfer_robust_ensemble.yaml",)),
    ("transfer.yaml + quality/draft.yaml", ("transfer.yaml", "quality/draft.yaml")),
    ("transfer.yaml + quality/best.yaml (robust, Lite0+Lite1, logit)", ("transfer.yaml", "quality/best.yaml")),
    ("transfer.yaml + quality/long.yaml (robust, 16 copies, 200 steps)", ("transfer.yaml", "quality/long.yaml")),
    ("demo.yaml (256 px, robust recipe, logit)", ("demo.yaml",)),
)


def add_options(parser) -> None:
    parser.add_argument("--steps", type=int, default=12, help="steps timed per config and round (after one untimed step)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; each config's median is used")
    parser.add_argument("--threads", type=int, default=2)


def run(args) -> int:
    from dasag.core.config import CONFIGS, deep_merge, load_config
    from dasag.core.errors import ConfigError
    from dasag.run.build import QUIET_TRAINER, build_run
    from dasag.speed.measure import StepClock

    if args.steps < 1 or args.rounds < 1 or args.threads < 1:
        raise ConfigError("--steps, --rounds and --threads must be positive integers.")
    per_step: dict[str, list[float]] = {label: [] for label, _ in ROWS}
    own_steps: dict[str, int] = {}
    copies: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.rounds):
            for label, files in ROWS:
                cfg: dict = {}
                for name in files:
                    cfg = deep_merge(cfg, load_config(CONFIGS / name))
                if label.startswith("pixel"):  # one level at the canvas size, as the suite's pixel method
                    cfg = deep_merge(cfg, {"model": {"pyramid": {"init_args": {"min_size": cfg["model"]["pyramid"]["init_args"]["max_size"]}}}})
                own_steps[label] = cfg["trainer"]["max_steps"]
                trainer = {**QUIET_TRAINER, "default_root_dir": str(Path(tmp) / "run"), "accelerator": "cpu", "max_steps": args.steps + 1}
                run = build_run(deep_merge(cfg, {"trainer": trainer, "threads": args.threads}))  # deterministic, as the harness runs
                for member in run.model.scorer.members:  # weights read before the clock starts
                    member.load()
                copies[label] = run.model.augment.copies
                clock = StepClock(warmup=1, sync_probe_step=None)  # the first step untimed
                run.trainer.callbacks.append(clock)
                run.fit()
                per_step[label].append(clock.mean)
    ref = statistics.median(per_step[ROWS[0][0]]) * own_steps[ROWS[0][0]]
    print("| config | copies | steps | ms/step | s/image | image cost vs pyramid |\n|---|---|---|---|---|---|")
    for label, _ in ROWS:
        ms = statistics.median(per_step[label])
        image = ms * own_steps[label]
        print(f"| {label} | {copies[label]} | {own_steps[label]} | {ms * 1000:.0f} | {image:.1f} | {image / ref:.2f}x |")
    print(f"\n{args.rounds} rounds of {args.steps} timed steps per config, interleaved; {args.threads} threads; "
          f"steps and copies are each config's own; s/image = ms/step x steps (no held-out scoring or PNG).")
    return 0


COMMAND = Command("quality_cost", "Time each quality recipe and preset side by side against the pyramid.", run, add_options)

if __name__ == "__main__":
    sys.exit(run_command(COMMAND))
