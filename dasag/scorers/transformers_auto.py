"""Any transformers image-text dual encoder by hub id or local folder: the ``hf:`` names.

``hf:google/siglip2-so400m-patch14-384``, ``hf:google/siglip2-base-patch16-naflex``,
``hf:openai/clip-vit-base-patch32`` or ``hf:/path/to/folder``: the model class comes from the
checkpoint's own ``config.json`` (transformers' ``AutoModel``), and so does everything about its
input, read from the files next to the weights rather than assumed per family:

* pixels: the side its position embeddings were trained at (``vision_config.image_size``) and
  mean, std and resampling from ``preprocessor_config.json``; a NaFlex checkpoint (SigLIP 2's
  variable-resolution models) takes a square picture as the patch grid its own processor would make
  of it (the most whole patches within ``max_num_patches``: 16 x 16 for 256), patchified here so the
  gradient reaches the picture;
* text: the checkpoint's tokenizer with its own normalisation (SigLIP 2's lower-casing) and padding
  side, padded to the text tower's length as SigLIP and SigLIP 2 were trained; the attention mask goes
  to the text tower when the tokenizer declares one among its inputs, except for SigLIP (v1)
  checkpoints, which were trained on padded text without a mask (as :class:`~dasag.scorers.SigLIP`
  reads them; docs/fidelity.md measures the difference); ``text_attention_mask`` overrides the choice.

The embeddings are the model's own ``get_image_features`` / ``get_text_features``. No seed system
has SigLIP 2; :class:`~dasag.scorers.SigLIP` stays the DAS-AG v2 scorer (with its aesthetic head by
default); here a head is loaded only when named, and only where its input width fits.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from dasag.scorers.hf_text_image import Attention, Dtype, HFTextImageScorer, _looks_like_path
from dasag.scorers.names import Family, Registered
from dasag.scorers.weights import MissingWeightsError, WeightLocations


def _read_json(location: str, filename: str, offline: bool) -> dict[str, Any] | None:
    """A small JSON file of a checkpoint (a folder, or a hub id in the local cache), without loading
    anything or downloading; ``None`` when it cannot be read here and now."""
    if _looks_like_path(location):
        path: Any = Path(location).expanduser() / filename
    else:
        from huggingface_hub import try_to_load_from_cache

        path = try_to_load_from_cache(location, filename)
        if not isinstance(path, str):
            return None
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def is_dual_encoder(config: dict[str, Any]) -> bool:
    """A checkpoint config with both an image and a text tower (what an ``hf:`` scorer needs)."""
    return isinstance(config.get("vision_config"), dict) and isinstance(config.get("text_config"), dict)


class TransformersImageText(HFTextImageScorer):
    """Similarity to text prompts under any transformers image-text model (SigLIP, SigLIP 2, CLIP, ...)."""

    model_class_name = "AutoModel"
    download_hint = "hf download HUB_ID --local-dir DIR"

    def __init__(self, model: str, aesthetic_head: str | None = None, attn_implementation: Attention = "auto", dtype: Dtype = "auto",
                 input_size: int | None = None, interpolation: Literal["bilinear", "bicubic", "nearest"] | None = None,
                 antialias: bool = True, aesthetic_dropout: list[float] | None = None, text_attention_mask: bool | None = None) -> None:
        """
        Args:
            model: hub id (``google/siglip2-so400m-patch14-384``) or local folder of a checkpoint with
                an image and a text tower.
            aesthetic_head: an aesthetic head file (``.pth``/``.safetensors``) reading this model's
                normalised image embedding; none by default. Refused at load if its width does not fit.
            attn_implementation / dtype / input_size / interpolation / antialias / aesthetic_dropout: as
                for :class:`~dasag.scorers.SigLIP`; by default the checkpoint's own input.
            text_attention_mask: whether the text tower gets the tokenizer's attention mask; ``None``: as the
                family was trained (see the module).
        """
        if text_attention_mask is not None and not isinstance(text_attention_mask, bool):
            raise ValueError(f"text_attention_mask must be true, false or null (as the model family was trained); got {text_attention_mask!r}.")
        if not isinstance(model, str) or not model.strip():
            raise ValueError(f"an hf: scorer needs a hub id or a local folder of a checkpoint; got {model!r}.")
        super().__init__(model.strip(), aesthetic_head, aesthetic_head is not None, attn_implementation, dtype, input_size, interpolation,
                         antialias, aesthetic_dropout)
        #: Score keys and logs name the checkpoint (``siglip2-so400m-patch14-384/positive``); a dot would split
        #: a metric's module name, so ``model.v2`` is ``model-v2``.
        self.name = self.variant.replace(".", "-")
        self.naflex: dict[str, int] | None = None
        self.text_attention_mask_setting = text_attention_mask

    @classmethod
    def weight_defaults(cls, locations: WeightLocations) -> tuple[str, str]:
        return "", ""  # never used: the model is required and the head has no default

    def where_to_get_weights(self) -> str:
        hub = self.model_location if not _looks_like_path(self.model_location) else "HUB_ID"
        return f"download it with `hf download {hub} --local-dir DIR` and name the folder instead (hf:DIR)"

    # ------------------------------------------------------------------- checks
    def check_weights(self) -> None:
        """Before anything loads: the checkpoint is a folder with a config.json, or a hub id that is cached
        (or the machine may download it); a config that is there must have an image and a text tower; the
        aesthetic head file must exist; an ``input_size`` must fit the checkpoint's patch grid."""
        from dasag.scorers.aesthetic_head import check_head_available

        config = _read_json(self.model_location, "config.json", self.offline)
        if _looks_like_path(self.model_location) and config is None:
            raise MissingWeightsError(f"model folder {self.model_location!r} does not exist or has no readable config.json: {self.where_to_get_weights()}.")
        if config is None and self.offline:
            raise MissingWeightsError(f"model {self.model_location!r} is not in the local Hugging Face cache and the machine is offline: "
                                      f"{self.where_to_get_weights()}.")
        if config is not None and not is_dual_encoder(config):
            raise ValueError(f"{self.model_location!r} is a {config.get('model_type', 'model')!r} checkpoint without both an image and a text tower; "
                             f"an hf: scorer needs an image-text model such as SigLIP, SigLIP 2 or CLIP.")
        if self.aesthetic_head_location is not None:
            check_head_available(self.aesthetic_head_location, "the scorer's aesthetic_head key", self.offline)
        if config is not None and self.input_size_setting is not None:
            vision = config["vision_config"]
            if config.get("model_type") == "siglip2":  # NaFlex: any side within its patch budget
                self._check_naflex_side(self.input_size_setting, int(vision.get("patch_size", 16)), self._max_patches())
            else:
                self.check_input_size(int(vision.get("image_size", 224)), int(vision.get("patch_size", 32)))

    def _max_patches(self) -> int:
        processor = _read_json(self.model_location, "preprocessor_config.json", self.offline) or {}
        return int(processor.get("max_num_patches", 256))

    def _check_naflex_side(self, side: int, patch: int, max_patches: int) -> None:
        if (side // patch) ** 2 > max_patches or side < patch:
            largest = int(max_patches**0.5) * patch
            raise ValueError(f"scorer input_size {side} gives {(side // patch) ** 2} patches of {patch} px but {self.model_location!r} reads at most "
                             f"{max_patches}; allowed sizes: {patch} to {largest + patch - 1}.")

    # ------------------------------------------------------------------- loading
    def _model_class(self) -> type:
        from transformers import AutoConfig, AutoModel

        config = AutoConfig.from_pretrained(self.model_location)
        if not (hasattr(config, "vision_config") and hasattr(config, "text_config")):
            raise ValueError(f"{self.model_location!r} is a {config.model_type!r} checkpoint without both an image and a text tower.")
        return AutoModel._model_mapping[type(config)]

    def _load(self) -> None:
        super()._load()
        declared = "attention_mask" in getattr(self.tokenizer, "model_input_names", ())
        trained = declared and self.model.config.model_type != "siglip"  # SigLIP (v1) was trained on padded text without one
        self.text_attention_mask = trained if self.text_attention_mask_setting is None else self.text_attention_mask_setting

    def native_geometry(self) -> tuple[int, int]:
        vision = self.model.config.vision_config
        if self.model.config.model_type != "siglip2":
            return vision.image_size, vision.patch_size
        patch, max_patches = vision.patch_size, self._max_patches()
        self.naflex = {"patch": patch, "max_patches": max_patches}
        return naflex_side(patch, max_patches), patch

    def check_input_size(self, image_size: int, patch_size: int) -> None:
        if self.naflex is not None:
            if self.input_size_setting is not None:
                self._check_naflex_side(self.input_size_setting, self.naflex["patch"], self.naflex["max_patches"])
            return
        super().check_input_size(image_size, patch_size)

    @property
    def embedding_dim(self) -> int:
        config = self.model.config
        return getattr(config, "projection_dim", None) or config.vision_config.hidden_size

    # ------------------------------------------------------------------- embeddings
    def naflex_inputs(self, pixels: Tensor) -> dict[str, Tensor]:
        """Square pixels (N, 3, S, S) -> SigLIP 2's NaFlex inputs: patches flattened channel-last as its
        processor does, padded to ``max_num_patches``, with their mask and grid shape."""
        n, c, side, _ = pixels.shape
        p, budget = self.naflex["patch"], self.naflex["max_patches"]
        g = side // p
        patches = pixels[:, :, : g * p, : g * p].reshape(n, c, g, p, g, p).permute(0, 2, 4, 3, 5, 1).reshape(n, g * g, p * p * c)
        padded = F.pad(patches, (0, 0, 0, budget - g * g))
        mask = torch.zeros(n, budget, dtype=torch.long, device=pixels.device)
        mask[:, : g * g] = 1
        shapes = torch.tensor([[g, g]] * n, dtype=torch.long, device=pixels.device)
        return {"pixel_values": padded, "pixel_attention_mask": mask, "spatial_shapes": shapes}

    def image_embedding(self, images: Tensor) -> Tensor:
        self.load()
        pixels = self.preprocess(images)
        inputs = self.naflex_inputs(pixels) if self.naflex is not None else {"pixel_values": pixels}
        return F.normalize(_pooled(self.model.get_image_features(**inputs)).float(), dim=-1)

    def _text_embedding(self, inputs: dict[str, Tensor]) -> Tensor:
        return _pooled(self.model.get_text_features(**inputs))


def naflex_side(patch: int, max_patches: int) -> int:
    """The side SigLIP 2's NaFlex processor resizes a square picture to: its own rule where transformers has
    it importable without torchvision (5.x), else the same result computed (the most whole patches per
    side whose square fits ``max_patches``)."""
    try:
        from transformers.models.siglip2.image_processing_pil_siglip2 import get_image_size_for_max_num_patches
    except ImportError:
        return max(1, math.isqrt(max_patches)) * patch
    return get_image_size_for_max_num_patches(1024, 1024, patch, max_patches)[0]


def _pooled(output: Any) -> Tensor:
    """``get_*_features`` returns the embedding (transformers 4) or an output whose pooler holds it (5)."""
    return output if isinstance(output, Tensor) else output.pooler_output


# ----------------------------------------------------------------------- the hf: names
def _resolve(spec: str) -> Registered:
    if any(ch.isspace() for ch in spec):
        raise ValueError("a hub id or folder has no spaces; write it as hf:ORG/NAME or hf:/path/to/folder")
    return Registered(f"hf:{spec}", "dasag.scorers.TransformersImageText", {"model": spec}, text=True, label=f"{spec} (transformers)")


def cached_dual_encoders(repos: Sequence[str] | None = None) -> list[str]:
    """``hf:`` names of the image-text checkpoints in the local Hugging Face cache (nothing is downloaded)."""
    from huggingface_hub import try_to_load_from_cache

    if repos is None:
        try:
            from huggingface_hub import scan_cache_dir

            repos = sorted(r.repo_id for r in scan_cache_dir().repos if r.repo_type == "model")
        except Exception:  # noqa: BLE001  no cache folder, or one being written: nothing to list
            return []
    out = []
    for repo in repos:
        path = try_to_load_from_cache(repo, "config.json")
        try:
            config = json.loads(Path(path).read_text()) if isinstance(path, str) else {}
        except (OSError, ValueError):
            continue
        if is_dual_encoder(config):
            out.append(f"hf:{repo}")
    return out


#: ``hf:HUB_ID`` or ``hf:FOLDER``: any transformers image-text model; listed in the app when in the local cache.
FAMILY = Family(prefix="hf", form="hf:HUB_ID_OR_FOLDER", example="hf:google/siglip2-so400m-patch14-384", resolve=_resolve,
                available=cached_dual_encoders)
