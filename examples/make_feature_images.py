"""Regenerate every image and figure shown in docs/features.md (deterministic; run from the repository root).

    python examples/make_feature_images.py [--out-dir docs/images]

1. ``assets/stained_glass_lite0.pt``: the stained-glass embedding, made again by
   ``dasag.personalize`` from ``assets/style`` with the ``style`` config's scorer.
2. Each shipped feature config runs through the command (``dasag fit --config NAME``) into a
   temporary folder, with the config's own settings; its final image (``best.png`` for the
   value-guided / best-of-K pair) is copied to ``<out-dir>/features_<name>.png``. The input
   montages (``features_style_set.png``, ``features_portrait.png``) are written too.
3. The small value-guided vs best-of-K comparison the doc quotes (K = 4, 12 steps, 64 px
   canvas, seeds 0-3, the setting of ``tests/test_value_guidance.py``), through the library's
   ``DirectAscent`` and its ``ValueGuidance`` / ``BestOfK`` callbacks.
4. A markdown table of the figures the doc quotes: the cosine similarity of each image's
   Lite0 features to the stained-glass embedding, the Lite0 (guide) log-probability and the
   held-out EfficientNet-Lite2 probability of the prompt class, and JPEG sizes (quality 95).

Nothing here optimises an image itself: every image comes from the library's entry points.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from dasag.commands.skeleton import Command, run_command

ROOT = Path(__file__).resolve().parents[1]
#: The shipped embedding the style configs name as ``assets/stained_glass_lite0.pt``: made again here.
EMBEDDING = ROOT / "dasag" / "configs" / "assets" / "stained_glass_lite0.pt"

#: (output name, config, its prompt class or None, which file of the run is shown)
RUNS = [
    ("goldfish_plain", "features_base.yaml", "goldfish", "final.png"),
    ("style", "style.yaml", "goldfish", "final.png"),
    ("art_from_noise", "art_from_noise.yaml", None, "final.png"),
    ("edit_from_image", "edit_from_image.yaml", "sunglasses", "final.png"),
    ("reference", "reference.yaml", None, "final.png"),
    ("inpaint", "inpaint.yaml", "sunglasses", "final.png"),
    ("value_guided", "value_guided.yaml", "goldfish", "best.png"),
    ("best_of_k", "best_of_k.yaml", "goldfish", "best.png"),
]
QUIET = ["--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false"]


def run_config(config: str, root: Path, extra: list[str]) -> Path:
    """``fit --config configs/<config>`` into ``root``; the folder holding its final.png."""
    from dasag.commands import main

    rc = main(["fit", "--config", config, "--trainer.default_root_dir", str(root), *QUIET, *extra])
    if rc != 0:
        raise SystemExit(f"configs/{config} failed with exit status {rc}")
    return next(root.rglob("final.png")).parent


def montage(files: list[Path], side: int = 64, gap: int = 2) -> Image.Image:
    """The style set side by side (bicubic to ``side`` px, white gaps), as in docs/features.md."""
    out = Image.new("RGB", (len(files) * side + (len(files) - 1) * gap, side), (255, 255, 255))
    for i, f in enumerate(files):
        with Image.open(f) as im:
            out.paste(im.convert("RGB").resize((side, side), Image.BICUBIC), (i * (side + gap), 0))
    return out


def small_margins(seeds: tuple[int, ...] = (0, 1, 2, 3)) -> list[tuple[int, float, float]]:
    """(seed, best-of-K kB, value-guided kB) at the tests' tiny setting (K = 4, 12 steps)."""
    import lightning as L

    from dasag import Augmentations, DirectAscent, ImagePyramid, PromptDataModule, ScheduleAnnealing
    from dasag.run.rewards import JpegCompressibility
    from dasag.run.value_guidance import BestOfK, ValueGuidance
    from dasag.scorers import EfficientNetLite

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in seeds:
            kb = {}
            for selector in (BestOfK(JpegCompressibility()), ValueGuidance(JpegCompressibility(), every_n_steps=2, alpha=0.0, mutation=1.0)):
                L.seed_everything(seed, verbose=False)
                model = DirectAscent(ImagePyramid(max_size=64, max_shift=8, num_images=4), EfficientNetLite("lite0", input_size=64),
                                     augment=Augmentations(batch_size=2), seed=seed)
                trainer = L.Trainer(max_steps=12, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                                    default_root_dir=Path(tmp) / f"{type(selector).__name__}_{seed}", enable_progress_bar=False,
                                    enable_model_summary=False, callbacks=[ScheduleAnnealing(), selector])
                trainer.fit(model, datamodule=PromptDataModule(positive_prompts=["goldfish"]))
                kb[type(selector).__name__] = -selector.best_reward
            rows.append((seed, kb["BestOfK"], kb["ValueGuidance"]))
    return rows


def add_options(parser) -> None:
    parser.add_argument("--out-dir", default="docs/images", help="where the features_*.png files go (default docs/images)")
    parser.add_argument("--skip-small", action="store_true", help="leave out the seeds 0-3 value-guided vs best-of-K comparison")


def run(args) -> int:
    os.chdir(ROOT)  # --out-dir is relative to the repository root
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    from dasag.core.files import user_file
    from dasag.image.picture import load_image, read_metadata
    from dasag.objective.embedding_terms import list_images
    from dasag.personalize import personalize
    from dasag.run.rewards import jpeg_kilobytes
    from dasag.scorers import EfficientNetLite
    from dasag.scorers.embeddings import load_style_embedding
    from dasag.scorers.heldout import score as heldout_score

    # 1. The stained-glass embedding, with the (fixed) classifier.
    style = personalize("assets/style", EMBEDDING, "style")
    print(f"wrote {EMBEDDING}: mean of {style.num_images} image embeddings, {style.scorer.describe()}", file=sys.stderr)

    # Input montages.
    style_files = list_images("assets/style")
    montage(style_files).save(out_dir / "features_style_set.png")
    shutil.copyfile(user_file("assets/images/portrait.png"), out_dir / "features_portrait.png")

    # 2. Every feature config, as shipped.
    shown: dict[str, Path] = {}
    candidates: dict[str, list[Path]] = {}
    meta: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="dasag_features_") as tmp:
        for name, config, _, shown_file in RUNS:
            print(f"running configs/{config} ...", file=sys.stderr)
            run_dir = run_config(config, Path(tmp) / name, [])
            target = out_dir / f"features_{name}.png"
            shutil.copyfile(run_dir / shown_file, target)
            shown[name] = target
            meta[name] = read_metadata(target)
            if shown_file == "best.png":
                kept = Path(tmp) / f"{name}_candidates"
                kept.mkdir()
                candidates[name] = [Path(shutil.copy(f, kept)) for f in sorted(run_dir.glob("final_[0-9][0-9].png"))]
        # 4. Figures (inside the with: the candidate PNGs live in the temporary folder).
        lite0, lite2 = EfficientNetLite("lite0"), EfficientNetLite("lite2")
        target_vec = torch.nn.functional.normalize(load_style_embedding(EMBEDDING).vector, dim=0)

        @torch.no_grad()
        def cosine(path: Path | str) -> float:
            return float(lite0.features(load_image(path)[None])[0] @ target_vec)

        rows = []
        set_cos = [cosine(f) for f in style_files]
        rows.append(("style set (`assets/style`, mean of 4)", "-", f"{np.mean(set_cos):.2f}", "-", "-", "-"))
        portrait = load_image("assets/images/portrait.png")
        rows.append(("portrait (`assets/images/portrait.png`)", "-", f"{cosine('assets/images/portrait.png'):.2f}", "-",
                     f"{heldout_score('lite2', lite2, portrait[None], ['sunglasses'], [])['heldout/lite2/prob']:.4f} (sunglasses)",
                     f"{jpeg_kilobytes(load_image('assets/images/portrait.png')):.2f}"))
        for name, config, prompt, _ in RUNS:
            image = load_image(shown[name])
            scores = meta[name]["scores"]
            lp = f"{scores['lite0/positive']:.2f}" if prompt else "-"
            p2 = f"{heldout_score('lite2', lite2, image[None], [prompt], [])['heldout/lite2/prob']:.3f}" if prompt else "-"
            rows.append((f"`features_{name}.png`", f"`{config}`" + (f" ({prompt})" if prompt else ""), f"{cosine(shown[name]):.2f}", lp, p2,
                         f"{jpeg_kilobytes(image):.2f}"))
        print("| image | config (prompt) | cos to stained glass (Lite0) | Lite0 log p(prompt) | Lite2 p(prompt) | JPEG kB (q95) |")
        print("| --- | --- | --- | --- | --- | --- |")
        for r in rows:
            print("| " + " | ".join(r) + " |")

        print()
        print("| config (4 candidates) | final candidates, JPEG kB | best.png | best index |")
        print("| --- | --- | --- | --- |")
        for name in ("best_of_k", "value_guided"):
            kbs = [jpeg_kilobytes(load_image(f)) for f in candidates[name]]
            best = jpeg_kilobytes(load_image(shown[name]))
            stored = [-r for r in meta[name]["rewards"]]
            assert np.allclose(kbs, stored, atol=1e-6), (name, kbs, stored)  # the files are the candidates the callback scored
            print(f"| `{name}.yaml` | {', '.join(f'{k:.2f}' for k in kbs)} | {best:.2f} kB | {meta[name]['best_index']} |")

    # 3. The tiny comparison quoted in the doc and checked (seeds 0, 1) by tests/test_value_guidance.py.
    if not args.skip_small:
        print()
        print("| seed (K = 4, 12 steps, 64 px canvas) | best-of-K best kB | value-guided best kB | smaller by kB |")
        print("| --- | --- | --- | --- |")
        for seed, base, guided in small_margins():
            print(f"| {seed} | {base:.2f} | {guided:.2f} | {base - guided:+.2f} |")
    return 0


COMMAND = Command("make_feature_images", "Regenerate every image and figure in docs/features.md.", run, add_options)

if __name__ == "__main__":
    raise SystemExit(run_command(COMMAND))
