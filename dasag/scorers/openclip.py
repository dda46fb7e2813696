"""Any open_clip text-image model as a scorer: the ``open_clip:`` names, and the original DAS guides.

A model is named the ways open_clip names it (``open_clip.create_model``):

* a built-in architecture and a pretrained tag, ``ViT-B-32`` + ``laion2b_s34b_b79k``
  (``open_clip:ViT-B-32/laion2b_s34b_b79k``); the tag's weights come from the Hugging Face cache
  (or are downloaded when online), or from a local copy of that file (``checkpoint``,
  ``open_clip:ViT-B-32/laion2b_s34b_b79k@FILE``);
* a built-in architecture and a local checkpoint file with no tag (``open_clip:ViT-B-32@FILE``);
* a hub repository with its own ``open_clip_config.json`` (``open_clip:hf-hub:ORG/REPO``), or a local
  folder holding one and its weights (``open_clip:local-dir:DIR``, what ``hf download ORG/REPO
  --local-dir DIR`` makes).

Everything about the input comes from open_clip's own record of the weights
(``open_clip.get_model_preprocess_cfg``): the side, mean, std and resampling of the tag's pretrained
config, of the hub repository's ``preprocess_cfg``, or, for a file without a tag, open_clip's defaults
for a file (OpenAI's mean and std, bicubic). Its resize mode (shortest side and centre crop, squash or
pad) is recorded too and changes nothing here: every picture a scorer reads is square. Text goes through
open_clip's tokenizer for the model. Importing this module does not import open_clip (a ``zoo`` extra):
the constructor does, and a missing library or a torchvision that does not fit torch is one sentence
(:mod:`dasag.scorers.optional`).

Attention. open_clip computes attention through ``F.scaled_dot_product_attention`` wherever torch has
it (``nn.MultiheadAttention`` with ``need_weights=False`` in its own towers, the fused path of its
``Attention`` and of timm's towers), and by plain tensor operations (softmax of ``q k^T``) otherwise. So
``attn_implementation`` chooses among PyTorch's SDPA backends, once, for every attention call of the
model: ``sdpa`` (and ``auto``) lets PyTorch pick its fastest kernel (FlashAttention-2 on an Ampere or
newer GPU in bf16/fp16, memory-efficient attention, or its CPU flash kernel); ``flash_attention_2``
allows only PyTorch's FlashAttention-2 kernel, and falls back to ``sdpa`` with one warning where it
cannot run (it needs such a GPU and half precision); ``eager`` is SDPA's math backend, the same plain
operations open_clip runs without SDPA.
"""

from __future__ import annotations

import difflib
import json
import logging
import os
import warnings
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from functools import cache
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from dasag.core.errors import error_text, first_line
from dasag.image.resize import MODES
from dasag.scorers.aesthetic_head import check_head_available, load_aesthetic_head
from dasag.scorers.base import Capabilities, Preprocessing
from dasag.scorers.hf_text_image import ATTENTIONS, DTYPES, Attention, Dtype, check_dropout, resolve_dtype
from dasag.scorers.names import Family, Registered
from dasag.scorers.optional import import_zoo_library
from dasag.scorers.text_image import TextImageScorer
from dasag.scorers.weights import NOT_A_FILE_PROBLEM, MissingWeightsError, default_locations, load_state_dict

CLASS_PATH = "dasag.scorers.OpenCLIP"
#: The schemas open_clip reads a model's config and weights from instead of a built-in name and tag.
SCHEMAS = ("hf-hub:", "local-dir:")
#: What open_clip looks for in a hub repository or local folder of its own.
CONFIG_FILE = "open_clip_config.json"
HUB_WEIGHTS = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
#: Where open_clip keeps a tag's weights that come from a URL rather than the hub.
URL_CACHE = Path("~/.cache/clip")
_PRECISION = {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}
_HEAD_KEY = "aesthetic_head"


# ----------------------------------------------------------------------------------- the hub
def hub_files(hf_hub: str) -> tuple[str, tuple[str, ...]]:
    """A pretrained config's ``hf_hub`` entry (``org/repo/`` or ``org/repo/file.pt``) -> the repository and the
    files open_clip tries in it, in its order (a safetensors copy first)."""
    if hf_hub.endswith("/"):
        repo, filename = hf_hub.rstrip("/"), HUB_WEIGHTS[1]
    else:
        repo, _, filename = hf_hub.rpartition("/")
    if filename == HUB_WEIGHTS[1]:
        return repo, HUB_WEIGHTS
    safe = (filename.rsplit(".", 1)[0] + ".safetensors",) if filename.endswith((".bin", ".pth")) else ()
    return repo, (*safe, filename)


def cached_file(repo: str, filename: str, cache_dir: str | Path | None = None) -> str | None:
    """The path of a hub file in the local Hugging Face cache, or ``None`` (never downloads)."""
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo, filename, cache_dir=None if cache_dir is None else str(cache_dir))
    return found if isinstance(found, str) else None


def _cached_any(repo: str, files: Sequence[str], cache_dir: str | Path | None = None) -> bool:
    return any(cached_file(repo, f, cache_dir) for f in files)


def _hub_cache() -> Path:
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


# ------------------------------------------------------------------------------- the names
def _close(word: str, candidates: Sequence[str], n: int = 3) -> str:
    """The closest candidates, compared without case and with ``_`` as ``-`` (vit-b-32, ViT_B_32 name ViT-B-32)."""
    folded = {c.lower().replace("_", "-"): c for c in candidates}
    close = [folded[c] for c in difflib.get_close_matches(word.lower().replace("_", "-"), list(folded), n=n, cutoff=0.5)]
    return f" (closest: {', '.join(close)})" if close else ""


def looks_like_file(value: str) -> bool:
    """Whether a ``pretrained`` value is meant as a file rather than a tag (tags are plain words)."""
    return any(sep in value for sep in ("/", "\\")) or value.startswith(("~", ".")) or value.endswith(
        (".pt", ".pth", ".bin", ".safetensors", ".npz", ".ckpt")) or Path(value).exists()


def resolve(spec: str) -> Registered:
    """``MODEL/TAG``, ``MODEL/TAG@FILE``, ``MODEL@FILE``, ``hf-hub:ORG/REPO`` or ``local-dir:DIR`` -> the
    scorer's arguments; cheap (open_clip is not imported: whether the model and tag exist is the
    constructor's check). A malformed spec is a ``ValueError`` of one sentence."""
    name = f"open_clip:{spec}"
    forms = ("write it as open_clip:MODEL/TAG (e.g. open_clip:ViT-B-32/laion2b_s34b_b79k), open_clip:MODEL/TAG@FILE, "
             "open_clip:MODEL@FILE, open_clip:hf-hub:ORG/REPO or open_clip:local-dir:DIR")
    if spec.startswith(SCHEMAS):
        schema, _, rest = spec.partition(":")
        if not rest.strip():
            raise ValueError(f"names no {'repository' if schema == 'hf-hub' else 'folder'} after '{schema}:'; {forms}.")
        if schema == "hf-hub" and (rest.count("/") != 1 or not all(rest.split("/")) or "@" in rest):
            raise ValueError(f"{rest!r} is not a hub repository ORG/REPO (a hub model carries its own weights, so no @FILE); {forms}.")
        return Registered(name, CLASS_PATH, {"model": spec}, text=True, label=f"OpenCLIP {spec}")
    left, at, file = spec.partition("@")
    model, slash, tag = left.partition("/")
    if not model.strip() or (slash and not tag.strip()) or (at and not file.strip()) or "/" in tag:
        raise ValueError(f"has an empty or extra part; {forms}.")
    if not slash and not at:
        raise ValueError(f"names no pretrained tag or checkpoint file, and a model without weights scores nothing; {forms}.")
    args: dict[str, Any] = {"model": model}
    if tag:
        args["pretrained"] = tag
    if file:
        args["checkpoint" if tag else "pretrained"] = file
    label = f"OpenCLIP {model} ({tag or Path(file).name}{', local file' if tag and file else ''})"
    return Registered(name, CLASS_PATH, args, text=True, label=label)


@cache
def _hub_entries() -> dict[str, tuple[tuple[str, str, tuple[str, ...]], ...]]:
    """Every built-in (model, tag) whose weights come from the hub, by repository: what ``available``
    matches the cache against. Pairs whose activation differs from the weights' (ViT-B-32 with a
    QuickGELU tag; open_clip warns about them) are left out: the ``-quickgelu`` name is listed instead."""
    import open_clip

    out: dict[str, list[tuple[str, str, tuple[str, ...]]]] = {}
    for model, tag in open_clip.list_pretrained():
        cfg = open_clip.get_pretrained_cfg(model, tag)
        config = open_clip.get_model_config(model) or {}
        if not cfg.get("hf_hub") or bool(cfg.get("quick_gelu", False)) != bool(config.get("quick_gelu", False)):
            continue
        repo, files = hub_files(cfg["hf_hub"])
        out.setdefault(repo, []).append((model, tag, files))
    return {repo: tuple(entries) for repo, entries in out.items()}


#: The file names open_clip's weights and configs go by in a hub repository (its own, and timm's ``pytorch_model.bin``).
_OPEN_CLIP_FILES = {*HUB_WEIGHTS, CONFIG_FILE, "pytorch_model.bin", "pytorch_model.safetensors"}


def _may_hold_open_clip(folder: Path) -> bool:
    """Whether a cached repository's snapshots hold a file of a name open_clip reads (a directory listing, nothing opened)."""
    try:
        return any(name in _OPEN_CLIP_FILES for snapshot in os.scandir(folder / "snapshots") for name in os.listdir(snapshot.path))
    except OSError:
        return False


def cached_names(cache_dir: str | Path | None = None) -> tuple[str, ...]:
    """The ``open_clip:`` names whose weights are in the local Hugging Face cache (``cache_dir``, default
    the hub's own), never downloading: built-in tags whose file is there, and other cached repositories
    that have an ``open_clip_config.json`` and weights. Nothing when the cache holds no model or open_clip
    cannot be imported; open_clip is imported only when the cache holds some model."""
    root = Path(cache_dir) if cache_dir is not None else _hub_cache()
    try:
        folders = [e.name for e in os.scandir(root) if e.name.startswith("models--")]
    except OSError:
        return ()
    repos = sorted(name[len("models--"):].replace("--", "/") for name in folders if _may_hold_open_clip(root / name))
    if not repos:  # the usual case for a cache of other models: open_clip (seconds to import) is not imported
        return ()
    try:
        import_zoo_library("open_clip")
    except ImportError:
        return ()
    entries = _hub_entries()
    names: list[str] = []
    for repo in repos:
        if repo in entries:
            names += [f"open_clip:{model}/{tag}" for model, tag, files in entries[repo] if _cached_any(repo, files, root)]
        elif cached_file(repo, CONFIG_FILE, root) and _cached_any(repo, HUB_WEIGHTS, root):
            names.append(f"open_clip:hf-hub:{repo}")
    return tuple(names)


# ---------------------------------------------------------------------------- preprocessing
def preprocessing_of(cfg: Mapping[str, Any], source: str) -> Preprocessing:
    """open_clip's preprocessing record of a model (``get_model_preprocess_cfg``) as dasag's: side, mean,
    std and resampling; a non-square input or a resampling dasag does not have is one sentence."""
    size = cfg.get("size", 224)
    sides = (size, size) if isinstance(size, int) else tuple(size)
    if len(sides) != 2 or sides[0] != sides[1]:
        raise ValueError(f"{source} reads {sides[0]}x{sides[1]} images; an open_clip scorer takes models with a square input.")
    mode = str(cfg.get("interpolation", "bicubic"))
    if mode not in MODES:
        raise ValueError(f"{source} resizes with {mode!r}, which dasag does not have (it has {', '.join(MODES)}); set the scorer's interpolation.")
    mean, std = (tuple(float(v) for v in cfg.get(k, d)) for k, d in (("mean", (0.48145466, 0.4578275, 0.40821073)),
                                                                          ("std", (0.26862954, 0.26130258, 0.27577711))))
    return Preprocessing(size=int(sides[0]), mean=mean, std=std, mode=mode)  # pixel_scale 0.5: [0, 1] pixels, as open_clip's ToTensor


def tag_preprocess(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """The preprocessing keys of a tag's pretrained config (what open_clip applies to that tag's weights)."""
    return {k: cfg[k] for k in ("mean", "std", "interpolation", "resize_mode") if k in cfg}


def check_names(model: str, pretrained: str | None, checkpoint: str | None) -> tuple[str | None, str | None]:
    """The model name and tag checked against open_clip's own lists (close matches named), or the form of a
    ``hf-hub:``/``local-dir:`` model; returns the tag in open_clip's spelling and the local weights file, where named."""
    open_clip = import_zoo_library("open_clip")
    if model.startswith(SCHEMAS):
        schema, _, rest = model.partition(":")
        if pretrained is not None or checkpoint is not None:
            raise ValueError(f"open_clip model {model!r} brings its own weights: leave pretrained and checkpoint unset "
                             f"(or name an architecture such as ViT-B-32 with pretrained FILE).")
        if schema == "hf-hub" and (rest.count("/") != 1 or not all(rest.split("/"))):
            raise ValueError(f"open_clip model {model!r} is not a hub repository: write hf-hub:ORG/REPO.")
        if schema == "local-dir" and not rest.strip():
            raise ValueError("open_clip model 'local-dir:' names no folder: write local-dir:DIR.")
        return None, None
    names = open_clip.list_models()
    if model not in names:
        raise ValueError(f"unknown open_clip model {model!r}{_close(model, names)}; open_clip has {len(names)} "
                         f"(open_clip.list_models()), or name a hub model as hf-hub:ORG/REPO.")
    tags = open_clip.list_pretrained_tags_by_model(model)
    if pretrained is None:
        example = f" (e.g. {tags[0]})" if tags else ""
        raise ValueError(f"open_clip model {model!r} needs its weights: a pretrained tag{example} or a local checkpoint file.")
    if open_clip.get_pretrained_cfg(model, pretrained):
        return pretrained.lower().replace("-", "_"), checkpoint  # open_clip's own spelling of a tag
    if checkpoint is None and looks_like_file(pretrained):
        return None, pretrained
    if not tags:
        raise ValueError(f"open_clip model {model!r} has no pretrained tags, so {pretrained!r} is not one: give a local checkpoint file as pretrained.")
    raise ValueError(f"open_clip model {model!r} has no pretrained tag {pretrained!r}{_close(pretrained, tags)}; its {len(tags)} tags are "
                     f"open_clip.list_pretrained_tags_by_model({model!r}), or give a local checkpoint file.")


def activation_warning(model: str, tag: str) -> str | None:
    """What to say when a tag's weights were trained with the other activation than the architecture's
    (QuickGELU or GELU): they load, and score worse; ``None`` when they agree."""
    import open_clip

    trained = bool(open_clip.get_pretrained_cfg(model, tag).get("quick_gelu", False))
    if trained == bool((open_clip.get_model_config(model) or {}).get("quick_gelu", False)):
        return None
    fits = f"{model}-quickgelu" if trained else model.removesuffix("-quickgelu")
    return (f"open_clip {model}/{tag}: these weights were trained with {'QuickGELU' if trained else 'GELU'} but {model} uses the other "
            f"activation; name {fits}/{tag} to score as they were trained.")


# -------------------------------------------------------------------------------- the scorer
class OpenCLIP(TextImageScorer):
    """An open_clip model's similarity to the prompts plus, optionally, an aesthetic head on its embedding."""

    name = "open_clip"

    def __init__(self, model: str, pretrained: str | None = None, checkpoint: str | None = None, aesthetic_head: str | None = None,
                 attn_implementation: Attention = "auto", dtype: Dtype = "auto", input_size: int | None = None,
                 interpolation: Literal["bilinear", "bicubic", "nearest"] | None = None, antialias: bool = True,
                 aesthetic_dropout: list[float] | None = None) -> None:
        """
        Args:
            model: an open_clip architecture (``ViT-B-32``, ``ViT-B-32-quickgelu``; ``open_clip.list_models()``),
                ``hf-hub:ORG/REPO`` (a hub repository with its own open_clip config and weights) or
                ``local-dir:DIR`` (a folder holding them, e.g. made by ``hf download ORG/REPO --local-dir DIR``).
            pretrained: for an architecture: a pretrained tag (``laion2b_s34b_b79k``;
                ``open_clip.list_pretrained_tags_by_model(model)``), or a local checkpoint file of its weights
                (read safely: safetensors or tensors only), whose input is then open_clip's default for a file;
                ``None`` for ``hf-hub:``/``local-dir:`` models.
            checkpoint: a local file holding the weights of the ``pretrained`` tag (that tag's file, downloaded
                by hand): read instead of the hub's, with the tag's own preprocessing.
            aesthetic_head: a LAION- or V2.5-style head ``.pth``/``.safetensors`` file or URL whose input width
                is this model's embedding width (512 for ViT-B-32, 768 for ViT-L-14); ``None``: no head.
            attn_implementation: ``auto``/``sdpa`` (PyTorch's fastest SDPA kernel), ``flash_attention_2``
                (only its FlashAttention-2 kernel; falls back with one warning where it cannot run) or
                ``eager`` (plain operations: SDPA's math backend).
            dtype: weights dtype (open_clip's ``precision``); ``auto`` = bf16 on a CUDA GPU, fp32 on CPU.
            input_size / interpolation / antialias: the input side and resizing; ``None``: the weights' own
                (a ViT takes any side with the same number of whole patches).
            aesthetic_dropout: dropout rates after the head's hidden layers at every call (the seed code's
                train-mode head); ``None``: none.
        """
        for key, value in (("model", model), ("pretrained", pretrained), ("checkpoint", checkpoint), (_HEAD_KEY, aesthetic_head)):
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise ValueError(f"open_clip scorer {key} must be a non-empty string{'' if key == 'model' else ' or null'}; got {value!r}.")
        if model is None:
            raise ValueError("open_clip scorer model must be named (e.g. ViT-B-32 with pretrained laion2b_s34b_b79k, or hf-hub:ORG/REPO).")
        if attn_implementation not in ATTENTIONS:
            raise ValueError(f"attn_implementation must be one of {', '.join(ATTENTIONS)}; got {attn_implementation!r}.")
        if dtype not in ("auto", *DTYPES):
            raise ValueError(f"dtype must be one of auto, {', '.join(DTYPES)}; got {dtype!r}.")
        dropout = check_dropout(aesthetic_dropout)
        model, pretrained = model.strip(), pretrained.strip() if pretrained else None
        tag, weights_file = check_names(model, pretrained, checkpoint)
        if weights_file is not None and not Path(weights_file).expanduser().is_file():
            raise MissingWeightsError(f"open_clip {'checkpoint' if checkpoint else 'pretrained'} file {weights_file!r} does not exist: name an "
                                      f"existing local checkpoint file of {model}{' (the ' + tag + ' weights)' if tag else ''}, or a pretrained tag.")
        variant = f"{model}/{tag}" if tag else f"{model}@{Path(weights_file).name}" if weights_file else model
        super().__init__(Capabilities(classifier=False, aesthetic=aesthetic_head is not None), variant=variant,
                         input_size=input_size, interpolation=interpolation, antialias=antialias)
        self.model_name = model
        #: The pretrained tag (open_clip's spelling) and the local file the weights are read from, where named.
        self.tag = tag
        self.weights_file = weights_file
        self.aesthetic_head_location = aesthetic_head
        self.aesthetic_dropout = dropout
        self.attn_implementation = attn_implementation
        self.dtype_name = dtype
        self.offline = default_locations().offline
        self.model: Any = None
        self.tokenizer: Any = None
        self.attention: str | None = None
        self.model_dtype = torch.float32
        #: open_clip's resize mode of the weights (shortest side + crop, squash, pad): the same on the square pictures scored here.
        self.resize_mode: str | None = None
        self._embedding_dim: int | None = None

    def _tag_config(self) -> dict[str, Any]:
        import open_clip

        return open_clip.get_pretrained_cfg(self.model_name, self.tag) if self.tag else {}

    def model_config(self) -> dict[str, Any] | None:
        """The model's open_clip config (towers, embedding width), read without loading or downloading;
        ``None`` when it is not here yet (a hub model not in the cache)."""
        import open_clip

        schema, _, rest = self.model_name.partition(":") if self.model_name.startswith(SCHEMAS) else ("", "", "")
        if not schema:
            return open_clip.get_model_config(self.model_name)
        path = Path(rest).expanduser() / CONFIG_FILE if schema == "local-dir" else cached_file(rest, CONFIG_FILE)
        try:
            data = json.loads(Path(path).read_text()) if path is not None else None
        except (OSError, ValueError):
            return None
        return data.get("model_cfg", data) if isinstance(data, dict) else None

    def where_to_get_weights(self) -> str:
        """What to download and where to point the scorer (the end of a one-sentence error)."""
        if self.model_name.startswith("hf-hub:"):
            repo = self.model_name.partition(":")[2]
            return f"download it with hf download {repo} (into the Hugging Face cache), or with --local-dir DIR and name the model local-dir:DIR"
        if self.tag is None:
            return f"name an existing local checkpoint file of {self.model_name}"
        cfg = self._tag_config()
        local = f"name it as the scorer's checkpoint (open_clip:{self.model_name}/{self.tag}@FILE)"
        if cfg.get("hf_hub"):
            repo, files = hub_files(cfg["hf_hub"])
            return (f"download them with hf download {repo} (into the Hugging Face cache, where the tag finds them), or save that repository's "
                    f"{' or '.join(files)} anywhere and {local}")
        return f"download {cfg.get('url')} and {local}"

    def check_weights(self) -> None:
        """Cheap: are the weights where the arguments say, or in the cache when offline? A
        :class:`MissingWeightsError` of one sentence saying what to download and where to point it."""
        if self.weights_file is not None:
            if not Path(self.weights_file).expanduser().is_file():
                raise MissingWeightsError(f"open_clip checkpoint file {self.weights_file!r} does not exist: {self.where_to_get_weights()}.")
        elif self.model_name.startswith("local-dir:"):
            folder = Path(self.model_name.partition(":")[2]).expanduser()
            has_weights = folder.is_dir() and any(p.suffix in (".safetensors", ".bin", ".pth") for p in folder.iterdir())
            if not (folder / CONFIG_FILE).is_file() or not has_weights:
                raise MissingWeightsError(f"open_clip folder {str(folder)!r} does not exist or lacks {CONFIG_FILE} and a weights file: make it with "
                                          f"hf download ORG/REPO --local-dir DIR from a repository that has them.")
        elif self.offline:
            if self.model_name.startswith("hf-hub:"):
                repo = self.model_name.partition(":")[2]
                here = cached_file(repo, CONFIG_FILE) and _cached_any(repo, HUB_WEIGHTS)
            else:
                cfg = self._tag_config()
                repo, files = hub_files(cfg["hf_hub"]) if cfg.get("hf_hub") else ("", ())
                here = _cached_any(repo, files) if repo else (URL_CACHE.expanduser() / Path(str(cfg.get("url"))).name).is_file()
            if not here:
                raise MissingWeightsError(f"open_clip weights {self.variant} are not in the local Hugging Face cache and the machine is offline: "
                                          f"{self.where_to_get_weights()}.")
        if self.aesthetic_head_location is not None:
            check_head_available(self.aesthetic_head_location, _HEAD_KEY, self.offline)

    def validate_prompts(self, positive: Sequence[str], negative: Sequence[str], require_positive: bool = True) -> None:
        """Prompts, weight locations and a text tower for the prompts, checked before any weights load."""
        super().validate_prompts(positive, negative, require_positive)
        self.check_weights()
        if positive or negative:
            self._check_text_tower(self.model_config())

    def _check_text_tower(self, config: Mapping[str, Any] | None) -> None:
        if config is not None and not isinstance(config.get("text_cfg"), Mapping):
            raise ValueError(f"open_clip model {self.model_name!r} has no text tower in its config, so it cannot read text prompts; an open_clip "
                             f"scorer needs a text-image model (for an image classifier use timm:NAME).")

    # ------------------------------------------------------------------------- loading
    def _load(self) -> None:
        open_clip = import_zoo_library("open_clip")
        self.check_weights()
        config = self.model_config()
        self._check_text_tower(config)
        dtype = resolve_dtype(self.dtype_name)
        self.attention = self._choose_attention(dtype)
        if self.tag is not None and (said := activation_warning(self.model_name, self.tag)):
            warnings.warn(said, stacklevel=3)
        model = self._create(open_clip, dtype)
        try:
            tokenizer = open_clip.get_tokenizer(self.model_name)
        except NOT_A_FILE_PROBLEM:
            raise
        except Exception as e:  # noqa: BLE001  a hub tokenizer not in the cache, in whatever form the hub library says it
            raise MissingWeightsError(f"could not load the tokenizer of open_clip model {self.model_name!r} ({first_line(e).rstrip('.')[:200]}): "
                                      f"{self.where_to_get_weights()}.") from None
        self.model, self.tokenizer, self.model_dtype = model.eval(), tokenizer, dtype
        cfg = open_clip.get_model_preprocess_cfg(model)
        self.resize_mode = cfg.get("resize_mode")
        self.set_preprocessing(preprocessing_of(cfg, f"open_clip model {self.variant!r}"))
        probe = self._probe() if self.input_size_setting is not None or not (config or {}).get("embed_dim") else None
        self._embedding_dim = int(probe.shape[-1] if probe is not None else config["embed_dim"])
        if self.aesthetic_head_location is not None:
            self.head = load_aesthetic_head(self.aesthetic_head_location, self.embedding_dim, _HEAD_KEY, self.aesthetic_dropout)

    def _create(self, open_clip: Any, dtype: torch.dtype) -> Any:
        """``open_clip.create_model`` on the weights the arguments name; a file that does not fit is one sentence."""
        kwargs: dict[str, Any] = {"precision": _PRECISION[dtype], "device": "cpu", "weights_only": True, "require_pretrained": True}
        if self.weights_file is not None:
            kwargs["pretrained"] = str(Path(self.weights_file).expanduser())
            if self.tag is not None:  # the tag's file read from here: the tag's preprocessing, not a bare file's
                kwargs["force_preprocess_cfg"] = tag_preprocess(self._tag_config())
        elif self.tag is not None:
            kwargs["pretrained"] = self.tag
        model_name = self.model_name
        if model_name.startswith("local-dir:"):
            model_name = "local-dir:" + str(Path(model_name.partition(":")[2]).expanduser())
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="QuickGELU mismatch")  # said once, with the fix, by _warn_activation
            try:
                return open_clip.create_model(model_name, **kwargs)
            except NOT_A_FILE_PROBLEM:
                raise
            except Exception as e:  # noqa: BLE001  open_clip and torch fail in many types on a foreign or missing file
                if self.weights_file is not None:
                    raise self._file_problem(self.weights_file, e) from None
                raise MissingWeightsError(f"could not load open_clip weights {self.variant} ({first_line(e).rstrip('.')[:200]}): "
                                          f"{self.where_to_get_weights()}.") from None

    def _file_problem(self, path: str, error: BaseException) -> ValueError:
        """Why a local file did not load: what dasag's safe reader says of it (empty, pickled objects, cut, not
        a state dict), else that its tensors do not fit this architecture."""
        text = str(error).strip()
        if "TorchScript" in text:
            return ValueError(f"open_clip checkpoint {path!r} is a TorchScript archive (as OpenAI's original release), which is not loaded for "
                              f"safety: use the plain state dict of the same weights (the open_clip tag's hub file, e.g. hf download "
                              f"timm/vit_base_patch32_clip_224.openai).")
        if Path(path).suffix not in (".npz", ".npy"):
            try:
                load_state_dict(Path(path).expanduser())
            except ValueError as e:  # it names the file
                return e
            except OSError as e:  # torch's zip reader on a cut file ("Invalid argument")
                return ValueError(f"weights file {path!r} is truncated or not a torch file ({error_text(e)[:120]}).")
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        detail = lines[1] if len(lines) > 1 and lines[0].startswith("Error(s) in loading") else (lines[0] if lines else type(error).__name__)
        return ValueError(f"open_clip checkpoint {path!r} does not fit model {self.model_name!r} ({detail[:200].rstrip('.')}); name the architecture "
                          f"it was saved from, or a checkpoint of {self.model_name}.")

    def _choose_attention(self, dtype: torch.dtype) -> str:
        """The attention backend, once, at load (module docstring); ``auto`` is ``sdpa``."""
        if self.attn_implementation in ("auto", "sdpa"):
            return "sdpa"
        if self.attn_implementation == "flash_attention_2":
            usable = torch.cuda.is_available() and torch.cuda.get_device_capability() >= (8, 0) and dtype in (torch.float16, torch.bfloat16)
            if not usable:
                warnings.warn("attn_implementation='flash_attention_2' is not available for open_clip here (PyTorch's FlashAttention-2 kernel "
                              "needs an Ampere+ CUDA GPU and bf16/fp16); using 'sdpa'.", stacklevel=4)
                return "sdpa"
        return self.attn_implementation

    def _attention_context(self, device: torch.device) -> AbstractContextManager:
        """The SDPA backends every attention call of the model may use."""
        from torch.nn.attention import SDPBackend, sdpa_kernel

        if self.attention == "eager":
            return sdpa_kernel(SDPBackend.MATH)
        if self.attention == "flash_attention_2" and device.type == "cuda":
            return sdpa_kernel(SDPBackend.FLASH_ATTENTION)
        return nullcontext()

    def _probe(self) -> Tensor:
        """One image of the input side through the image tower: a side its position embeddings cannot take is one sentence."""
        side = self.input_size
        try:
            with torch.no_grad():
                return self.model.encode_image(torch.zeros(1, 3, side, side, dtype=self.model_dtype, device=self.device))
        except (RuntimeError, AssertionError, ValueError) as e:
            native = self.model.visual.image_size if hasattr(self.model.visual, "image_size") else "its own"
            raise ValueError(f"scorer input_size {side} does not fit open_clip model {self.variant!r}, trained at {native} px "
                             f"({first_line(e).rstrip('.')[:160]}); leave input_size unset or keep the same number of whole patches.") from None

    def counting_network(self) -> torch.nn.Module | None:
        """The image tower of this architecture with random weights (what a copy's cost is counted on); ``None``
        for a ``hf-hub:`` model, whose architecture open_clip would build only after fetching its weights."""
        if self.model_name.startswith("hf-hub:"):
            return None
        open_clip = import_zoo_library("open_clip")
        name = self.model_name
        if name.startswith("local-dir:"):
            name = "local-dir:" + str(Path(name.partition(":")[2]).expanduser())
        def not_random_init_news(record: logging.LogRecord) -> bool:  # random weights are the point here
            return "initialized randomly" not in record.getMessage()

        logging.getLogger().addFilter(not_random_init_news)  # open_clip says it on the root logger
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return open_clip.create_model(name, load_weights=False).visual
        finally:
            logging.getLogger().removeFilter(not_random_init_news)

    @property
    def embedding_dim(self) -> int:
        if self._embedding_dim is None:
            raise RuntimeError(f"scorer {self.name!r}: its embedding width is known once its weights are loaded.")
        return self._embedding_dim

    # ------------------------------------------------------------------------- prompts
    def _token_count(self, prompt: str, limit: int) -> int | None:
        """How many tokens a prompt has before truncation (its tokens at four times the limit, padding and the end of text left out)."""
        try:
            ids = self.tokenizer([prompt], context_length=4 * limit)[0]
        except (TypeError, ValueError):
            return None
        body = (ids != ids[-1]).nonzero()
        return int(body.max()) + 1 if len(body) else 0

    def _encode_texts(self, prompts: list[str]) -> Tensor:
        limit = int(getattr(self.tokenizer, "context_length", 0) or 77)
        for p in prompts:
            n = self._token_count(p, limit)
            if n is not None and n > limit:
                warnings.warn(f"{self.name}: prompt {p!r} is {n} tokens long but the text tower reads at most {limit}; it is truncated to its "
                              f"first {limit} tokens.", stacklevel=5)
        tokens = self.tokenizer(prompts).to(self.device)
        with torch.no_grad(), self._attention_context(self.device):
            return F.normalize(self.model.encode_text(tokens, normalize=False).float(), dim=-1)

    # ------------------------------------------------------------------------- scoring
    def preprocess(self, images: Tensor, side: int | None = None) -> Tensor:
        """[-1, 1] images -> the model's input: its side (or ``side``), mean/std, dtype."""
        return super().preprocess(images, side).to(self.model_dtype)

    def image_embedding(self, images: Tensor) -> Tensor:
        self.load()
        pixels = self.preprocess(images)
        with self._attention_context(pixels.device):
            features = self.model.encode_image(pixels, normalize=False)
        return F.normalize(features.float(), dim=-1)


#: ``open_clip:MODEL/TAG`` (and ``MODEL/TAG@FILE``, ``MODEL@FILE``, ``hf-hub:ORG/REPO``, ``local-dir:DIR``);
#: listed as usable where the weights are in the local Hugging Face cache.
FAMILY = Family(prefix="open_clip", form="open_clip:MODEL/TAG", example="open_clip:ViT-B-32/laion2b_s34b_b79k", extra="zoo",
                resolve=resolve, available=lambda: cached_names())
