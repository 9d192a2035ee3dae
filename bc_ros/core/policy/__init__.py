"""Policies: observation encoders, action heads (one file each), the Policy, checkpoints.

torch is imported by these modules only, so the recorder and the sims start without it.
"""
