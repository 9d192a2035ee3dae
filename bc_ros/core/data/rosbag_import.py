"""rosbag2 import: a bag (MCAP or sqlite3) into an episode dataset, as recorder_node records it.

No ROS install is needed: the bag is read and its messages deserialized with ``rosbags``. The
messages go, in bag order, through the same ``Recorder`` the live node drives (same tick grid,
alignment, flags and counters), so a bag of the topics the node subscribes to gives the rows the
node would have written while that bag was being recorded.

Topics (names as the node subscribes, with or without a leading slash; ``topics`` remaps them,
keyed by these names, e.g. ``{"odom": "/robot1/odom"}``)::

    camera/<name>/image_raw   sensor_msgs/Image (rgb8, bgr8, mono8, rgba8, bgra8), or with
                              image_transport="compressed" camera/<name>/image_raw/compressed,
                              sensor_msgs/CompressedImage (JPEG or PNG)
    odom | joint_states       nav_msgs/Odometry | sensor_msgs/JointState (state_type)
    expert/cmd                the expert's command (command_type): the label
    cmd                       what the robot executed (record_executed)
    dagger/control            std_msgs/Int8 (record_control)
    sim/outcome               std_msgs/String JSON from sim_node (episode_split="outcome")
    clock                     rosgraph_msgs/Clock, optional: the node's clock under use_sim_time

Time. A sample is stamped with its header stamp, as in the node. What the node stamps with its
own clock (unstamped commands: Twist, Float64MultiArray, a zero header stamp; dagger/control) and
the clock that drives the node's tick timer come from one of:

* ``clock``: the latest ``/clock`` message (the node ran with use_sim_time);
* ``receive``: the bag's receive time of the message (the node ran on the system clock);
* ``stamps``: the newest header stamp seen so far. For a bag of a sim that stamps with sim time
  and publishes /clock, when /clock was not recorded: sim_node sends /clock with the stamp of the
  observation it is about to publish, so this is the clock the node would have had.

``clock="auto"`` takes ``clock`` if the bag has /clock and it agrees with the header stamps,
else ``receive`` if the receive times agree with them, else ``stamps`` (with a warning).

Episodes. ``outcome``: as the node with auto_start and stop_on_outcome: the first episode starts
at the first sample; each sim/outcome stops it just before its ``end_stamp`` and starts the next at
``end_stamp``; what follows the last outcome is unfinished and not stored (reported). ``whole``: the
bag is one episode. ``gap``: a new episode wherever no message arrived for ``gap_seconds`` (bag
receive time); each part is recorded as if by a recorder started just before it.
"""

from __future__ import annotations

import collections
import json
import math
import os


from bc_ros.core.data.recording import Recorder, RecorderConfig
from bc_ros.core.messages import (COMMAND_TYPES, IMAGE_TRANSPORTS, STATE_MESSAGES, camera_topic,
                                  check_command_type, command_from_msg, header_stamp,
                                  image_from_msg, state_from_msg, time_from_msg)

SPLITS = ("outcome", "whole", "gap")
CLOCKS = ("auto", "clock", "receive", "stamps")
# Two clocks within this many seconds of each other are taken as the same clock (sim time and
# the system clock differ by decades).
MAX_CLOCK_OFFSET = 60.0
# A clock that jumps further than this between two messages would make the recorder write a row
# for every tick of the jump: refused (split the bag with episode_split="gap").
MAX_CLOCK_JUMP = 3600.0

STRING_TYPE = "std_msgs/msg/String"
INT8_TYPE = "std_msgs/msg/Int8"
CLOCK_TYPE = "rosgraph_msgs/msg/Clock"

class BagReadError(ValueError):
    """The bag cannot be opened or read (missing, not a rosbag2 bag, damaged)."""


def subscriptions(config: RecorderConfig, episode_split: str = "outcome") -> dict:
    """Topic name (as the node subscribes) -> (role, message type, required)."""
    image_type = IMAGE_TRANSPORTS[config.image_transport][1]
    subs = {camera_topic(c, config.image_transport): (f"image_{c}", image_type, True)
            for c in config.cameras}
    subs[config.state_topic_name()] = ("state", STATE_MESSAGES[config.state_type][0], True)
    cmd_type = COMMAND_TYPES[config.command_type]
    subs["expert/cmd"] = ("action", cmd_type, True)
    if config.record_executed:
        subs["cmd"] = ("executed", cmd_type, True)
    if config.record_control:
        subs["dagger/control"] = ("control", INT8_TYPE, True)
    subs["sim/outcome"] = ("outcome", STRING_TYPE, episode_split == "outcome")
    subs["clock"] = ("clock", CLOCK_TYPE, False)
    return subs


def _norm(topic: str) -> str:
    return topic.lstrip("/")


def _typestore():
    from rosbags.typesys import Stores, get_typestore

    return get_typestore(getattr(Stores, "ROS2_KILTED", Stores.LATEST))


def _hint(missing: list[str], config: RecorderConfig, split: str) -> str:
    hints = []
    if "cmd" in missing:
        hints.append("record_executed=False if the bag has no executed command")
    if "sim/outcome" in missing and split == "outcome":
        hints.append('episode_split="whole" or "gap" for a bag without sim/outcome')
    if any(m.startswith("camera/") for m in missing):
        hints.append(f"cameras= the bag's camera names (now {list(config.cameras)})")
        other = "raw" if config.image_transport == "compressed" else "compressed"
        hints.append(f"image_transport={other} if the bag's cameras are "
                     f"{IMAGE_TRANSPORTS[other][1]} (now {config.image_transport})")
    hints.append("topics={name: bag topic} to map other names")
    return "; set " + ", or ".join(hints)


# ---- import ------------------------------------------------------------------------------------
def import_rosbag(bag: str, config: RecorderConfig, *, episode_split: str = "outcome",
                  gap_seconds: float = 1.0, topics: dict | None = None, clock: str = "auto",
                  success: bool = False) -> dict:
    """Record the messages of rosbag2 ``bag`` into ``config.dataset`` as recorder_node would.

    Args:
        bag: the bag folder (with metadata.yaml), or a single .mcap / .db3 file.
        config: the recorder's parameters (dataset, cameras, state and command types, rate...).
        episode_split: ``outcome`` (at each sim/outcome), ``whole`` or ``gap`` (see the module).
        gap_seconds: ``gap``: seconds without any message that end an episode.
        topics: remappings, node topic name -> bag topic name.
        clock: ``auto``, ``clock``, ``receive`` or ``stamps`` (see the module).
        success: stored as the success of episodes not ended by an outcome (whole, gap).

    Returns ``{"episodes": [stored summaries], "messages": {bag topic: messages read},
    "skipped": {...}, "clock": the clock used, "warnings": [...]}``. ``skipped`` holds
    ``rejected`` (stream_reason -> messages read but not stored: bad encodings, wrong sizes,
    stamps going backwards...), ``other_topics`` (bag topics not imported -> message count),
    ``unfinished`` (outcome split: messages after the last outcome, not stored) and
    ``empty_episodes`` (parts that produced no row). Non-finite commands and states are stored,
    flagged and counted in each episode's ``counts``, as by the node.

    Raises ValueError for a bad argument, a required topic missing from the bag (the message
    lists the bag's topics) or of the wrong type, and ``BagReadError`` (a ValueError) for a bag
    that cannot be read; an episode in progress when reading fails is not stored.
    """
    if episode_split not in SPLITS:
        raise ValueError(f"episode_split must be one of {SPLITS}, got {episode_split!r}")
    if clock not in CLOCKS:
        raise ValueError(f"clock must be one of {CLOCKS}, got {clock!r}")
    if episode_split == "gap" and not gap_seconds > 0:
        raise ValueError(f"gap_seconds must be > 0, got {gap_seconds!r}")
    check_command_type(config.command_type, config.action_names, config.command_interface)
    subs = subscriptions(config, episode_split)
    remap = {}
    for name, target in (topics or {}).items():
        if _norm(name) not in subs:
            raise ValueError(f"unknown topic {name!r} in topics; valid names: "
                             f"{', '.join(subs)}")
        remap[_norm(name)] = _norm(target)

    from rosbags.rosbag2 import Reader

    try:
        reader = Reader(bag)
        reader.open()
    except Exception as e:  # noqa: BLE001 - whatever a missing or damaged bag raises
        raise BagReadError(f"cannot open rosbag {bag!r}: {type(e).__name__}: {e}") from e
    try:
        return _import(reader, bag, config, subs, remap, episode_split, gap_seconds, clock,
                       success)
    finally:
        reader.close()


def _import(reader, bag, config, subs, remap, split, gap_seconds, clock, success) -> dict:
    typestore = _typestore()
    in_bag = {}  # normalized name -> (bag topic, msgtype, count)
    for topic, info in reader.topics.items():
        in_bag[_norm(topic)] = (topic, info.msgtype, info.msgcount)
    present = ", ".join(f"{t} ({m}, {n})" for t, m, n in sorted(in_bag.values())) or "none"

    roles = {}  # bag topic -> role
    missing, wrong = [], []
    for name, (role, msgtype, required) in subs.items():
        found = in_bag.get(remap.get(name, name))
        if found is None or found[2] == 0:
            if required:
                missing.append(name if name not in remap else f"{name} (as {remap[name]})")
            continue
        if found[1] != msgtype:
            if required:
                wrong.append(f"{found[0]} is {found[1]}, expected {msgtype}")
            continue  # an optional topic of another type is not imported
        roles[found[0]] = role
    if missing:
        raise ValueError(f"rosbag {bag} lacks topics {missing} (or has no messages on them); "
                         f"topics in the bag (type, messages): {present}"
                         f"{_hint(missing, config, split)}")
    if wrong:
        commands = [remap.get(n, n) for n in ("expert/cmd", "cmd")]
        hint = (f"; set command_type to the bag's command type (now {config.command_type!r})"
                if any(_norm(w.split(" is ")[0]) in commands for w in wrong) else "")
        raise ValueError(f"rosbag {bag} has topics of the wrong type: {'; '.join(wrong)}{hint}")

    by_role = collections.defaultdict(list)
    for connection in reader.connections:
        role = roles.get(connection.topic)
        if role is not None:
            by_role[role].append(connection)
    if clock == "clock" and not by_role.get("clock"):
        raise ValueError(f"clock='clock' needs a {CLOCK_TYPE} topic 'clock' in rosbag {bag}; "
                         f"topics in the bag (type, messages): {present}")
    warnings: list[str] = []
    try:
        clock = _choose_clock(reader, typestore, by_role, clock, warnings)
    except Exception as e:  # noqa: BLE001 - whatever a damaged file raises
        raise BagReadError(f"rosbag {bag} could not be read: {type(e).__name__}: {e}") from e
    if clock != "clock":
        by_role.pop("clock", None)
    connections = [c for cs in by_role.values() for c in cs]
    imported = {c.topic for c in connections}
    other = {t: n for t, _, n in in_bag.values() if t not in imported}

    run = _Run(config, split, gap_seconds, clock, success, {"rosbag": os.path.abspath(bag)},
               warnings)
    role_of = {c.id: roles[c.topic] for c in connections}
    messages = reader.messages(connections=connections)
    read = 0
    while True:
        try:
            connection, timestamp, raw = next(messages)
        except StopIteration:
            break
        except Exception as e:  # noqa: BLE001 - whatever a damaged file raises
            run.abort()
            raise BagReadError(f"rosbag {bag} could not be read past message {read}: "
                               f"{type(e).__name__}: {e}; {len(run.summaries)} episodes were "
                               f"stored before, the one in progress was not") from e
        read += 1
        role = role_of[connection.id]
        run.messages[connection.topic] += 1
        try:
            msg = typestore.deserialize_cdr(raw, connection.msgtype)
        except Exception:  # noqa: BLE001 - a damaged message: counted, skipped
            run.reject(role, "undecodable")
            continue
        try:
            run.handle(role, timestamp * 1e-9, msg)
        except BaseException:
            run.abort()
            raise
    run.finish()
    return {"episodes": run.summaries, "messages": dict(run.messages),
            "skipped": {"rejected": dict(run.rejected), "other_topics": other,
                        "unfinished": run.unfinished, "empty_episodes": run.empty},
            "clock": clock, "warnings": warnings}


def _first_stamp(reader, typestore, connections, limit: int = 20):
    """(header stamp, receive time) of the first message with a non-zero stamp, or None."""
    messages = reader.messages(connections=connections)
    try:
        for k, (connection, timestamp, raw) in enumerate(messages):
            if k >= limit:
                return None
            try:
                stamp = header_stamp(typestore.deserialize_cdr(raw, connection.msgtype))
            except Exception:  # noqa: BLE001 - judged by the next message
                continue
            if stamp:
                return stamp, timestamp * 1e-9
        return None
    finally:
        messages.close()


def _first_clock(reader, typestore, connections) -> float | None:
    messages = reader.messages(connections=connections)
    try:
        for connection, _, raw in messages:
            try:
                return time_from_msg(typestore.deserialize_cdr(raw, connection.msgtype).clock)
            except Exception:  # noqa: BLE001 - judged by the next message
                continue
        return None
    finally:
        messages.close()


def _choose_clock(reader, typestore, by_role, clock, warnings) -> str:
    if clock != "auto":
        return clock
    first = _first_stamp(reader, typestore, by_role["state"])
    if first is None:
        warnings.append("no stamped state message to compare clocks with: using the bag's "
                        "receive times as the recorder's clock")
        return "receive"
    stamp, received = first
    value = _first_clock(reader, typestore, by_role["clock"]) if by_role.get("clock") else None
    if value is not None:
        if abs(value - stamp) <= MAX_CLOCK_OFFSET:
            return "clock"
        warnings.append(f"the bag's clock ({value:.3f} s) disagrees with the header stamps "
                        f"({stamp:.3f} s): not used")
    if abs(received - stamp) <= MAX_CLOCK_OFFSET:
        return "receive"
    warnings.append(f"header stamps ({stamp:.3f} s) are on another clock than the bag's receive "
                    f"times ({received:.3f} s) and the bag has no usable clock topic: the newest "
                    f"header stamp stands for the recorder's clock (what a sim that publishes "
                    f"/clock gives it)")
    return "stamps"


class _Run:
    """One pass over the bag's messages: the node's callbacks and timer, fed from the bag."""

    def __init__(self, config, split, gap_seconds, clock, success, attrs, warnings):
        self.config, self.split, self.gap, self.clock = config, split, gap_seconds, clock
        self.success, self.attrs, self.warnings = success, attrs, warnings
        self.timer_period = 0.5 / config.rate_hz  # the node's tick timer
        self.summaries: list[dict] = []
        self.messages: collections.Counter = collections.Counter()
        self.rejected: collections.Counter = collections.Counter()
        self.unfinished = None
        self.empty = 0
        self.recorder: Recorder | None = None
        self.last_received: float | None = None
        self._since_outcome = 0
        self._outcome_received: float | None = None
        self._begin()

    def _begin(self, now: float | None = None, since: float | None = None) -> None:
        if self.recorder is None:
            self.recorder = Recorder(self.config)
            self.now = 0.0
            self.newest_stamp = 0.0
            self.deadline = -math.inf
        self.recorder.start(now, since=since, **self.attrs)

    def _stop(self, now: float, success: bool) -> None:
        summary = self.recorder.stop(now, success)
        if summary.get("discarded"):
            self.empty += 1
        else:
            self.summaries.append(summary)

    # ---- per message -----------------------------------------------------------------------
    def handle(self, role: str, received: float, msg) -> None:
        if (self.split == "gap" and self.last_received is not None
                and received - self.last_received > self.gap):
            self._stop(self.now, self.success)
            self.recorder = None  # the next part is recorded by a recorder of its own
            self._begin()
        self.last_received = received
        self._since_outcome += 1
        self._advance_clock(role, received, msg)
        if self.now >= self.deadline:  # the node's timer
            self.recorder.update(self.now)
            self.deadline = (math.floor(self.now / self.timer_period) + 1) * self.timer_period
        if role.startswith("image_"):
            try:
                image = image_from_msg(msg)
            except ValueError as e:          # as the live recorder counts it
                key = f"{role}_bad_{getattr(e, 'kind', 'encoding')}"
                self.recorder.counts[key] += 1
                self.rejected[key] += 1
                return
            self._add(role, time_from_msg(msg.header.stamp), image)
        elif role == "state":
            cfg = self.config
            try:
                value = state_from_msg(msg, cfg.state_type, cfg.joint_names, cfg.state_dim)
            except ValueError:               # as the live recorder counts it
                key = "state_bad_joints" if cfg.state_type == "joint_state" else (
                    "state_bad_message")
                self.recorder.counts[key] += 1
                self.rejected[key] += 1
                return
            if cfg.state_type == "joint_state" and not cfg.joint_names:
                value = list(value)
            stamp = header_stamp(msg)      # an unstamped state: stamped on arrival
            self._add(role, stamp if stamp is not None else self.now, value)
        elif role in ("action", "executed"):
            try:
                values = command_from_msg(msg, self.config.action_names,
                                          self.config.command_interface)
            except ValueError:
                self.recorder.counts[f"{role}_wrong_size"] += 1
                self.rejected[f"{role}_wrong_size"] += 1
                return
            # Unstamped commands (Twist, Float64MultiArray) are stamped on arrival.
            stamp = header_stamp(msg)
            self._add(role, stamp if stamp else self.now, values)
        elif role == "control":
            self._add(role, self.now, int(msg.data))
        elif role == "outcome":
            self._on_outcome(msg, received)

    def _advance_clock(self, role, received, msg) -> None:
        before = self.now
        if self.clock == "receive":
            self.now = received
        elif self.clock == "clock":
            if role == "clock":
                self.now = time_from_msg(msg.clock)
        else:  # stamps
            stamp = header_stamp(msg)
            if stamp and stamp > self.now:
                self.now = stamp
        if before > 0 and self.now - before > MAX_CLOCK_JUMP:
            raise ValueError(f"the recorder's clock ({self.clock}) jumps from {before:.3f} to "
                             f"{self.now:.3f} s at a {role} message received at "
                             f"{received:.3f} s; the recorder would write a row for every tick "
                             f"in between: import with episode_split='gap'")
        stamp = header_stamp(msg)
        if stamp and stamp > self.newest_stamp:
            self.newest_stamp = stamp
        if self.newest_stamp > 0 and self.now - self.newest_stamp > MAX_CLOCK_JUMP:
            raise ValueError(f"the recorder's clock ({self.clock}: {self.now:.3f} s) is "
                             f"{self.now - self.newest_stamp:.0f} s ahead of the header stamps "
                             f"({self.newest_stamp:.3f} s): they are on different clocks and "
                             f"every tick in between would be written; import with "
                             f"clock='auto' or 'stamps'")

    def _add(self, stream, stamp, value) -> None:
        keys = [f"{stream}_{r}" for r in ("rejected", "wrong_size", "zero_stamp",
                                          "stamp_backwards")]
        before = [self.recorder.counts[k] for k in keys]
        self.recorder.add(stream, stamp, value)
        for k, b in zip(keys, before):
            if self.recorder.counts[k] > b:
                self.rejected[k] += 1

    def reject(self, role: str, reason: str) -> None:
        self.rejected[f"{role}_{reason}"] += 1
        if self.recorder is not None and self.recorder.recording:
            self.recorder.counts[f"{role}_{reason}"] += 1

    def _on_outcome(self, msg, received: float) -> None:
        if self.split != "outcome" or not self.recorder.recording:
            return
        try:
            outcome = json.loads(msg.data)
            end, success = float(outcome["end_stamp"]), bool(outcome["success"])
        except (ValueError, KeyError, TypeError):
            self.rejected["outcome_unreadable"] += 1
            return
        if abs(end - self.now) > MAX_CLOCK_OFFSET:
            # sim_node stamps end_stamp with sim time even where it stamps its messages with the
            # system clock (publish_clock off): the outcome's arrival stands for the end then.
            self.warnings.append(f"outcome end_stamp {end:.3f} s is on another clock than the "
                                 f"recorder's ({self.now:.3f} s): the episode ends at the "
                                 f"outcome's arrival instead")
            end = self.now
        # As the node: `end` stamps the terminal state, which is never published; the episode's
        # last tick is the one before it and the frame stamped `end` is the next one's first.
        self._stop(end - 0.5 / self.config.rate_hz, success)
        self._begin(now=end, since=end)
        self._since_outcome, self._outcome_received = 0, received

    # ---- end ---------------------------------------------------------------------------------
    def finish(self) -> None:
        if self.split == "outcome":
            rows = self.recorder.writer.length
            self.recorder.discard()
            if self._since_outcome or rows:
                start = self._outcome_received
                self.unfinished = {"messages": self._since_outcome, "rows_dropped": rows,
                                   "seconds": (self.last_received - start
                                               if start is not None and self.last_received
                                               else None)}
        else:
            self._stop(self.now, self.success)

    def abort(self) -> None:
        """Reading failed: the episode in progress is not stored."""
        if self.recorder is not None and self.recorder.recording:
            self.recorder.discard()
