"""Declare a node's ROS parameters from its typed config dataclass, and read them back.

Every field becomes a parameter with the field's default, its type and its help text as the
description. List fields get an explicit type, so an empty-list default does not come back as a
byte array. Values given at construction (CLI, tests) override the dataclass defaults and are
overridden in turn by parameter files / launch arguments.
"""

from __future__ import annotations

import dataclasses

from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node
from rclpy.parameter import Parameter

from bc_ros.core.config import field_help, field_types

_LIST_TYPES = {
    "list[float]": Parameter.Type.DOUBLE_ARRAY,
    "list[int]": Parameter.Type.INTEGER_ARRAY,
    "list[str]": Parameter.Type.STRING_ARRAY,
    "list[bool]": Parameter.Type.BOOL_ARRAY,
}
_SCALAR_TYPES = {bool: Parameter.Type.BOOL, int: Parameter.Type.INTEGER,
                 float: Parameter.Type.DOUBLE, str: Parameter.Type.STRING}


def parameter_type(tp) -> Parameter.Type:
    if tp in _SCALAR_TYPES:
        return _SCALAR_TYPES[tp]
    name = str(tp).replace("typing.", "")
    if name in _LIST_TYPES:
        return _LIST_TYPES[name]
    raise TypeError(f"no ROS parameter type for config field type {tp}")


def declare_config(node: Node, cls, overrides: dict | None = None):
    """Declare one parameter per field of ``cls``; return ``cls`` built from their values.

    ``overrides`` replaces dataclass defaults (it is what the pip-path CLI passes). Raises the
    config's own ValueError when a value is invalid.
    """
    overrides = dict(overrides or {})
    types = field_types(cls)
    unknown = set(overrides) - set(types)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} fields {sorted(unknown)}")
    values = {}
    for f in dataclasses.fields(cls):
        ptype = parameter_type(types[f.name])
        if f.name in overrides:
            default = overrides[f.name]
        elif f.default is not dataclasses.MISSING:
            default = f.default
        else:
            default = f.default_factory()
        if ptype == Parameter.Type.DOUBLE and isinstance(default, int):
            default = float(default)
        descriptor = ParameterDescriptor(description=field_help(f), type=ptype.value)
        if isinstance(default, list) and not default:
            # An empty list has no element type: declare the type alone (else: byte array).
            param = node.declare_parameter(f.name, ptype, descriptor)
            value = param.value if param.value is not None else []
        else:
            value = node.declare_parameter(f.name, default, descriptor).value
        values[f.name] = list(value) if isinstance(default, list) else value
    return cls(**values)
