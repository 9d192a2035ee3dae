"""Recorder load: can recorder_node keep up with three 640x480 cameras on this machine?

    python benchmarks/bench_recorder.py [--seconds 600] [--transport raw|compressed] [--json F]

Three processes run side by side in one run:
  publisher   3 x 640x480 rgb8 camera topics at 30 Hz, joint_states at 100 Hz, expert/cmd
              (TwistStamped) at 30 Hz, all stamped with the wall clock
  recorder    recorder_node recording 640x480 rows at a 10 Hz tick into a temporary dataset,
              one episode per --episode-seconds (finished episodes are deleted after they are
              published, so a 10-minute run does not fill the disk)
  bare        a bare rclpy node subscribed to the same topics doing nothing (the floor)
Printed: ticks written and ticks with a missing/stale stream (goal 0), CPU of recorder and bare
subscriber in cores (goal <= 0.5 and recorder/bare <= 1.3), RSS at start and end (goal flat).

``--transport compressed``: the cameras are JPEG (quality 90) sensor_msgs/CompressedImage on
camera/<name>/image_raw/compressed, as image_transport's compressed plugin publishes a USB
camera; the recorder decodes every frame. Also printed, either way: the decode time of one
640x480 frame (JPEG, PNG, raw rgb8), median of 200, in this process.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

from figures import write_json

CAMERAS = ("left", "center", "right")
JOINTS = [f"panda_joint{i}" for i in range(1, 8)] + ["panda_finger_joint1", "panda_finger_joint2"]


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def camera_frames(n: int = 4):
    """640x480 frames with a camera's statistics (smooth shading, edges, sensor noise): random
    noise would make JPEG frames several times larger than a real camera's."""
    import numpy as np

    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:480, 0:640]
    frames = []
    for _ in range(n):
        base = np.stack([(x * rng.uniform(0.1, 0.4) + y * rng.uniform(0.1, 0.4)) % 256
                         for _ in range(3)], -1)
        for _ in range(12):    # objects: flat rectangles
            x0, y0 = rng.integers(0, 600), rng.integers(0, 440)
            base[y0:y0 + rng.integers(20, 200), x0:x0 + rng.integers(20, 200)] = rng.integers(
                0, 256, 3)
        frames.append((base + rng.normal(0, 3, base.shape)).clip(0, 255).astype(np.uint8))
    return frames


def decode_ms(repeats: int = 200) -> dict:
    """Median milliseconds to turn one 640x480 camera message into the stored rgb array."""
    import statistics

    from bc_ros.nodes import conversions as conv

    frame = camera_frames(1)[0]
    stamp = conv.time_to_msg(1.0)
    msgs = {"jpeg": conv.compressed_image_to_msg(frame, stamp, fmt="jpeg", quality=90),
            "png": conv.compressed_image_to_msg(frame, stamp, fmt="png"),
            "raw_bgr8": conv.image_to_msg(frame, stamp, encoding="bgr8")}
    out = {}
    for name, msg in msgs.items():
        conv.image_from_msg(msg)   # warm-up (cv2 import)
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            conv.image_from_msg(msg)
            times.append(time.perf_counter() - t)
        out[name] = {"median_ms": round(1e3 * statistics.median(times), 3),
                     "bytes": len(msg.data)}
    return out


def run_publisher(seconds: float, transport: str = "raw") -> None:
    import numpy as np
    import rclpy
    from rclpy.node import Node

    from bc_ros.nodes import conversions as conv
    from bc_ros.nodes.runtime import COMMAND_QOS, SENSOR_QOS

    rclpy.init()
    node = Node("bench_publisher")
    cams = {c: node.create_publisher(conv.image_class(transport),
                                     conv.camera_topic(c, transport), SENSOR_QOS)
            for c in CAMERAS}
    joints = node.create_publisher(conv.JointState, "joint_states", SENSOR_QOS)
    cmd = node.create_publisher(conv.TwistStamped, "expert/cmd", COMMAND_QOS)
    frames = camera_frames()
    if transport == "compressed":   # encoded once: the camera's work, not the recorder's
        stamp0 = node.get_clock().now().to_msg()
        frames = [conv.compressed_image_to_msg(f, stamp0, fmt="jpeg", quality=90)
                  for f in frames]
    k = {"cam": 0, "joint": 0}

    def cameras():
        stamp = node.get_clock().now().to_msg()
        for c, pub in cams.items():
            frame = frames[k["cam"] % 4]
            if transport == "compressed":
                frame.header.stamp, frame.header.frame_id = stamp, f"camera_{c}"
                pub.publish(frame)
            else:
                pub.publish(conv.image_to_msg(frame, stamp, f"camera_{c}"))
        cmd.publish(conv.command_to_msg([0.1, 0.0, 0.0, 0.05], ["vx", "vy", "vz", "yaw_rate"],
                                        "twist_stamped", stamp))
        k["cam"] += 1

    def joint_states():
        stamp = node.get_clock().now().to_msg()
        q = {"name": JOINTS, "position": np.full(9, 0.01 * k["joint"]), "velocity": np.zeros(9)}
        joints.publish(conv.joint_state_to_msg(q, stamp))
        k["joint"] += 1

    # A precise schedule on the monotonic clock (rclpy timers driven by spin_once fell behind
    # to about 25 Hz here); publishing needs no spinning.
    t0 = time.monotonic()
    next_cam, next_joint, end = t0, t0, t0 + seconds
    while True:
        now = time.monotonic()
        if now >= end:
            break
        if now >= next_cam:
            cameras()
            next_cam += 1 / 30
        if now >= next_joint:
            joint_states()
            next_joint += 1 / 100
        time.sleep(max(0.0, min(next_cam, next_joint) - time.monotonic()))
    print(json.dumps({"camera_frames": k["cam"], "joint_states": k["joint"],
                      "seconds": round(time.monotonic() - t0, 2)}), flush=True)
    node.destroy_node()
    rclpy.shutdown()


def run_bare(seconds: float, transport: str = "raw") -> None:
    import rclpy
    from rclpy.node import Node

    from bc_ros.nodes import conversions as conv
    from bc_ros.nodes.runtime import COMMAND_QOS, SENSOR_QOS, make_executor

    rclpy.init()
    node = Node("bench_bare")
    count = [0]

    def on(msg):
        count[0] += 1

    for c in CAMERAS:
        node.create_subscription(conv.image_class(transport), conv.camera_topic(c, transport),
                                 on, SENSOR_QOS)
    node.create_subscription(conv.JointState, "joint_states", on, SENSOR_QOS)
    node.create_subscription(conv.TwistStamped, "expert/cmd", on, COMMAND_QOS)
    executor = make_executor()     # the recorder's executor (BC_ROS_EXECUTOR)
    executor.add_node(node)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        executor.spin_once(timeout_sec=0.1)
    print(json.dumps({"messages": count[0]}), flush=True)


def run_recorder(seconds: float, dataset: str, episode_seconds: float,
                 transport: str = "raw") -> None:
    import shutil

    import rclpy

    from bc_ros.nodes.recorder_node import RecorderNode
    from bc_ros.nodes.runtime import make_executor

    rclpy.init()
    node = RecorderNode({"dataset": dataset, "image_width": 640, "image_height": 480,
                         "state_type": "joint_state", "state_dim": 9,
                         "command_type": "twist_stamped", "record_executed": False,
                         "rate_hz": 10.0, "image_transport": transport})
    executor = make_executor()     # as spin_node spins it (BC_ROS_EXECUTOR)
    executor.add_node(node)
    totals = {"ticks": 0, "ticks_flagged": 0, "episodes": 0, "problems": {}}
    end = time.monotonic() + seconds
    node.start_episode(at_first_sample=True)
    next_cut = time.monotonic() + episode_seconds
    while time.monotonic() < end:
        executor.spin_once(timeout_sec=0.05)
        if time.monotonic() >= next_cut or time.monotonic() >= end:
            summary = node.recorder.stop(node.get_clock().now().nanoseconds * 1e-9, True)
            counts = summary.get("counts", {})
            totals["ticks"] += counts.get("ticks", 0)
            totals["ticks_flagged"] += counts.get("ticks_flagged", 0)
            totals["episodes"] += 1
            for key, value in counts.items():
                if key not in ("ticks", "ticks_flagged"):
                    totals["problems"][key] = totals["problems"].get(key, 0) + value
            path = os.path.join(dataset, "episodes", summary.get("file", ""))
            if summary.get("file") and os.path.exists(path):
                os.remove(path)  # keep the disk from filling up; it was written and published
            if time.monotonic() < end:
                node.start_episode()
            next_cut = time.monotonic() + episode_seconds
    print(json.dumps(totals), flush=True)
    node.destroy_node()
    rclpy.shutdown()
    shutil.rmtree(dataset, ignore_errors=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--episode-seconds", type=float, default=60.0)
    parser.add_argument("--json")
    parser.add_argument("--default-transport", action="store_true",
                        help="leave Fast DDS at its default 512 KB shared-memory segment")
    parser.add_argument("--executor", choices=["events", "single"], default="events",
                        help="the recorder's and the bare subscriber's executor (bc_ros's "
                             "default: events)")
    parser.add_argument("--transport", choices=["raw", "compressed"], default="raw",
                        help="cameras as sensor_msgs/Image or JPEG CompressedImage")
    parser.add_argument("--role", choices=["publisher", "bare", "recorder"], help=argparse.SUPPRESS)
    parser.add_argument("--dataset", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.role == "publisher":
        run_publisher(args.seconds, args.transport)
        return 0
    if args.role == "bare":
        run_bare(args.seconds, args.transport)
        return 0
    if args.role == "recorder":
        run_recorder(args.seconds, args.dataset, args.episode_seconds, args.transport)
        return 0

    decode = decode_ms()
    print("decode of one 640x480 frame: " + ", ".join(
        f"{k} {v['median_ms']} ms ({v['bytes'] // 1000} kB)" for k, v in decode.items()),
        flush=True)

    from bc_ros.nodes.runtime import LARGE_DATA_PROFILE

    profile = "" if args.default_transport else LARGE_DATA_PROFILE  # "": Fast DDS defaults
    env = dict(os.environ, FASTDDS_DEFAULT_PROFILES_FILE=profile, BC_ROS_EXECUTOR=args.executor,
               ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST",
               ROS_DOMAIN_ID=str(60 + os.getpid() % 40), PYTHONUNBUFFERED="1")
    me = [sys.executable, os.path.abspath(__file__), "--transport", args.transport]
    warmup, window = 5.0, args.seconds
    dataset = tempfile.mkdtemp(prefix="bench_recorder_")
    total = 2.0 + warmup + window + 3.0  # every child outlives the measured window
    procs = {
        "recorder": subprocess.Popen(me + ["--role", "recorder", "--seconds", str(total - 1),
                                           "--dataset", os.path.join(dataset, "ds"),
                                           "--episode-seconds", str(args.episode_seconds)],
                                     env=env, stdout=subprocess.PIPE, text=True),
        "bare": subprocess.Popen(me + ["--role", "bare", "--seconds", str(total - 1)], env=env,
                                 stdout=subprocess.PIPE, text=True),
    }
    time.sleep(2.0)  # subscribers first, so the publisher's first frames have somewhere to go
    procs["publisher"] = subprocess.Popen(me + ["--role", "publisher", "--seconds", str(total)],
                                          env=env)
    time.sleep(warmup)
    start = {n: (cpu_seconds(p.pid), rss_mb(p.pid)) for n, p in procs.items()}
    t0 = time.monotonic()
    time.sleep(window)
    elapsed = time.monotonic() - t0
    end = {n: (cpu_seconds(p.pid), rss_mb(p.pid)) for n, p in procs.items()}
    outputs = {}
    for n, p in procs.items():
        out, _ = p.communicate(timeout=120)
        outputs[n] = json.loads(out.strip().splitlines()[-1]) if out and out.strip() else {}
    cores = {n: (end[n][0] - start[n][0]) / elapsed for n in procs}
    result = {"seconds": round(elapsed, 1), "executor": args.executor,
              "transport": args.transport, "decode_640x480": decode,
              "ticks": outputs["recorder"].get("ticks"),
              "ticks_flagged": outputs["recorder"].get("ticks_flagged"),
              "episodes": outputs["recorder"].get("episodes"),
              "problems": outputs["recorder"].get("problems"),
              "recorder_cores": round(cores["recorder"], 3), "bare_cores": round(cores["bare"], 3),
              "publisher_cores": round(cores["publisher"], 3),
              "recorder_over_bare": round(cores["recorder"] / max(cores["bare"], 1e-9), 2),
              "recorder_rss_mb": [round(start["recorder"][1]), round(end["recorder"][1])],
              "bare_messages": outputs["bare"].get("messages")}
    print(f"recorder load over {result['seconds']} s: {result['ticks']} ticks written, "
          f"{result['ticks_flagged']} with a missing/stale stream; recorder "
          f"{result['recorder_cores']} cores vs bare subscriber {result['bare_cores']} "
          f"(ratio {result['recorder_over_bare']}); recorder RSS {result['recorder_rss_mb'][0]} "
          f"-> {result['recorder_rss_mb'][1]} MB; publisher {result['publisher_cores']} cores; "
          f"problems {result['problems']}")
    write_json(args.json, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
