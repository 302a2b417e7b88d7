"""The base of moderation's coded errors.

Every exception ``moderation`` raises on purpose is a :class:`ModerationError`: ``code``
is stable (a metrics label, a log field: ``checks_failed{reason=...}``,
``checks_skipped{reason=...}``), the message is for people. A subclass sets its ``code``
as a class attribute; one that stands for several (``NoWorker``: ``busy``, ``starting``,
``unavailable``) passes it. Subclasses may also derive from the builtin they replace
(``ValueError``, ``RuntimeError``) so existing handlers keep catching them.

The errors of one check are here too: :class:`CheckFailed` (no verdict; counts against the
breaker) and its kinds, and :class:`NoWorker` (the check could not start), raised by the
classifier worker pool (``moderation.workers``) and the job stream.
"""

from __future__ import annotations

from duet.errors import CodedError


class ModerationError(CodedError):
    code: str = "moderation_error"
    """Stable, snake_case."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(code or type(self).code, message)


class CheckFailed(ModerationError):
    """A check ran but produced no verdict; counts against the breaker."""

    code = "error"


class WorkerDied(CheckFailed):
    code = "worker_died"


class CheckTimedOut(CheckFailed):
    code = "timeout"


class ClassifierError(CheckFailed):
    code = "classifier_error"


class NoWorker(ModerationError):
    """No worker could take the check: ``code`` is ``busy``, ``starting`` or
    ``unavailable`` (also the message)."""

    code = "no_worker"

    def __init__(self, code: str) -> None:
        super().__init__(code, code)
