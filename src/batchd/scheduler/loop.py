"""The scheduler: moves jobs through their states, event-driven.

A submit, an exit, a cancel or any change calls `wake()`, and one pass runs at once; a short periodic
tick is only the safety net. Every decision is a compare-and-set on the store, so a pass that races an
API call loses cleanly. Passes are synchronous (the store is used from the event-loop thread); attempts
run as tasks that call back into `_settle` when they end.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from batchd.config import Settings
from batchd.domain.amounts import resource_amounts
from batchd.domain.arns import name_of_arn
from batchd.domain.arrays import parent_of, parent_outcome
from batchd.domain.compute_environments import CE, JQ, capacity_vcpus, executor_of
from batchd.domain.consumable_resources import CR, NON_REPLENISHABLE, available, needs_of
from batchd.domain.fair_share import FairShareOrder, SharePolicy, fair_share_order
from batchd.domain.jobs import ACTIVE, REASON_DEPENDENCY_FAILED, REASON_TOO_BIG, JobStatus
from batchd.domain.log_streams import log_group_of, log_stream_name
from batchd.domain.placement import Budget, Candidate, EnvironmentView, Plan, QueueView, place
from batchd.domain.queue_snapshot import QueueSnapshot
from batchd.domain.scheduling_policies import SP
from batchd.domain.waiting import canceled_reason, reason_code, reason_for, time_limits
from batchd.executors.base import AttemptEnd, LaunchFailed, LaunchSpec
from batchd.executors.registry import Executors
from batchd.logs.files import flush_deferred_logs, remove_logs
from batchd.scheduler.attempts import confinement_problem, ecs_arns, launch_spec, outcome
from batchd.scheduler.backlog import Backlog
from batchd.scheduler.shares import ShareAccounts
from batchd.scheduler.snapshot import queue_snapshot
from batchd.scheduler.waits import REASON_SINCE, Waits
from batchd.store.errors import Conflict, StoreError
from batchd.store.lifecycle import Endings, end_job, fail_queued
from batchd.store.records import JobRecord, children_of
from batchd.store.sqlite import SqliteStore
from batchd.tenancy import Tenancy

log = logging.getLogger("batchd.scheduler")

TICK_SECONDS = 1.0
PURGE_EVERY_SECONDS = 300.0
# Array children created per pass: about 40 ms of work, so a large array never stalls requests for long.
SPAWN_PER_PASS = 500


def _now() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class Booking:
    """What a STARTING or RUNNING job holds: its environment's vCPUs, host memory, its account's quota,
    and on a fair-share queue its share's part (charged to the share when it ends)."""

    ce_arn: str | None
    vcpus: float
    memory_mib: int
    account: str
    queue_arn: str = ""
    share: str | None = None
    since: float = 0.0  # time.time() when it was booked
    # Consumable resources held while it runs: (ARN, quantity).
    consumables: tuple[tuple[str, int], ...] = ()


def _booking(job: JobRecord) -> Booking:
    candidate = _candidate(job)
    return Booking(
        job.ce_arn, candidate.vcpus, candidate.memory_mib, job.account, candidate.queue_arn, candidate.share,
        time.time(), candidate.consumables,
    )  # fmt: skip


def _candidate(job: JobRecord) -> Candidate:
    vcpus, memory = resource_amounts(job.doc["container"])
    share = None if job.share_identifier is None else sys.intern(job.share_identifier)
    # Interned: a backlog of a million jobs then holds a few queue ARNs, not a million copies.
    return Candidate(
        job.job_id,
        sys.intern(job.queue_arn),
        job.seq,
        vcpus or 1.0,
        memory or 4,
        share,
        job.scheduling_priority,
        needs_of(job.doc),
    )


class Scheduler:
    def __init__(
        self, store: SqliteStore, executors: Executors, settings: Settings, tenancy: Tenancy | None = None
    ) -> None:
        self._store = store
        self._tenancy = tenancy or Tenancy()
        self._executors = executors
        self._settings = settings
        self._event: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._attempts: dict[str, asyncio.Task[None]] = {}
        self._stopping: set[str] = set()
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._last_purge = 0.0
        self._pending_wake = True
        self._backlog = Backlog()
        # STARTING/RUNNING jobs → what they hold: the capacity in use.
        self._active: dict[str, Booking] = {}
        # Per fair-share queue: what each share has used, decaying; saved every few seconds.
        self._shares = ShareAccounts(store)
        # Jobs that ended since the last pass, whose dependents must be decided.
        self._ended: list[str] = []
        self._stops: set[str] = set()
        # Why RUNNABLE jobs wait, as last written, and the jobs time-limit actions may cancel.
        self._waits = Waits()
        # PENDING jobs found at start, decided again on the first pass.
        self._unresolved: list[JobRecord] = []
        # Array parents whose children are still being created, a chunk per pass (a dict: ordered).
        self._spawning: dict[str, None] = {}
        # Facts the store could not take (disk full, read-only): kept here and written again on every pass
        # until it does, so no job is stranded and none is recorded with another outcome than its own.
        self._unsettled: dict[str, AttemptEnd] = {}  # attempts that ended
        self._unwritten_running: dict[str, JobRecord] = {}  # attempts that started
        self._timed_out: set[str] = set()
        # A pass failed part-way: the in-memory view is rebuilt from the store before the next one.
        self._resync = False

    def wake(self, ended: Iterable[str] = (), stop: Iterable[str] = ()) -> None:
        self._ended.extend(ended)
        self._stops.update(stop)
        self._pending_wake = True
        if self._event is not None:
            self._event.set()

    def front_of_queue(self, queue_arn: str, scheduling_policy_arn: str | None, limit: int) -> QueueSnapshot:
        """Read-only: the queue as GetJobQueueSnapshot reports it (batchd.scheduler.snapshot)."""
        return queue_snapshot(
            self._backlog, self._store, self._active.values(), self._shares.usage, queue_arn,
            scheduling_policy_arn, limit,
        )  # fmt: skip

    async def start(self) -> None:
        self._event = asyncio.Event()
        self._load_queued()
        self._shares.load()
        await self._executors.open()
        await self._recover()
        self._task = asyncio.create_task(self._run(), name="batchd-scheduler")

    def _load_queued(self) -> None:
        """The backlog from the store: RUNNABLE jobs to place, PENDING jobs to decide again."""
        self._backlog = Backlog()
        self._waits.clear()
        queues = self._queue_views()
        now = _now()
        for job in self._store.jobs_in_status((JobStatus.RUNNABLE,)):
            self._backlog.add_runnable(_candidate(job), queues)
            reason = job.doc.get("statusReason")
            if reason:
                since = (job.run or {}).get(REASON_SINCE)
                since = since if isinstance(since, int) else now
                self._waits.remember(job.job_id, job.queue_arn, reason, since)
        # Every PENDING job is decided again from its dependencies' stored statuses, so ended jobs whose
        # dependents a failed pass did not get to are not forgotten.
        self._unresolved = self._store.jobs_in_status((JobStatus.PENDING,))
        self._ended.clear()
        self._spawning.clear()

    async def stop(self) -> None:
        """Leaves running attempts to the next start: containers keep running and are reattached."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for timer in self._timers.values():
            timer.cancel()
        for task in list(self._attempts.values()):
            task.cancel()
        await asyncio.gather(*self._attempts.values(), return_exceptions=True)
        with contextlib.suppress(StoreError):  # a store that cannot be read now: the last save stands
            self._shares.save(self._fair_share_queues(self._queue_views()), time.time(), force=True)
        await self._executors.close()

    async def _run(self) -> None:
        assert self._event is not None
        while True:
            self._event.clear()
            self._pending_wake = False
            try:
                self.run_pass()
            except StoreError as exc:
                # A transaction rolled back after the in-memory view moved on: rebuild it from the store.
                self._resync = True
                log.warning("scheduler pass could not write (%s); retrying", exc)
            except Exception:
                self._resync = True
                log.exception("scheduler pass failed; retrying on the next wake")
            if not self._pending_wake:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._event.wait(), TICK_SECONDS)
            else:
                # Let request handlers in between passes even when wakes keep coming.
                await asyncio.sleep(0)

    def run_pass(self) -> None:
        self._write_deferred()
        if self._resync:
            self._load_queued()
            self._resync = False
        queues = self._queue_views()
        envs, details = self._environment_views()
        self._backlog.reprioritise(queues)
        with self._store.transaction():
            admitted = self._store.jobs_in_status((JobStatus.SUBMITTED,)) + self._unresolved
            self._unresolved = []
            for job in admitted:
                self._admit(job, queues, envs)
            self._spawn_some(queues, envs)
            self._resolve_ended(queues, envs)
        self._handle_stops()
        self._place(queues, envs, details)
        self._apply_time_limits()
        self._shares.save(self._fair_share_queues(queues), time.time())
        if time.monotonic() - self._last_purge > PURGE_EVERY_SECONDS:
            self._last_purge = time.monotonic()
            cutoff = _now() - int(self._settings.retention_days * 86_400_000)
            with self._store.transaction():
                purged = self._store.purge_finished(cutoff)
            if purged:
                # A purge may drop thousands of jobs at once: their files go off the event loop.
                asyncio.get_running_loop().run_in_executor(None, remove_logs, self._settings.logs_dir, purged)

    def _write_deferred(self) -> None:
        """Writes again what the store refused earlier; each fact stays until it is written."""
        flush_deferred_logs()
        for job_id, job in list(self._unwritten_running.items()):
            if self._record_running(job):
                self._unwritten_running.pop(job_id, None)
        for job_id, end in list(self._unsettled.items()):
            self._unsettled.pop(job_id, None)
            self._settle(job_id, end)

    def _queue_views(self) -> dict[str, QueueView]:
        views = {}
        limits = {}
        for q in self._store.list_resources(JQ, None):
            order = tuple(e["computeEnvironment"] for e in q.get("computeEnvironmentOrder", []))
            views[q["jobQueueArn"]] = QueueView(
                q["jobQueueArn"], int(q.get("priority", 0)), order, q.get("schedulingPolicyArn") or None
            )
            limits[q["jobQueueArn"]] = time_limits(q)
        self._waits.set_limits(limits)
        return views

    def _environment_views(self) -> tuple[dict[str, EnvironmentView], dict[str, dict[str, Any]]]:
        used: dict[str, float] = {}
        for booking in self._active.values():
            if booking.ce_arn:
                used[booking.ce_arn] = used.get(booking.ce_arn, 0.0) + booking.vcpus
        envs: dict[str, EnvironmentView] = {}
        details: dict[str, dict[str, Any]] = {}
        for e in self._store.list_resources(CE, None):
            arn = e["computeEnvironmentArn"]
            details[arn] = e
            is_open = e.get("state") == "ENABLED" and e.get("status") == "VALID"
            envs[arn] = EnvironmentView(arn, capacity_vcpus(e), used.get(arn, 0.0), is_open)
        return envs, details

    # --- SUBMITTED / PENDING → RUNNABLE or FAILED -------------------------------------------------------

    def _write(self, job: JobRecord, expected: JobStatus) -> bool:
        """Compare-and-set; False when the API changed the job first (a cancel), which then wins."""
        try:
            self._store.update_job(job, expected)
        except Conflict:
            return False
        return True

    def _admit(self, job: JobRecord, queues: dict[str, QueueView], envs: dict[str, EnvironmentView]) -> None:
        deps = self._store.dependencies(job.job_id)
        statuses = self._statuses(deps)
        if any(s == JobStatus.FAILED for s in statuses.values()):
            self._fail_dependent(job)
            return
        remaining = [d for d in deps if statuses.get(d) != JobStatus.SUCCEEDED]
        if not remaining:
            self._release(job, queues, envs)
            return
        if job.status == JobStatus.SUBMITTED:
            job.move_to(JobStatus.PENDING)
            if not self._write(job, JobStatus.SUBMITTED):
                return
        self._backlog.wait(job.job_id, remaining)

    def _fail_dependent(self, job: JobRecord) -> None:
        try:
            fail_queued(self._store, job, REASON_DEPENDENCY_FAILED)
        except Conflict:
            pass  # the API ended it first
        else:
            # A failure cascades: this job's own dependents are decided next.
            self._ended.append(job.job_id)
        self._backlog.forget(job.job_id)

    def _release(
        self, job: JobRecord, queues: dict[str, QueueView], envs: dict[str, EnvironmentView]
    ) -> None:
        """A job whose dependencies have all SUCCEEDED: RUNNABLE, or for an array parent its children."""
        if job.array_size is None:
            self._make_runnable(job, queues, envs)
            return
        summary = self._store.array_summary(job.job_id)
        if summary is not None and summary.spawned >= summary.size:
            self._finish_parent(job.job_id)  # found again after a restart
        else:
            self._spawning[job.job_id] = None
            self.wake()  # created by `_spawn_some`, from the next pass on

    def _too_big(
        self, job: JobRecord, queues: dict[str, QueueView], envs: dict[str, EnvironmentView]
    ) -> bool:
        """Larger than host memory or than every environment of its queue: it waits with a reason."""
        candidate = _candidate(job)
        queue = queues.get(job.queue_arn)
        attached = [envs[a] for a in (queue.environments if queue else ()) if a in envs]
        host = self._executors.host_memory_mib
        return candidate.memory_mib > host or not any(e.capacity_vcpus >= candidate.vcpus for e in attached)

    def _make_runnable(
        self, job: JobRecord, queues: dict[str, QueueView], envs: dict[str, EnvironmentView]
    ) -> None:
        expected = job.status
        job.move_to(JobStatus.RUNNABLE)
        too_big = self._too_big(job, queues, envs)
        now = _now()
        if too_big:
            job.doc["statusReason"] = REASON_TOO_BIG
            job.run = {REASON_SINCE: now}
        if self._write(job, expected):
            self._backlog.add_runnable(_candidate(job), queues)
            if too_big:
                self._waits.remember(job.job_id, job.queue_arn, REASON_TOO_BIG, now)

    def _spawn_some(self, queues: dict[str, QueueView], envs: dict[str, EnvironmentView]) -> None:
        """Creates the next children of the arrays being spawned, SPAWN_PER_PASS at most per pass.

        Children are made once the parent's own dependencies are met, in index order; a 10,000-child
        array takes a few passes, so requests are served between them. A child with no dependency of
        its own (N_TO_N, SEQUENTIAL) is RUNNABLE at once; the others wait PENDING. The parent is PENDING
        from its first children until its last child ends."""
        budget = SPAWN_PER_PASS
        for parent_id in list(self._spawning):
            parent = self._store.get_job(parent_id)
            summary = self._store.array_summary(parent_id)
            if (
                parent is None
                or summary is None
                or parent.status.is_terminal
                or summary.spawned >= summary.size
            ):
                del self._spawning[parent_id]
                continue
            if budget <= 0:
                self.wake()  # more to create: the next pass comes right after requests waiting now
                return
            stop = min(summary.size, summary.spawned + budget)
            budget -= stop - summary.spawned
            children = children_of(parent, range(summary.spawned, stop))
            too_big = self._too_big(parent, queues, envs)
            now = _now()
            for child in children:
                if too_big and child.status == JobStatus.RUNNABLE:
                    child.doc["statusReason"] = REASON_TOO_BIG
                    child.run = {REASON_SINCE: now}
            self._store.spawn_children(parent, children, _now())
            if parent.status == JobStatus.SUBMITTED:
                # After the children, so its event shows their counts. Nothing else writes in between
                # (a pass is one transaction on the one connection), so this compare-and-set holds.
                parent.move_to(JobStatus.PENDING)
                self._write(parent, JobStatus.SUBMITTED)
            for child in children:
                if child.status == JobStatus.RUNNABLE:
                    if too_big:
                        self._waits.remember(child.job_id, child.queue_arn, REASON_TOO_BIG, now)
                    self._backlog.add_runnable(_candidate(child), queues)
                else:
                    self._admit(child, queues, envs)
            if stop >= summary.size:
                del self._spawning[parent_id]
            else:
                self.wake()

    def _statuses(self, job_ids: list[str]) -> dict[str, JobStatus]:
        """Stored statuses; a child of an array that ended before creating it counts as FAILED (it never
        will run), so that whatever waits on it through N_TO_N fails instead of waiting forever."""
        statuses = self._store.job_statuses(job_ids)
        unborn = {job_id: parent_of(job_id) for job_id in job_ids if job_id not in statuses}
        parents = self._store.job_statuses([p for p in unborn.values() if p is not None])
        for job_id, parent_id in unborn.items():
            if parent_id is not None and parents.get(parent_id) == JobStatus.FAILED:
                statuses[job_id] = JobStatus.FAILED
        return statuses

    def _unborn_children_ended(self, job_id: str) -> None:
        """An array parent ended, perhaps before creating all its children: jobs waiting on one of them
        (N_TO_N) are decided now, as after any ended job (a child never created counts as FAILED)."""
        self._ended.extend(self._backlog.waited_children.pop(job_id, ()))

    def _finish_parent(self, parent_id: str) -> None:
        """Ends an array parent once its last child has ended; its own dependents are decided next."""
        summary = self._store.array_summary(parent_id)
        decided = None if summary is None else parent_outcome(summary.counts, summary.size)
        if decided is None:
            return
        parent = self._store.get_job(parent_id)
        if parent is None or parent.status.is_terminal:
            return
        expected = parent.status
        parent.move_to(decided[0], statusReason=decided[1], stoppedAt=_now())
        if self._write(parent, expected):
            self._ended.append(parent_id)

    def _resolve_ended(self, queues: dict[str, QueueView], envs: dict[str, EnvironmentView]) -> None:
        while self._ended:
            ended = self._ended.pop()
            self._backlog.forget(ended)
            self._waits.forget(ended)
            parent_id = parent_of(ended)
            if parent_id is not None:
                self._finish_parent(parent_id)
            else:
                self._unborn_children_ended(ended)
            waiting = self._backlog.waiters.pop(ended, set())
            if not waiting:
                continue
            status = self._statuses([ended]).get(ended)
            for job_id in waiting:
                deps = self._backlog.pending.get(job_id)
                job = None if deps is None else self._store.get_job(job_id)
                if job is None or deps is None or job.status != JobStatus.PENDING:
                    self._backlog.forget(job_id)
                    continue
                if status == JobStatus.FAILED:
                    self._fail_dependent(job)
                elif status == JobStatus.SUCCEEDED:
                    deps.discard(ended)
                    if not deps:
                        self._backlog.forget(job_id)
                        self._release(job, queues, envs)

    # --- RUNNABLE → STARTING ----------------------------------------------------------------------------

    def _place(
        self,
        queues: dict[str, QueueView],
        envs: dict[str, EnvironmentView],
        details: dict[str, dict[str, Any]],
    ) -> None:
        if not self._backlog.has_runnable():
            return
        host = self._executors.host_memory_mib
        used_memory = sum(booking.memory_mib for booking in self._active.values())
        orders = self._fair_share_orders(queues, envs)
        plan = place(
            self._backlog.ranked(orders),
            queues,
            envs,
            host - used_memory,
            host,
            ranked=True,
            smallest_vcpus=self._backlog.smallest_vcpus(),
            candidate_queues=self._backlog.queue_arns(),
            budgets=self._budgets(),
            consumables=self._consumables_available(),
        )
        # Fair-share jobs the orders passed over were looked at too: each has its cause.
        for _, order in orders:
            for job_id, cause in order.held.items():
                plan.causes.setdefault(job_id, cause)
        launches: list[tuple[JobRecord, str]] = []
        try:
            self._book(plan, details, launches)
        except BaseException:
            for job, _ in launches:  # not STARTING after all: the store rolled back
                self._active.pop(job.job_id, None)
            raise
        for job, executor in launches:
            spec = self._launch_spec(job)
            self._attempts[job.job_id] = asyncio.create_task(self._attempt(job.job_id, executor, spec))

    def _fair_share_orders(
        self, queues: dict[str, QueueView], envs: dict[str, EnvironmentView]
    ) -> list[tuple[int, FairShareOrder]]:
        """Each fair-share queue's jobs in the order its policy gives them this pass (docs/jobs.md, Fair
        share), with the queue's priority. A job the pass then cannot start (host memory, no single
        environment with room) still counts against its share until the next pass: that only errs
        towards leaving capacity free."""
        now = time.time()
        fair = [arn for arn in self._backlog.fair_share_queues() if arn in queues]
        if not fair:
            return []
        policies = {p["arn"]: p for p in self._store.list_resources(SP, None)}
        orders: list[tuple[int, FairShareOrder]] = []
        for arn in fair:
            queue = queues[arn]
            document = policies.get(queue.scheduling_policy_arn or "")
            if document is None:
                continue  # the policy is gone (or the queue is FIFO now): its jobs wait, as on AWS
            policy = SharePolicy.from_document(document.get("fairsharePolicy"))
            usage, running, to_come = self._shares.before_pass(
                arn,
                policy,
                (
                    (b.share, b.vcpus, b.since)
                    for b in self._active.values()
                    if b.queue_arn == arn and b.share is not None
                ),
                now,
            )
            attached = [envs[e] for e in queue.environments if e in envs]
            capacity = sum(env.capacity_vcpus for env in attached)
            free = sum(max(0.0, env.capacity_vcpus - env.used_vcpus) for env in attached if env.open)
            order = fair_share_order(
                self._backlog.waiting_by_share(arn),
                running,
                usage,
                policy,
                capacity,
                now,
                free_vcpus=free,
                still_to_come=to_come,
            )
            orders.append((queue.priority, order))
        return orders

    def _free_booking(self, job_id: str) -> None:
        """The job's attempt has ended: its capacity is free, and its share is charged what it used."""
        booking = self._active.pop(job_id, None)
        if booking is not None and booking.share is not None:
            self._shares.ended(booking.queue_arn, (booking.share, booking.vcpus, booking.since), time.time())

    @staticmethod
    def _fair_share_queues(queues: dict[str, QueueView]) -> list[str]:
        return [arn for arn, queue in queues.items() if queue.scheduling_policy_arn]

    def _book(
        self, plan: Plan, details: dict[str, dict[str, Any]], launches: list[tuple[JobRecord, str]]
    ) -> None:
        """Writes the plan in one transaction: reasons of jobs that wait, STARTING for those placed."""
        with self._store.transaction():
            self._tell_why_waiting(plan.causes)
            for assignment in plan.assignments:
                self._backlog.discard_runnable(assignment.job_id)
                self._waits.forget(assignment.job_id)
                job = self._store.get_job(assignment.job_id)
                if job is None or job.status != JobStatus.RUNNABLE:
                    continue
                env = details[assignment.environment_arn]
                executor = executor_of(env, self._executors.default)
                attempt = len(job.doc.get("attempts") or []) + 1
                task_id = str(uuid.uuid4())
                definition_name = name_of_arn(job.jd_arn).rsplit(":", 1)[0]
                job.move_to(JobStatus.STARTING)
                job.ce_arn = assignment.environment_arn
                job.run = {
                    "executor": executor,
                    "attempt": attempt,
                    "taskId": task_id,
                    "logStreamName": log_stream_name(job.doc["container"], definition_name, task_id),
                }
                job.doc.pop("statusReason", None)
                job.doc["container"]["logStreamName"] = job.run["logStreamName"]
                job.doc["container"].pop("exitCode", None)
                job.doc["container"].pop("reason", None)
                if self._write(job, JobStatus.RUNNABLE):
                    with self._store.transaction():
                        self._store.add_log_stream(
                            job.account,
                            log_group_of(job.doc["container"]),
                            job.run["logStreamName"],
                            _now(),
                        )
                    self._consume(job, 1)
                    self._active[job.job_id] = _booking(job)
                    launches.append((job, executor))

    def _consumables_available(self) -> dict[str, int]:
        """What each consumable resource has available. A REPLENISHABLE resource's in-use quantity is
        what the STARTING and RUNNING jobs hold: it is recomputed from the jobs themselves (after a restart,
        `_recover` rebuilds `_active` from the store), so nothing is leaked or counted twice."""
        resources = self._store.list_resources(CR, None)
        return available(resources, (b.consumables for b in self._active.values())) if resources else {}

    def _consume(self, job: JobRecord, sign: int) -> None:
        """Takes (sign 1, with the move to STARTING) or gives back (sign -1, an attempt that never ran)
        the job's NON_REPLENISHABLE quantities, in the caller's transaction. REPLENISHABLE ones need no
        write: they are in use exactly while the job is STARTING or RUNNING."""
        for arn, quantity in needs_of(job.doc):
            account, name = arn.split(":", 5)[4], arn.rsplit("/", 1)[-1]
            doc = self._store.get_resource(CR, account, name)
            if doc is None or doc.get("resourceType") != NON_REPLENISHABLE:
                continue  # deleted since: AWS ignores it too
            doc["consumedQuantity"] = max(0, int(doc.get("consumedQuantity") or 0) + sign * quantity)
            self._store.put_resource(CR, account, name, doc)

    def _tell_why_waiting(self, causes: dict[str, str]) -> None:
        """Writes the statusReason of RUNNABLE jobs that wait, only where it changes (`_waits` remembers
        what was written), with when it was set."""
        for job_id, cause in causes.items():
            told = self._waits.told.get(job_id)
            if told is not None and told.reason == reason_for(cause, told.queue_arn):
                continue
            job = self._store.get_job(job_id)
            if job is None or job.status != JobStatus.RUNNABLE:
                continue
            reason = reason_for(cause, job.queue_arn)
            since = (job.run or {}).get(REASON_SINCE)
            if job.doc.get("statusReason") == reason and isinstance(since, int):
                self._waits.remember(job_id, job.queue_arn, reason, since)
                continue
            # The same AWS code with another tail (vCPUs, then memory) keeps its time waited.
            code = reason_code(reason)
            same = code is not None and reason_code(job.doc.get("statusReason")) == code
            now = since if same and isinstance(since, int) else _now()
            job.doc["statusReason"] = reason
            job.run = {**(job.run or {}), REASON_SINCE: now}
            if self._write(job, JobStatus.RUNNABLE):
                self._waits.remember(job_id, job.queue_arn, reason, now)

    def _apply_time_limits(self) -> None:
        """Cancels the jobs that have waited with a reason their queue's time-limit action names for its
        maxTimeSeconds, as AWS does; only the tracked jobs are looked at."""
        due = self._waits.due(_now())
        if not due:
            return
        endings = Endings()
        with self._store.transaction():
            for job_id, reason in due:
                self._waits.forget(job_id)
                job = self._store.get_job(job_id)
                if job is None or job.status != JobStatus.RUNNABLE:
                    continue
                if reason_code(job.doc.get("statusReason")) != reason:
                    continue
                end_job(self._store, job, canceled_reason(reason), terminate=False, endings=endings)
                self._backlog.discard_runnable(job_id)
        if endings.ended:
            self.wake(ended=endings.ended)

    def _budgets(self) -> dict[str, Budget]:
        """Per account with a vCPU or memory quota: what it may still start."""
        budgets = {
            account: Budget(quota.running_vcpus, quota.memory_mib)
            for account, quota in self._tenancy.quotas.items()
            if quota.running_vcpus is not None or quota.memory_mib is not None
        }
        if budgets:
            for booking in self._active.values():
                budget = budgets.get(booking.account)
                if budget is not None:
                    budget.book_amounts(booking.vcpus, booking.memory_mib)
        return budgets

    def _reason(self, what: str, exc: Exception) -> str:
        """A container reason from an executor's exception, without the server's own paths: the job's
        owner reads it."""
        return f"{what}: {exc}".replace(str(self._settings.data_dir), "<data dir>")[:255]

    def _launch_spec(self, job: JobRecord) -> LaunchSpec:
        return launch_spec(
            job,
            self._settings.logs_dir,
            self._settings.work_dir,
            confined=not self._tenancy.trusted(job.account),
        )

    # --- STARTING → RUNNING → SUCCEEDED / FAILED / RUNNABLE ---------------------------------------------

    async def _attempt(self, job_id: str, executor_name: str, spec: LaunchSpec) -> None:
        executor = self._executors.get(executor_name)
        try:
            problem = confinement_problem(spec, executor_name, self._tenancy)
            if problem is not None:
                self._settle(job_id, AttemptEnd(None, problem, launch_failed=True))
                return
            try:
                handle = await executor.start(spec)
            except LaunchFailed as failure:
                self._settle(job_id, AttemptEnd(None, failure.reason, launch_failed=True))
                return
            job = self._store.get_job(job_id)
            if job is None or job.status != JobStatus.STARTING:
                await executor.stop(handle, 0)
                return
            now = _now()
            job.move_to(JobStatus.RUNNING, startedAt=now)
            job.run = {**(job.run or {}), "handle": handle, "startedAt": now}
            if not self._record_running(job):
                self._unwritten_running[job_id] = job  # it runs all the same: written on a later pass
            self._arm_timeout(job)
            if (job.run or {}).get("stop"):
                self._stop(job)
            end = await executor.wait(spec, handle)
            self._settle(job_id, end)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("attempt of job %s failed in the executor", job_id)
            self._settle(job_id, AttemptEnd(None, self._reason("Executor error", exc)))
        finally:
            self._attempts.pop(job_id, None)

    def _record_running(self, job: JobRecord) -> bool:
        """STARTING → RUNNING with the attempt's handle; False when the store cannot take it now."""
        try:
            with self._store.transaction():
                self._store.update_job(job, JobStatus.STARTING)
        except Conflict:
            return True  # the job moved on (a stop, a settle written first): nothing left to write
        except StoreError as exc:
            log.warning("cannot record job %s RUNNING yet: %s", job.job_id, exc)
            return False
        return True

    def _settle(self, job_id: str, end: AttemptEnd) -> None:
        """Records how an attempt ended; kept and written again later when the store refuses it."""
        try:
            self._settle_now(job_id, end)
        except StoreError as exc:
            log.warning("cannot record the end of job %s yet: %s", job_id, exc)
            self._unsettled[job_id] = end
            self._free_booking(job_id)  # its process has ended: its capacity is free

    def _settle_now(self, job_id: str, end: AttemptEnd) -> None:
        job = self._store.get_job(job_id)
        if job is None or job.status not in ACTIVE:
            return
        started = self._unwritten_running.get(job_id)
        if started is not None and job.status == JobStatus.STARTING:
            # RUNNING was never written: settle from the started record, compared against STARTING.
            stop = (job.run or {}).get("stop")
            job.run = {**(started.run or {}), **({"stop": stop} if stop else {})}
            # It ran: the history says RUNNING before it says how the attempt ended.
            job.move_to(JobStatus.RUNNING, startedAt=started.doc.get("startedAt"))
            self._store.update_job(job, JobStatus.STARTING)
        if job_id in self._timed_out:
            job.run = {**(job.run or {}), "timedOut": True}
        timer = self._timers.pop(job_id, None)
        if timer is not None:
            timer.cancel()
        self._stopping.discard(job_id)
        result = outcome(job, end)
        run = job.run or {}
        now = _now()
        container = job.doc["container"]
        if end.exit_code is not None:
            container["exitCode"] = end.exit_code
        if end.reason:
            container["reason"] = end.reason
        task_arn, instance_arn = ecs_arns(job.doc["jobArn"], str(run.get("taskId")), job.ce_arn)
        container["taskArn"] = task_arn
        attempt_container: dict[str, Any] = {
            "containerInstanceArn": instance_arn,
            "exitCode": end.exit_code,
            "reason": end.reason,
            "logStreamName": run.get("logStreamName"),
            "taskArn": task_arn,
            # The model lists it; batchd's containers get no elastic network interface.
            "networkInterfaces": [],
        }
        record: dict[str, Any] = {
            "container": {k: v for k, v in attempt_container.items() if v is not None},
            "stoppedAt": now,
            "statusReason": result.status_reason,
        }
        if "startedAt" in run:
            record["startedAt"] = run["startedAt"]
        with self._store.transaction():
            expected = job.status
            job.doc.setdefault("attempts", []).append(record)
            job.move_to(result.status, statusReason=result.status_reason)
            job.ce_arn = None
            job.run = None
            if result.status == JobStatus.RUNNABLE:
                job.doc.pop("startedAt", None)
            else:
                job.doc["stoppedAt"] = now
            written = self._write(job, expected)
            if written and end.launch_failed:
                self._consume(job, -1)  # it never ran: nothing was used up
        self._free_booking(job_id)
        self._timed_out.discard(job_id)
        self._unwritten_running.pop(job_id, None)
        if not written:
            log.warning("job %s changed while its attempt was being settled", job_id)
        elif result.status == JobStatus.RUNNABLE:
            self._backlog.add_runnable(_candidate(job), self._queue_views())
        else:
            self._ended.append(job_id)
        self.wake()

    # --- stops and timeouts -----------------------------------------------------------------------------

    def _handle_stops(self) -> None:
        while self._stops:
            job = self._store.get_job(self._stops.pop())
            stop_requested = job is not None and job.status in ACTIVE and (job.run or {}).get("stop")
            if job is not None and stop_requested and job.job_id not in self._stopping:
                self._stop(job)

    def _stop(self, job: JobRecord) -> None:
        run = job.run or {}
        handle = run.get("handle")
        if handle is None and job.job_id in self._unwritten_running:
            handle = (self._unwritten_running[job.job_id].run or {}).get("handle")
        if handle is None:
            # Still launching: `_attempt` stops it as soon as it has a handle.
            return
        self._stopping.add(job.job_id)
        executor = self._executors.get(run["executor"])
        grace = 0.0 if run.get("timedOut") else self._settings.stop_grace_seconds
        asyncio.create_task(executor.stop(handle, grace))

    def _arm_timeout(self, job: JobRecord) -> None:
        seconds = (job.doc.get("timeout") or {}).get("attemptDurationSeconds")
        run = job.run or {}
        if not seconds or "startedAt" not in run:
            return
        remaining = max(0.0, (run["startedAt"] + seconds * 1000 - _now()) / 1000)
        loop = asyncio.get_running_loop()
        self._timers[job.job_id] = loop.call_later(remaining, self._time_out, job.job_id)

    def _time_out(self, job_id: str) -> None:
        self._timers.pop(job_id, None)
        job = self._store.get_job(job_id)
        if job is None or job.status not in ACTIVE:
            return
        expected = job.status  # STARTING while RUNNING could not be written yet
        job.run = {**(job.run or {}), "timedOut": True}
        self._timed_out.add(job_id)  # known to the settle even if the store cannot take it now
        with contextlib.suppress(StoreError), self._store.transaction():
            self._store.update_job(job, expected)
        self._stop(job)

    # --- after a restart ----------------------------------------------------------------------------------

    async def _recover(self) -> None:
        """Reattach to attempts still running, settle those that ended while the server was down."""
        active = self._store.jobs_in_status(ACTIVE)
        for job in active:
            run = job.run or {}
            if run and not run.get("handle"):
                # Started, but the server died before RUNNING was written: the attempt may well run.
                executor = self._executors.get(run.get("executor", self._executors.default))
                if executor.problem() is None:
                    try:
                        handle = await executor.find(self._launch_spec(job))
                    except Exception:
                        log.exception("cannot look for the attempt of job %s", job.job_id)
                        handle = None
                    if handle is not None:
                        now = _now()
                        job.move_to(JobStatus.RUNNING, startedAt=now)
                        job.run = {**run, "handle": handle, "startedAt": now}
                        if not self._record_running(job):
                            self._unwritten_running[job.job_id] = job
        for name in ("local", "docker"):
            known = [job.run["handle"] for job in active if job.run and job.run.get("handle")]
            executor = self._executors.get(name)
            if executor.problem() is None:
                try:
                    await executor.reap(known)
                except Exception:
                    log.exception("cannot remove leftovers of the %s executor", name)
        for job in active:
            self._active[job.job_id] = _booking(job)
            run = job.run or {}
            handle = run.get("handle")
            executor = self._executors.get(run.get("executor", self._executors.default))
            if handle is None:
                self._settle(
                    job.job_id,
                    AttemptEnd(None, "Executor restarted before the attempt started", launch_failed=True),
                )
                continue
            spec = self._launch_spec(job)
            try:
                end = await executor.recover(spec, handle)
            except Exception as exc:
                log.exception("cannot recover job %s", job.job_id)
                end = AttemptEnd(None, self._reason("Executor lost", exc))
            if end is not None:
                self._settle(job.job_id, end)
                continue
            log.info("reattached to job %s", job.job_id)
            self._arm_timeout(job)
            if run.get("stop"):
                self._stop(job)
            self._attempts[job.job_id] = asyncio.create_task(
                self._reattach(job.job_id, executor.name, spec, handle)
            )

    async def _reattach(
        self, job_id: str, executor_name: str, spec: LaunchSpec, handle: dict[str, Any]
    ) -> None:
        try:
            end = await self._executors.get(executor_name).wait(spec, handle)
            self._settle(job_id, end)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("reattached attempt of job %s failed", job_id)
            self._settle(job_id, AttemptEnd(None, self._reason("Executor error", exc)))
        finally:
            self._attempts.pop(job_id, None)
