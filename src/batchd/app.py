"""The composition root: builds the store, executors, service, scheduler and the ASGI application."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from batchd.awsmodel import BATCH, LOGS
from batchd.config import Settings
from batchd.domain.arns import Scope
from batchd.events.hub import EventHub
from batchd.events.stream import EventStreams
from batchd.events.webhooks import Webhooks
from batchd.executors.registry import Executors
from batchd.protocol.calls import WireProtocol
from batchd.protocol.jsonrpc import JsonRpc
from batchd.protocol.pages import Page, healthz
from batchd.protocol.restjson import RestJson
from batchd.protocol.router import PreAuthenticate, Router
from batchd.protocol.sigv4 import SignatureVerifier, load_credentials_file
from batchd.scheduler.loop import Scheduler
from batchd.service.api import BatchService, find_operations
from batchd.service.common import Caller, ServiceDeps
from batchd.service.logs import Logs
from batchd.service.pagination import Paginator
from batchd.store.sqlite import SqliteStore
from batchd.tenancy import check_mount_allow_list, load_tenancy

log = logging.getLogger("batchd")


@dataclass
class Server:
    app: Router
    store: SqliteStore
    scheduler: Scheduler
    executors: Executors
    # Closed when the server begins to stop, so open /events streams end instead of holding it up.
    events: EventHub


def _persistent_secret(store: SqliteStore, key: str, size: int) -> str:
    """Made once and kept in the database: nextTokens and the server's identity survive restarts."""
    with store.transaction():
        value = store.get_meta(key)
        if value is None:
            value = secrets.token_hex(size)
            store.set_meta(key, value)
    return value


def build(settings: Settings) -> Server:
    tenancy = load_tenancy(
        settings.credentials_file, check_mount_allow_list(settings.host_mount_allow, settings.data_dir)
    )
    store = SqliteStore(settings.database_path)
    executors = Executors.create(settings, server_id=_persistent_secret(store, "server_id", 8))
    scheduler = Scheduler(store, executors, settings, tenancy)
    deps = ServiceDeps(
        store=store,
        paginator=Paginator(bytes.fromhex(_persistent_secret(store, "token_secret", 32))),
        notify=scheduler.wake,
        executor_problem=executors.problem,
        default_executor=executors.default,
        max_depends_on=settings.max_depends_on,
        min_timeout_seconds=settings.min_timeout_seconds,
        tenancy=tenancy,
        queue_snapshot=scheduler.front_of_queue,
    )
    service = BatchService(deps)
    events = EventHub()
    store.add_event_listener(events.notify)
    # Before the scheduler starts: events of its start-up recovery reach new webhooks too.
    webhooks = Webhooks(settings.event_webhooks, store, events)
    streams = EventStreams(store, events, settings.event_heartbeat_seconds)
    pages: dict[tuple[str, str], Page] = {
        ("GET", "/healthz"): healthz,
        ("HEAD", "/healthz"): healthz,
        ("GET", "/events"): streams.page,
    }

    default_caller = Caller(Scope(settings.region, settings.account_id))
    if settings.credentials_file is not None:
        verifier = SignatureVerifier(load_credentials_file(settings.credentials_file), region=settings.region)
        callers: dict[str, Caller] = {}
        pre_authenticate: PreAuthenticate | None = verifier.require_authorization

        def authenticate(
            service: str, method: str, path: str, query: str, headers: Sequence[tuple[str, str]], body: bytes
        ) -> Caller:
            credential = verifier.verify(method, path, query, headers, body, service)
            caller = callers.get(credential.account_id)
            if caller is None:
                caller = callers[credential.account_id] = Caller(
                    Scope(settings.region, credential.account_id), tenancy.trusted(credential.account_id)
                )
            return caller

    else:
        pre_authenticate = None

        def authenticate(
            service: str, method: str, path: str, query: str, headers: Sequence[tuple[str, str]], body: bytes
        ) -> Caller:
            return default_caller

    async def start() -> None:
        await webhooks.start()
        await scheduler.start()

    async def stop() -> None:
        events.close()
        await webhooks.stop()
        await scheduler.stop()
        store.close()

    logs = Logs(store, settings.logs_dir, deps.paginator)
    protocols: list[WireProtocol] = [
        JsonRpc(LOGS, find_operations(LOGS, (logs,))),
        RestJson(BATCH, service.operations),
    ]
    app = Router(protocols, authenticate, [start], [stop], pre_authenticate, pages)
    return Server(app=app, store=store, scheduler=scheduler, executors=executors, events=events)
