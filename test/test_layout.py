"""The package's imports run one way, down the flow (docs/ARCHITECTURE.md):

    core utilities -> sim -> data -> policy -> train -> dagger -> nodes -> sessions -> cli

Every ``import`` of a bc_ros module, at the top of a file or inside a function, is checked: a
module may import its own layer and the layers before it, never one after it."""

from __future__ import annotations

import ast
import pathlib

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "bc_ros"
LAYERS = ["bc_ros.core.utilities", "bc_ros.core.sim", "bc_ros.core.data", "bc_ros.core.policy",
          "bc_ros.core.train", "bc_ros.core.dagger", "bc_ros.nodes", "bc_ros.sessions",
          "bc_ros.cli"]
# the small modules every layer may use: typed configs, the command filter, message readers,
# the teleop mapping, robot profiles, the package version
UTILITIES = ("bc_ros", "bc_ros.core", "bc_ros.core.config", "bc_ros.core.geometry",
             "bc_ros.core.commands", "bc_ros.core.messages", "bc_ros.core.robot",
             "bc_ros.core.teleop", "bc_ros.core.throttle")


def layer_of(module: str) -> int:
    if module in UTILITIES:
        return 0
    for i, prefix in enumerate(LAYERS):
        if module == prefix or module.startswith(prefix + "."):
            return i
    raise AssertionError(f"{module} is in no layer of {LAYERS}: add it to one")


def modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        yield name, path


def bc_ros_imports(path: pathlib.Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        else:
            continue
        for name in names:
            if name == "bc_ros" or name.startswith("bc_ros."):
                yield node.lineno, name


def test_every_module_has_a_layer():
    layers = {name: layer_of(name) for name, _ in modules()}
    # the walk sees the package's modules, nested folders included
    assert {"bc_ros.cli", "bc_ros.sessions.dagger.run", "bc_ros.nodes.policy.node",
            "bc_ros.core.data.control", "bc_ros.core.policy.heads.unet1d"} <= set(layers)
    assert all(0 <= layer < len(LAYERS) for layer in layers.values())
    assert layer_of("bc_ros.sessions.demo") > layer_of("bc_ros.nodes.recorder_node")


def test_imports_run_down_the_flow():
    wrong = []
    for name, path in modules():
        mine = layer_of(name)
        for line, imported in bc_ros_imports(path):
            if layer_of(imported) > mine:
                wrong.append(f"{path.relative_to(PACKAGE.parent)}:{line} ({LAYERS[mine]}) "
                             f"imports {imported} ({LAYERS[layer_of(imported)]})")
    assert not wrong, "imports against the flow:\n" + "\n".join(wrong)
