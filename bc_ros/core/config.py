"""Typed configs: dataclasses whose fields carry a help text, built from dicts or YAML.

Each node has one config dataclass (STYLE.md 3). Its fields are declared as ROS parameters with
their help text as description (``bc_ros.nodes.params``), filled from ``config/*.yaml`` by launch
files, or built from CLI arguments on the pip path. ``__post_init__`` validates and the error
shows the bad value.
"""

from __future__ import annotations

import dataclasses
import typing

import yaml


def field(default, help: str, **kwargs):
    """A dataclass field with a help text (lists get a default_factory)."""
    if isinstance(default, list):
        return dataclasses.field(default_factory=lambda: list(default),
                                 metadata={"help": help}, **kwargs)
    return dataclasses.field(default=default, metadata={"help": help}, **kwargs)


def field_help(f: dataclasses.Field) -> str:
    return f.metadata.get("help", "")


def field_types(cls) -> dict[str, type]:
    """Resolved type of each field (``from __future__ import annotations`` makes them strings)."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def from_dict(cls, values: dict):
    """Build ``cls`` from a dict; unknown keys are an error that lists the known ones."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} keys {unknown}; known keys: {sorted(names)}")
    return cls(**values)


def load_ros_params_yaml(path: str, node_name: str, plain_ok: bool = False) -> dict:
    """The ``ros__parameters`` of ``node_name`` (or of ``/**``) in a ROS 2 parameter file.
    ``plain_ok``: a file without any ``ros__parameters`` section is itself the mapping."""
    with open(path) as f:
        doc = yaml.safe_load(f) or {}
    if not isinstance(doc, dict):
        raise ValueError(f"{path}: expected a mapping of parameters, got {type(doc).__name__}")
    if plain_ok and not any(isinstance(v, dict) and "ros__parameters" in v
                            for v in doc.values()):
        return dict(doc)
    for key in (node_name, f"/{node_name}", "/**"):
        if key in doc:
            return dict(doc[key].get("ros__parameters", {}))
    raise ValueError(f"{path} has no parameters for node {node_name!r} (keys: {list(doc)})")
