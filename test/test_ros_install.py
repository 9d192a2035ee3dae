"""bc-ros install-ros-files: what `ros2 run` / `ros2 launch` look for in a pip-installed prefix
(sessions/ros_install.py), made in a throw-away prefix."""

import ast
import os
import pathlib
import re

import pytest

from bc_ros.sessions.ros_install import (DATA_FILES, PACKAGE, ament_prefix_hint,
                                         console_scripts, install_ros_files)

ROOT = pathlib.Path(__file__).resolve().parents[1]


def setup_py_data_files() -> list[tuple[str, list[str]]]:
    """setup.py's data_files as (where, [pattern]), its f-strings filled in."""
    tree = ast.parse((ROOT / "setup.py").read_text())
    call = next(n for n in ast.walk(tree) if isinstance(n, ast.Call)
                and getattr(n.func, "id", "") == "setup")
    value = next(k.value for k in call.keywords if k.arg == "data_files")
    text = ast.unparse(value).replace("{package_name}", PACKAGE)
    pairs = re.findall(r"\(f?'([^']+)', (?:\[f?'([^']+)'\]|glob\('([^']+)'\))\)", text)
    assert len(pairs) == len(value.elts), text
    return sorted((where, [listed or globbed]) for where, listed, globbed in pairs)


def test_data_files_agree_with_setup_py():
    assert setup_py_data_files() == sorted(DATA_FILES)


@pytest.fixture
def prefix(tmp_path):
    """An empty prefix and a bin/ holding every console script (as pip writes them)."""
    scripts = tmp_path / "bin"
    scripts.mkdir()
    for name in console_scripts():
        script = scripts / name
        script.write_text("#!/bin/sh\n")
        script.chmod(0o755)
    return tmp_path


def test_an_editable_install_gets_executables_and_share_files(prefix):
    changed = install_ros_files(str(prefix), str(prefix / "bin"), str(ROOT))
    libexec = prefix / "lib" / PACKAGE
    assert sorted(os.listdir(libexec)) == console_scripts()
    assert {"sim_node", "recorder_node", "policy_node", "bc-ros"} <= set(os.listdir(libexec))
    assert os.readlink(libexec / "sim_node") == "../../bin/sim_node"
    assert os.access(libexec / "sim_node", os.X_OK)
    share = prefix / "share" / PACKAGE
    assert (prefix / "share/ament_index/resource_index/packages" / PACKAGE).exists()
    assert (share / "package.xml").resolve() == ROOT / "package.xml"
    launch = sorted(p.name for p in (ROOT / "launch").glob("*.launch.py"))
    assert sorted(os.listdir(share / "launch")) == launch
    assert (share / "config" / "recorder.yaml").read_text() == (
        ROOT / "config" / "recorder.yaml").read_text()
    assert (share / "config" / "robots" / "arm.yaml").resolve() == (
        ROOT / "config" / "robots" / "arm.yaml")
    assert len(changed) == len(console_scripts()) + 2 + len(launch) + len(
        list((ROOT / "config").glob("*.yaml"))) + len(list((ROOT / "config/robots").glob("*"))) + len(
        list((ROOT / "config/security").glob("*.xml")))
    # a second run changes nothing
    assert install_ros_files(str(prefix), str(prefix / "bin"), str(ROOT)) == []


def test_links_of_files_gone_from_the_checkout_are_removed(prefix, tmp_path):
    source = tmp_path / "checkout"
    for name in ("package.xml", "setup.py", "resource/bc_ros", "launch/a.launch.py",
                 "launch/b.launch.py", "config/a.yaml"):
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_text("")
    install_ros_files(str(prefix), str(prefix / "bin"), str(source))
    (source / "launch/b.launch.py").unlink()
    changed = install_ros_files(str(prefix), str(prefix / "bin"), str(source))
    assert changed == [str(prefix / "share/bc_ros/launch/b.launch.py")]
    assert os.listdir(prefix / "share/bc_ros/launch") == ["a.launch.py"]


def test_a_regular_install_keeps_its_share_files(prefix):
    share = prefix / "share" / PACKAGE
    share.mkdir(parents=True)
    (share / "package.xml").write_text("<package/>")   # as pip install . puts it there
    changed = install_ros_files(str(prefix), str(prefix / "bin"), str(ROOT))
    assert all("/lib/bc_ros/" in path for path in changed) and changed
    assert not (share / "package.xml").is_symlink() and not (share / "launch").exists()


def test_a_missing_console_script_says_to_reinstall(prefix):
    (prefix / "bin" / "sim_node").unlink()
    with pytest.raises(ValueError, match="sim_node is missing: reinstall bc_ros"):
        install_ros_files(str(prefix), str(prefix / "bin"), str(ROOT))


def test_the_hint_names_the_prefix_unless_ament_prefix_path_has_it(monkeypatch, tmp_path):
    monkeypatch.setenv("AMENT_PREFIX_PATH", "/opt/ros/kilted")
    assert ament_prefix_hint(str(tmp_path)) == (
        f"export AMENT_PREFIX_PATH={tmp_path}${{AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}}")
    monkeypatch.setenv("AMENT_PREFIX_PATH", f"{tmp_path}:/opt/ros/kilted")
    assert ament_prefix_hint(str(tmp_path)) is None
