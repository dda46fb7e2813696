"""``DirectAscent``: one ``training_step`` is one gradient-ascent step on the pyramid.

The module only wires parts that are built and tested on their own: the pyramid (the one
trainable thing), the augmentations, the frozen scorer and the objective. Schedules are
evaluated by the :class:`~dasag.callbacks.Annealing` callback into ``self.plan``; export,
logging of images and checkpointing are callbacks too.
"""

from __future__ import annotations

import math
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any, Literal

import lightning as L
import torch
from lightning.pytorch.cli import OptimizerCallable
from torch import Tensor

from dasag.augment import Augmentations, Strengths, step_generator
from dasag.data import PromptSet
from dasag.metrics import score_metrics, update_from_values
from dasag.objective import Objective, Terms
from dasag.perf import CompileParts, check_compile_parts
from dasag.pyramid import ImagePyramid
from dasag.scorers.base import Scorer
from dasag.scorers.ensemble import ScorerEnsemble


def default_optimizer(params) -> torch.optim.Optimizer:
    """Adam, lr 0.1, betas (0.5, 0.99): the DAS-AG v2 setting."""
    return torch.optim.Adam(params, lr=0.1, betas=(0.5, 0.99))


@dataclass(frozen=True)
class Plan:
    """Everything scheduled, at one step: augmentation strengths and λ_aes (sign included)."""

    step: int
    strengths: Strengths
    aesthetic_weight: float


class DirectAscent(L.LightningModule):
    """Direct Ascent Synthesis: optimise an image pyramid against frozen scorers."""

    def __init__(
        self,
        pyramid: ImagePyramid,
        scorer: Scorer | ScorerEnsemble,
        augment: Augmentations | None = None,
        objective: Objective | None = None,
        optimizer: OptimizerCallable = default_optimizer,
        lr_min_ratio: float = 0.01,
        scorer_precision: Literal["auto", "bf16", "fp16", "fp32"] = "auto",
        seed: int | None = None,
        compile: CompileParts = "none",
        activation_checkpointing: bool = False,
    ) -> None:
        """
        Args:
            pyramid: the trainable image(s).
            scorer: a frozen scorer, or a weighted ensemble of them.
            augment: augmentations and their schedules (DAS-AG v2 defaults when omitted).
            objective: loss terms and weights (plain prompt guidance when omitted).
            optimizer: builds the optimiser for the pyramid's parameters (Adam 0.1, betas 0.5/0.99).
            lr_min_ratio: cosine annealing, per step, from lr down to ``lr * lr_min_ratio`` at the last step.
            scorer_precision: autocast dtype for the frozen scorer; ``auto`` is bf16 on CUDA, fp32 on CPU.
                The pyramid and the loss stay in fp32.
            seed: seeds the per-step augmentation draws; defaults to the global seed
                (``--seed_everything``) at construction.
            compile: ``torch.compile`` the scorer, the render/augment path, both (``all``) or
                nothing; same results, applied once after the scorer loads (see docs/performance.md).
            activation_checkpointing: recompute the scorer's blocks in the backward pass instead
                of storing their activations: less memory for large batches, one extra forward.
        """
        super().__init__()
        if not 0 < lr_min_ratio <= 1:
            raise ValueError(f"lr_min_ratio must be in (0, 1]; got {lr_min_ratio}.")
        if scorer_precision not in ("auto", "bf16", "fp16", "fp32"):
            raise ValueError(f"scorer_precision must be one of auto, bf16, fp16, fp32; got {scorer_precision!r}.")
        self.pyramid = pyramid
        self.scorer = scorer if isinstance(scorer, ScorerEnsemble) else ScorerEnsemble([scorer])
        self.augment = augment or Augmentations()
        self.objective = objective or Objective()
        if self.objective.prompt_weight == 0:
            # Prompt-free generation (aesthetic / style terms only): an empty prompt list is valid.
            for member in self.scorer.members:
                member.require_positive = False
        self.objective.bind(self.scorer)  # extra terms check the scorer now, before weights load
        self.optimizer_factory = optimizer
        self.lr_min_ratio = lr_min_ratio
        self.scorer_precision = scorer_precision
        self.seed = int(torch.initial_seed() if seed is None else seed) % (2**63 - 1)
        self.compile_parts = check_compile_parts(compile)
        self.activation_checkpointing = activation_checkpointing
        self._speedups_applied = False
        self._render_fn: Any = None  # compiled pyramid.canvas / augment when compile is render or all
        self._augment_fn: Any = None
        self.plan: Plan | None = None
        #: The resolved run configuration (set by the CLI or the app) written into image metadata.
        self.run_config: dict[str, Any] | None = None
        self._prompts: PromptSet | None = None
        self.train_metrics = score_metrics().clone(prefix="train/metric/")

    # ---------------------------------------------------------------- set-up
    @property
    def total_steps(self) -> int:
        """The run's length: ``trainer.max_steps``, the single source every schedule reads."""
        steps = self.trainer.max_steps
        if steps is None or steps < 1:
            raise ValueError(f"trainer.max_steps must be a positive integer (it sets the run's length and every schedule); got {steps}.")
        return int(steps)

    def prompts_from_trainer(self) -> PromptSet:
        dm = getattr(self.trainer, "datamodule", None)
        prompts = getattr(dm, "prompts", None)
        if prompts is None:
            raise RuntimeError("DirectAscent needs a datamodule with a `prompts` attribute (e.g. PromptDataModule).")
        return prompts

    def use_prompts(self, prompts: PromptSet) -> None:
        """Validate, then load the scorer (once) and cache the targets for this prompt set."""
        if prompts != self._prompts:
            self.scorer.validate_prompts(prompts.positive, prompts.negative)
            self.scorer.prepare(prompts.positive, prompts.negative)
            self.scorer.to(self.device)
            self._prompts = prompts
            self._apply_speedups()

    def _apply_speedups(self) -> None:
        """The ``compile`` and ``activation_checkpointing`` switches, once, after the scorer loaded."""
        if self._speedups_applied:
            return
        self._speedups_applied = True
        from dasag import perf

        for member in self.scorer.members:
            if self.activation_checkpointing:
                perf.checkpoint_blocks(member)
            if perf.compiles_scorer(self.compile_parts):
                perf.compile_module(member)
        if perf.compiles_render(self.compile_parts):
            self._render_fn = perf.compile_function(self.pyramid.canvas)
            self._augment_fn = perf.compile_function(self.augment.apply)

    def setup(self, stage: str) -> None:
        _ = self.total_steps  # fail early on a missing/invalid max_steps
        self.use_prompts(self.prompts_from_trainer())

    def configure_callbacks(self):
        from dasag.callbacks import Annealing

        present = any(isinstance(cb, Annealing) for cb in self.trainer.callbacks) if self._trainer else False
        return [] if present else [Annealing()]

    def configure_optimizers(self):
        optimizer = self.optimizer_factory(self.pyramid.parameters())
        total, floor = self.total_steps, self.lr_min_ratio

        def cosine(step: int) -> float:
            t = min(step, total - 1) / max(total - 1, 1)
            return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * t))

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, cosine)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step", "frequency": 1}}

    # ------------------------------------------------------------ checkpoints
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Checkpoints hold the pyramid and optimiser, never the frozen scorer (MB, not GB)."""
        checkpoint["state_dict"] = {k: v for k, v in checkpoint["state_dict"].items() if not k.startswith("scorer.")}
        checkpoint["dasag"] = {"seed": self.seed, "run_config": self.run_config}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Put the scorer's own (already loaded) weights back so strict loading passes."""
        own = {f"scorer.{k}": v for k, v in self.scorer.state_dict().items()}
        checkpoint["state_dict"] = {**checkpoint["state_dict"], **own}
        self.seed = int(checkpoint.get("dasag", {}).get("seed", self.seed))

    # ------------------------------------------------------------------ step
    def autocast(self):
        """Autocast context for the frozen scorer (the pyramid stays fp32)."""
        mode = self.scorer_precision
        if mode == "auto":
            mode = "bf16" if self.device.type == "cuda" else "fp32"
        if mode == "fp32":
            return nullcontext()
        dtype = torch.bfloat16 if mode == "bf16" else torch.float16
        return torch.autocast(device_type=self.device.type, dtype=dtype)

    def plan_at(self, step: int) -> Plan:
        """The schedules evaluated at ``step`` (what :class:`Annealing` puts in ``self.plan``)."""
        total = self.total_steps
        return Plan(
            step=step,
            strengths=self.augment.strengths(step, total, self.pyramid.max_shift),
            aesthetic_weight=self.objective.aesthetic_weight_at(step, total),
        )

    def render_and_augment(self, plan: Plan) -> tuple[Tensor, Tensor]:
        """The step's canvas and its augmented copies, the scorer's input (compiled parts if configured)."""
        canvas = (self._render_fn or self.pyramid.canvas)()
        generator = step_generator(self.seed, plan.step, canvas.device)
        draws = self.augment.draw(self.pyramid.num_images, self.pyramid.visible_size, plan.strengths, generator, canvas.device, canvas.dtype)
        return canvas, (self._augment_fn or self.augment.apply)(canvas, self.pyramid.max_shift, draws)

    def ascent_terms(self, plan: Plan) -> Terms:
        """Render, augment, score and combine: the loss terms of one step."""
        canvas, copies = self.render_and_augment(plan)
        images = self.pyramid.crop(canvas)
        with self.autocast():
            members = self.scorer(copies)
        return self.objective(members, images, self.pyramid.num_images, plan.step, self.total_steps)

    def training_step(self, batch: PromptSet, batch_idx: int) -> Tensor:
        self.use_prompts(PromptSet(*batch))
        plan = self.plan if self.plan is not None and self.plan.step == self.global_step else self.plan_at(self.global_step)
        terms = self.ascent_terms(plan)
        loss = terms.loss.sum()
        update_from_values(self.train_metrics, terms.values)
        if self._should_log():
            self._log_step(loss, terms, plan)
        return loss

    def _should_log(self) -> bool:
        """Log every ``trainer.log_every_n_steps`` and on the last step: each log reads values
        back from the device, so logging every step would sync the host every step."""
        n = max(int(self.trainer.log_every_n_steps or 1), 1)
        return (self.global_step + 1) % n == 0 or self.global_step + 1 >= self.total_steps

    def _log_step(self, loss: Tensor, terms: Terms, plan: Plan) -> None:
        live = {"loss": loss.detach()}
        for name, v in terms.values.items():
            live[name] = v.detach().mean()
        self.log_dict({f"train/{k}": v for k, v in live.items()}, prog_bar=False, on_step=True, on_epoch=False)
        updated = {name: m.compute() for name, m in self.train_metrics.items() if m.update_count}
        self.log_dict(updated, on_step=True, on_epoch=False)
        self.train_metrics.reset()
        shown = {k: v for k, v in live.items() if k in ("loss", "positive", "aesthetic")}
        self.log_dict(shown, prog_bar=True, logger=False, on_step=True, on_epoch=False)
        s = plan.strengths
        self.log_dict(
            {"schedule/jitter": float(s.jitter), "schedule/color_shift": s.color_shift, "schedule/noise": s.noise, "schedule/aesthetic_weight": plan.aesthetic_weight},
            on_step=True,
            on_epoch=False,
        )

    # -------------------------------------------------------------- evaluate
    @torch.no_grad()
    def images(self) -> Tensor:
        """The current visible images, (num_images, 3, V, V) in [-1, 1]."""
        return self.pyramid().detach()

    @torch.no_grad()
    def evaluate(self, images: Tensor | None = None) -> list[dict[str, float]]:
        """Scores of the clean (un-augmented) images, one dict per image, as plain floats."""
        images = self.images() if images is None else images
        with self.autocast():
            members = self.scorer(images)
        out: list[dict[str, float]] = [{} for _ in range(images.shape[0])]
        names = self.scorer.names
        for (weight, scores), name in zip(members, names):
            prefix = "" if len(members) == 1 else f"{name}/"
            fields = {"positive": scores.positive, "negative": scores.negative, "aesthetic": scores.aesthetic}
            for key, value in fields.items():
                if value is None:
                    continue
                for i, v in enumerate(value.float().cpu().tolist()):
                    out[i][prefix + key] = v
        return out
