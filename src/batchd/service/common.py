"""What every operation shares: the caller, the clock, list limits, and echoing modelled members."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from batchd.awsmodel import service_model
from batchd.domain.arns import Scope
from batchd.domain.queue_snapshot import QueueSnapshot

# Re-exported for service.tags until it imports batchd.domain.tags itself.
from batchd.errors import ClientException
from batchd.service.pagination import Paginator
from batchd.store.sqlite import SqliteStore
from batchd.tenancy import Tenancy


@dataclass(frozen=True)
class Caller:
    """Who is calling, once the signature is verified: the scope of every resource they touch."""

    scope: Scope
    # Untrusted callers (credentials mode, not marked trusted) get confined jobs: see batchd.tenancy.
    trusted: bool = True

    @property
    def account(self) -> str:
        return self.scope.account_id


class Notify(Protocol):
    """Wakes the scheduler after a change it must act on, naming jobs the API ended or wants stopped."""

    def __call__(self, ended: Iterable[str] = (), stop: Iterable[str] = ()) -> None: ...


class QueueSnapshots(Protocol):
    """The scheduler's read-only view of one queue: (queue ARN, its schedulingPolicyArn, how many jobs)."""

    def __call__(self, queue_arn: str, scheduling_policy_arn: str | None, limit: int) -> QueueSnapshot: ...


@dataclass
class ServiceDeps:
    """What the service layer needs from the rest of batchd, handed in by the composition root."""

    store: SqliteStore
    paginator: Paginator
    notify: Notify
    # The executor an environment would use, and why it cannot serve (None when it can).
    executor_problem: Callable[[str], str | None]
    default_executor: str
    max_depends_on: int = 100
    min_timeout_seconds: int = 60
    tenancy: Tenancy = field(default_factory=Tenancy)
    # GetJobQueueSnapshot's source; None answers an empty queue (a service built without a scheduler).
    queue_snapshot: QueueSnapshots | None = None


def new_id() -> str:
    return str(uuid.uuid4())


def echo_members(params: Mapping[str, Any], output_shape: str, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """The request members that the output shape also has, so Describe* shows back what was set."""
    members = service_model().shape_for(output_shape).members
    return {k: v for k, v in params.items() if k in members and k not in skip and v is not None}


def check_max_results(params: Mapping[str, Any]) -> None:
    value = params.get("maxResults")
    if value is not None and not 1 <= value <= 100:
        raise ClientException(f"maxResults must be between 1 and 100, got {value}.")


def check_list_size(values: list[Any] | None, member: str, limit: int = 100) -> None:
    if values is not None and len(values) > limit:
        raise ClientException(f"{member} may name at most {limit} items, got {len(values)}.")
