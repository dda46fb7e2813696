"""``DirectAscent``: one ``training_step`` is one gradient-ascent step on the pyramid.

The module only wires parts that are built and tested on their own: the pyramid (the one
trainable thing), the augmentations, the frozen scorer and the objective. Schedules are
pure functions of the step, evaluated into a :class:`~dasag.run.plan.StepPlan` before each step
by the annealing callback, which hands it to the module; export, live progress and
checkpointing are callbacks too.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import contextmanager, nullcontext
from typing import Any, Literal

import lightning as L
import torch
from lightning.pytorch.cli import OptimizerCallable
from torch import Tensor

from dasag.core.errors import error_text
from dasag.core.schedules import ScheduledLR
from dasag.image.augment import Augmentations, step_generator
from dasag.image.pyramid import ImagePyramid
from dasag.objective.base import MemberScores, StepContext, StepLoss
from dasag.objective.embedding_terms import ImagePromptTerm
from dasag.objective.loss import Objective
from dasag.run import speed_switches as switches
from dasag.run.data import PromptSet
from dasag.run.metrics import ScoreMetrics
from dasag.run.plan import StepPlan
from dasag.scorers.base import Scorer, score_key
from dasag.scorers.ensemble import ScorerEnsemble

#: Lightning's ``LRSchedulerCallable`` that is also handed the run's length (``trainer.max_steps``,
#: the one source of it), so a schedule over the whole run needs no step count in the config.
RunLRSchedulerCallable = Callable[[torch.optim.Optimizer, int], torch.optim.lr_scheduler.LRScheduler]


#: The "step" of scores taken outside the ascent (clean-image evaluation): seeds dropout apart from every step.
EVALUATION_STEP = -1


def dropout_seed(seed: int, step: int) -> int:
    """Seed of one step's dropout masks: apart from the augmentation draws of the same step."""
    return (int(seed) * 2_654_435_761 + (int(step) + 2) * 40_503 + 0x9E3779B9) % (2**63 - 1)


#: DAS-AG v2's optimiser: Adam with a large step and a short memory of the first moment.
ADAM_LR = 0.1
ADAM_BETAS = (0.5, 0.99)


def default_optimizer(params) -> torch.optim.Optimizer:
    """Adam with :data:`ADAM_LR` and :data:`ADAM_BETAS`: the DAS-AG v2 setting."""
    return torch.optim.Adam(params, lr=ADAM_LR, betas=ADAM_BETAS)


def _check_module_args(scorer_precision: str, schedule_time_base: str) -> None:
    """Refuse a precision or a schedule time base the module does not know, before the scorer is adopted."""
    if scorer_precision not in ("auto", "bf16", "fp16", "fp32", "none"):
        raise ValueError(f"scorer_precision must be one of auto, bf16, fp16, fp32, none; got {scorer_precision!r}.")
    if schedule_time_base not in ("last_step", "steps"):
        raise ValueError(f"schedule_time_base must be 'last_step' (t / (T - 1)) or 'steps' (t / T); got {schedule_time_base!r}.")


class DirectAscent(L.LightningModule):
    """Direct Ascent Synthesis: optimise an image pyramid against frozen scorers."""

    def __init__(
        self,
        pyramid: ImagePyramid,
        scorer: Scorer | ScorerEnsemble,
        augment: Augmentations | None = None,
        objective: Objective | None = None,
        optimizer: OptimizerCallable = default_optimizer,
        lr_scheduler: RunLRSchedulerCallable = ScheduledLR,
        scorer_precision: Literal["auto", "bf16", "fp16", "fp32", "none"] = "auto",
        seed: int | None = None,
        compile: switches.CompileParts = "none",
        activation_checkpointing: bool = False,
        schedule_time_base: Literal["last_step", "steps"] = "last_step",
    ) -> None:
        """
        Args:
            pyramid: the trainable image(s).
            scorer: a frozen scorer, or a weighted ensemble of them.
            augment: augmentations and their schedules (DAS-AG v2 defaults when omitted).
            objective: loss terms and weights (plain prompt guidance when omitted).
            optimizer: builds the optimiser for the pyramid's parameters (Adam 0.1, betas 0.5/0.99).
            lr_scheduler: builds the per-step lr scheduler from the optimiser and the run's length
                (default :class:`~dasag.core.schedules.ScheduledLR`: cosine from lr to 0.01 lr).
            scorer_precision: autocast dtype for the frozen scorer; ``auto`` is bf16 on CUDA, fp32 on CPU;
                ``fp32`` and ``none`` mean no autocast: the scorer computes in its weights' dtype
                (fp16 weights with ``none`` and no loss scaling: DAS-AG v2's setting, whose small
                gradients underflow). The pyramid and the loss stay in fp32.
            seed: seeds the per-step augmentation draws; defaults to the global seed
                (``--seed_everything``) at construction.
            compile: ``torch.compile`` the scorer, the render/augment path, both (``all``) or
                nothing; same results, applied once after the scorer loads (see docs/performance.md).
            activation_checkpointing: recompute the scorer's blocks in the backward pass instead
                of storing their activations: less memory for large batches, one extra forward.
            schedule_time_base: how step t of T = ``trainer.max_steps`` maps onto every schedule
                (augmentations, aesthetic weight, lr): ``last_step`` (default) evaluates at
                t / (T - 1), so the last step is each schedule's end point; ``steps`` at t / T, as
                DAS-AG v2 did, so no schedule reaches its end (the run stops one step short).
        """
        super().__init__()
        _check_module_args(scorer_precision, schedule_time_base)
        self.pyramid = pyramid
        self.augment = augment or Augmentations()
        self.objective = objective or Objective()
        self.use_scorer(scorer)
        self._set_run_settings(optimizer, lr_scheduler, scorer_precision, seed, compile, activation_checkpointing, schedule_time_base)
        self._set_run_state()

    def _set_run_settings(self, optimizer: OptimizerCallable, lr_scheduler: RunLRSchedulerCallable, scorer_precision: str, seed: int | None,
                          compile_parts: switches.CompileParts, activation_checkpointing: bool, schedule_time_base: str) -> None:
        """Record the constructor's settings; the seed falls back to the global one, read now."""
        self.optimizer_factory = optimizer
        self.lr_scheduler_factory = lr_scheduler
        self.scorer_precision = scorer_precision
        self.seed = int(torch.initial_seed() if seed is None else seed) % (2**63 - 1)
        self.compile_parts = switches.check_compile_parts(compile_parts)
        self.activation_checkpointing = activation_checkpointing
        self.schedule_time_base = schedule_time_base

    def _set_run_state(self) -> None:
        """What a run fills in later: compiled functions, the run's config, prompts and the coming step's plan."""
        self._speedups_applied = False
        self._render_fn: Any = None  # compiled pyramid.canvas / augment when compile is render or all
        self._augment_fn: Any = None
        #: The resolved run configuration (set by the CLI or the app) written into image metadata.
        self.run_config: dict[str, Any] | None = None
        #: The prompt set the scorer is prepared for (``None`` until the first step).
        self.prompts: PromptSet | None = None
        self._image_prompts: tuple[tuple, list[ImagePromptTerm]] = ((), [])
        #: The coming step's plan, handed over by the annealing callback (``None`` before the first step).
        self.plan: StepPlan | None = None

    # ---------------------------------------------------------------- set-up
    def use_scorer(self, scorer: Scorer | ScorerEnsemble) -> None:
        """Adopt a scorer (the app and the harness pass a shared, maybe already loaded one);
        every term checks it here, before any weights load."""
        ensemble = scorer if isinstance(scorer, ScorerEnsemble) else ScorerEnsemble([scorer])
        self.objective.check(ensemble)
        self.scorer = ensemble
        self.train_metrics = ScoreMetrics(ensemble, prefix="train/metric/")

    @property
    def total_steps(self) -> int:
        """The run's length: ``trainer.max_steps``, the single source every schedule reads."""
        steps = self.trainer.max_steps
        if steps is None or steps < 1:
            raise ValueError(f"trainer.max_steps must be a positive integer (it sets the run's length and every schedule); got {steps}.")
        return int(steps)

    @property
    def schedule_steps(self) -> int:
        """The length every schedule is evaluated over (see ``schedule_time_base``): the run's
        length, or one more under ``steps``, whose curves are cut off one step before their end."""
        return self.total_steps + (1 if self.schedule_time_base == "steps" else 0)

    def check_prompts(self, prompts: PromptSet) -> None:
        """Prompts against the scorer, cheaply, before any weights load (``ValueError`` if bad);
        image prompts are read here too, so an unreadable one is refused before any model loads."""
        self.scorer.validate_prompts(prompts.positive, prompts.negative, self._requires_positive(prompts))
        self.image_prompt_terms(prompts)

    def _requires_positive(self, prompts: PromptSet) -> bool:
        """A run guided by the prompt term needs a positive prompt, unless image prompts guide it."""
        return self.objective.needs_prompts and not prompts.images

    def image_prompt_terms(self, prompts: PromptSet) -> list[ImagePromptTerm]:
        """One reference-image term per image prompt (made once per prompt set: it reads the file)."""
        if prompts.images != self._image_prompts[0]:
            terms = [ImagePromptTerm(path, weight, index=i) for i, (path, weight) in enumerate(prompts.images)]
            for term in terms:
                term.check(self.scorer)
            self._image_prompts = (prompts.images, terms)
        return self._image_prompts[1]

    def check_optimizer(self) -> None:
        """Build the optimiser once on the pyramid (cheap: Adam's state is made lazily) so a bad
        setting is one sentence before anything runs; an lr that is not positive is refused, since
        0 leaves the image as it started and a negative one descends."""
        try:
            optimizer = self.optimizer_factory(self.pyramid.parameters())
        except (ValueError, TypeError) as e:
            reason = error_text(e).rstrip(".") or type(e).__name__
            hint = "; the lr must be a positive number (the ascent's step size)" if "learning rate" in reason else ""
            raise ValueError(f"model.optimizer: {reason[0].lower() + reason[1:]}{hint}.") from None
        for group in optimizer.param_groups:
            lr = group.get("lr")
            if isinstance(lr, (int, float)) and not (lr > 0 and math.isfinite(lr)):
                raise ValueError(f"model.optimizer lr must be a positive number (the ascent's step size: 0 leaves the image unchanged, "
                                 f"a negative one descends); got {lr}.")

    def use_prompts(self, prompts: PromptSet) -> None:
        """Validate, then load the scorer (once) and cache the targets for this prompt set."""
        if prompts != self.prompts:
            self.image_prompt_terms(prompts)
            self.scorer.prepare(prompts.positive, prompts.negative, self._requires_positive(prompts), prompts.positive_weights, prompts.negative_weights)
            self.scorer.to(self.device)
            self.prompts = prompts
            self._apply_speedups()

    def _apply_speedups(self) -> None:
        """The ``compile`` and ``activation_checkpointing`` switches, once, after the scorer loaded."""
        if self._speedups_applied:
            return
        self._speedups_applied = True
        for member in self.scorer.members:
            if self.activation_checkpointing:
                switches.checkpoint_blocks(member)
            if switches.compiles_scorer(self.compile_parts):
                switches.compile_module(member)
        if switches.compiles_render(self.compile_parts):
            self._render_fn = switches.compile_function(self.pyramid.canvas)
            self._augment_fn = switches.compile_function(self.augment.apply)

    def setup(self, stage: str) -> None:
        _ = self.total_steps  # fail early on a missing/invalid max_steps
        from dasag.run.callbacks import ScheduleAnnealing

        if not any(isinstance(c, ScheduleAnnealing) for c in self.trainer.callbacks):
            raise RuntimeError("a DirectAscent run needs dasag.ScheduleAnnealing among the Trainer's callbacks (it evaluates every "
                               "schedule before each step; build_run and every dasag command add it).")
        self.train_metrics.sync_across_processes(self.trainer.world_size > 1)
        prompts = getattr(getattr(self.trainer, "datamodule", None), "prompts", None)
        if prompts is None:
            raise RuntimeError("DirectAscent needs a datamodule with a `prompts` attribute (e.g. PromptDataModule).")
        self.use_prompts(prompts)

    def configure_optimizers(self):
        optimizer = self.optimizer_factory(self.pyramid.parameters())
        scheduler = self.lr_scheduler_factory(optimizer, self.schedule_steps)
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
        if mode in ("fp32", "none"):
            return nullcontext()
        dtype = torch.bfloat16 if mode == "bf16" else torch.float16
        return torch.autocast(device_type=self.device.type, dtype=dtype)

    def use_plan(self, plan: StepPlan) -> None:
        """Take the plan of the coming step (the annealing callback hands it over before each step)."""
        self.plan = plan

    @property
    def scheduled_terms(self) -> list:
        """Every term whose weight may be scheduled: the objective's and the image prompts'."""
        return [*self.objective.terms, *self._image_prompts[1]]

    def _plan_for(self, step: int) -> StepPlan:
        if self.plan is None or self.plan.step != step:
            raise RuntimeError(f"step {step} has no schedule plan: a DirectAscent run needs dasag.ScheduleAnnealing among the Trainer's "
                               f"callbacks (build_run and every dasag command add it).")
        return self.plan

    def render_and_augment(self, plan: StepPlan) -> tuple[Tensor, Tensor]:
        """The step's canvas and its augmented copies, the scorer's input (compiled parts if configured)."""
        canvas = (self._render_fn or self.pyramid.canvas)()
        generator = step_generator(self.seed, plan.step, canvas.device)
        draws = self.augment.draw(self.pyramid.num_images, self.pyramid.visible_size, plan.strengths, generator, canvas.device, canvas.dtype)
        return canvas, (self._augment_fn or self.augment.apply)(canvas, self.pyramid.max_shift, draws)

    def score(self, images: Tensor, step: int = EVALUATION_STEP) -> list[MemberScores]:
        """Every ensemble member's scores on ``images``, under the scorer's autocast.

        A scorer with dropout (the compatibility mode's aesthetic head) draws its masks from
        the global generator, re-seeded here from (seed, step) inside ``fork_rng``: a run stays
        a function of its seed, resumes exactly, and the caller's random state is untouched.
        """
        rng = self._seeded_dropout(step) if self.scorer.stochastic else nullcontext()
        with self.autocast(), rng:
            scored = self.scorer(images)
        return [MemberScores(name, weight, scores) for name, (weight, scores) in zip(self.scorer.names, scored)]

    @contextmanager
    def _seeded_dropout(self, step: int):
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            torch.manual_seed(dropout_seed(self.seed, step))
            yield

    def ascent_terms(self, plan: StepPlan) -> StepLoss:
        """Render, augment, score and combine: the loss of one step, per image, with its values."""
        canvas, copies = self.render_and_augment(plan)
        strengths = self.prompts.strengths() if self.prompts is not None else (1.0, 1.0)
        ctx = StepContext(self.score(copies, plan.step), self.pyramid.crop(canvas), plan.step, self.schedule_steps, self.scorer, copies, strengths,
                          plan.weights)
        return self.objective(ctx, self._image_prompts[1])

    def training_step(self, batch: PromptSet, batch_idx: int) -> Tensor:
        self.use_prompts(PromptSet.of(batch))
        plan = self._plan_for(self.global_step)
        terms = self.ascent_terms(plan)
        loss = terms.loss.sum()
        self.train_metrics.update(terms.values)
        if self._should_log():
            self._log_step(loss, terms, plan)
        return loss

    def _should_log(self) -> bool:
        """Log every ``trainer.log_every_n_steps`` and on the last step: each log reads values
        back from the device, so logging every step would sync the host every step."""
        n = max(int(self.trainer.log_every_n_steps or 1), 1)
        return (self.global_step + 1) % n == 0 or self.global_step + 1 >= self.total_steps

    def _log_step(self, loss: Tensor, terms: StepLoss, plan: StepPlan) -> None:
        live = {"loss": loss.detach(), **{key: v.detach().mean() for key, v in terms.values.items()}}
        self.log_dict({f"train/{k}": v for k, v in live.items()}, on_step=True, on_epoch=False)
        self.log_dict(self.train_metrics.compute_and_reset(), on_step=True, on_epoch=False)
        shown = {k: v for k, v in live.items() if k == "loss" or k.endswith(("/positive", "/aesthetic"))}
        self.log_dict(shown, prog_bar=True, logger=False, on_step=True, on_epoch=False)
        self.log_dict(plan.as_logs(), on_step=True, on_epoch=False)

    # -------------------------------------------------------------- evaluate
    @torch.no_grad()
    def images(self) -> Tensor:
        """The current visible images, (num_images, 3, V, V) in [-1, 1]."""
        return self.pyramid().detach()

    @torch.no_grad()
    def evaluate(self, images: Tensor | None = None) -> list[dict[str, float]]:
        """Scores of the clean (un-augmented) images, one dict per image, keyed ``<member>/<field>``."""
        images = self.images() if images is None else images
        out: list[dict[str, float]] = [{} for _ in range(images.shape[0])]
        for m in self.score(images):
            for field in ("positive", "negative", "aesthetic"):
                value = getattr(m.scores, field)
                if value is None:
                    continue
                for i, v in enumerate(value.float().cpu().tolist()):
                    out[i][score_key(m.name, field)] = v
        return out
