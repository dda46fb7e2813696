"""Any timm ImageNet classifier as a scorer: the ``timm:`` names.

A model is named as timm names it (``timm.create_model``): an architecture with or without a
pretrained tag, ``resnet50.a1_in1k`` or ``convnext_tiny`` (the architecture's default tag), as
``timm.list_models()`` and ``timm.list_pretrained()`` list them; a name neither knows is one
sentence with the closest names they have. The weights are the tag's, from the local Hugging Face
cache (``timm/<name>``; timm downloads them when the machine is online), or a local weights file
(``weights_path``, ``timm:NAME@FILE``: e.g. the ``model.safetensors`` of ``hf download
timm/<name>``), read safely (:func:`dasag.scorers.weights.load_state_dict`: safetensors, or
``torch.load(weights_only=True)``) and handed to timm's own loading
(``pretrained_cfg_overlay=dict(state_dict=...)``), so the model's checkpoint filter treats it as it
treats the hub's file. Only a model with an ImageNet-1k head reads class prompts: an in22k or
in12k tag, or a feature extractor (no head), is one sentence naming the tags of that architecture
that have one.

What the ascent maximises, drop-connect and the drawn input sides are the choices every classifier
scorer shares (:mod:`dasag.scorers.classifier`). Here ``drop_connect`` is timm's stochastic depth
(``drop_path_rate``: the last block's drop probability, smaller towards the input as in training)
on the models that have it; its ``DropPath`` modules drop only for the ascent's images (see
:func:`thin_drop_paths`), batch norms stay in eval mode.

The input is timm's own data config of the model (``timm.data.resolve_model_data_config``): side,
mean, std and resampling, never guessed. Its ``crop_pct`` (and ``crop_mode``) is not applied: timm's
evaluation transform enlarges a photograph by 1/crop_pct and keeps the centre, because a photograph's
subject rarely fills its frame and the weights were measured that way; a generated picture is its
subject, framed by the pyramid's own margin, and cropping would hide its border from the guide (the
border would never be optimised) and from a judge. So the whole square is resized to the input side.

Importing this module does not import timm (the ``zoo`` extra): the constructor does, and a missing
library or a torchvision that does not fit torch is one sentence (:mod:`dasag.scorers.optional`).
"""

from __future__ import annotations

import contextlib
import difflib
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor, nn

from dasag.core.errors import error_text
from dasag.image.resize import MODES
from dasag.scorers.base import Preprocessing
from dasag.scorers.classifier import ImageNetClassifier
from dasag.scorers.names import Family, Registered
from dasag.scorers.optional import import_zoo_library
from dasag.scorers.weights import NOT_A_FILE_PROBLEM, MissingWeightsError, default_locations, load_state_dict

CLASS_PATH = "dasag.scorers.TimmClassifier"
#: A timm model name: an architecture, optionally a pretrained tag after the first dot.
NAME = re.compile(r"[A-Za-z0-9_]+(?:\.[A-Za-z0-9_][A-Za-z0-9_.\-]*)?")
#: How a ``timm:`` name is written, for its errors.
FORMS = "write it as timm:NAME or timm:NAME.TAG (e.g. timm:resnet50.a1_in1k), with @FILE after it for a local weights file"
#: The files timm reads from a hub repository, in its order (a safetensors copy first).
HUB_WEIGHTS = ("model.safetensors", "pytorch_model.bin")
#: The ImageNet-1k head every class prompt indexes.
IMAGENET_CLASSES = 1000


# ----------------------------------------------------------------------------- names
def resolve(spec: str) -> Registered:
    """``NAME[.TAG]`` or ``NAME[.TAG]@FILE`` -> the scorer's arguments; cheap (timm is not imported:
    whether the model and tag exist is the constructor's check). Malformed: one sentence."""
    left, at, file = spec.partition("@")
    if not NAME.fullmatch(left) or (at and not file.strip()):
        raise ValueError(f"is not a timm model name with an optional pretrained tag and weights file; {FORMS}.")
    args: dict[str, Any] = {"model": left}
    if at:
        args["weights_path"] = file.strip()
    label = f"timm {left} (ImageNet classes" + (f", weights from {Path(file.strip()).name})" if at else ")")
    return Registered(f"timm:{spec}", CLASS_PATH, args, text=False, label=label)


def _close(word: str, candidates: Sequence[str], n: int = 5) -> str:
    close = difflib.get_close_matches(word, list(candidates), n=n, cutoff=0.6)
    return f" (closest: {', '.join(close)})" if close else ""


def pretrained_config(model: str) -> Any:
    """timm's pretrained config of ``model`` (with or without a tag; the architecture's default tag
    without one), ``None`` for an architecture that has none; an unknown architecture or tag is one
    sentence with timm's closest names (``timm.list_models`` / ``timm.list_pretrained``)."""
    timm = import_zoo_library("timm")
    arch, _, tag = model.partition(".")
    if not timm.is_model(arch):
        names = timm.list_models()
        raise ValueError(f"unknown timm model {model!r}{_close(arch, names)}; timm has {len(names)} architectures "
                         f"(timm.list_models()), each with its pretrained tags (timm.list_pretrained('NAME.*')).")
    tags = timm.list_pretrained(f"{arch}.*")
    if tag and model not in tags:
        listed = f"; its tags are {', '.join(tags)}" if 0 < len(tags) <= 12 else (f"; it has {len(tags)} tags (timm.list_pretrained('{arch}.*'))" if tags else
                                                                                   "; it has no pretrained tags")
        raise ValueError(f"timm model {arch!r} has no pretrained tag {tag!r}{_close(model, tags)}{listed}.")
    return timm.models.get_pretrained_cfg(model)


def _imagenet_tags(arch: str) -> list[str]:
    timm = import_zoo_library("timm")
    return [n for n in timm.list_pretrained(f"{arch}.*") if timm.models.get_pretrained_cfg(n).num_classes == IMAGENET_CLASSES]


def check_imagenet_head(model: str, cfg: Any) -> None:
    """A model whose weights classify ImageNet-1k; anything else (an in22k or in12k head, a feature
    extractor with none) is one sentence naming the architecture's tags that have one."""
    classes = getattr(cfg, "num_classes", IMAGENET_CLASSES) if cfg is not None else IMAGENET_CLASSES
    if classes == IMAGENET_CLASSES:
        return
    arch = model.partition(".")[0]
    name = f"{arch}.{cfg.tag}" if getattr(cfg, "tag", None) else model
    what = "no classifier head (a feature extractor)" if not classes else f"a head of {classes} classes, not ImageNet's 1000"
    others = _imagenet_tags(arch)
    hint = f" such as {', '.join(others[:3])}" if others else f" (none of {arch}'s tags has one: choose another model)"
    raise ValueError(f"timm model {name!r} has {what}, and a TimmClassifier reads ImageNet class prompts; "
                     f"name a tag with an ImageNet-1k head{hint}.")


def preprocessing_of(config: dict[str, Any], model: str) -> Preprocessing:
    """timm's data config (side, mean, std, resampling) as dasag's record; ``crop_pct`` is left out
    (see the module). A non-square input or a resampling dasag does not have is one sentence."""
    _, height, width = config["input_size"]
    if height != width:
        raise ValueError(f"timm model {model!r} reads {height}x{width} images; a TimmClassifier takes models with a square input.")
    mode = str(config.get("interpolation", "bicubic"))
    if mode not in MODES:
        raise ValueError(f"timm model {model!r} resizes with {mode!r}, which dasag does not have; set the scorer's interpolation ({', '.join(MODES)}).")
    mean, std = (tuple(float(v) for v in config[k]) for k in ("mean", "std"))
    return Preprocessing(size=int(height), mean=mean, std=std, mode=mode, pixel_scale=0.5)  # [0, 1] pixels, as timm's ToTensor


def meta_model(model: str, drop_connect: float = 0.0) -> nn.Module:
    """The architecture built on the meta device (its modules and config; no memory, no weights), with
    ``drop_connect`` as timm's ``drop_path_rate``: a model without stochastic depth (no such argument,
    or no ``DropPath`` module built) is one sentence."""
    timm = import_zoo_library("timm")
    sentence = (f"drop_connect needs a model with stochastic depth, and timm model {model!r} has none (no drop_path_rate); "
                f"leave drop_connect at 0 or choose a model that has it (ResNets, EfficientNets, ConvNeXts, ViTs).")
    try:
        with torch.device("meta"):
            net = timm.create_model(model, pretrained=False, **({"drop_path_rate": drop_connect} if drop_connect > 0 else {}))
    except TypeError as e:
        if drop_connect > 0 and "drop_path_rate" in str(e):
            raise ValueError(sentence) from None
        raise
    if drop_connect > 0 and not any(isinstance(m, timm.layers.DropPath) and m.drop_prob > 0 for m in net.modules()):
        raise ValueError(sentence)
    return net


# ------------------------------------------------------------------------ the cache
def _hub_cache() -> Path:
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def _cached(repo: str, filename: str, cache_dir: Path | None = None) -> bool:
    """Whether a hub file is in the local Hugging Face cache (never downloads)."""
    from huggingface_hub import try_to_load_from_cache

    return isinstance(try_to_load_from_cache(repo, filename, cache_dir=None if cache_dir is None else str(cache_dir)), str)


def hub_weights_cached(cfg: Any, cache_dir: Path | None = None) -> bool:
    """Whether a pretrained config's weights are on this machine: its hub file in the Hugging Face
    cache, or its URL's file in torch's hub cache (older tags), as timm would find them."""
    if getattr(cfg, "hf_hub_id", None):
        files = (cfg.hf_hub_filename,) if getattr(cfg, "hf_hub_filename", None) else HUB_WEIGHTS
        return any(_cached(cfg.hf_hub_id, f, cache_dir) for f in files)
    if getattr(cfg, "url", None):
        return (Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(cfg.url)).is_file()
    return False


def cached_names(cache_dir: str | Path | None = None) -> tuple[str, ...]:
    """The ``timm:`` names whose weights are in the local Hugging Face cache (``cache_dir``, default the
    hub's own) and that have an ImageNet-1k head; never downloads. Nothing when the cache holds no
    ``timm/`` repository or timm cannot be imported; timm is imported only when it holds one."""
    root = Path(cache_dir) if cache_dir is not None else _hub_cache()
    try:
        repos = sorted(e.name[len("models--timm--"):] for e in os.scandir(root) if e.name.startswith("models--timm--"))
    except OSError:
        return ()
    if not repos:
        return ()
    try:
        timm = import_zoo_library("timm")
    except ImportError:
        return ()
    known = set(timm.list_pretrained())
    names = []
    for name in repos:
        cfg = timm.models.get_pretrained_cfg(name) if name in known else None
        if cfg is not None and cfg.num_classes == IMAGENET_CLASSES and cfg.hf_hub_id == f"timm/{name}" and hub_weights_cached(cfg, root):
            names.append(f"timm:{name}")
    return tuple(names)


# ----------------------------------------------------------------------- the scorer
class TimmClassifier(ImageNetClassifier):
    """Any timm ImageNet-1k classifier, by name (with or without a pretrained tag) or with a local weights file."""

    def __init__(
        self,
        model: str,
        weights_path: str | None = None,
        input_size: int | None = None,
        score: Literal["log_prob", "logit", "margin"] = "log_prob",
        margin_cap: float | None = None,
        drop_connect: float = 0.0,
        input_sizes: tuple[int, int] | None = None,
        channels_last: bool = False,
        interpolation: Literal["bilinear", "bicubic", "nearest"] | None = None,
        antialias: bool = True,
    ) -> None:
        """
        Args:
            model: a timm model name, with or without a pretrained tag (``resnet50.a1_in1k``; without a tag,
                the architecture's default one), with an ImageNet-1k head.
            weights_path: a local weights file of that model (``.safetensors``, or a ``.pth``/``.bin`` state dict)
                instead of the tag's weights from the Hugging Face cache.
            input_size: side of the square input; defaults to the model's own (timm's data config).
            score: what is maximised for a target class (``log_prob``, ``logit`` or ``margin``); see
                :mod:`dasag.scorers.classifier`.
            margin_cap: with ``margin`` (and only with it), the lead beyond which the score stops rising; null: 20.
            drop_connect: timm's stochastic depth during the ascent (its ``drop_path_rate``: the last
                block's drop probability; 0: off), for models that have it.
            input_sizes: (lo, hi): during the ascent, each step's copies are resized to a side drawn
                uniformly from [lo, hi] px (models without a fixed input size); null: always ``input_size``.
            channels_last: run convolutions in channels-last memory format (faster on GPU).
            interpolation: how images are resized to the input; default the model's own.
            antialias: low-pass filter when shrinking (never when enlarging).
        """
        if not isinstance(model, str) or not NAME.fullmatch(model.strip()):
            raise ValueError(f"TimmClassifier model must be a timm model name with an optional pretrained tag, such as resnet50.a1_in1k; got {model!r}.")
        model = model.strip()
        if weights_path is not None and (not isinstance(weights_path, (str, os.PathLike)) or not str(weights_path).strip()):
            raise ValueError(f"TimmClassifier weights_path must be a local weights file (or null for the tag's weights); got {weights_path!r}.")
        file = None if weights_path is None else str(weights_path).strip()
        # The weights identify the embedding space: a local file is another space than the hub's.
        super().__init__(model if file is None else f"{model}@{Path(file).name}", input_size, interpolation, antialias, score,
                         margin_cap, drop_connect, input_sizes, channels_last)
        #: Score keys, metrics and logs name the model and its tag, the dot as a dash (``resnet50-a1_in1k/positive``): a
        #: metric's module name holds no dot.
        self.name = model.replace(".", "-")
        self.model_name = model
        self.weights_path = file
        self.offline = default_locations().offline
        if file is not None and not Path(file).expanduser().is_file():
            raise ValueError(f"weights file {file!r} of timm model {model!r} does not exist or is not a file; "
                             f"weights_path names a local .safetensors or .pth file of that model.")
        cfg = pretrained_config(model)
        if cfg is None and file is None:
            raise ValueError(f"timm model {model!r} has no pretrained weights in timm; give a local weights file (weights_path, timm:{model}@FILE).")
        check_imagenet_head(model, cfg)
        #: The name of the weights timm reads (``resnet50.a1_in1k`` for ``resnet50``), for messages.
        self.pretrained_name = f"{cfg.architecture}.{cfg.tag}" if cfg is not None and cfg.tag else model
        self.hub_config = cfg
        timm = import_zoo_library("timm")
        record = preprocessing_of(timm.data.resolve_model_data_config(meta_model(model, drop_connect)), model)
        fixed, native = bool(getattr(cfg, "fixed_input_size", False)), record.size
        if fixed and (input_size not in (None, native) or input_sizes is not None):
            raise ValueError(f"timm model {model!r} reads a fixed {native} px input (its position embeddings), so it takes no other "
                             f"input_size and no input_sizes; got input_size {input_size!r}, input_sizes {input_sizes!r}.")
        self.set_preprocessing(record)
        self.net: nn.Module | None = None
        self._thinning = False

    # -------------------------------------------------------------------- weights
    def check_weights(self) -> None:
        """Cheap: are the weights where they are said to be? A missing file, or tag weights that are not
        in the local cache while the machine is offline, is one sentence saying what to download."""
        if self.weights_path is not None:
            if not Path(self.weights_path).expanduser().is_file():
                raise MissingWeightsError(f"weights file {self.weights_path!r} of timm model {self.model_name!r} does not exist or is not a file.")
            return
        if self.offline and not hub_weights_cached(self.hub_config):
            cfg = self.hub_config
            where = f"hf download {cfg.hf_hub_id}" if cfg.hf_hub_id else f"download {cfg.url} into {Path(torch.hub.get_dir()) / 'checkpoints'}"
            raise MissingWeightsError(
                f"the weights of timm model {self.pretrained_name!r} are not in the local cache and the machine is offline: "
                f"get them with `{where}` where there is a network and copy the cache here, or give a local weights file "
                f"(weights_path, timm:{self.model_name}@FILE).")

    def validate_prompts(self, positive: Sequence[str], negative: Sequence[str], require_positive: bool = True) -> None:
        """Class prompts and the weights' whereabouts, checked before any weights load."""
        super().validate_prompts(positive, negative, require_positive)
        self.check_weights()

    def _load(self) -> None:
        timm = import_zoo_library("timm")
        self.check_weights()
        extra = {"drop_path_rate": self.drop_connect} if self.drop_connect > 0 else {}
        if self.weights_path is not None:
            path = str(Path(self.weights_path).expanduser())
            state = load_state_dict(path)  # weights-only; a cut or foreign file is one sentence naming it
            try:
                net = timm.create_model(self.model_name, pretrained=True, pretrained_cfg_overlay={"state_dict": state}, **extra)
            except NOT_A_FILE_PROBLEM:
                raise
            except Exception as e:  # a state dict of another model: torch's size-mismatch / missing-key report, a filter's KeyError
                raise ValueError(f"weights file {self.weights_path!r} does not fit timm model {self.model_name!r} ({mismatch(e)}); "
                                 f"name the model the file was saved from.") from None
            net.pretrained_cfg.pop("state_dict", None)  # the model keeps its config: not a second copy of the weights
        else:
            try:
                net = timm.create_model(self.model_name, pretrained=True, **extra)
            except OSError as e:  # not downloadable here (offline, no network, a hub error)
                raise MissingWeightsError(f"the weights of timm model {self.pretrained_name!r} could not be read ({error_text(e)}); "
                                          f"download them with `hf download timm/{self.pretrained_name}`, or give a local weights file "
                                          f"(weights_path, timm:{self.model_name}@FILE).") from None
        if getattr(net, "num_classes", IMAGENET_CLASSES) != IMAGENET_CLASSES:
            raise ValueError(f"timm model {self.model_name!r} built a head of {net.num_classes} classes, not ImageNet's 1000.")
        if self.channels_last:
            net = net.to(memory_format=torch.channels_last)
        if self.drop_connect > 0:
            thin_drop_paths(net, self._drops)
        self.net = net

    def counting_network(self) -> nn.Module:
        """The architecture with random weights (timm's own initialisation; nothing read)."""
        return import_zoo_library("timm").create_model(self.model_name, pretrained=False)

    # ------------------------------------------------------------------ the network
    def _drops(self, x: Tensor) -> bool:
        """Whether a ``DropPath`` drops for its input ``x``: while the ascent's images are scored
        (:meth:`_thinned_for`), or when ``x`` carries a gradient, which inside a frozen network only
        the ascent's images give: so a block that activation checkpointing recomputes during the
        backward pass, after the forward has returned, drops again (with the RNG state it replays)."""
        return self._thinning or x.requires_grad

    @contextlib.contextmanager
    def _thinned_for(self, images: Tensor) -> Iterator[None]:
        self._thinning = self.drop_connect > 0 and images.requires_grad
        try:
            yield
        finally:
            self._thinning = False

    def _logits(self, x: Tensor) -> Tensor:
        return self.net(x)

    def _pooled(self, x: Tensor) -> Tensor:
        return self.net.forward_head(self.net.forward_features(x), pre_logits=True).flatten(1).float()

    def _pooled_and_logits(self, x: Tensor) -> tuple[Tensor, Tensor]:
        features = self.net.forward_features(x)
        return self.net.forward_head(features, pre_logits=True).flatten(1).float(), self.net.forward_head(features)


def thin_drop_paths(net: nn.Module, drops: Any) -> int:
    """Make each of ``net``'s ``DropPath`` modules drop when ``drops(x)`` says so, whatever its training
    flag: timm drops only in training mode, and a frozen guide stays in eval mode (its batch norms
    keep their running statistics). Masks are timm's own (``drop_path``: one Bernoulli draw per
    sample from the global generator, which the run seeds per step). Returns how many were changed."""
    timm = import_zoo_library("timm")
    changed = 0
    for module in net.modules():
        if isinstance(module, timm.layers.DropPath) and module.drop_prob > 0:

            def forward(x: Tensor, _m: nn.Module = module) -> Tensor:
                return timm.layers.drop_path(x, _m.drop_prob, drops(x), getattr(_m, "scale_by_keep", True))

            module.forward = forward
            changed += 1
    return changed


def mismatch(error: BaseException) -> str:
    """The first thing torch's ``load_state_dict`` report names (a size mismatch, the missing keys), or the error's own line."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    detail = lines[1] if len(lines) > 1 and lines[0].startswith("Error(s) in loading state_dict") else error_text(error)
    return detail.rstrip(".")[:300]


#: ``timm:NAME[.TAG][@FILE]``; listed as usable where the weights are in the local Hugging Face cache.
FAMILY = Family(prefix="timm", form="timm:NAME[.TAG][@FILE]", example="timm:resnet50.a1_in1k", extra="zoo", resolve=resolve,
                available=lambda: cached_names())
