"""The ``bc-ros`` command: everything a person types on the pip path.

    bc-ros sim {drone,arm} [--task T] [--seed S] [--expert] [--snapshot DIR] ...  a sim node
    bc-ros teleop [--robot R] ...                                                 a teleop node
    bc-ros train --dataset D --head H --out RUN [--config train.yaml] ...         train a policy
    bc-ros eval --checkpoint CKPT [--sim drone --task trail] [--episodes 100]     closed loop
    bc-ros export --checkpoint CKPT [--format onnx|torchscript]                   + parity check
    bc-ros policy --checkpoint CKPT [--lockstep] [--sim-time]                     policy node
    bc-ros dagger --demos D --out RUN [--rounds 3] [--gating beta|uncertainty|human] ...  DAgger
    bc-ros demo [--quick] [--out DIR]                                             the main job
    bc-ros install-ros-files                       pip path: what ros2 run / ros2 launch look for

Heavy imports (rclpy, pybullet) happen inside the sub-commands, so ``bc-ros --help`` is instant.
"""

from __future__ import annotations

import argparse
import sys

from bc_ros.core.sim import ROBOTS


def _image_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"image size must look like 96x96, got {text!r}")
    return w, h


def _sim_overrides(args) -> dict:
    overrides = {"robot": args.robot, "task": args.task or "", "seed": args.seed,
                 "image_width": args.image_size[0], "image_height": args.image_size[1],
                 "episodes": args.episodes, "publish_clock": args.sim_time,
                 "expert_noise_std": args.noise_std, "command_type": args.command_type,
                 "image_transport": args.image_transport}
    if args.expert:
        overrides.update(expert_drives=True, mode="realtime")
    elif args.lockstep:
        overrides.update(mode="lockstep")
    if args.rate is not None:
        overrides["rate_hz"] = args.rate
    return overrides


def cmd_sim(args) -> int:
    from bc_ros.core.sim.session import SimConfig
    from bc_ros.nodes.runtime import spin_node
    from bc_ros.nodes.sim_node import SimNode

    overrides = _sim_overrides(args)
    try:
        SimConfig(**overrides)  # validate before rclpy starts, so errors read cleanly
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return spin_node(lambda: SimNode(overrides, snapshot_dir=args.snapshot or "",
                                     snapshot_step=args.snapshot_step), args.ros_args)


def cmd_teleop(args) -> int:
    from bc_ros.nodes.runtime import spin_node
    from bc_ros.nodes.teleop_node import TeleopNode

    from bc_ros.core.sim import env_class

    overrides = dict(env_class(args.robot).teleop)    # the robot's axes, keys and scales
    return spin_node(lambda: TeleopNode(overrides), args.ros_args)


def cmd_record(args) -> int:
    from bc_ros.sessions.recording import record_with_expert

    try:
        result = record_with_expert(robot=args.robot, task=args.task, episodes=args.episodes,
                                    dataset=args.out, seed=args.seed, rate_hz=args.rate,
                                    noise_std=args.noise_std, image_size=args.image_size,
                                    image_transport=args.image_transport)
        return 0 if len(result["episodes"]) == args.episodes else 1
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def _write_json(path, data) -> None:
    if path:
        import json

        with open(path, "w") as f:
            json.dump(data, f, indent=2)


def _topic_remaps(pairs) -> dict:
    remaps = {}
    for pair in pairs or []:
        name, sep, topic = pair.partition("=")
        if not sep or not name or not topic:
            raise ValueError(f"--topic {pair!r}: expected NODE_TOPIC=BAG_TOPIC, e.g. "
                             f"odom=/robot1/odom")
        remaps[name] = topic
    return remaps


def cmd_dataset(args) -> int:
    from bc_ros.core.data.tools import audit_dataset, contact_sheet_of_episode, dataset_info

    try:
        if args.format and (args.format == "rosbag2") != (args.action == "import"):
            raise ValueError(f"--format {args.format} does not go with {args.action}: import "
                             f"reads rosbag2, export writes lerobot")
        if args.action == "import":
            from bc_ros.core.data.rosbag_import import import_rosbag
            from bc_ros.sessions.recording import recorder_config_for_import

            if not args.out:
                raise ValueError("import needs --out DATASET (bc-ros dataset import BAG --out D)")
            config = recorder_config_for_import(args.out, sim=args.sim or "",
                                                task=args.task or "", params=args.params or "",
                                                robot=args.robot or "")
            result = import_rosbag(args.dataset, config, episode_split=args.split,
                                   gap_seconds=args.gap_seconds,
                                   topics=_topic_remaps(args.topic), clock=args.clock,
                                   success=args.success)
            _write_json(args.json, result)
            print(f"imported {len(result['episodes'])} episodes from {args.dataset} "
                  f"into {args.out} (clock: {result['clock']})")
            for warning in result.get("warnings", []):
                print(f"warning: {warning}", file=sys.stderr)
            return 0
        if args.action == "export":
            from bc_ros.core.data.lerobot import export_lerobot

            if not args.out:
                raise ValueError("export needs --out FOLDER for the LeRobot dataset")
            summary = export_lerobot(args.dataset, args.out, robot_type=args.robot_type,
                                     codec=args.codec, overwrite=args.overwrite)
            _write_json(args.json, summary)
            print(f"exported {summary.get('episodes')} episodes, {summary.get('frames')} "
                  f"frames as LeRobot v3.0 to {args.out}")
            return 0
        if args.action == "view":
            import cv2

            sheet = contact_sheet_of_episode(args.dataset, args.episode, args.camera)
            out = args.out or f"episode_{args.episode:06d}_{args.camera}.png"
            cv2.imwrite(out, sheet[:, :, ::-1])
            print(f"wrote {out}")
            return 0
        if args.action == "info":
            info = dataset_info(args.dataset)
            _write_json(args.json, info)
            print(f"{info['root']}: {info['episodes']} episodes, {info['frames']} frames at "
                  f"{info['rate_hz']:g} Hz ({info['duration_s'] or 0:.0f} s), "
                  f"{info['successes']} successful, {info['recovered']} recovered")
            print(f"  tasks {info['tasks']}  sources {info['sources']}  cameras "
                  f"{info['cameras']} {info['image_size']}  actions {info['action_names']}")
            if info["control_ticks"]:
                print(f"  control ticks {info['control_ticks']}")
            return 0
        report = audit_dataset(args.dataset)
        _write_json(args.json, report)
        print(f"{report['root']}: {report['episodes']} episodes, {report['ticks']} ticks")
        for s, st in report["streams"].items():
            print(f"  {s:14s} drop {100 * st['drop_rate']:5.1f} %  missing {st['missing']:5d}  "
                  f"stale {st['stale']:5d}  bad {st['bad_value']:4d}  gaps {st['gaps']:4d}  "
                  f"skew median {st['skew_median_ms'] or 0:6.1f} ms  "
                  f"p99 {st['skew_p99_ms'] or 0:6.1f} ms")
        for index, reasons in report["flagged_episodes"].items():
            print(f"  episode {index}: {'; '.join(reasons)}")
        print("audit: ok" if report["ok"] else
              f"audit: {len(report['flagged_episodes'])} episodes flagged")
        return 0 if report["ok"] else 1
    except (FileNotFoundError, FileExistsError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def _add_config_arguments(parser, cls, skip=()) -> None:
    """One ``--option`` per field of a typed config, with the field's help text. Lists take
    several values, dicts a JSON object; unset options keep the config's (or file's) value."""
    import dataclasses

    from bc_ros.core.config import field_help, field_types

    types = field_types(cls)
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        flag, t = "--" + f.name.replace("_", "-"), types[f.name]
        origin = getattr(t, "__origin__", t)
        if t is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None,
                                help=field_help(f))
        elif origin is list:
            parser.add_argument(flag, nargs="*", default=None, help=field_help(f))
        elif origin is dict:
            parser.add_argument(flag, type=_json_object, default=None,
                                help=field_help(f) + " (JSON)")
        else:
            parser.add_argument(flag, type=t, default=None, help=field_help(f))


def _json_object(text: str) -> dict:
    import json

    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {text!r} ({e})")
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {text!r}")
    return value


def _config_from(args, cls, skip=()) -> object:
    """File values (``--config``), then command-line values on top."""
    from bc_ros.core.config import from_dict

    return from_dict(cls, _config_values(args, cls, skip))


def _config_values(args, cls, skip=()) -> dict:
    import dataclasses

    import yaml

    from bc_ros.core.config import field_types

    values = {}
    if args.config:
        with open(args.config) as f:
            values = yaml.safe_load(f) or {}
    types = field_types(cls)
    for f in dataclasses.fields(cls):
        v = getattr(args, f.name, None)
        if f.name in skip or v is None:
            continue
        if getattr(types[f.name], "__origin__", types[f.name]) is list:   # list[...] or list
            v = [_number(x) for x in v]
        values[f.name] = v
    return values


def _number(text):
    for t in (int, float):
        try:
            return t(text)
        except (TypeError, ValueError):
            pass
    return text


def cmd_train(args) -> int:
    from bc_ros.core.config import from_dict
    from bc_ros.core.policy.checkpoint import CheckpointError
    from bc_ros.core.train.config import TrainConfig
    from bc_ros.core.train.trainer import train

    try:
        values = _config_values(args, TrainConfig)
        if args.preset:     # the recipe of the task for this head, under file and options
            from bc_ros.core.train.presets import load_preset
            values = {**load_preset(args.preset, values.get("head", "gaussian")), **values}
        config = from_dict(TrainConfig, values)
        summary = train(config)
    except (FileNotFoundError, ValueError, CheckpointError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if summary["rank"] == 0:
        last = summary["history"][-1] if summary["history"] else {}
        print(f"trained {config.head} for {summary['steps']} steps in {summary['seconds']:.0f} s "
              f"({summary['samples_per_s']:.0f} samples/s); val loss "
              f"{last.get('val_loss')}; best: {summary['best']}")
    return 0


def cmd_eval(args) -> int:
    from bc_ros.core.policy.checkpoint import CheckpointError
    from bc_ros.core.train.evaluate import plot_results
    from bc_ros.sessions.evaluation import evaluate_in_sim

    try:
        result = evaluate_in_sim(args.checkpoint, sim=args.sim or "", task=args.task or "",
                                 episodes=args.episodes, seed_offset=args.seed_offset,
                                 backend=args.backend, threads=args.threads,
                                 video_dir=args.video, video_episodes=args.video_episodes,
                                 progress=not args.quiet, label=args.label or "",
                                 chunk_candidates=args.chunk_candidates,
                                 n_action_steps=args.n_action_steps)
    except (CheckpointError, ValueError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    _write_json(args.json, result)
    if args.plot:
        plot_results([result], args.plot)
    lo, hi = result["ci95"]
    print(f"{result['robot']}/{result['task']} {result['head']}: {result['successes']}/"
          f"{result['episodes']} succeeded ({100 * result['success_rate']:.0f} %, 95 % CI "
          f"{100 * lo:.0f}-{100 * hi:.0f} %); failures {result['failures'] or 'none'}; mean "
          f"length {result['mean_steps']:.0f} steps; modes {result['modes_of_successes']}")
    return 0


def cmd_export(args) -> int:
    from bc_ros.core.policy.checkpoint import CheckpointError
    from bc_ros.sessions.evaluation import export_checkpoint

    try:
        result = export_checkpoint(args.checkpoint, fmt=args.format, out=args.out or "",
                                   batch=args.batch, seed=args.seed, tolerance=args.tolerance)
    except CheckpointError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    _write_json(args.json, result)
    print(f"wrote {result['out']} ({args.format}, {result['exporter']}); parity with eager "
          f"PyTorch on the same observation and noise: max |diff| {result['max_abs_diff']:.2e} "
          f"({'ok' if result['ok'] else 'TOO LARGE'}, tolerance {args.tolerance:g})")
    return 0 if result["ok"] else 1


def cmd_policy(args) -> int:
    from rclpy.parameter import Parameter

    from bc_ros.core.policy.checkpoint import CheckpointError
    from bc_ros.nodes.policy_node import PolicyNode
    from bc_ros.nodes.runtime import spin_node
    from bc_ros.sessions.policy import policy_node_overrides

    try:
        overrides = policy_node_overrides(
            args.checkpoint, lockstep=args.lockstep, resize=args.resize,
            cmd_topic=args.cmd_topic, threads=args.threads, backend=args.backend,
            rate_hz=args.rate, low=args.low, high=args.high)
    except (CheckpointError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return spin_node(lambda: PolicyNode(overrides, parameter_overrides=[
        Parameter("use_sim_time", value=args.sim_time)]), args.ros_args)


def cmd_dagger(args) -> int:
    from bc_ros.sessions.dagger import DaggerRunConfig, run_dagger

    try:
        config = _config_from(args, DaggerRunConfig)
        from bc_ros.core.sim import check_robot_task
        check_robot_task(config.robot, config.task)
        summary = run_dagger(config)
    except (FileNotFoundError, ValueError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{len(summary['rounds']) - 1} DAgger rounds in {summary['seconds']:.0f} s; "
          f"final policy {summary['checkpoint']}; figures in {config.out}/dagger.json, plot "
          f"{config.out}/dagger.png")
    return 0


def cmd_demo(args) -> int:
    from bc_ros.sessions.demo import run_demo

    return run_demo(out=args.out, quick=args.quick, force=args.force, jobs=args.jobs)


def cmd_install_ros_files(args) -> int:
    from bc_ros.sessions.ros_install import ament_prefix_hint, install_ros_files

    try:
        changed = install_ros_files(args.prefix)
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{len(changed)} files linked or updated for ros2 run / ros2 launch" if changed else
          "ros2 run / ros2 launch files already in place")
    hint = ament_prefix_hint(args.prefix)
    if hint:
        print(f"for ros2 to find bc_ros: {hint}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bc-ros", description="Imitation learning on ROS 2 "
                                     "robots: record, train, run, DAgger; PyBullet sims.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("sim", help="run a simulation as a ROS 2 node")
    p.add_argument("robot", choices=list(ROBOTS))
    p.add_argument("--task", help="task (drone: trail, bypass; arm: reach_around, push, reach_goal, play)")
    p.add_argument("--seed", type=int, default=0, help="seed of the first episode")
    p.add_argument("--episodes", type=int, default=0, help="stop after N episodes (0: never)")
    p.add_argument("--expert", action="store_true", help="the scripted expert drives")
    p.add_argument("--noise-std", type=float, default=0.0,
                   help="noise injected into the expert's executed command (fraction of range)")
    p.add_argument("--lockstep", action="store_true",
                   help="step once per command on cmd (ignored with --expert)")
    p.add_argument("--rate", type=float, help="steps per wall second (default: real time)")
    p.add_argument("--image-size", type=_image_size, default=(96, 96), help="WxH, e.g. 96x96")
    p.add_argument("--image-transport", choices=["raw", "compressed"], default="raw",
                   help="cameras as sensor_msgs/Image (raw) or JPEG CompressedImage on "
                        "camera/<name>/image_raw/compressed")
    p.add_argument("--sim-time", action="store_true", help="publish /clock and stamp with it")
    p.add_argument("--command-type", default="twist",
                   help="twist, twist_stamped (cmd_vel from Jazzy on), float64_multi_array "
                        "(ros2_control forward_command_controller), joint_state or "
                        "joint_trajectory (ros2_control joint_trajectory_controller); "
                        "-p command_interface:=position after --ros-args for positions")
    p.add_argument("--snapshot", metavar="DIR", help="write camera and overview PNGs here")
    p.add_argument("--snapshot-step", type=int, default=20,
                   help="step of each episode at which the snapshot is taken")
    p.add_argument("--ros-args", nargs=argparse.REMAINDER, default=None,
                   help="everything after this goes to rclpy (remappings, parameters)")
    p.set_defaults(func=cmd_sim)

    p = sub.add_parser("record", help="record scripted-expert demonstrations from a sim over "
                                      "ROS 2 (sim node + recorder node)")
    p.add_argument("robot", choices=list(ROBOTS))
    p.add_argument("--task", help="task (default: the robot's first)")
    p.add_argument("--episodes", type=int, default=5)
    p.add_argument("--out", default="data/demos", help="dataset folder (resumed if it exists)")
    p.add_argument("--seed", type=int, default=0, help="seed of the first episode")
    p.add_argument("--rate", type=float, default=30.0,
                   help="sim steps per wall second (the sim's own rate is 10 Hz)")
    p.add_argument("--noise-std", type=float, default=0.0,
                   help="noise injected into the executed expert command (recovery data)")
    p.add_argument("--image-size", type=_image_size, default=(96, 96), help="WxH")
    p.add_argument("--image-transport", choices=["raw", "compressed"], default="raw",
                   help="compressed: the cameras go through JPEG (CompressedImage), as from a "
                        "robot's image_transport")
    p.set_defaults(func=cmd_record)

    p = sub.add_parser("dataset", help="dataset tools")
    p.add_argument("action", choices=["info", "audit", "view", "export", "import"])
    p.add_argument("dataset", help="dataset folder (import: the rosbag2 bag, a folder or a "
                                   ".mcap / .db3 file)")
    p.add_argument("--json", help="also write the figures to this file")
    p.add_argument("--episode", type=int, default=0, help="view: which episode")
    p.add_argument("--camera", default="center", help="view: which camera")
    p.add_argument("--out", help="view: PNG to write; export: the LeRobot dataset folder; "
                                 "import: the dataset to record into (created or resumed)")
    p.add_argument("--format", choices=["lerobot", "rosbag2"],
                   help="export: lerobot (the default); import: rosbag2 (the default)")
    p.add_argument("--robot-type", default="", help="export: LeRobot robot_type")
    p.add_argument("--overwrite", action="store_true", help="export: replace --out")
    p.add_argument("--codec", default="h264", choices=["h264", "hevc", "libsvtav1"],
                   help="export: the cameras' video codec (LeRobot reads all three)")
    p.add_argument("--params", help="import: recorder parameters, a ROS 2 parameter file like "
                                    "config/recorder.yaml or a plain YAML mapping (cameras, "
                                    "state_type, command_type, rate_hz, ...)")
    p.add_argument("--sim", choices=list(ROBOTS), help="import: a bag of a bc_ros sim: take "
                   "its cameras, state and command layout (then --params on top)")
    p.add_argument("--robot", help="import: the robot profile of the bag's robot (a shipped "
                                   "name or a YAML path): topics, joints, command layout "
                                   "(then --params on top)")
    p.add_argument("--task", help="import --sim: the sim's task (default: the robot's default)")
    p.add_argument("--split", default="outcome", choices=["outcome", "whole", "gap"],
                   help="import: episodes end at each sim/outcome, the bag is one episode, or a "
                        "new one starts after --gap-seconds without messages")
    p.add_argument("--gap-seconds", type=float, default=1.0, help="import --split gap")
    p.add_argument("--clock", default="auto", choices=["auto", "clock", "receive", "stamps"],
                   help="import: the recorder's clock (see bc_ros/core/data/rosbag_import.py)")
    p.add_argument("--topic", action="append", metavar="NODE_TOPIC=BAG_TOPIC",
                   help="import: read a topic under another name in the bag, e.g. "
                        "odom=/robot1/odom (repeatable)")
    p.add_argument("--success", action="store_true",
                   help="import: mark episodes not ended by a sim outcome (whole, gap) as "
                        "successful")
    p.set_defaults(func=cmd_dataset)

    p = sub.add_parser("teleop", help="joystick / keyboard teleoperation node")
    p.add_argument("--robot", choices=list(ROBOTS), default="drone")
    p.add_argument("--ros-args", nargs=argparse.REMAINDER, default=None)
    p.set_defaults(func=cmd_teleop)

    p = sub.add_parser("train", help="train a policy on a dataset (also under torchrun: DDP)")
    from bc_ros.core.train.presets import PRESETS
    p.add_argument("--preset", choices=sorted(PRESETS),
                   help="start from the training recipe of a task (core/train/presets.py: "
                        "cameras, state, chunking, steps; --config and options override it)")
    p.add_argument("--config", help="YAML file of TrainConfig fields (options override it)")
    from bc_ros.core.train.config import TrainConfig
    _add_config_arguments(p, TrainConfig)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("eval", help="closed-loop success of a checkpoint in a sim, no ROS")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--sim", choices=list(ROBOTS), help="robot (default: the checkpoint's)")
    p.add_argument("--task", help="task (default: the checkpoint's)")
    p.add_argument("--episodes", type=int, default=100, help="held-out seeds to run")
    p.add_argument("--seed-offset", type=int, default=0, help="first held-out seed index")
    p.add_argument("--json", help="write the figures (and per-episode records) here")
    p.add_argument("--plot", help="write a success-rate bar chart (PNG) here")
    p.add_argument("--label", help="name of this policy in the JSON and plot")
    p.add_argument("--video", metavar="DIR", help="write mp4 overviews of the first episodes")
    p.add_argument("--video-episodes", type=int, default=2)
    p.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest for "
                                                          "batch-1 inference of small models)")
    p.add_argument("--backend", choices=["torch", "onnxruntime"], default="torch",
                   help="run the model as policy_node's backend parameter does")
    p.add_argument("--chunk-candidates", type=int, default=0,
                   help="coherent chunks: candidates drawn per chunk (default: the "
                        "checkpoint's; 1: off)")
    p.add_argument("--n-action-steps", type=int, default=0,
                   help="actions executed per chunk (default: the checkpoint's)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("export", help="export a checkpoint to ONNX or TorchScript, with a "
                                      "parity check against eager PyTorch")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--format", choices=["onnx", "torchscript"], default="onnx")
    p.add_argument("--out", help="output file (default: next to the checkpoint)")
    p.add_argument("--batch", type=int, default=1, help="batch size of the exported graph")
    p.add_argument("--seed", type=int, default=0, help="seed of the parity check's inputs")
    p.add_argument("--tolerance", type=float, default=1e-4, help="largest accepted difference")
    p.add_argument("--json", help="write the parity figures here")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("policy", help="run a checkpoint as the policy node (ROS 2)")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--lockstep", action="store_true",
                   help="one command per new observation (with bc-ros sim --lockstep)")
    p.add_argument("--rate", type=float, help="control rate in Hz (realtime; default 10)")
    p.add_argument("--sim-time", action="store_true", help="tick on /clock")
    p.add_argument("--resize", action="store_true",
                   help="resize images of another size than the checkpoint's")
    p.add_argument("--cmd-topic", default="policy/cmd",
                   help="where commands go (cmd: drive the sim directly)")
    p.add_argument("--low", type=float, nargs="+", help="command limits (default: the sim's)")
    p.add_argument("--high", type=float, nargs="+")
    p.add_argument("--threads", type=int, default=1, help="torch threads of the inference thread")
    p.add_argument("--backend", choices=["torch", "onnxruntime"], default="torch",
                   help="run the model in eager PyTorch or in onnxruntime (exported at load, "
                        "checked against PyTorch; faster at batch 1)")
    p.add_argument("--ros-args", nargs=argparse.REMAINDER, default=None)
    p.set_defaults(func=cmd_policy)

    p = sub.add_parser("dagger", help="DAgger rounds in a sim over ROS 2: collect with the "
                                      "policy driving and the expert stepping in (beta mixing, "
                                      "robot-gated requests or a simulated human), aggregate, "
                                      "retrain, hot-swap")
    p.add_argument("--config", help="YAML file of DaggerRunConfig fields")
    from bc_ros.sessions.dagger import DaggerRunConfig
    _add_config_arguments(p, DaggerRunConfig)
    p.set_defaults(func=cmd_dagger)

    p = sub.add_parser("demo", help="the main job: record over ROS 2, train every head, "
                                    "evaluate, DAgger rounds, report")
    p.add_argument("--out", default="results", help="output folder")
    p.add_argument("--quick", action="store_true",
                   help="tiny counts (minutes): shows every stage runs, not the real figures")
    p.add_argument("--force", action="store_true", help="redo finished stages")
    p.add_argument("--jobs", type=int, default=None,
                   help="experiments trained at once (default: the CPU cores, at most 2)")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("install-ros-files",
                       help="pip path: make `ros2 run bc_ros ...` and `ros2 launch bc_ros ...` "
                            "work (links the executables into <prefix>/lib/bc_ros and, for an "
                            "editable install, launch/, config/ and the ament index marker "
                            "into <prefix>/share; make venv runs it)")
    p.add_argument("--prefix", help="the install prefix (default: this Python's, the venv)")
    p.set_defaults(func=cmd_install_ros_files)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "ros_args", None) is not None:
        args.ros_args = ["bc-ros", "--ros-args", *args.ros_args]
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
