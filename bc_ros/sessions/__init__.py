"""The things a person runs: jobs that compose core/ and nodes/ into a whole.

    recording.py            ``bc-ros record``: a sim and a recorder node on one executor; the
                            recorder parameters that match a sim (also for ``dataset import``)
    dagger/                 ``bc-ros dagger``: the round loop, the running ROS graph, retraining
    evaluation.py           ``bc-ros eval`` and ``bc-ros export`` of a checkpoint
    policy.py               ``bc-ros policy``: the policy node's parameters from a checkpoint
    demo.py                 ``bc-ros demo``: the main job, every stage in the sims
    launch_descriptions.py  what the launch files in launch/ return (needs ``launch``)

``bc_ros/cli.py`` is only the argument layer over these. Sessions import from core/ and nodes/;
nothing below imports a session.
"""
