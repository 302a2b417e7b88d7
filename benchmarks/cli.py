"""The ``duet bench`` sub-commands, added to ``duet``'s parser by :mod:`duet.cli`.

Each benchmark contributes one ``add_*_parser(bench_commands)`` function; parsing imports
nothing heavy: the benchmark's modules load only when it runs.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

SubParsers = Any
"""``argparse._SubParsersAction`` (private in typeshed's eyes)."""


def _video(text: str) -> tuple[int, int, int]:
    found = re.fullmatch(r"(\d+)x(\d+)(?:@(\d+))?", text)
    if found is None:
        raise argparse.ArgumentTypeError(
            f"expected WIDTHxHEIGHT[@FPS], e.g. 640x480@30, not {text}"
        )
    width, height, fps = found.groups()
    return int(width), int(height), int(fps or 30)


def add_calls_parser(commands: SubParsers) -> None:
    calls = commands.add_parser(
        "calls",
        help="synthetic video calls against a running node",
        description=(
            "Drive 2N synthetic callers (real /ws protocol and WebRTC, replaying a pre-encoded "
            "VP8 clip plus Opus) against a running node; report time to match, first frame, "
            "fps, the right partner, and the server's CPU and RSS from its /metrics. "
            "Exits 1 unless every call matched with good media."
        ),
    )
    calls.add_argument(
        "--url",
        default=None,
        help="the node, e.g. http://127.0.0.1:8080 (required unless --prescreen-compare)",
    )
    calls.add_argument(
        "--prescreen-compare",
        action="store_true",
        help="start two loopback nodes (moderation.prescreen on, then off) and compare: "
        "matched/Next -> first frame, frames of offenders seen by their partners, model "
        "calls per match-minute, RSS per call (small live-encoded callers)",
    )
    calls.add_argument("--calls", type=int, required=True, help="N: calls (2N callers)")
    calls.add_argument("--duration", type=float, required=True, help="seconds of the steady window")
    calls.add_argument(
        "--ramp", type=float, default=10.0, help="new callers per second (default 10)"
    )
    calls.add_argument(
        "--next-every",
        type=float,
        default=None,
        metavar="SECONDS",
        help="in the steady window, each call switches partners (Next) every SECONDS",
    )
    calls.add_argument("--json", type=Path, default=None, metavar="FILE", help="write the report")
    calls.add_argument(
        "--plot", type=Path, default=None, metavar="FILE", help="write a PNG timeline"
    )
    calls.add_argument(
        "--video",
        type=_video,
        default=(640, 480, 30),
        metavar="WxH[@FPS]",
        help="the synthetic camera (default 640x480@30)",
    )
    calls.add_argument(
        "--video-kbps", type=int, default=1000, help="clip bitrate target in kbit/s (default 1000)"
    )
    calls.add_argument(
        "--workers", type=int, default=None, help="worker processes (default: one per core)"
    )
    calls.add_argument(
        "--loopback",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="ICE on 127.0.0.1 only (default: when --url's host is loopback)",
    )
    calls.add_argument(
        "--setup-timeout",
        type=float,
        default=30.0,
        help="seconds after the last caller starts for all to see their partner (default 30)",
    )
    calls.add_argument(
        "--offenders",
        type=int,
        default=None,
        metavar="K",
        help=(
            "K callers send a tinted clip the node's classifier flags (run the node with "
            "DUET_MODERATION__CLASSIFIER=benchmarks.offenders:tint_classifier); reports "
            "each offender's exposure: ms from match to ban/hold, frames its partners got "
            "(default 0; with --prescreen-compare: callers sending an explicit picture, "
            "default 3)"
        ),
    )
    calls.add_argument(
        "--offender-kind",
        choices=("explicit", "minor"),
        default="explicit",
        help="explicit (banned) or explicit + possible minor (held); default explicit",
    )
    calls.set_defaults(func=_run_calls)


def _run_calls(args: argparse.Namespace) -> int:
    from benchmarks.calls import BenchError, CallsOptions, run_calls
    from benchmarks.clip import VideoSpec

    if args.prescreen_compare:
        from benchmarks.prescreen import run_prescreen_compare

        offenders = 3 if args.offenders is None else args.offenders
        return run_prescreen_compare(args.calls, offenders, args.duration, args.json)
    if args.url is None:
        print("duet bench calls: --url is required (or --prescreen-compare)", file=sys.stderr)
        return 2

    width, height, fps = args.video
    try:
        video = VideoSpec(width=width, height=height, fps=fps, kbps=args.video_kbps)
        options = CallsOptions(
            url=args.url,
            calls=args.calls,
            duration=args.duration,
            ramp=args.ramp,
            next_every=args.next_every,
            offenders=args.offenders or 0,
            offender_kind=args.offender_kind,
            json_path=args.json,
            plot_path=args.plot,
            video=video,
            workers=args.workers,
            loopback=args.loopback,
            setup_timeout=args.setup_timeout,
        )
    except (BenchError, ValueError) as exc:
        print(f"duet bench calls: {exc}", file=sys.stderr)
        return 2
    return run_calls(options)


def _add_load_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--ramp", type=float, default=10.0, help="new callers per second (default 10)"
    )
    parser.add_argument(
        "--video",
        type=_video,
        default=(640, 480, 30),
        metavar="WxH[@FPS]",
        help="the synthetic camera (default 640x480@30)",
    )
    parser.add_argument(
        "--video-kbps", type=int, default=1000, help="clip bitrate target in kbit/s (default 1000)"
    )
    parser.add_argument(
        "--workers", type=int, default=None, help="caller processes (default: one per core)"
    )


def add_sfu_parser(commands: SubParsers) -> None:
    sfu = commands.add_parser(
        "sfu",
        help="forwarding modes (packets, passthrough, transcode) side by side",
        description=(
            "Start a node per forwarding mode (packets, passthrough, then transcode) on "
            "loopback, drive the same synthetic calls against each, and compare server cores "
            "per call, delivered fps and loss (goals: passthrough >= 10x cheaper than "
            "transcode at >= 29 fps; packets <= 0.012 cores per call above idle)."
        ),
    )
    sfu.add_argument(
        "--modes",
        default="packets,passthrough,transcode",
        help="comma-separated forwarding modes to compare: packets, packets-python (packets "
        "with the C extension off), passthrough, transcode (default: packets,passthrough,"
        "transcode)",
    )
    sfu.add_argument(
        "--next-every",
        type=float,
        default=None,
        metavar="SECONDS",
        help="in the steady window each call switches partners (Next) every SECONDS; the "
        "report gives Next -> first frame of the new partner per mode",
    )
    sfu.add_argument(
        "--capacity",
        default="",
        metavar="N1,N2,...",
        help=(
            "after the comparison, ramp each mode's node through these call counts until one "
            "does not hold (>= 29 fps, <= 1%% loss, all media ok) and report calls per core"
        ),
    )
    sfu.add_argument("--calls", type=int, required=True, help="N: calls per mode")
    sfu.add_argument("--duration", type=float, required=True, help="seconds of each window")
    sfu.add_argument(
        "--sfu-workers",
        type=int,
        default=0,
        help="SFU worker processes of each node (default 0: the SFU in the node process)",
    )
    sfu.add_argument("--json", type=Path, default=None, metavar="FILE", help="write the report")
    _add_load_options(sfu)
    sfu.set_defaults(func=_run_sfu)


def _run_sfu(args: argparse.Namespace) -> int:
    from benchmarks.calls import BenchError, CallsOptions
    from benchmarks.clip import VideoSpec
    from benchmarks.sfu import SfuOptions, parse_counts, parse_modes, run_sfu

    width, height, fps = args.video
    try:
        modes = parse_modes(args.modes)
        counts = parse_counts(args.capacity) if args.capacity else ()
        calls = CallsOptions(
            url="http://127.0.0.1:1",
            calls=args.calls,
            duration=args.duration,
            ramp=args.ramp,
            next_every=args.next_every,
            json_path=None,
            plot_path=None,
            video=VideoSpec(width=width, height=height, fps=fps, kbps=args.video_kbps),
            workers=args.workers,
            loopback=True,
            setup_timeout=30.0,
        )
    except (BenchError, ValueError) as exc:
        print(f"duet bench sfu: {exc}", file=sys.stderr)
        return 2
    return run_sfu(
        SfuOptions(
            calls=calls,
            sfu_workers=args.sfu_workers,
            json_path=args.json,
            modes=modes,
            capacity=counts,
        )
    )


def add_hostile_parser(commands: SubParsers) -> None:
    hostile = commands.add_parser(
        "hostile",
        help="hostile /ws frames against any node: every refusal coded, nothing internal",
        description=(
            "Probe the fixed hostile catalogue (each frame's exact answer), then send a seeded "
            "random mix of hostile frames over several sockets while timing /healthz. Reports "
            "answers by error code, closes by code and the internal count; exits 1 on any "
            "internal answer, catalogue mismatch or health failure."
        ),
    )
    hostile.add_argument("--url", required=True, help="the node, e.g. http://127.0.0.1:8080")
    hostile.add_argument(
        "--messages", type=int, default=100_000, help="frames in the random mix (default 100000)"
    )
    hostile.add_argument("--sockets", type=int, default=10, help="sockets (default 10)")
    hostile.add_argument(
        "--max-seconds",
        type=float,
        default=300.0,
        help="stop sending after this many seconds (default 300)",
    )
    hostile.add_argument("--seed", type=int, default=1, help="random mix seed (default 1)")
    hostile.add_argument("--json", type=Path, default=None, metavar="FILE", help="write the report")
    hostile.set_defaults(func=_run_hostile)


def _run_hostile(args: argparse.Namespace) -> int:
    from benchmarks.hostile_bench import HostileOptions, run_hostile

    try:
        options = HostileOptions(
            url=args.url,
            messages=args.messages,
            sockets=args.sockets,
            max_seconds=args.max_seconds,
            seed=args.seed,
            json_path=args.json,
        )
    except ValueError as exc:
        print(f"duet bench hostile: {exc}", file=sys.stderr)
        return 2
    return run_hostile(options)


def add_matching_parser(commands: SubParsers) -> None:
    matching = commands.add_parser(
        "matching",
        help="in-process matchmaking throughput and latency",
        description=(
            "Visitors joining, pressing Next and leaving against the real Matchmaker, in this "
            "process with a simulated clock: pairings per second and per-operation latency."
        ),
    )
    matching.add_argument("--visitors", type=int, default=10_000, help="visitors (default 10000)")
    matching.add_argument(
        "--operations",
        type=int,
        default=50_000,
        help="operations after the joins (default 50000)",
    )
    matching.add_argument(
        "--ops-per-s",
        type=float,
        default=1000.0,
        help="simulated operation rate: how fast the clock runs against the rematch cooldown "
        "(default 1000)",
    )
    matching.add_argument(
        "--cooldown", type=float, default=10.0, help="rematch cooldown in seconds (default 10)"
    )
    matching.add_argument(
        "--interests",
        type=int,
        default=0,
        help="interest pool size: each visitor holds 0-3 of them (default 0: no interests)",
    )
    matching.add_argument(
        "--languages",
        type=int,
        default=0,
        help="languages spoken (70%% of visitors state one; default 0: none)",
    )
    matching.add_argument(
        "--preference-wait",
        type=float,
        default=5.0,
        help="seconds visitors hold out for their preferences (default 5)",
    )
    matching.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    matching.add_argument(
        "--json", type=Path, default=None, metavar="FILE", help="write the report"
    )
    matching.add_argument(
        "--redis",
        default=None,
        metavar="URL",
        help="instead: pairings per second through Redis (the shared queues of several "
        "nodes), e.g. redis://127.0.0.1:6379/0",
    )
    matching.add_argument(
        "--nodes", type=int, default=2, help="with --redis: node processes (default 2)"
    )
    matching.add_argument(
        "--duration", type=float, default=10.0, help="with --redis: seconds (default 10)"
    )
    matching.add_argument(
        "--concurrency",
        type=int,
        default=32,
        help="with --redis: arrivals in flight per node process (default 32)",
    )
    matching.set_defaults(func=_run_matching)


def _run_matching(args: argparse.Namespace) -> int:
    from benchmarks.matching import MatchingOptions, run_matching

    if args.redis:
        from benchmarks.redis_matching import RedisMatchingOptions, run_redis_matching

        try:
            redis_options = RedisMatchingOptions(
                url=args.redis,
                nodes=args.nodes,
                duration=args.duration,
                concurrency=args.concurrency,
                cooldown=args.cooldown,
                json_path=args.json,
            )
        except ValueError as exc:
            print(f"duet bench matching: {exc}", file=sys.stderr)
            return 2
        return run_redis_matching(redis_options)

    try:
        options = MatchingOptions(
            visitors=args.visitors,
            operations=args.operations,
            ops_per_s=args.ops_per_s,
            cooldown=args.cooldown,
            interests=args.interests,
            languages=args.languages,
            preference_wait=args.preference_wait,
            seed=args.seed,
            json_path=args.json,
        )
    except ValueError as exc:
        print(f"duet bench matching: {exc}", file=sys.stderr)
        return 2
    return run_matching(options)


def add_udp_floor_parser(commands: SubParsers) -> None:
    floor = commands.add_parser(
        "udp-floor",
        help="what a bare uvloop UDP relay costs at a packet rate (the floor under the SFU)",
        description=(
            "Relay datagrams between pairs of loopback sockets in a uvloop process (a Python "
            "datagram_received that sends each one on: no SRTP, RTP or RTCP) while this "
            "process sends them at a fixed rate; report the relay's cores, µs per packet and "
            "cores per call. Compare with duet bench calls at the same packet rate."
        ),
    )
    floor.add_argument("--callers", type=int, default=8, help="callers, paired (default 8)")
    floor.add_argument(
        "--pps", type=float, default=172.0, help="datagrams per second per caller (default 172)"
    )
    floor.add_argument("--size", type=int, default=1000, help="datagram bytes (default 1000)")
    floor.add_argument(
        "--burst",
        type=int,
        default=1,
        help="datagrams a caller sends back to back in its turn, like a video frame's "
        "packets (default 1: each alone)",
    )
    floor.add_argument(
        "--duration", type=float, default=10.0, help="seconds of the window (default 10)"
    )
    floor.add_argument("--json", type=Path, default=None, metavar="FILE", help="write the report")
    floor.set_defaults(func=_run_udp_floor)


def _run_udp_floor(args: argparse.Namespace) -> int:
    from benchmarks.udp_floor import FloorOptions, main

    try:
        options = FloorOptions(
            callers=args.callers,
            pps=args.pps,
            size=args.size,
            burst=args.burst,
            duration=args.duration,
            json_path=args.json,
        )
    except ValueError as exc:
        print(f"duet bench udp-floor: {exc}", file=sys.stderr)
        return 2
    return main(options)
