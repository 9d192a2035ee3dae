"""Shared helpers for in-process node tests: spin until something happens, never sleep blindly."""

from __future__ import annotations

import os
import time

from bc_ros.nodes import runtime


def make_executor(context, *nodes):
    """The executor the nodes run on in production (``runtime.make_executor``: the
    EventsExecutor where rclpy has it), or ``BC_ROS_TEST_EXECUTOR`` (events | single). End
    with ``close(executor)``."""
    executor = runtime.make_executor(context, kind=os.environ.get("BC_ROS_TEST_EXECUTOR"))
    for node in nodes:
        executor.add_node(node)
    return executor


def close(executor) -> None:
    """Shut the executor down and destroy every node it spun. A node left to the garbage
    collector after a service call on the EventsExecutor is never collected: its DDS
    participant (11 threads) lives on and keeps talking discovery with every later test's on
    the same domain. A full run once hung that way at 156 threads."""
    nodes = list(executor.get_nodes())
    executor.shutdown()
    for node in nodes:
        node.destroy_node()


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
