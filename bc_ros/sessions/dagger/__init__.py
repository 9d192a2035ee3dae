"""``bc-ros dagger``: unattended DAgger rounds in a sim, over ROS 2.

One process, one executor, five nodes that talk over topics exactly as separate processes would:

    sim_node (lockstep, /clock) --cameras, odom, expert/cmd--> policy_node (lockstep)
    policy_node --policy/cmd--> dagger_node (trigger=inputs) --cmd--> sim_node
    dagger_node --dagger/control--> recorder_node (record_control) <-- everything else

Round 0 is behavioral cloning on the expert demonstrations. Each round r >= 1:

1. the policy of round r-1 drives, and the gating decides when the expert acts instead:

   - ``beta`` (classic DAgger, Ross et al. 2011): ``dagger_node`` executes the expert's command
     with probability beta_r (the schedule), else the policy's; the expert's command at every
     visited state is a label;
   - ``uncertainty`` (robot-gated, ThriftyDAgger / LazyDAgger style): an ensemble of
     ``ensemble_size`` policies (the same training with seeds train.seed + m; the first drives)
     scores each observation by its disagreement; above a threshold the robot requests the
     expert, who keeps control until expert and policy agree for ``agree_ticks`` ticks in a row.
     The threshold is calibrated after every training on demonstrations no member trained on,
     so that ``target_request_rate`` of their ticks exceed it. Only the expert's ticks are labels;
   - ``human`` (HG-DAgger, Kelly et al. 2019): sim_node's simulated human (``core/sim/human.py``)
     takes over when the drone strays from the expert's path and lets go once it is back; only
     the expert's ticks are labels (plus, with ``context_ticks``, the ticks before each takeover);

   the recorder stores every tick with the expert's command as its action, who was in control
   (``control``), tagged source=dagger, round=r;
2. ``bc-ros train`` processes retrain from scratch on the demonstrations plus every round's data
   (aggregation; ``label_control`` keeps only the labelled ticks outside beta), the ensemble's
   members in parallel; the graph waits, the sim idles in lockstep;
3. the new checkpoint (and the ensemble's members) are hot-swapped into the running policy node
   (``~/load_checkpoint``) and the threshold is recalibrated and set on ``dagger_node`` while it
   runs; a failed retrain or load keeps the old policy (and members and threshold) running and
   the round says so;
4. the round's policy is evaluated on held-out seeds without ROS (``bc-ros eval``'s code path).

Per-round metrics go to ``<out>/rounds.json`` (``RoundLog``) and a plot ``<out>/dagger.png``;
``<out>/dagger.json`` adds the evaluations, calibrations and a per-round time breakdown.
Everything runs on sim time, so the result does not depend on the machine's speed.
"""

from bc_ros.sessions.dagger.config import GATINGS, DaggerRunConfig, member_config
from bc_ros.sessions.dagger.run import run_dagger

__all__ = ["GATINGS", "DaggerRunConfig", "member_config", "run_dagger"]
