"""The ``duet`` command (:mod:`duet.cli`): the one place that imports every package
(signaling, sfu, moderation, turn and the benchmarks); no production package imports it.

Also :mod:`duet.tasks`, the one helper every package may import (it imports nothing of
Duet).
"""
