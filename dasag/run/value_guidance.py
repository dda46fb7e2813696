"""Value-guided candidates (SVDD-style) and their baseline, best-of-K, as callbacks.

The pyramid holds K candidate images (``num_images: K``) that gradient ascent optimises in
one batch. A reward that needs no gradient (JPEG size, a held-out classifier, an aesthetic
score) cannot steer the ascent, but it can choose among candidates:

* :class:`BestOfK` (the baseline): K independent runs; at the end keep the best by reward.
* :class:`ValueGuidance` (SVDD's soft value-based decoding, with candidates in place of
  diffusion samples): every M steps score the candidates and resample them, each slot drawing
  a parent with probability ``softmax(reward / alpha)``. ``alpha -> 0`` is greedy (every
  slot copies the best); a large alpha keeps diversity. A copied candidate takes its
  parent's pyramid levels *and* its optimiser state rows (Adam's moments), so it continues
  exactly as the parent would; its own augmentation draws then make it diverge.

Both end the same way (score the final K, write ``best.png``), so on the same budget of K
candidates and T steps the two are directly comparable.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from torch import Tensor

from dasag.core.files import write_bytes_atomic
from dasag.image.augment import step_generator
from dasag.run.callbacks import output_dir
from dasag.run.picture import finished_picture
from dasag.run.rewards import Reward

#: Mixed into the run's seed so resampling draws differ from the augmentation draws.
_RESAMPLE_SALT = 0x5F3759DF


def resample_indices(rewards: Tensor, alpha: float, generator: torch.Generator | None = None) -> Tensor:
    """Parent index for each of the K slots: K draws from ``softmax(rewards / alpha)``.

    ``alpha == 0`` is the greedy limit: every slot takes the best candidate (ties: the first).
    """
    if alpha < 0:
        raise ValueError(f"alpha must be >= 0; got {alpha}.")
    rewards = rewards.double().cpu()
    k = rewards.numel()
    if alpha == 0:
        return torch.full((k,), int(rewards.argmax()), dtype=torch.long)
    probs = torch.softmax(rewards / alpha, dim=0)
    return torch.multinomial(probs, k, replacement=True, generator=generator)


@torch.no_grad()
def mutate_duplicates(pyramid: torch.nn.Module, indices: Tensor, strength: float, generator: torch.Generator) -> None:
    """Add fresh pyramid noise (``strength * randn / side`` per level, the init's form) to every
    slot but the first copy of each parent: the parent survives exactly, its copies explore."""
    seen: set[int] = set()
    duplicate = []
    for parent in indices.tolist():
        duplicate.append(parent in seen)
        seen.add(parent)
    rows = torch.tensor(duplicate)
    if strength == 0 or not bool(rows.any()):
        return
    for level in pyramid.parameters():
        noise = torch.randn(level.shape, generator=generator) * (strength / level.shape[-1])
        level.add_((noise * rows.view(-1, *[1] * (level.dim() - 1))).to(level))


@torch.no_grad()
def copy_candidates(pyramid: torch.nn.Module, optimizer: torch.optim.Optimizer | None, indices: Tensor) -> None:
    """Slot i takes candidate ``indices[i]``'s levels and optimiser state rows.

    Every optimiser state tensor shaped like its parameter (Adam's ``exp_avg`` and
    ``exp_avg_sq``, SGD's momentum) is per-candidate along dim 0 and is copied with it;
    scalars such as Adam's ``step`` are shared by all candidates and stay.
    """
    for p in pyramid.parameters():
        idx = indices.to(p.device)
        p.copy_(p[idx])
        state = optimizer.state.get(p, {}) if optimizer is not None else {}
        for value in state.values():
            if isinstance(value, Tensor) and value.shape == p.shape:
                value.copy_(value[idx])


class BestOfK(Callback):
    """Baseline: K independent candidates; at the end the best by ``reward`` is ``best.png``."""

    def __init__(self, reward: Reward) -> None:
        """
        Args:
            reward: scores candidates without gradients (``class_path`` in YAML), higher is better.
        """
        if not isinstance(reward, Reward):
            raise ValueError(f"reward must be a dasag.run.rewards.Reward (e.g. dasag.JpegCompressibility); got {type(reward).__name__}.")
        self.reward = reward
        #: Rewards of the final candidates, the index and reward of the best (after ``fit``).
        self.final_rewards: list[float] | None = None
        self.best_index: int | None = None
        self.best_reward: float | None = None

    def check_model(self, pl_module) -> None:
        """Refuse a run it cannot guide; the run builder calls this before any file is written."""
        k = pl_module.pyramid.num_images
        if k < 2:
            raise ValueError(f"{type(self).__name__} chooses among candidates: set model.pyramid.init_args.num_images to K >= 2; got {k}.")

    def setup(self, trainer: L.Trainer, pl_module, stage: str) -> None:
        self.check_model(pl_module)
        self.reward.setup(trainer.datamodule.prompts, pl_module.device)

    def score(self, pl_module) -> Tensor:
        """Rewards of the current candidates, (K,), no gradient."""
        return self.reward(pl_module.images())

    def on_train_end(self, trainer: L.Trainer, pl_module) -> None:
        rewards = self.score(pl_module)
        self.final_rewards = rewards.tolist()
        self.best_index = int(rewards.argmax())
        self.best_reward = float(rewards[self.best_index])
        if trainer.is_global_zero:
            extra = {"selection": type(self).__name__, "reward": self.reward.name, "best_index": self.best_index, "rewards": self.final_rewards}
            picture = finished_picture(pl_module, trainer.global_step, extra)
            write_bytes_atomic(output_dir(trainer) / "best.png", picture.image_png(self.best_index))

    def state_dict(self) -> dict[str, Any]:
        return {"final_rewards": self.final_rewards, "best_index": self.best_index}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.final_rewards = state_dict.get("final_rewards")
        self.best_index = state_dict.get("best_index")


class ValueGuidance(BestOfK):
    """SVDD-style soft value-based selection among K candidates every ``every_n_steps``."""

    def __init__(self, reward: Reward, every_n_steps: int = 10, alpha: float = 0.1, stop_before_end: int = 0, mutation: float = 0.0) -> None:
        """
        Args:
            reward: scores candidates without gradients (``class_path`` in YAML), higher is better.
            every_n_steps: M, resample after every M ascent steps.
            alpha: temperature of ``softmax(reward / alpha)``, in the reward's units; 0 is greedy.
            stop_before_end: no resampling in the last N steps (let the copies settle apart).
            mutation: noise added to the extra copies of a parent (as a fraction of the init noise),
                so copies explore around it; 0 leaves only the augmentation draws to tell them apart.
        """
        super().__init__(reward)
        if every_n_steps < 1:
            raise ValueError(f"ValueGuidance every_n_steps must be a positive integer; got {every_n_steps}.")
        if alpha < 0:
            raise ValueError(f"ValueGuidance alpha must be >= 0 (0 is greedy); got {alpha}.")
        if stop_before_end < 0:
            raise ValueError(f"ValueGuidance stop_before_end must be >= 0; got {stop_before_end}.")
        if mutation < 0:
            raise ValueError(f"ValueGuidance mutation must be >= 0; got {mutation}.")
        self.mutation = mutation
        self.every_n_steps = every_n_steps
        self.alpha = alpha
        self.stop_before_end = stop_before_end
        #: (step, rewards, parent indices) of every resampling, for logs and tests.
        self.history: list[dict[str, Any]] = []

    def on_train_batch_end(self, trainer: L.Trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        step = trainer.global_step  # steps done so far
        total = pl_module.total_steps
        if step % self.every_n_steps or step >= total - self.stop_before_end:
            return
        rewards = self.score(pl_module)
        generator = step_generator(pl_module.seed ^ _RESAMPLE_SALT, step, "cpu")
        indices = resample_indices(rewards, self.alpha, generator)
        optimizer = trainer.optimizers[0] if trainer.optimizers else None
        copy_candidates(pl_module.pyramid, optimizer, indices)
        mutate_duplicates(pl_module.pyramid, indices, self.mutation, generator)
        self.history.append({"step": step, "rewards": rewards.tolist(), "parents": indices.tolist()})
        pl_module.log_dict(
            {f"value/{self.reward.name}_mean": float(rewards.mean()), f"value/{self.reward.name}_max": float(rewards.max()),
             "value/distinct_parents": float(indices.unique().numel())},
            on_step=True, on_epoch=False,
        )

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "history": self.history}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        self.history = list(state_dict.get("history", []))
