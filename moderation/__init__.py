"""Duet's moderation: classifiers in worker processes, check schedules, policy, evidence.

moderation never imports signaling or sfu: the composition root hands it a frame source.
"""
