"""The `batchd` command: `batchd serve` runs the server, `batchd logs JOB_ID` prints a job's output,
`batchd events` prints job state changes."""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import logging
import math
import os
import re
import socket
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from batchd.config import DEFAULT_ACCOUNT_ID, DEFAULT_PORT, Settings
from batchd.domain.names import ACCOUNT_ID
from batchd.events.command import DEFAULT_ENDPOINT
from batchd.events.webhooks import webhook_problem
from batchd.store.errors import StoreError
from batchd.store.integrity import check_logs_without_database


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(f"BATCHD_{name}", default)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d+")
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


# argparse calls these on the command line's values and on string defaults alike, so a bad BATCHD_*
# variable is reported in the same one line as a bad flag: "argument --port: ...", exit 2.
def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


def _positive(text: str) -> float:
    value = _number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def _non_negative(text: str) -> float:
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text!r}")
    return value


def _integer(text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None


def _port(text: str) -> int:
    value = _integer(text)
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port from 1 to 65535, got {text!r}")
    return value


def _at_least_one(text: str) -> int:
    value = _integer(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {text!r}")
    return value


def _region(text: str) -> str:
    if not REGION.fullmatch(text):
        raise argparse.ArgumentTypeError(f"not an AWS region such as us-east-1: {text!r}")
    return text


def _log_level(text: str) -> str:
    if text.lower() not in LOG_LEVELS:
        raise argparse.ArgumentTypeError(f"must be one of {', '.join(LOG_LEVELS)}, got {text!r}")
    return text.lower()


def _webhook(text: str) -> str:
    problem = webhook_problem(text)
    if problem is not None:
        raise argparse.ArgumentTypeError(problem)
    return text


def _event_id(text: str) -> int:
    value = _integer(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an event id (0 or more), got {text!r}")
    return value


def _one_line_error(message: str) -> NoReturn:
    print(f"batchd serve: {message} (see batchd serve --help)", file=sys.stderr)
    sys.exit(2)


def _serve_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = sub.add_parser("serve", help="run the AWS Batch endpoint")
    setattr(serve, "error", _one_line_error)  # noqa: B010 - one line on stderr, not the usage text
    serve.add_argument("--host", default=_env("HOST", "127.0.0.1"), help="address to bind (BATCHD_HOST)")
    serve.add_argument("--port", type=_port, default=_env("PORT", str(DEFAULT_PORT)),
                       help=f"port to bind, default {DEFAULT_PORT} (BATCHD_PORT)")  # fmt: skip
    serve.add_argument("--data-dir", default=_env("DATA_DIR", ".batchd"),
                       help="where state and logs live, default ./.batchd (BATCHD_DATA_DIR)")  # fmt: skip
    serve.add_argument(
        "--region", type=_region, default=_env("REGION", "us-east-1"), help="region in ARNs (BATCHD_REGION)"
    )
    serve.add_argument("--account-id", default=_env("ACCOUNT_ID", DEFAULT_ACCOUNT_ID),
                       help=f"account of unsigned callers in open mode, default {DEFAULT_ACCOUNT_ID} "
                       "(BATCHD_ACCOUNT_ID)")  # fmt: skip
    serve.add_argument("--credentials", default=_env("CREDENTIALS"),
                       help="credentials file (~/.aws/credentials format with aws_account_id per profile); "
                       "when given, every request's signature is verified (BATCHD_CREDENTIALS)")  # fmt: skip
    serve.add_argument("--allow-open-remote", action="store_true",
                       default=_env("ALLOW_OPEN_REMOTE", "") in ("1", "true", "yes"),
                       help="allow binding a non-loopback address without credentials "
                       "(BATCHD_ALLOW_OPEN_REMOTE)")  # fmt: skip
    serve.add_argument("--host-mount-allow", action="append", metavar="DIR",
                       default=[p for p in (_env("HOST_MOUNT_ALLOW") or "").split(os.pathsep) if p],
                       help="a host directory untrusted accounts' jobs may mount; repeatable "
                       "(BATCHD_HOST_MOUNT_ALLOW, separated by ':'). Never /, the data directory or the "
                       "Docker socket")  # fmt: skip
    serve.add_argument("--executor", choices=("auto", "local", "docker"), default=_env("EXECUTOR", "auto"),
                       help="how jobs run: docker, local processes, or auto (docker when an engine answers) "
                       "(BATCHD_EXECUTOR)")  # fmt: skip
    serve.add_argument("--stop-grace-seconds", type=_non_negative, default=_env("STOP_GRACE_SECONDS", "30"),
                       help="seconds between SIGTERM and SIGKILL when a job is terminated "
                       "(BATCHD_STOP_GRACE_SECONDS)")  # fmt: skip
    serve.add_argument("--retention-days", type=_positive, default=_env("RETENTION_DAYS", "7"),
                       help="how long finished jobs stay describable (BATCHD_RETENTION_DAYS)")  # fmt: skip
    # Undocumented on purpose: AWS's 60 s floor, lowered only so tests can exercise timeouts quickly.
    serve.add_argument("--min-timeout-seconds", type=_at_least_one, default=_env("MIN_TIMEOUT_SECONDS", "60"),
                       help=argparse.SUPPRESS)  # fmt: skip
    serve.add_argument("--log-level", type=_log_level, default=_env("LOG_LEVEL", "info"),
                       help="debug, info, warning, error or critical (BATCHD_LOG_LEVEL)")  # fmt: skip
    # The variable's URLs are separated by whitespace, which a URL never holds unescaped. argparse checks
    # only flag values with `type`, so serve() checks the variable's.
    serve.add_argument("--event-webhook", action="append", metavar="URL", type=_webhook,
                       default=(_env("EVENT_WEBHOOK") or "").split(),
                       help="POST every job event (EventBridge JSON) to this http(s) URL, in order, at least "
                       "once; repeatable (BATCHD_EVENT_WEBHOOK, separated by spaces)")  # fmt: skip
    # Undocumented on purpose: the /events keep-alive interval, lowered only so tests can see one.
    serve.add_argument("--event-heartbeat-seconds", type=_positive,
                       default=_env("EVENT_HEARTBEAT_SECONDS", "15"), help=argparse.SUPPRESS)  # fmt: skip


def _client_arguments(parser: argparse.ArgumentParser) -> None:
    """The server and region of a client command (`batchd logs`, `batchd events`), found as the AWS
    SDKs find Batch's endpoint."""
    endpoint = (
        os.environ.get("AWS_ENDPOINT_URL_BATCH") or os.environ.get("AWS_ENDPOINT_URL") or DEFAULT_ENDPOINT
    )
    parser.add_argument("--endpoint-url", default=endpoint,
                        help=f"the server, default {DEFAULT_ENDPOINT} (AWS_ENDPOINT_URL_BATCH, "
                        "AWS_ENDPOINT_URL)")  # fmt: skip
    parser.add_argument("--region", type=_region,
                        help="region to sign for; default botocore's (AWS_DEFAULT_REGION, profile), "
                        "else us-east-1")  # fmt: skip


def _logs_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    logs = sub.add_parser("logs", help="print a job's output (stdout and stderr, with timestamps)")
    logs.add_argument("job_id")
    _client_arguments(logs)
    logs.add_argument("--follow", "-f", action="store_true", help="keep printing while the job runs")
    logs.add_argument("--attempt", type=int, help="one attempt (1-based); default: all of them")
    logs.add_argument("--no-timestamps", action="store_true", help="print the output lines only")


def _events_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    events = sub.add_parser("events", help="print job state changes, one EventBridge JSON per line")
    events.add_argument("--follow", "-f", action="store_true",
                        help="keep printing new events, reconnecting after a dropped connection")  # fmt: skip
    events.add_argument("--after", type=_event_id, metavar="ID",
                        help="start after this event id; default: the oldest event kept")  # fmt: skip
    events.add_argument("--job", metavar="JOB_ID", help="one job's events only")
    _client_arguments(events)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def prepare_data_dir(data_dir: Path) -> None:
    """Made 0700, or narrowed to 0700 when it exists wider: job logs and the database are private."""
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    if data_dir.stat().st_mode & 0o077:
        data_dir.chmod(0o700)


def serve(args: argparse.Namespace) -> int:
    if not ACCOUNT_ID.fullmatch(args.account_id):
        print(f"batchd: --account-id must be 12 digits, got {args.account_id!r}", file=sys.stderr)
        return 2
    credentials = Path(args.credentials) if args.credentials else None
    if credentials is not None and not credentials.is_file():
        print(f"batchd: the credentials file {credentials} does not exist or is not a file", file=sys.stderr)
        return 2
    if credentials is None and not _is_loopback(args.host) and not args.allow_open_remote:
        print(
            f"batchd: refusing to serve {args.host} without --credentials: anyone could use it. "
            "Give --credentials FILE, bind 127.0.0.1, or pass --allow-open-remote.",
            file=sys.stderr,
        )
        return 2
    for url in args.event_webhook:
        problem = webhook_problem(url)
        if problem is not None:
            print(f"batchd: --event-webhook {problem}", file=sys.stderr)
            return 2
    settings = Settings(
        host=args.host,
        port=args.port,
        # Absolute once here: job working directories are built from it for every attempt.
        data_dir=Path(args.data_dir).absolute(),
        region=args.region,
        account_id=args.account_id,
        credentials_file=credentials,
        allow_open_remote=args.allow_open_remote,
        executor=args.executor,
        stop_grace_seconds=args.stop_grace_seconds,
        retention_days=args.retention_days,
        min_timeout_seconds=args.min_timeout_seconds,
        log_level=args.log_level,
        host_mount_allow=tuple(args.host_mount_allow),
        event_webhooks=tuple(args.event_webhook),
        event_heartbeat_seconds=args.event_heartbeat_seconds,
    )
    # Everything batchd creates in the data directory is the server's alone: files 0600, directories 0700.
    os.umask(0o077)
    try:
        prepare_data_dir(settings.data_dir)
        check_logs_without_database(settings.database_path, settings.logs_dir)
    except (OSError, StoreError) as exc:
        print(f"batchd: {_one_line(exc)}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    import resource

    import uvicorn

    # Each running container or process holds descriptors (a connection, a log file): use all we may.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    from batchd.app import build

    try:
        server = build(settings)
    except (ValueError, OSError, StoreError) as exc:
        print(f"batchd: {_one_line(exc)}", file=sys.stderr)
        return 2
    mode = "signed requests only" if credentials else f"open, account {settings.account_id}"
    logging.getLogger("batchd").info(
        "serving AWS Batch on http://%s:%d (%s), data in %s",
        settings.host,
        settings.port,
        mode,
        settings.data_dir,
    )
    config = uvicorn.Config(
        server.app,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=5,
        # Idle keep-alive connections (after a response) are closed after 5 s.
        timeout_keep_alive=5,
        # Beyond this many concurrent connections+requests uvicorn answers 503 instead of running out of
        # file descriptors (the soft RLIMIT_NOFILE is raised to the hard limit at start-up).
        limit_concurrency=2048,
        # uvicorn's httptools protocol plus a deadline for each request's line and headers (slowloris).
        http="batchd.protocol.connections:HeaderDeadlineProtocol",
    )
    uvicorn_server = _uvicorn_server()(config, server.events.close)
    with contextlib.suppress(KeyboardInterrupt):
        uvicorn_server.run()
    if not uvicorn_server.started:
        return 3  # uvicorn's own exit status for a failed start-up
    return 0


def _uvicorn_server() -> type[Any]:
    import uvicorn

    class Uvicorn(uvicorn.Server):
        """uvicorn's server, which first ends open event streams when it begins to shut down: it waits
        for every connection to finish its response, and a stream would otherwise never finish."""

        def __init__(self, config: uvicorn.Config, on_shutdown: Callable[[], None]) -> None:
            super().__init__(config)
            self._on_shutdown = on_shutdown

        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            self._on_shutdown()
            await super().shutdown(sockets)

    return Uvicorn


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="batchd", description="A self-hosted AWS Batch.")
    sub = parser.add_subparsers(dest="command", required=True)
    _serve_parser(sub)
    _logs_parser(sub)
    _events_parser(sub)
    args = parser.parse_args(argv)
    if args.command == "serve":
        return serve(args)
    if args.command == "events":
        from batchd.events.command import print_events

        return print_events(args.endpoint_url, args.region, args.follow, args.after, args.job)
    from batchd.logs_command import print_logs

    return print_logs(
        args.endpoint_url, args.region, args.job_id, args.follow, args.attempt, not args.no_timestamps
    )


if __name__ == "__main__":
    sys.exit(main())
