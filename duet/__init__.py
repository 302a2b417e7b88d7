"""The ``duet`` command: the one place that imports every package (signaling, sfu,
moderation, turn and the benchmarks). No production package imports it.
"""
