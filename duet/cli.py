"""The ``duet`` command line.

``duet serve`` runs a node (web, signaling, SFU) with uvicorn; ``duet db upgrade`` applies
migrations; ``duet bench ...`` runs a benchmark (:mod:`benchmarks`); ``duet admin
create-user`` and ``duet audit verify`` are in :mod:`signaling.console.commands`. Errors in
settings are printed as a readable list, and the process exits with status 2, instead of a
traceback.
"""

from __future__ import annotations

import argparse
import socket
import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from signaling.config.settings import Settings, load_settings


def _settings(args: argparse.Namespace, **overrides: object) -> Settings:
    try:
        return load_settings(args.config, **overrides)
    except FileNotFoundError as exc:
        raise SystemExit(f"duet: {exc}") from None
    except ValidationError as exc:
        lines = [f"duet: invalid settings ({exc.error_count()} problem(s)):"]
        for error in exc.errors():
            where = ".".join(str(p) for p in error["loc"]) or "settings"
            lines.append(f"  {where}: {error['msg']}")
        raise SystemExit("\n".join(lines)) from None


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from signaling.service.app import create_app
    from signaling.service.logs import configure_logging

    overrides: dict[str, object] = {}
    if args.host is not None:
        overrides["host"] = args.host
    if args.port is not None:
        overrides["port"] = args.port
    if args.sfu_workers is not None:
        overrides["sfu"] = {"workers": args.sfu_workers}
    settings = _settings(args, **overrides)
    configure_logging(settings.log_level, settings.log_format)
    app = create_app(settings)

    class Server(uvicorn.Server):
        """Prints the URL once the socket listens and the app has started (not before:
        whoever waits for the line may connect at once)."""

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            if self.should_exit or not self.servers:
                return
            bound = self.servers[0].sockets[0].getsockname()
            host = f"[{bound[0]}]" if ":" in bound[0] else bound[0]
            print(f"Duet is serving on http://{host}:{bound[1]}", flush=True)

    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        # uvicorn's own records go through the root handler, in the configured format.
        log_config=None,
        # Our own limit (an error event) applies first; this hard cap closes the socket.
        ws_max_size=settings.max_message_bytes * 16,
        lifespan="on",
        # Forwarded headers are believed from settings.trusted_proxies only (signaling.door.proxy).
        proxy_headers=False,
    )
    server = Server(config)
    server.run()
    return 0 if server.started else 3  # uvicorn's own exit status for a failed start


def _worker(args: argparse.Namespace) -> int:
    """``duet worker``: classify frame checks from the Redis stream, on any host."""
    import asyncio
    import signal

    from redis.asyncio import Redis

    from moderation.service import classifier_config
    from moderation.stream import StreamWorker
    from moderation.workers import WorkerPool
    from signaling.service.logs import configure_logging

    settings = _settings(args)
    if not settings.redis_url:
        raise SystemExit("duet worker: set redis_url (the nodes' Redis) in the config or env")
    configure_logging(settings.log_level, settings.log_format)
    moderation = settings.moderation

    async def run() -> None:
        pool = WorkerPool(
            moderation.classifier,
            classifier_config(moderation),
            size=moderation.workers,
            timeout=moderation.check_timeout_s,
            max_pending=moderation.max_pending_checks,
        )
        pool.start()
        redis = Redis.from_url(settings.redis_url)
        worker = StreamWorker(redis, pool, reclaim_after=max(5.0, moderation.check_timeout_s * 3))
        print(f"duet worker {worker.name}: loading {moderation.classifier} ...", flush=True)
        if not await pool.wait_ready(120):
            raise SystemExit("duet worker: the classifier did not load within 120 s")
        print(f"duet worker {worker.name}: consuming checks", flush=True)
        task = asyncio.ensure_future(worker.run())
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        try:
            await task
        except asyncio.CancelledError:
            pass
        finally:
            await pool.close()
            await redis.aclose()
        print(f"duet worker {worker.name}: stopped ({worker.stats.handled} checks)", flush=True)

    asyncio.run(run())
    return 0


def _db_upgrade(args: argparse.Namespace) -> int:
    from signaling.storage.db import upgrade

    settings = _settings(args)
    upgrade(settings.database_url)
    print(f"database at {settings.database_url} is up to date")
    return 0


def _bench_moderation(args: argparse.Namespace) -> int:
    from benchmarks.moderation import run

    settings = _settings(args)
    print(run(settings.moderation, args.workers, args.seconds), flush=True)
    return 0


def add_bench_moderation(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``duet bench moderation`` (adds ``bench`` unless another command added it)."""
    bench = commands.choices.get("bench") or commands.add_parser(
        "bench", help="load tests and micro-benchmarks"
    )
    action = next((a for a in bench._actions if isinstance(a, argparse._SubParsersAction)), None)
    bench_commands = action or bench.add_subparsers(dest="bench_command", required=True)
    moderation = bench_commands.add_parser(
        "moderation", help="classifier checks/s per worker and check latency on real frames"
    )
    moderation.add_argument("--workers", type=int, default=None, help="default: the setting")
    moderation.add_argument("--seconds", type=float, default=10.0, help="measuring time")
    moderation.add_argument(
        "--config", type=Path, default=None, help="TOML settings file (see configs/duet.toml)"
    )
    moderation.set_defaults(func=_bench_moderation)


def _turn_config(args: argparse.Namespace) -> int:
    from turn.coturn import TEMPLATE, render

    settings = _settings(args)
    text = render(
        settings.turn,
        template=args.template or TEMPLATE,
        allow_loopback=args.allow_loopback_peers,
        allowed_peer_ips=args.allowed_peer_ip,
        extra=args.extra,
    )
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.write_text(text)
        args.output.chmod(0o600)  # it holds the shared secret
        print(f"wrote {args.output}", file=sys.stderr)
    return 0


def _nginx_config(args: argparse.Namespace) -> int:
    from signaling.service.nginx import TEMPLATE, NginxConfigError, NginxSite, render

    site = NginxSite(
        nodes=args.node or ["127.0.0.1:8080"],
        server_name=args.server_name,
        certificate=args.certificate,
        certificate_key=args.certificate_key,
        listen_https=args.listen_https,
        listen_http=args.listen_http,
        proxy_bind=args.proxy_bind,
        access_log=args.access_log,
        metrics_allow=args.metrics_allow,
    )
    try:
        text = render(site, template=args.template or TEMPLATE)
    except NginxConfigError as exc:
        raise SystemExit(f"duet nginx config: {exc}") from None
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.write_text(text)
        print(f"wrote {args.output}", file=sys.stderr)
    return 0


def _add_nginx(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    nginx = commands.add_parser("nginx", help="reverse proxy helpers")
    nginx_commands = nginx.add_subparsers(dest="nginx_command", required=True)
    config = nginx_commands.add_parser(
        "config",
        help="render an nginx site (TLS, load balancing over nodes) from "
        "configs/nginx.conf.template",
    )
    config.add_argument(
        "--node",
        action="append",
        default=[],
        metavar="HOST:PORT",
        help="a Duet node (repeat for several; default 127.0.0.1:8080)",
    )
    config.add_argument(
        "--server-name", required=True, help="public host name, e.g. chat.example.org"
    )
    config.add_argument("--certificate", type=Path, required=True, help="TLS certificate (PEM)")
    config.add_argument("--certificate-key", type=Path, required=True, help="its key (PEM)")
    config.add_argument("--listen-https", default="443", help="port or address:port (443)")
    config.add_argument("--listen-http", default="80", help="port or address:port (80)")
    config.add_argument(
        "--proxy-bind",
        default=None,
        metavar="IP",
        help="address nginx connects to the nodes from (list it in trusted_proxies)",
    )
    config.add_argument("--access-log", default="/var/log/nginx/duet.access.log")
    config.add_argument(
        "--metrics-allow",
        action="append",
        default=[],
        metavar="CIDR",
        help="who may read /metrics through nginx (default: nobody)",
    )
    config.add_argument("-o", "--output", type=Path, default=None, help="file to write")
    config.add_argument("--template", type=Path, default=None, help="template file")
    config.set_defaults(func=_nginx_config)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="duet", description="Anonymous 1:1 video and text chat.")
    commands = parser.add_subparsers(dest="command", required=True)

    def config_option(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--config",
            type=Path,
            default=None,
            help="TOML settings file (see configs/duet.toml); DUET_* variables override it",
        )

    serve = commands.add_parser("serve", help="run a Duet node (web, signaling, SFU)")
    serve.add_argument("--host", default=None, help="listen address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="listen port (default 8080)")
    serve.add_argument(
        "--sfu-workers",
        type=int,
        default=None,
        metavar="N",
        help="SFU worker processes (default: one per CPU core; 0: SFU in this process)",
    )
    config_option(serve)
    serve.set_defaults(func=_serve)

    worker = commands.add_parser(
        "worker", help="classify moderation checks from Redis (needs redis_url)"
    )
    config_option(worker)
    worker.set_defaults(func=_worker)

    db = commands.add_parser("db", help="database maintenance")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    db_upgrade = db_commands.add_parser("upgrade", help="apply pending migrations")
    config_option(db_upgrade)
    db_upgrade.set_defaults(func=_db_upgrade)

    turn = commands.add_parser("turn", help="TURN server helpers")
    turn_commands = turn.add_subparsers(dest="turn_command", required=True)
    turn_config = turn_commands.add_parser(
        "config", help="render a coturn configuration from configs/turnserver.conf.template"
    )
    config_option(turn_config)
    turn_config.add_argument("-o", "--output", type=Path, default=None, help="file to write")
    turn_config.add_argument("--template", type=Path, default=None, help="template file")
    turn_config.add_argument(
        "--allow-loopback-peers",
        action="store_true",
        help="TEST ONLY: let coturn relay to 127.0.0.1 (for tests on one machine)",
    )
    turn_config.add_argument(
        "--allowed-peer-ip",
        action="append",
        default=[],
        metavar="IP",
        help="exempt an address (e.g. the SFU's private address) from the denied ranges",
    )
    turn_config.add_argument(
        "--extra", action="append", default=[], metavar="LINE", help="append a raw config line"
    )
    turn_config.set_defaults(func=_turn_config)
    _add_nginx(commands)
    # `duet bench ...`: each benchmark adds its own sub-command (one line each).
    from benchmarks import cli as bench_cli

    bench = commands.add_parser(
        "bench", help="load tests and micro-benchmarks (docs/benchmarks.md)"
    )
    bench_commands = bench.add_subparsers(dest="bench_command", required=True)
    bench_cli.add_calls_parser(bench_commands)
    bench_cli.add_matching_parser(bench_commands)
    bench_cli.add_sfu_parser(bench_commands)
    bench_cli.add_hostile_parser(bench_commands)
    bench_cli.add_udp_floor_parser(bench_commands)
    add_bench_moderation(commands)
    # `duet admin create-user`, `duet audit verify`.
    from signaling.console import commands as admin_commands

    admin_commands.add_commands(commands, config_option, _settings)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
