"""What `ros2 run bc_ros ...` and `ros2 launch bc_ros ...` need in a pip-installed prefix.

colcon's ament_python build puts them there itself; pip does not:

    <prefix>/lib/bc_ros/<executable>                       console scripts (setup.cfg's
                                                           install_scripts); pip writes them
                                                           to <prefix>/bin only
    <prefix>/share/ament_index/resource_index/packages/bc_ros     the package marker
    <prefix>/share/bc_ros/{package.xml,launch/,config/}    setup.py's data_files, which an
                                                           editable install (pip install -e)
                                                           skips

``install_ros_files`` adds what is missing, as symlinks: ``lib/bc_ros/sim_node ->
../../bin/sim_node``, and for an editable install ``share/bc_ros/launch/record.launch.py ->
<checkout>/launch/record.launch.py`` (one link per file: ``ros2 launch`` does not look inside a
linked folder), so an edited launch or config file takes effect at once, as an edited module
does. Files a regular ``pip install .`` installed are left as they are. ``make venv`` runs it
(``bc-ros install-ros-files``); ``ros2`` then finds the package once ``AMENT_PREFIX_PATH``
names the prefix.
"""

from __future__ import annotations

import glob
import os
import sys
import sysconfig
from importlib import metadata

PACKAGE = "bc_ros"
# setup.py's data_files, as (where under the prefix, patterns in the checkout): a test checks
# that the two agree.
DATA_FILES = [
    ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
    (f"share/{PACKAGE}", ["package.xml"]),
    (f"share/{PACKAGE}/launch", ["launch/*.launch.py"]),
    (f"share/{PACKAGE}/config", ["config/*.yaml"]),
    (f"share/{PACKAGE}/config/robots", ["config/robots/*.yaml"]),
    (f"share/{PACKAGE}/config/security", ["config/security/*.xml"]),
]


def console_scripts() -> list[str]:
    """The names of bc_ros's console scripts, as installed (setup.py's entry points)."""
    dist = metadata.distribution(PACKAGE)
    return sorted(ep.name for ep in dist.entry_points if ep.group == "console_scripts")


def source_checkout() -> str | None:
    """The checkout an editable install runs from (it has package.xml next to the package),
    else None."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    if os.path.isfile(os.path.join(root, "package.xml")) and os.path.isfile(
            os.path.join(root, "setup.py")):
        return root
    return None


def _link(target: str, path: str) -> bool:
    """Make ``path`` a symlink to ``target``; a regular file there is kept (a regular install
    put it there). Returns whether anything changed."""
    if os.path.islink(path):
        if os.readlink(path) == target:
            return False
        os.remove(path)
    elif os.path.exists(path):
        return False
    os.makedirs(os.path.dirname(path), exist_ok=True)
    os.symlink(target, path)
    return True


def install_ros_files(prefix: str | None = None, scripts_dir: str | None = None,
                      source: str | None = None) -> list[str]:
    """Create what ``ros2 run`` / ``ros2 launch`` look for under ``prefix`` (default: this
    Python's, a venv's root). Returns the paths created or changed (nothing when all was there).

    ``scripts_dir``: where pip put the console scripts (default: this Python's ``bin``).
    ``source``: the checkout of an editable install (default: found from this module).
    """
    prefix = os.path.abspath(prefix or sys.prefix)
    scripts_dir = os.path.abspath(scripts_dir or sysconfig.get_path("scripts"))
    changed = []
    libexec = os.path.join(prefix, "lib", PACKAGE)
    os.makedirs(libexec, exist_ok=True)
    names = console_scripts()
    for name in names:
        script = os.path.join(scripts_dir, name)
        if not os.access(script, os.X_OK):
            raise ValueError(f"console script {script} is missing: reinstall bc_ros "
                             f"(pip install -e .) into this environment")
        path = os.path.join(libexec, name)
        if _link(os.path.relpath(script, libexec), path):
            changed.append(path)
    for name in sorted(set(os.listdir(libexec)) - set(names)):   # an entry point removed
        path = os.path.join(libexec, name)
        if os.path.islink(path) and not os.path.exists(path):
            os.remove(path)
            changed.append(path)

    share = os.path.join(prefix, "share", PACKAGE)
    if os.path.isfile(os.path.join(share, "package.xml")) and not os.path.islink(
            os.path.join(share, "package.xml")):
        return changed   # a regular install: pip installed the data files
    source = source or source_checkout()
    if source is None:
        raise ValueError(f"{share}/package.xml is missing and bc_ros does not run from a "
                         f"checkout: reinstall it (pip install . from the checkout)")
    for where, patterns in DATA_FILES:
        folder = os.path.join(prefix, where)
        wanted = {os.path.join(folder, os.path.basename(f)): f
                  for pattern in patterns for f in glob.glob(os.path.join(source, pattern))}
        for path, target in sorted(wanted.items()):
            if _link(target, path):
                changed.append(path)
        # a file removed from the checkout: its link goes too
        for name in os.listdir(folder) if os.path.isdir(folder) else []:
            path = os.path.join(folder, name)
            if (path not in wanted and os.path.islink(path)
                    and os.readlink(path).startswith(source + os.sep)):
                os.remove(path)
                changed.append(path)
    return changed


def ament_prefix_hint(prefix: str | None = None) -> str | None:
    """The export line a shell needs when ``AMENT_PREFIX_PATH`` does not name ``prefix``."""
    prefix = os.path.abspath(prefix or sys.prefix)
    paths = [os.path.abspath(p) for p in os.environ.get("AMENT_PREFIX_PATH", "").split(
        os.pathsep) if p]
    if prefix in paths:
        return None
    return f"export AMENT_PREFIX_PATH={prefix}" + (
        "${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}")
