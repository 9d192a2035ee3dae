"""config/security/policy.xml (SROS2 permissions): it parses, gives every bc_ros node an enclave
under its node name, and keeps the command topics to the nodes that own them."""

import pathlib
import re
import xml.etree.ElementTree as ET

ROOT = pathlib.Path(__file__).resolve().parents[1]


def profiles():
    tree = ET.parse(ROOT / "config" / "security" / "policy.xml")
    out = {}
    for enclave in tree.iter("enclave"):
        (profile,) = enclave.iter("profile")
        topics = {kind: {t.text for block in profile.findall(f"topics[@{kind}='ALLOW']")
                         for t in block.iter("topic")} for kind in ("publish", "subscribe")}
        out[enclave.get("path")] = (profile.get("node"), topics)
    return out


def test_every_node_has_an_enclave_named_after_it():
    names = set()
    for path in (ROOT / "bc_ros" / "nodes").rglob("*.py"):
        names |= set(re.findall(r'super\(\)\.__init__\("(\w+)"', path.read_text()))
    assert names and {p: node for p, (node, _) in profiles().items()} == {
        f"/bc_ros/{n}": n for n in names}


def test_only_the_owners_may_publish_the_commands():
    publishers = {}
    for path, (_, topics) in profiles().items():
        for topic in topics["publish"]:
            publishers.setdefault(topic, set()).add(path)
    assert publishers["cmd"] == {"/bc_ros/dagger"}
    assert publishers["policy/cmd"] == {"/bc_ros/policy"}
    assert publishers["expert/cmd"] == {"/bc_ros/sim", "/bc_ros/teleop"}
    assert publishers["expert/engaged"] == {"/bc_ros/sim", "/bc_ros/teleop"}
