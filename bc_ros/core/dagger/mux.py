"""Command mux of the DAgger coordinator (ROS-free): which command the robot executes each tick.

``dagger_node`` caches the latest ``policy/cmd``, ``expert/cmd`` and ``expert/engaged`` (with the
time each was received, or its header stamp on a shared clock), and on every control tick calls
``CommandMux.tick(now, ...)``; it publishes ``decision.command`` on ``cmd``, ``decision.source`` on
the control topic the recorder stores, and ``decision.event`` (takeover / handback) when set.

Timeline (ticks k = 0, 1, 2, ... at times t_k, one control period T apart)::

    ... t_{k-1}          (inputs arrive)          t_k               t_{k+1} ...
          tick k-1 ----- flag / cmds received ----- tick k ----------- tick k+1
                                                    decides cmd_k from the latest inputs
                                                    (stamped <= t_k); the robot applies cmd_k
                                                    until cmd_{k+1}

An engaged flag (or a fresh expert command, or a high uncertainty score) that arrives between
tick k-1 and tick k governs tick k: ``cmd_k`` is already the expert's. The override latency is at
most one control period, and no tick decided after the flag arrived executes a policy command.

Who is in control. Episodes start under policy control. The expert takes control (event
``"takeover"``) on the first tick where it is *engaged*:

- ``mode="human"`` (HG-DAgger): the human is engaged while ``expert/engaged`` (or a Joy deadman
  the node maps to it) is true and fresh (``engage_source="flag"``), or - a mode - while an expert
  command is fresh (``engage_source="any_fresh_expert_command"``: the expert only publishes while
  it commands, so silence *is* the release);
- ``mode="uncertainty"`` (robot-gated): the ``UncertaintyGate`` requests help when the ensemble
  disagreement score exceeds the calibrated threshold and releases after agreement (see
  ``uncertainty.py``);
- ``mode="beta"`` (classic DAgger): nobody takes over; at each tick (or once per episode) a draw
  ``u ~ U[0, 1)`` from the rng picks the executed command: the expert's if ``u < beta``, else the
  policy's. The expert's command is recorded as the label at *every* tick where it is fresh.

In the beta and uncertainty modes a human can still override through the flag
(``human_override``, on by default; a scripted expert does not publish the flag).

Hand-back. When a human disengages, the expert keeps control for a hysteresis *hold*: the release
must persist for more than ``handback_ticks`` ticks and for at least ``handback_seconds`` seconds.
Released at tick r (the first tick that sees the flag false) with ``handback_ticks=3``: ticks r,
r+1, r+2 execute the expert's current command (source ``"hold"``, not labelled), and tick r+3 is the
policy's (event ``"handback"``); re-engaging during the hold cancels it without a new intervention.
A robot-gated request hands back without a hold (the gate's agreement run is its hysteresis). With
``blend_ticks=B`` the first B ticks after the hand-back execute (source ``"blend"``)::

    cmd = (1 - w_j) * c_last + w_j * policy_cmd,   w_j = j / (B + 1),   j = 1 .. B

where ``c_last`` is the last command executed before the hand-back; then the policy's command.

Stale inputs. An input is fresh when ``now - stamp <= timeout``. A stale or invalid (wrong length,
non-finite) command is never executed: the stop command is, with ``stop_reason``
``"policy_stale"``, ``"policy_invalid"``, ``"expert_stale"``, ``"expert_invalid"``; an engaged flag
that is still true but has gone stale (the teleop went silent mid-intervention) keeps the expert in
control and stops the robot (``"engaged_stale"``) until a fresh flag arrives (a flag that is already
stale when the policy is in control starts nothing). The policy is never a fallback for a silent
expert.

Sources (``decision.source``, what the recorder stores per tick): ``"policy"``, ``"expert"``
(engaged expert; the only ticks labelled in human and uncertainty modes), ``"hold"``, ``"blend"``,
``"stop"``. ``labels.py`` turns an episode's sources into the HG-DAgger label mask.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from bc_ros.core.config import field
from bc_ros.core.data.control import SOURCES  # noqa: F401 (decision sources; re-exported)
from bc_ros.core.dagger.uncertainty import UncertaintyGate

MODES = ("human", "beta", "uncertainty")
ENGAGE_SOURCES = ("flag", "any_fresh_expert_command")
BETA_DRAWS = ("tick", "episode")
STOP_REASONS = ("policy_stale", "policy_invalid", "expert_stale", "expert_invalid",
                "engaged_stale")
# Stamps and tick times are floats: an age equal to the timeout (up to rounding) is still fresh.
TIME_EPS = 1e-9


@dataclasses.dataclass
class MuxConfig:
    """Parameters of the command mux inside ``dagger_node``."""

    mode: str = field("human", "Gating: human (HG-DAgger override), beta (classic DAgger, "
                               "scripted expert), uncertainty (robot-gated requests).")
    engage_source: str = field("flag", "Human mode: what engages the expert: flag "
                                       "(expert/engaged or a Joy deadman) or "
                                       "any_fresh_expert_command.")
    human_override: bool = field(True, "Beta and uncertainty modes: a fresh true expert/engaged "
                                       "flag still gives the human control.")
    policy_timeout: float = field(0.5, "Seconds after which policy/cmd is stale (stop).")
    expert_timeout: float = field(0.5, "Seconds after which expert/cmd is stale (stop while the "
                                       "expert is in control).")
    engaged_timeout: float = field(0.5, "Seconds after which expert/engaged is stale; a stale "
                                        "true flag stops the robot.")
    handback_ticks: int = field(3, "Hand-back hysteresis: the human's release must last more "
                                   "than this many ticks.")
    handback_seconds: float = field(0.0, "Hand-back hysteresis: ... and at least this many "
                                         "seconds.")
    blend_ticks: int = field(0, "Ticks after a hand-back that blend linearly from the last "
                                "executed command to the policy's (0 = switch at once).")
    stop_command: list[float] = field([0.0, 0.0, 0.0, 0.0], "Command executed when the source "
                                                            "in control is stale; its length is "
                                                            "the command length.")
    beta_draw: str = field("tick", "Beta mode: draw the executed source every tick (as "
                                   "imitation's DAgger) or once per episode.")
    uncertainty_threshold: float = field(math.inf, "Uncertainty mode: disagreement score above "
                                                   "which the robot requests the expert "
                                                   "(calibrate_threshold).")
    agree_tol: float = field(0.1, "Uncertainty mode: scaled expert/policy distance below which "
                                  "they agree.")
    agree_ticks: int = field(5, "Uncertainty mode: consecutive agreeing ticks before the "
                                "hand-back.")
    action_scale: list[float] = field([], "Per-dimension action scale for the agreement "
                                          "distance (empty = 1 per dimension).")

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode=}")
        if self.engage_source not in ENGAGE_SOURCES:
            raise ValueError(f"engage_source must be one of {ENGAGE_SOURCES}, got "
                             f"{self.engage_source=}")
        if self.beta_draw not in BETA_DRAWS:
            raise ValueError(f"beta_draw must be one of {BETA_DRAWS}, got {self.beta_draw=}")
        for name in ("policy_timeout", "expert_timeout", "engaged_timeout"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be > 0 seconds, got {name}={value!r}")
        if not (math.isfinite(self.handback_seconds) and self.handback_seconds >= 0):
            raise ValueError(f"handback_seconds must be >= 0, got {self.handback_seconds=}")
        for name in ("handback_ticks", "blend_ticks"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be an integer >= 0, got {name}={value!r}")
        if len(self.stop_command) == 0 or not all(math.isfinite(v) for v in self.stop_command):
            raise ValueError(f"stop_command must be a non-empty list of finite values, got "
                             f"{self.stop_command=}")
        if self.action_scale and (len(self.action_scale) != len(self.stop_command)
                                  or not all(math.isfinite(v) and v > 0
                                             for v in self.action_scale)):
            raise ValueError(f"action_scale must be empty or one finite value > 0 per command "
                             f"dimension ({len(self.stop_command)}), got {self.action_scale=}")
        if self.mode == "uncertainty":
            if not math.isfinite(self.uncertainty_threshold):
                raise ValueError(f"uncertainty mode needs a finite threshold (calibrate it with "
                                 f"calibrate_threshold), got {self.uncertainty_threshold=}")
            if not self.agree_tol > 0:
                raise ValueError(f"agree_tol must be > 0, got {self.agree_tol=}")
            if isinstance(self.agree_ticks, bool) or not isinstance(self.agree_ticks, int) \
                    or self.agree_ticks < 1:
                raise ValueError(f"agree_ticks must be an integer >= 1, got {self.agree_ticks=}")


@dataclasses.dataclass
class MuxDecision:
    """What one tick decided."""

    command: np.ndarray          # what the robot executes, (D,)
    source: str                  # one of SOURCES
    control: str                 # who holds control after this tick: "policy" | "expert"
    engaged: bool                # the expert is asked for (human engaged or silent, or requested)
    record_label: bool           # store ``label`` as this tick's expert label
    label: np.ndarray | None     # the expert's command when record_label, else None
    event: str | None = None     # "takeover" | "handback" | None
    cause: str | None = None     # with an event: "human" | "request"
    stop_reason: str | None = None  # one of STOP_REASONS when source == "stop"
    detail: str = ""             # the stop reason in words, for the log


@dataclasses.dataclass
class MuxStats:
    """Per-episode counts (reset by ``start_episode``)."""

    ticks: int = 0
    autonomous_ticks: int = 0    # source == "policy"
    expert_ticks: int = 0        # source == "expert"
    hold_ticks: int = 0
    blend_ticks: int = 0
    stop_ticks: int = 0
    labels: int = 0              # ticks with record_label
    interventions: int = 0       # takeovers by a human
    requests: int = 0            # takeovers requested by the robot (uncertainty mode)
    scored_ticks: int = 0        # uncertainty mode: ticks with a fresh, finite score
    uncertain_ticks: int = 0     # ... of which the score was above the threshold
    handbacks: int = 0
    context_switches: int = 0    # changes of who acts: policy <-> expert
    stop_reasons: dict = dataclasses.field(default_factory=dict)

    @property
    def autonomous_fraction(self) -> float:
        return self.autonomous_ticks / self.ticks if self.ticks else 0.0

    @property
    def request_rate(self) -> float | None:
        """Fraction of scored ticks whose score was above the threshold (None: none scored):
        the rate the threshold was calibrated for, as achieved on the states visited."""
        return self.uncertain_ticks / self.scored_ticks if self.scored_ticks else None

    def as_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["autonomous_fraction"] = self.autonomous_fraction
        d["request_rate"] = self.request_rate
        return d


class CommandMux:
    """Picks the executed command each tick, with override, hysteresis, stale-input stop.

    See the module docstring for the timeline and the rules. ``rng`` is needed in beta mode only
    (one ``rng.random()`` per tick with ``beta_draw="tick"``, whatever else happens that tick, or
    one per episode in ``start_episode``), so a seeded run is reproducible.
    """

    def __init__(self, config: MuxConfig, *, rng: np.random.Generator | None = None):
        if config.mode == "beta" and rng is None:
            raise ValueError("beta mode draws the executed source: pass rng=np.random.Generator")
        self.config = config
        self.rng = rng
        self.stop = np.asarray(config.stop_command, dtype=np.float64)
        self.gate = self._new_gate()
        self.beta: float | None = None
        self.start_episode()

    # -- episode -------------------------------------------------------------------------------

    def _new_gate(self) -> UncertaintyGate | None:
        """Uncertainty mode's gate from the config's threshold and hand-back fields."""
        cfg = self.config
        if cfg.mode != "uncertainty":
            return None
        return UncertaintyGate(cfg.uncertainty_threshold, agree_tol=cfg.agree_tol,
                               agree_ticks=cfg.agree_ticks, action_scale=cfg.action_scale or None)

    def start_episode(self, *, beta: float | None = None) -> None:
        """Reset control to the policy and the per-episode stats; beta mode needs this round's
        ``beta`` (from a schedule) before the first tick. Uncertainty mode: the gate takes the
        threshold and hand-back fields of ``self.config`` as it is now (a caller may replace the
        config between episodes, e.g. with a threshold recalibrated for a new policy)."""
        if beta is not None:
            if self.config.mode != "beta":
                raise ValueError(f"beta is only used in beta mode, got {beta=} in mode "
                                 f"{self.config.mode!r}")
            if not 0.0 <= beta <= 1.0:
                raise ValueError(f"beta must be in [0, 1], got {beta=}")
            self.beta = float(beta)
        self.stats = MuxStats()
        self._control = "policy"
        self._cause: str | None = None       # why the expert holds control: "human" | "request"
        self._released = 0                   # consecutive ticks the human has been released
        self._released_since = 0.0
        self._blend_left = 0
        self._blend_from = self.stop
        self._last_command = self.stop
        self._actor = "policy"               # who acted last tick (context switches)
        self._episode_expert = False
        self.gate = self._new_gate()
        if self.config.mode == "beta" and self.beta is not None \
                and self.config.beta_draw == "episode":
            self._episode_expert = bool(self.rng.random() < self.beta)

    # -- inputs --------------------------------------------------------------------------------

    def _check(self, name: str, cmd, stamp, timeout: float, now: float):
        """(command, None) if fresh and valid, else (None, (reason, detail))."""
        if cmd is None:
            return None, (f"{name}_stale", f"no {name} command received yet")
        if stamp is None:
            raise ValueError(f"{name}_cmd needs {name}_stamp (the time it was received)")
        age = now - stamp
        if age > timeout + TIME_EPS:
            return None, (f"{name}_stale", f"{name} command is {age:.3f} s old > "
                                           f"{name}_timeout {timeout} s")
        a = np.asarray(cmd, dtype=np.float64).reshape(-1)
        if a.shape != self.stop.shape:
            return None, (f"{name}_invalid", f"{name} command has {a.size} values, expected "
                                             f"{self.stop.size}")
        if not np.all(np.isfinite(a)):
            return None, (f"{name}_invalid", f"{name} command is not finite: {a.tolist()}")
        return a, None

    def _human(self, now: float, engaged, engaged_stamp, expert) -> tuple[bool, bool]:
        """(engaged and fresh, engaged but silent)."""
        cfg = self.config
        if cfg.mode == "human" and cfg.engage_source == "any_fresh_expert_command":
            return expert is not None, False
        if cfg.mode != "human" and not cfg.human_override:
            return False, False
        if engaged is None:
            return False, False
        if engaged_stamp is None:
            raise ValueError("engaged needs engaged_stamp (the time it was received)")
        if now - engaged_stamp > cfg.engaged_timeout + TIME_EPS:
            return False, bool(engaged)
        return bool(engaged), False

    # -- the tick ------------------------------------------------------------------------------

    def tick(self, now: float, *, policy_cmd=None, policy_stamp: float | None = None,
             expert_cmd=None, expert_stamp: float | None = None, engaged: bool | None = None,
             engaged_stamp: float | None = None, score: float | None = None) -> MuxDecision:
        """Decide the command of the tick at time ``now`` from the latest inputs.

        Args:
            now: the tick's time (node clock, sim time in simulation), seconds.
            policy_cmd, policy_stamp: latest ``policy/cmd`` and when it was received (None: none).
            expert_cmd, expert_stamp: latest ``expert/cmd`` and when it was received.
            engaged, engaged_stamp: latest ``expert/engaged`` value and when it was received.
            score: uncertainty mode: the disagreement score that came with the latest policy
                command (ignored when that command is stale; None or NaN: the policy had no
                score, which never requests).
        """
        cfg = self.config
        if cfg.mode == "beta" and self.beta is None:
            raise ValueError("beta mode: call start_episode(beta=...) before the first tick")
        now = float(now)
        policy, policy_why = self._check("policy", policy_cmd, policy_stamp,
                                         cfg.policy_timeout, now)
        expert, expert_why = self._check("expert", expert_cmd, expert_stamp,
                                         cfg.expert_timeout, now)
        human_on, human_silent = self._human(now, engaged, engaged_stamp, expert)
        requesting = False
        if self.gate is not None:
            if policy is None or score is None or not math.isfinite(score):
                score = None        # no fresh score: never a request (NaN: the policy had none)
            requesting = self.gate.update(score, expert, policy).requesting
            if score is not None:
                self.stats.scored_ticks += 1
                self.stats.uncertain_ticks += score > self.gate.threshold
        draw_expert = False
        if cfg.mode == "beta":
            draw_expert = (bool(self.rng.random() < self.beta) if cfg.beta_draw == "tick"
                           else self._episode_expert)

        # 1. who holds control
        human = human_on or human_silent
        wants_expert = human or requesting
        event = cause = None
        if self._control == "policy":
            if human_on or requesting:  # a flag that is already stale does not start one
                self._control, self._cause = "expert", ("human" if human else "request")
                self._released = 0
                self._blend_left = 0
                event, cause = "takeover", self._cause
                if cause == "human":
                    self.stats.interventions += 1
                else:
                    self.stats.requests += 1
        elif wants_expert:
            self._cause = "human" if human else "request"
            self._released = 0
        else:
            done = True
            if self._cause == "human":
                if self._released == 0:
                    self._released_since = now
                self._released += 1
                done = (self._released > cfg.handback_ticks
                        and now - self._released_since >= cfg.handback_seconds - TIME_EPS)
            if done:
                event, cause = "handback", self._cause
                self._control, self._cause, self._released = "policy", None, 0
                self._blend_left = cfg.blend_ticks if cfg.mode != "beta" else 0
                self._blend_from = self._last_command
                self.stats.handbacks += 1

        # 2. what executes
        stop_why = None
        if self._control == "expert":
            actor = "expert"
            if human_silent and not human_on:
                stop_why = ("engaged_stale", "expert/engaged is still true but stale "
                                             f"(> engaged_timeout {cfg.engaged_timeout} s)")
            elif expert is None:
                stop_why = expert_why
            source = "expert" if wants_expert else "hold"
        elif cfg.mode == "beta" and draw_expert:
            actor, source = "expert", "expert"
            stop_why = expert_why if expert is None else None
        else:
            actor = "policy"
            source = "blend" if self._blend_left > 0 else "policy"
            stop_why = policy_why if policy is None else None

        if stop_why is not None:
            command, source = self.stop, "stop"
        elif source == "policy":
            command = policy
        elif source == "blend":
            j = cfg.blend_ticks - self._blend_left + 1
            w = j / (cfg.blend_ticks + 1)
            command = (1.0 - w) * self._blend_from + w * policy
        else:  # expert or hold
            command = expert
        if self._blend_left > 0 and self._control == "policy":
            self._blend_left -= 1

        # 3. labels and counts
        if cfg.mode == "beta":
            record = expert is not None
        else:
            record = source == "expert"
        s = self.stats
        s.ticks += 1
        s.labels += record
        counter = {"policy": "autonomous_ticks", "expert": "expert_ticks", "hold": "hold_ticks",
                   "blend": "blend_ticks", "stop": "stop_ticks"}[source]
        setattr(s, counter, getattr(s, counter) + 1)
        if stop_why is not None:
            s.stop_reasons[stop_why[0]] = s.stop_reasons.get(stop_why[0], 0) + 1
        if actor != self._actor:
            s.context_switches += 1
        self._actor = actor
        self._last_command = command
        return MuxDecision(
            command=command.copy(), source=source, control=self._control,
            engaged=wants_expert, record_label=record,
            label=expert.copy() if record else None, event=event, cause=cause,
            stop_reason=stop_why[0] if stop_why else None,
            detail=stop_why[1] if stop_why else "")
