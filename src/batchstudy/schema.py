"""The study config's JSON schema: the one place every setting and its default is written.

The schema ships inside the package (`batchstudy/schemas/config.schema.yaml`, package data),
so it is found wherever the package is installed; the workflow's
`workflow/schemas/config.schema.yaml` is a link to the same file. Other modules read defaults
from here (`default_of`) rather than repeating them.
"""

from __future__ import annotations

import copy
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

SCHEMA_PATH = Path(str(resources.files(__package__).joinpath("schemas", "config.schema.yaml")))


#: PyYAML's safe loader, with libyaml's C parser where PyYAML was built with it (the same
#: values, ~8x faster on the schema: every process of the study reads it).
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@cache
def _parsed_schema(path: str) -> dict[str, Any]:
    """The schema file parsed once per process (callers copy what they change)."""
    return yaml.load(Path(path).read_text(encoding="utf-8"), Loader=SAFE_LOADER)


def load_schema(path: str | Path | None = None) -> dict[str, Any]:
    """The schema as a fresh dict (callers may change it); `path` overrides the package's."""
    return copy.deepcopy(_parsed_schema(str(path or SCHEMA_PATH)))


def default_of(*keys: str) -> Any:
    """The schema's default of a setting, by its keys from the top (`"model", "activation"`)
    or from a definition (`"$defs", "adam_defaults", "beta_1"`). KeyError: no such default."""
    node = _parsed_schema(str(SCHEMA_PATH))  # read only: the default is copied below
    if keys[0] == "$defs":
        node, keys = node["$defs"][keys[1]], keys[2:]
    for key in keys:
        node = node["properties"][key]
    return copy.deepcopy(node["default"])
