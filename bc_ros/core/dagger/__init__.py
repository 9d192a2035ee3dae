"""DAgger coordination (ROS-free): the command mux and its gating modes (human override,
beta-mixing, robot-gated uncertainty), beta schedules, HG-DAgger labelling, round bookkeeping."""
