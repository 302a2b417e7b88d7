"""The body of one classifier worker process (the child side of ``moderation.workers``).

Started with the ``spawn`` context by :class:`moderation.workers.WorkerPool`. It loads the
classifier once, says ``ready`` (or ``fatal`` if it cannot load), then answers one check at a
time over its pipe: ``(job, shape, bytes)`` in, ``ok`` with a verdict or ``error`` out;
``None`` or a closed pipe stops it. SIGINT is ignored: the parent decides when it stops.
"""

from __future__ import annotations

import os
import signal
from multiprocessing.connection import Connection

import numpy as np

from moderation.classifiers import ClassifierConfig, load_factory
from moderation.verdict import coerce_verdict


def worker_main(conn: Connection, factory: str, config: ClassifierConfig) -> None:
    """Body of a worker process: load the classifier once, then answer checks."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when we stop
    try:
        classifier = load_factory(factory)(config)
    except Exception as exc:
        conn.send(("fatal", f"{type(exc).__name__}: {exc}"))
        return
    conn.send(("ready", os.getpid()))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        job, shape, data = message
        frame = np.frombuffer(bytearray(data), dtype=np.uint8).reshape(shape)
        try:
            verdict = coerce_verdict(classifier.classify(frame))
        except Exception as exc:
            conn.send(("error", job, f"{type(exc).__name__}: {exc}"))
            continue
        conn.send(("ok", job, verdict))
