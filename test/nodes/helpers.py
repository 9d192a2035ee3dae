"""Shared helpers for in-process node tests: spin until something happens, never sleep blindly."""

from __future__ import annotations

import os
import time

from bc_ros.nodes import runtime


def make_executor(context, *nodes):
    """A SingleThreadedExecutor, or ``BC_ROS_TEST_EXECUTOR`` (events: the production default).
    (In-process tests on the EventsExecutor passed twice, then one full run hung in
    test_teleop_node with the process at 156 threads; until that is understood the in-process
    tests keep the executor they always had. Subprocess and system tests run the nodes as
    spin_node does, on the EventsExecutor.)"""
    executor = runtime.make_executor(context,
                                     kind=os.environ.get("BC_ROS_TEST_EXECUTOR", "single"))
    for node in nodes:
        executor.add_node(node)
    return executor


def spin_until(executor, predicate, timeout: float = 10.0, what: str = "condition") -> None:
    """Spin until ``predicate()`` is true; fail with ``what`` after ``timeout`` wall seconds.

    The timeout only bounds a broken test: a passing test returns as soon as the event happens.
    """
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        executor.spin_once(timeout_sec=0.02)


def spin_for(executor, seconds: float) -> None:
    """Spin for a while to show that something does *not* happen."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        executor.spin_once(timeout_sec=0.02)


class Inbox:
    """Collects messages of one subscription."""

    def __init__(self, node, msg_type, topic, qos):
        self.messages = []
        self.sub = node.create_subscription(msg_type, topic, self.messages.append, qos)

    def __len__(self):
        return len(self.messages)

    @property
    def last(self):
        return self.messages[-1]
