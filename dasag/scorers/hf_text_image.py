"""What the Hugging Face text-image scorers share: dtype, attention backend, weight checks,
preprocessing read from the checkpoint, and transformers' tokenizer and towers behind the cached
text embeddings and the one vision pass of every text-image scorer (:mod:`dasag.scorers.text_image`).

:class:`HFTextImageScorer` holds all of it; ``siglip.py`` and ``clip.py`` only say which
model class to load and how a tower's output becomes an embedding.
"""

from __future__ import annotations

import importlib.util
import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from dasag.core.errors import error_text, first_line
from dasag.scorers.aesthetic_head import check_head_available, load_aesthetic_head
from dasag.scorers.base import Capabilities, Preprocessing
from dasag.scorers.text_image import TextImageScorer
from dasag.scorers.weights import NOT_A_FILE_PROBLEM, MissingWeightsError, WeightLocations, default_locations

Dtype = Literal["auto", "bf16", "fp16", "fp32"]
Attention = Literal["auto", "flash_attention_2", "sdpa", "eager"]
DTYPES: dict[str, torch.dtype] = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
ATTENTIONS: tuple[str, ...] = ("auto", "flash_attention_2", "sdpa", "eager")
# PIL resample codes that preprocessor_config.json stores -> our resize modes.
_RESAMPLE = {0: "nearest", 2: "bilinear", 3: "bicubic"}


def resolve_dtype(name: str) -> torch.dtype:
    """``auto`` is bf16 where a CUDA GPU supports it (half the memory, tensor cores), else fp32."""
    if name == "auto":
        return torch.bfloat16 if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else torch.float32
    if name not in DTYPES:
        raise ValueError(f"dtype must be one of auto, {', '.join(DTYPES)}; got {name!r}.")
    return DTYPES[name]


def _flash_attention_usable(model_cls: type, dtype: torch.dtype) -> bool:
    """flash-attn 2 needs the package, an Ampere or newer CUDA GPU and half precision."""
    if importlib.util.find_spec("flash_attn") is None or not torch.cuda.is_available():
        return False
    from transformers.utils import is_flash_attn_2_available

    return (
        is_flash_attn_2_available()
        and torch.cuda.get_device_capability() >= (8, 0)
        and dtype in (torch.float16, torch.bfloat16)
        and bool(getattr(model_cls, "_supports_flash_attn", False) or getattr(model_cls, "_supports_flash_attn_2", False))
    )


def choose_attention(requested: str, model_cls: type, dtype: torch.dtype) -> str:
    """Pick the attention backend once, at load time.

    ``auto`` takes the fastest usable one (flash_attention_2, then sdpa, then eager). A
    requested backend that cannot run here falls back along the same order with exactly one
    warning, instead of failing a long run at its first step.
    """
    if requested not in ATTENTIONS:
        raise ValueError(f"attn_implementation must be one of {', '.join(ATTENTIONS)}; got {requested!r}.")
    usable = {
        "flash_attention_2": _flash_attention_usable(model_cls, dtype),
        "sdpa": bool(getattr(model_cls, "_supports_sdpa", False)) and hasattr(F, "scaled_dot_product_attention"),
        "eager": True,
    }
    order = ["flash_attention_2", "sdpa", "eager"]
    if requested == "auto":
        return next(name for name in order if usable[name])
    if usable[requested]:
        return requested
    chosen = next(name for name in order[order.index(requested) + 1 :] if usable[name])
    warnings.warn(
        f"attn_implementation={requested!r} is not available for {model_cls.__name__} here "
        f"(flash_attention_2 needs the flash-attn package, an Ampere+ CUDA GPU and bf16/fp16); using {chosen!r}.",
        stacklevel=3,
    )
    return chosen


def _looks_like_path(location: str) -> bool:
    """A hub id is ``name`` or ``owner/name``; anything else is meant as a local path."""
    return location.startswith((".", "/", "~")) or "\\" in location or location.count("/") > 1 or Path(location).exists()


def check_model_available(location: str, variable: str, offline: bool, download_hint: str) -> None:
    """Cheap check, before any weights load: raise :class:`MissingWeightsError` naming ``variable``."""
    how = f"set {variable} (or the scorer's model key) to a local directory, made with: {download_hint}"
    if _looks_like_path(location):
        directory = Path(location).expanduser()
        if not (directory / "config.json").is_file():
            raise MissingWeightsError(f"model directory {location!r} does not exist or has no config.json: {how}.")
        return
    if offline:
        from huggingface_hub import try_to_load_from_cache

        if not isinstance(try_to_load_from_cache(location, "config.json"), str):
            raise MissingWeightsError(f"model {location!r} is not in the local Hugging Face cache and the machine is offline: {how}.")


def checkpoint_preprocessing(location: str, image_size: int, default_mean: Sequence[float], default_std: Sequence[float]) -> Preprocessing:
    """The input record of a checkpoint: ``preprocessor_config.json`` next to the weights.

    The side is the vision config's ``image_size``, the size the position embeddings were
    trained at (384 for so400m-patch14-384); mean, std and resampling come from the
    preprocessor file, with the model family's defaults where a checkpoint has none.
    """
    from transformers.utils import cached_file

    config: dict[str, Any] = {}
    path = cached_file(location, "preprocessor_config.json", _raise_exceptions_for_missing_entries=False)
    if path is not None:
        config = json.loads(Path(path).read_text())
    mean = tuple(float(v) for v in config.get("image_mean", default_mean))
    std = tuple(float(v) for v in config.get("image_std", default_std))
    return Preprocessing(size=int(image_size), mean=mean, std=std, mode=_RESAMPLE.get(config.get("resample", 3), "bicubic"))


def check_dropout(rates: Sequence[float] | None) -> tuple[float, ...]:
    """``aesthetic_dropout`` as a tuple of rates in [0, 1); one-sentence ``ValueError`` otherwise."""
    if rates is None:
        return ()
    if isinstance(rates, (str, bytes)) or not isinstance(rates, Sequence):
        raise ValueError(f"aesthetic_dropout must be a list of rates in [0, 1) (e.g. [0.5, 0.5, 0.5, 0.2]) or null; got {rates!r}.")
    out = []
    for r in rates:
        if isinstance(r, bool) or not isinstance(r, (int, float)) or not 0.0 <= float(r) < 1.0:
            raise ValueError(f"aesthetic_dropout rates must be numbers in [0, 1); got {list(rates)!r}.")
        out.append(float(r))
    return tuple(out)


def _vision_config(location: str) -> dict[str, Any] | None:
    """The checkpoint's vision config from its config.json, if it can be read without loading anything."""
    from transformers.utils import cached_file

    try:
        path = cached_file(location, "config.json", _raise_exceptions_for_missing_entries=False)
    except OSError:
        return None
    if path is None:
        return None
    try:
        return json.loads(Path(path).read_text()).get("vision_config") or {}
    except (OSError, ValueError):
        return None


class HFTextImageScorer(TextImageScorer):
    """A transformers dual-encoder scorer with an optional aesthetic head on the image embedding.

    Subclasses set the class attributes and implement :meth:`_image_embedding` and
    :meth:`_text_embedding`.
    """

    #: transformers model class to load (must expose ``vision_model`` and ``text_model``).
    model_class_name: str = ""
    #: Environment variables documented for the model and the head (named in errors).
    model_variable: str = ""
    head_variable: str = ""
    #: Shell command that downloads the default model (named in errors).
    download_hint: str = ""
    #: Normalisation to use when a checkpoint has no preprocessor_config.json.
    default_mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    default_std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    #: Whether the text tower gets an attention mask (SigLIP was trained without one).
    text_attention_mask: bool = True

    def __init__(
        self, model: str | None, aesthetic_head: str | None, aesthetic: bool, attn_implementation: Attention, dtype: Dtype,
        input_size: int | None = None, interpolation: str | None = None, antialias: bool = True,
        aesthetic_dropout: Sequence[float] | None = None,
    ) -> None:
        """Arguments as documented by each subclass; a ``None`` location
        takes the configured (environment) one, else the built-in default (:meth:`weight_defaults`)."""
        dropout = check_dropout(aesthetic_dropout)
        if attn_implementation not in ATTENTIONS:
            raise ValueError(f"attn_implementation must be one of {', '.join(ATTENTIONS)}; got {attn_implementation!r}.")
        if dtype not in ("auto", *DTYPES):
            raise ValueError(f"dtype must be one of auto, {', '.join(DTYPES)}; got {dtype!r}.")
        locations = default_locations()
        default_model, default_head = self.weight_defaults(locations)
        model = model if model is not None else default_model
        aesthetic_head = (aesthetic_head if aesthetic_head is not None else default_head) if aesthetic else None
        # The checkpoint's folder or hub name identifies its embedding space (e.g. clip-vit-large-patch14).
        super().__init__(
            Capabilities(classifier=False, aesthetic=aesthetic_head is not None), variant=Path(str(model).rstrip("/")).name or str(model),
            input_size=input_size, interpolation=interpolation, antialias=antialias,
        )
        self.aesthetic_dropout = dropout
        self.offline = locations.offline
        self.model_location = model
        self.aesthetic_head_location = aesthetic_head
        self.attn_implementation = attn_implementation
        self.dtype_name = dtype
        self.model: Any = None
        self.tokenizer: Any = None

    @classmethod
    def weight_defaults(cls, locations: WeightLocations) -> tuple[str, str]:
        """The model and head locations to use when the config names none: configured, else built in."""
        raise NotImplementedError

    # ------------------------------------------------------------------- loading
    def check_weights(self) -> None:
        """Cheap: are the weights where they are said to be? Raises :class:`MissingWeightsError`
        naming the variable and how to obtain the file, before anything loads; an ``input_size``
        the checkpoint's patch grid cannot take is refused here too (its config.json is read)."""
        check_model_available(self.model_location, self.model_variable, self.offline, self.download_hint)
        if self.aesthetic_head_location is not None:
            check_head_available(self.aesthetic_head_location, self.head_variable, self.offline)
        if self.input_size_setting is not None:
            vision = _vision_config(self.model_location)
            if vision is not None:
                self.check_input_size(int(vision.get("image_size", 224)), int(vision.get("patch_size", 32)))

    def check_input_size(self, image_size: int, patch_size: int) -> None:
        """A ViT has a position embedding per patch of its ``image_size`` grid: an input side
        must give the same number of whole patches (386 does for so400m-patch14-384: 27 x 27,
        the last 8 px unread, which is what DAS-AG v2 fed it)."""
        size = self.input_size_setting
        if size is None or size // patch_size == image_size // patch_size:
            return
        grid = image_size // patch_size
        raise ValueError(
            f"scorer input_size {size} gives a {size // patch_size}x{size // patch_size} patch grid but {self.model_location!r} has "
            f"position embeddings for {grid}x{grid} patches of {patch_size} px; allowed sizes: {grid * patch_size} to {(grid + 1) * patch_size - 1}."
        )

    def validate_prompts(self, positive: Sequence[str], negative: Sequence[str], require_positive: bool = True) -> None:
        """Prompts and weight locations, checked before any weights load (the CLI calls this first)."""
        super().validate_prompts(positive, negative, require_positive)
        self.check_weights()

    def _model_class(self) -> type:
        import transformers

        return getattr(transformers, self.model_class_name)

    def _load(self) -> None:
        from transformers import AutoTokenizer

        self.check_weights()
        cls = self._model_class()
        dtype = resolve_dtype(self.dtype_name)
        attention = choose_attention(self.attn_implementation, cls, dtype)
        try:
            model = cls.from_pretrained(self.model_location, dtype=dtype, attn_implementation=attention)
            tokenizer = AutoTokenizer.from_pretrained(self.model_location)
        except OSError as e:
            raise MissingWeightsError(  # what to do first: the reason (the hub's, often cut off) last
                f"could not load {self.name} weights from {self.model_location!r}: {self.where_to_get_weights()} ({first_line(e).rstrip('.')})."
            ) from e
        except NOT_A_FILE_PROBLEM:
            raise
        except Exception as e:  # noqa: BLE001  a cut or corrupt weights file fails in many ways deep inside transformers
            raise ValueError(f"the {self.name} weights in {self.model_location!r} are truncated or corrupt ({error_text(e)[:200]}); "
                             f"make the directory again with: {self.download_hint}.") from None
        self.model, self.tokenizer = model.eval(), tokenizer
        self.attention = attention
        self.model_dtype = dtype
        side, patch = self.native_geometry()
        self.check_input_size(side, patch)
        self.set_preprocessing(checkpoint_preprocessing(self.model_location, side, self.default_mean, self.default_std))
        if self.aesthetic_head_location is not None:
            self.head = load_aesthetic_head(self.aesthetic_head_location, self.embedding_dim, self.head_variable, self.aesthetic_dropout)

    def where_to_get_weights(self) -> str:
        """What to do about weights that cannot be loaded (the end of a one-sentence error)."""
        return f"set {self.model_variable} (or the scorer's model key) to a local directory, made with: {self.download_hint}"

    def native_geometry(self) -> tuple[int, int]:
        """The loaded checkpoint's input side (the grid its position embeddings were trained at) and patch size."""
        vision = self.model.config.vision_config
        return vision.image_size, vision.patch_size

    def _text_max_length(self) -> int:
        """The shorter of the tokenizer's limit and the text tower's position table."""
        limit = self.model.config.text_config.max_position_embeddings
        tok_limit = getattr(self.tokenizer, "model_max_length", limit)
        return min(limit, tok_limit) if isinstance(tok_limit, int) and tok_limit > 0 else limit

    # ------------------------------------------------------------------- prompts
    def _encode_texts(self, prompts: list[str]) -> Tensor:
        """New prompts through the checkpoint's tokenizer, padded to the text tower's length, and its text tower."""
        max_length = self._text_max_length()
        for p in prompts:
            n = len(self.tokenizer(p, verbose=False)["input_ids"])  # verbose=False: our warning, not theirs
            if n > max_length:
                warnings.warn(
                    f"{self.name}: prompt {p!r} is {n} tokens long but the text tower reads at most {max_length}; "
                    f"it is truncated to its first {max_length} tokens.",
                    stacklevel=5,
                )
        enc = self.tokenizer(prompts, padding="max_length", truncation=True, max_length=max_length, return_tensors="pt")
        inputs = {"input_ids": enc["input_ids"].to(self.device)}
        if self.text_attention_mask and "attention_mask" in enc:
            inputs["attention_mask"] = enc["attention_mask"].to(self.device)
        with torch.no_grad():
            return F.normalize(self._text_embedding(inputs).float(), dim=-1)

    # ------------------------------------------------------------------- scoring
    def preprocess(self, images: Tensor, side: int | None = None) -> Tensor:
        """[-1, 1] images -> the checkpoint's input: its own size (or ``side``), mean/std, dtype."""
        return super().preprocess(images, side).to(self.model_dtype)

    def image_embedding(self, images: Tensor) -> Tensor:
        """L2-normalised float32 image embeddings (N, D) for images in [-1, 1]."""
        self.load()
        vision = self.model.vision_model(pixel_values=self.preprocess(images))
        return F.normalize(self._image_embedding(vision).float(), dim=-1)

    # ------------------------------------------------------------ for subclasses
    def _image_embedding(self, vision_output: Any) -> Tensor:
        """The vision tower's output -> the (unnormalised) image embedding."""
        raise NotImplementedError

    def _text_embedding(self, inputs: dict[str, Tensor]) -> Tensor:
        """Tokenised prompts -> (unnormalised) text embeddings."""
        raise NotImplementedError


def loads_here(cls: type[HFTextImageScorer], **init_args: Any) -> bool:
    """Whether a scorer's weights (model and head) are where its configuration says, checked without
    loading or downloading anything: what the app lists as usable here."""
    try:
        cls(**init_args).check_weights()
    except (MissingWeightsError, ValueError):
        return False
    return True


__all__ = [
    "ATTENTIONS", "Attention", "Dtype", "HFTextImageScorer", "MissingWeightsError", "checkpoint_preprocessing",
    "check_model_available", "choose_attention", "loads_here", "resolve_dtype",
]
