"""Settings of moderation (the ``[moderation]`` tables of ``configs/duet.toml``).

Every threshold the policy uses lives here, so that an operator tunes moderation from the
config file (or ``DUET_MODERATION__*`` variables) without touching code.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, model_validator

DEFAULT_CLASSIFIER = "moderation.classifiers:nudenet_age"


class UnsafeThresholds(BaseModel):
    """Score from which one NudeNet class makes a frame ``unsafe`` (0 disables the class).

    Only exposed-anatomy classes count; covered classes, faces, feet and bellies never do."""

    female_breast_exposed: float = Field(default=0.55, ge=0, le=1)
    female_genitalia_exposed: float = Field(default=0.45, ge=0, le=1)
    male_genitalia_exposed: float = Field(default=0.45, ge=0, le=1)
    anus_exposed: float = Field(default=0.45, ge=0, le=1)
    buttocks_exposed: float = Field(default=0.6, ge=0, le=1)

    def by_class(self) -> dict[str, float]:
        """``{"FEMALE_BREAST_EXPOSED": 0.55, ...}`` without disabled classes."""
        return {name.upper(): value for name, value in self.model_dump().items() if value > 0}


class TextSettings(BaseModel):
    """Chat text moderation: sanitising, a word filter and an offline toxicity model."""

    enabled: bool = True
    """Check chat messages. Off: messages are only sanitised."""

    toxicity_threshold: float = Field(default=0.85, ge=0, le=1)
    """Probability (alt-profanity-check's model) from which a message is flagged."""

    blocked_words: list[str] = Field(default_factory=list)
    """Extra words always censored and flagged (case-insensitive, whole words)."""

    strikes_to_ban: int = Field(default=3, ge=1)
    """Flagged messages within ``strike_window_s`` that ban the sender."""

    strike_window_s: float = Field(default=600.0, gt=0)
    """Window in which flagged messages count toward a ban, in seconds."""

    ban_duration_s: float = Field(default=3600.0, gt=0)
    """How long a ban for repeated flagged messages lasts, in seconds."""


class ModerationSettings(BaseModel):
    """Live video and chat moderation."""

    enabled: bool = True
    """Run moderation. Off: no worker processes start, nothing is checked (chat is still
    sanitised). A node without moderation is meant for tests and load tests only."""

    classifier: str = DEFAULT_CLASSIFIER
    """``"package.module:factory"``: called once inside each worker process with a
    :class:`moderation.classifiers.ClassifierConfig`; returns an object with
    ``classify(frame_bgr) -> Verdict``. The default is NudeNet 320n + the age model."""

    workers: int = Field(default=1, ge=1, le=64)
    """Worker processes running the classifier (one ONNX thread each); for ``duet worker``,
    the processes of that worker."""

    remote_workers: bool = False
    """Send checks to ``duet worker`` processes (on any host) through Redis instead of
    running classifier processes in this node. Needs ``redis_url``."""

    startup_timeout_s: float = Field(default=120.0, gt=0)
    """With ``mode = "production"``: how long ``duet serve`` waits at start for a worker
    to load the classifier; a classifier that fails to load (or none in time) stops it."""

    check_timeout_s: float = Field(default=2.0, gt=0)
    """A check whose verdict takes longer fails; its worker is killed and replaced."""

    tap_timeout_s: float = Field(default=1.0, gt=0)
    """How long a check waits for a decoded frame of the visitor's video."""

    frame_max_side: int = Field(default=640, ge=64, le=4096)
    """Frames are downscaled so that their longest side is at most this many pixels."""

    schedule_offsets_s: list[float] = Field(default_factory=lambda: [1.0, 4.0, 12.0, 30.0])
    """Seconds after a match starts at which each visitor's video is checked
    (front-loaded: bad actors show themselves early). A new match starts a new schedule.
    Four per visitor in the first minute keeps a match at <= 8 model calls a minute."""

    periodic_s: float = Field(default=120.0, ge=0)
    """After the last offset, check every this many seconds; 0 stops checking."""

    partner_stagger_s: float = Field(default=0.5, ge=0)
    """The second visitor's schedule is shifted by this much, so that the two checks of a
    match do not collide with the one-check-in-flight-per-match rule."""

    max_checks_per_s: float = Field(default=25.0, gt=0)
    """Global rate limit of checks (token bucket, burst of one second's worth)."""

    daily_budget: int = Field(default=2_000_000, ge=0)
    """Most checks per 24 hours (counted from start-up); 0 means no limit."""

    visitor_checks_per_min: int = Field(default=20, ge=1)
    """Most checks of one visitor per minute (scheduled, confirmations and report-asked
    together; token bucket, bursts of this many): no visitor can soak up the model."""

    report_checks_per_s: float = Field(default=2.0, gt=0)
    """Rate of checks asked for by image reports: their own token bucket, separate from
    ``max_checks_per_s``, so reports can never starve the scheduled checks."""

    report_daily_budget: int = Field(default=20_000, ge=0)
    """Most report-asked checks per 24 hours, apart from ``daily_budget``; 0: no limit."""

    report_checks_per_reporter: int = Field(default=3, ge=1)
    """Report-asked checks one reporter (session, else visitor) may cause within
    ``report_check_window_s``; more reports still reach reviewers, unchecked."""

    report_checks_per_target: int = Field(default=3, ge=1)
    """Report-asked checks of one reported visitor within ``report_check_window_s``."""

    report_check_window_s: float = Field(default=600.0, gt=0)
    """Window of the two caps above, in seconds."""

    max_pending_checks: int = Field(default=16, ge=1)
    """Checks that may wait for a free worker; more are skipped (reason ``busy``)."""

    minor_age: int = Field(default=23, ge=18, le=40)
    """A face whose apparent age is under this is a possible minor (18 plus a margin for
    the model's error). Possible minors go to human review, never to an automatic ban."""

    face_min_score: float = Field(default=0.35, ge=0, le=1)
    """NudeNet face detections below this score are not counted as faces."""

    ban_score: float = Field(default=0.85, ge=0, le=1)
    """An unsafe frame scoring at least this bans on its own (very high confidence)."""

    window_s: float = Field(default=15.0, gt=0)
    """Rolling window over which unsafe frames of one visitor accumulate, in seconds."""

    window_frames: int = Field(default=3, ge=1)
    """Unsafe frames within ``window_s`` that together ban (the evidence agrees)."""

    confirm_checks: int = Field(default=3, ge=0)
    """Extra checks run after an unsafe but not decisive frame, to confirm or clear it."""

    confirm_interval_s: float = Field(default=0.4, gt=0)
    """Seconds between those confirmation checks."""

    ban_duration_s: float = Field(default=86_400.0, gt=0)
    """How long an automatic ban for explicit video lasts, in seconds."""

    hold_max_s: float = Field(default=86_400.0, gt=0)
    """Longest a hold lasts (a possible minor in explicit video: not matched again until a
    reviewer decides). After it the visitor may be matched again; the review item stays."""

    prescreen: bool = True
    """Hold each visitor's video to a new partner (first match, Next, re-match) until a
    keyframe of it was checked safe, then forward that very keyframe first. The check is
    the first of the match's schedule (it replaces ``schedule_offsets_s[0]``: no extra
    model call). Audio flows from the start. Breaker open, over budget, or moderation
    off: the video opens at once (fail open, counted in ``checks_skipped``)."""

    prescreen_retry_s: float = Field(default=1.0, gt=0)
    """While a pre-screen finds no frame (camera off) or no face (``require_face``), it
    retries every this many seconds (a bounded rate of model calls per held visitor)."""

    require_face: bool = False
    """Stricter policy operators may turn on (needs ``prescreen``): a video opens only
    when a face is seen in it (NudeNet's face boxes or dlib's HOG face detector, which
    ships with the age model). Until then the visitor is asked to show their face and the
    partner sees a waiting state; text chat works meanwhile."""

    breaker_failures: int = Field(default=3, ge=1)
    """Consecutive failed checks (worker died, timeout, error) that open the breaker."""

    breaker_cooloff_s: float = Field(default=30.0, gt=0)
    """Seconds the open breaker skips checks (fail open) before one test check."""

    evidence_dir: Path = Path("var/evidence")
    """Where evidence files go (JPEG, blurred JPEG, text). Never served over HTTP."""

    evidence_clip_s: float = Field(default=4.0, ge=0, le=30)
    """With a ban or a review item, keep this many seconds of the visitor's video (the
    encoded packets the SFU already holds, muxed into WebM without transcoding, SHA-256
    hashed, stored with the frame). Memory: at most 1.5 MB per video visitor. 0: off."""

    evidence_retention_days: float = Field(default=90.0, gt=0)
    """Evidence files and records older than this are purged (hourly)."""

    qa_sample_rate: float = Field(default=0.05, ge=0, le=1)
    """Share of automatic actions (bans, holds) that become QA items for reviewers, who
    mark them correct or wrong: the measured precision. 1.0 samples every action."""

    qa_stratum_minimum: int = Field(default=3, ge=0)
    """The first this many actions of each stratum (kind, source, classifier, reason)
    within ``qa_stratum_window_days`` are always sampled, so rare reasons get checked."""

    qa_stratum_window_days: float = Field(default=7.0, gt=0)
    """The window over which ``qa_stratum_minimum`` counts a stratum's actions."""

    qa_precision_days: float = Field(default=30.0, gt=0)
    """Days of QA decisions the dashboard and ``/metrics`` measure precision over."""

    unsafe_thresholds: UnsafeThresholds = Field(default_factory=UnsafeThresholds)
    text: TextSettings = Field(default_factory=TextSettings)

    @model_validator(mode="after")
    def _check_offsets(self) -> ModerationSettings:
        offsets = self.schedule_offsets_s
        if any(o < 0 for o in offsets) or offsets != sorted(offsets):
            raise ValueError("schedule_offsets_s must be ascending and not negative")
        return self
