"""The package's one version number: dasag.__version__ is dasag.core.version's, and pyproject.toml reads it from there."""

from __future__ import annotations

from pathlib import Path

import tomllib
from packaging.version import Version

import dasag
from dasag.core import version

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def test_the_package_version_is_this_modules_value():
    assert dasag.__version__ == version.__version__
    assert "__version__" in dasag.__all__


def test_the_version_is_a_valid_release_number():
    assert isinstance(version.__version__, str)
    assert str(Version(version.__version__)) == version.__version__  # PEP 440, already in its normal form


def test_pyproject_takes_its_version_from_this_module():
    project = tomllib.loads(PYPROJECT.read_text())
    assert project["project"]["dynamic"] == ["version"]
    assert "version" not in project["project"]  # no second number to keep in step
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "dasag.core.version.__version__"}
    module, _, name = project["tool"]["setuptools"]["dynamic"]["version"]["attr"].rpartition(".")
    assert module == version.__name__ and getattr(version, name) == dasag.__version__
