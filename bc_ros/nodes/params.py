"""Declare a node's ROS parameters from its typed config dataclass, and read them back.

Every field becomes a parameter with the field's default, its type and its help text as the
description. List fields get an explicit type, so an empty-list default does not come back as a
byte array. Values given at construction (CLI, tests) override the dataclass defaults and are
overridden in turn by parameter files / launch arguments.

A config with ``PROFILE_FIELD`` (``"robot"``) takes a robot profile (``bc_ros.core.robot``): the
profile named by that parameter fills the fields it decides, beneath everything given explicitly.
Precedence, lowest first: dataclass default, profile, construction overrides, parameter files
and launch arguments. An empty value ("" or []) given for a field the profile decides means
"not set" (a launch argument left at its empty default): the profile's value, or without a
profile the dataclass default.
"""

from __future__ import annotations

import dataclasses

from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node
from rclpy.parameter import Parameter

from bc_ros.core.config import field_help, field_types
from bc_ros.core.robot import NODE_FIELDS as PROFILE_FIELDS
from bc_ros.core.robot import load_profile

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



def _dataclass_default(f: dataclasses.Field):
    if f.default is not dataclasses.MISSING:
        return f.default
    return f.default_factory()


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
    fields = list(dataclasses.fields(cls))
    profile_field = getattr(cls, "PROFILE_FIELD", "")
    node.robot_profile = None
    if profile_field:   # declared first: its value decides the other fields' defaults
        fields.sort(key=lambda f: f.name != profile_field)
    for f in fields:
        ptype = parameter_type(types[f.name])
        if f.name in overrides:
            default = overrides[f.name]
        elif node.robot_profile is not None and f.name in profile_values:
            default = profile_values[f.name]
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
        if profile_field and f.name in PROFILE_FIELDS and values[f.name] in ("", []):
            values[f.name] = (profile_values[f.name] if node.robot_profile is not None
                              else _dataclass_default(f))
        if f.name == profile_field and value:
            node.robot_profile = load_profile(value)      # ProfileError: a ValueError
            profile_values = node.robot_profile.node_fields()
    return cls(**values)
