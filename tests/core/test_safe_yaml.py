"""A YAML file of settings is a mapping of a sane size, or one sentence naming the file."""

from __future__ import annotations

import pytest
import yaml

from dasag.core.config import load_config
from dasag.core.errors import ConfigError


@pytest.mark.parametrize(
    "files, message",
    [
        ({"a.yaml": {"base": "a.yaml"}}, "names itself as a base"),
        ({"a.yaml": {"base": "missing.yaml"}}, "does not exist"),
        ({"a.yaml": None, "list.yaml": ["not", "a", "mapping"]}, "must hold a mapping"),
    ],
)
def test_bad_files_are_one_sentence(tmp_path, files, message):
    for name, data in files.items():
        (tmp_path / name).write_text(yaml.safe_dump(data) if data is not None else "")
    target = tmp_path / ("list.yaml" if "list.yaml" in files else "a.yaml")
    with pytest.raises(ConfigError, match=message):
        load_config(target)
