"""Fair share: does a fair-share queue hand out capacity in inverse proportion to each share's weightFactor,
and how soon does a share that arrives late get its first job?

batchd only, on the local executor: one fair-share queue on a MANAGED environment of 4 vCPUs, a scheduling
policy with a few shares of different weights, and a deep backlog of equal 1-vCPU jobs (`sleep 0.5`) per
share, all submitted while the environment is DISABLED and then let go at once by enabling it. Every
second the bench reads each job's startedAt/stoppedAt (DescribeJobs of the jobs not yet finished) and
adds up, per share, the vCPU-seconds received so far (a running job counts up to now). A share's received
fraction is its vCPU-seconds over everyone's; its target is (1/weightFactor) over the sum of 1/weightFactor.

Then the late share: with the backlogs still deep and every vCPU taken, jobs of a share the queue has never
seen are submitted, and the time from SubmitJob to the first one's startedAt is measured (a few late
shares, one after another). batchd places in passes (on a wake, else once a second); the slot the
newcomer gets is the next one a finishing job frees.

moto and LocalStack accept scheduling policies and store them, but schedule a fair-share queue's jobs like
any other queue's (or, moto, not at all: it starts every job at once), so there is nothing to compare.
"""

from __future__ import annotations

import time
from typing import Any

from bench.client import Client, ce_request, make_client, provision_network, wait_settled
from bench.targets import Server, log

JOB_SECONDS = 0.5
VCPUS = 4
SAMPLE_EVERY_S = 1.0
# Backlog per share: this many times what the share would run over the whole phase at full speed at its
# target fraction, or at an equal split if that is more (a scheduler that misses the target may give a
# share more than its target), so no share runs dry before the end.
BACKLOG_MARGIN = 1.3
LATE_JOBS = 5


def target_fractions(weights: dict[str, float]) -> dict[str, float]:
    inv = {share: 1.0 / w for share, w in weights.items()}
    total = sum(inv.values())
    return {share: v / total for share, v in inv.items()}


def _submit(client: Client, queue: str, jd: str, share: str, count: int) -> list[tuple[str, float]]:
    out = []
    for i in range(count):
        t = time.time()
        job_id = client.submit_job(
            jobName=f"{share}-{i}", jobQueue=queue, jobDefinition=jd, shareIdentifier=share
        )["jobId"]
        out.append((job_id, t))
    return out


class Ledger:
    """Per job: its share, startedAt and stoppedAt (epoch ms) as last read; finished jobs are not read
    again."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.share: dict[str, str] = {}
        self.started: dict[str, float] = {}
        self.stopped: dict[str, float] = {}
        self.read_s: list[float] = []

    def add(self, job_ids: list[str], share: str) -> None:
        for job_id in job_ids:
            self.share[job_id] = share

    def refresh(self) -> None:
        t0 = time.perf_counter()
        open_ids = [j for j in self.share if j not in self.stopped]
        for start in range(0, len(open_ids), 100):
            for job in self.client.describe_jobs(jobs=open_ids[start : start + 100])["jobs"]:
                if job.get("startedAt"):
                    self.started[job["jobId"]] = float(job["startedAt"])
                if job["status"] in ("SUCCEEDED", "FAILED") and job.get("stoppedAt"):
                    self.stopped[job["jobId"]] = float(job["stoppedAt"])
                    self.started.setdefault(job["jobId"], float(job.get("startedAt") or job["stoppedAt"]))
        self.read_s.append(time.perf_counter() - t0)

    def received(self, now_ms: float, since_ms: float = 0.0) -> dict[str, float]:
        """vCPU-seconds (1-vCPU jobs) per share, counted from since_ms to now_ms."""
        out: dict[str, float] = {}
        for job_id, start in self.started.items():
            end = self.stopped.get(job_id, now_ms)
            span = max(0.0, min(end, now_ms) - max(start, since_ms)) / 1000.0
            share = self.share[job_id]
            out[share] = out.get(share, 0.0) + span
        return out

    def running(self, now_ms: float) -> dict[str, int]:
        out: dict[str, int] = {}
        for job_id, start in self.started.items():
            if start <= now_ms and self.stopped.get(job_id, now_ms + 1) > now_ms:
                share = self.share[job_id]
                out[share] = out.get(share, 0) + 1
        return out

    def waiting(self, share: str) -> int:
        return sum(1 for j, s in self.share.items() if s == share and j not in self.started)


def _fractions(received: dict[str, float], shares: list[str]) -> dict[str, float | None]:
    total = sum(received.get(s, 0.0) for s in shares)
    return {s: (received.get(s, 0.0) / total if total else None) for s in shares}


def run_fairshare(
    server: Server,
    weights: dict[str, float],
    duration_s: float,
    late_shares: int,
    reservation: int = 0,
    decay_s: int = 600,
) -> dict[str, Any]:
    client = make_client(server.endpoint)
    net = provision_network(server.endpoint, "batchd")
    shares = list(weights)
    targets = target_fractions(weights)

    ce = "fs-ce"
    request = ce_request(ce, net, "DISABLED")
    request["computeResources"]["maxvCpus"] = VCPUS
    client.create_compute_environment(**request)
    wait_settled(client, "ce", ce)
    policy = client.create_scheduling_policy(
        name="fs-policy",
        fairsharePolicy={
            "shareDecaySeconds": decay_s,
            "computeReservation": reservation,
            "shareDistribution": [{"shareIdentifier": s, "weightFactor": w} for s, w in weights.items()],
        },
    )["arn"]
    queue = "fs-q"
    client.create_job_queue(
        jobQueueName=queue,
        state="ENABLED",
        priority=1,
        schedulingPolicyArn=policy,
        computeEnvironmentOrder=[{"order": 1, "computeEnvironment": ce}],
    )
    wait_settled(client, "queue", queue)
    jd = client.register_job_definition(
        jobDefinitionName="fs-sleep",
        type="container",
        containerProperties={
            "image": "busybox",
            "command": ["sleep", str(JOB_SECONDS)],
            "vcpus": 1,
            "memory": 16,
        },
    )["jobDefinitionArn"]

    ledger = Ledger(client)
    backlog: dict[str, int] = {}
    t_submit = time.perf_counter()
    for share in shares:
        expected = max(targets[share], 1.0 / len(shares))
        n = int(BACKLOG_MARGIN * duration_s * VCPUS / JOB_SECONDS * expected) + 20
        backlog[share] = n
        log(f"fairshare: submitting {n} jobs of share {share} (weightFactor {weights[share]})")
        ledger.add([j for j, _ in _submit(client, queue, jd, share, n)], share)
    submit_s = time.perf_counter() - t_submit

    log(f"fairshare: enabling the environment; sampling for {duration_s:.0f} s")
    t0_ms = time.time() * 1000.0
    client.update_compute_environment(computeEnvironment=ce, state="ENABLED")
    samples: list[dict[str, Any]] = []
    ran_dry: str | None = None
    deadline = time.monotonic() + duration_s
    next_at = time.monotonic() + SAMPLE_EVERY_S
    while time.monotonic() < deadline:
        time.sleep(max(0.0, next_at - time.monotonic()))
        next_at += SAMPLE_EVERY_S
        ledger.refresh()
        now_ms = time.time() * 1000.0
        got = ledger.received(now_ms)
        samples.append(
            {
                "t_s": (now_ms - t0_ms) / 1000.0,
                "vcpu_s": {s: got.get(s, 0.0) for s in shares},
                "fraction": _fractions(got, shares),
                "running": ledger.running(now_ms),
            }
        )
        dry = [s for s in shares if ledger.waiting(s) == 0]
        if dry:
            ran_dry = f"share {dry[0]}'s backlog ran out at {samples[-1]['t_s']:.0f} s"
            log(f"fairshare: {ran_dry}; stopping the sampling")
            break
    end_ms = time.time() * 1000.0
    final = samples[-1] if samples else {"fraction": {}, "vcpu_s": {}}
    errors = {
        s: (final["fraction"][s] - targets[s]) / targets[s] if final["fraction"].get(s) is not None else None
        for s in shares
    }
    # The second half alone: the split once the first passes' start-up is behind.
    half_ms = t0_ms + (end_ms - t0_ms) / 2
    second = _fractions(ledger.received(end_ms, since_ms=half_ms), shares)
    second_errors = {
        s: (second[s] - targets[s]) / targets[s] if second[s] is not None else None for s in shares
    }
    total_vcpu_s = sum(final["vcpu_s"].values())
    elapsed_s = (end_ms - t0_ms) / 1000.0
    finished = len(ledger.stopped)

    late: list[dict[str, Any]] = []
    for k in range(late_shares):
        share = f"late{k + 1}"
        log(f"fairshare: a late share, {share}, arrives with {LATE_JOBS} jobs")
        submitted = _submit(client, queue, jd, share, LATE_JOBS)
        ledger.add([j for j, _ in submitted], share)
        first_id, first_submit = submitted[0]
        first_start: float | None = None
        created: dict[str, float] = {}
        polls = 0
        wait_deadline = time.monotonic() + 30.0
        while first_start is None and time.monotonic() < wait_deadline:
            jobs = client.describe_jobs(jobs=[j for j, _ in submitted])["jobs"]
            polls += 1
            starts = [float(j["startedAt"]) for j in jobs if j.get("startedAt")]
            if starts:
                first_start = min(starts)
                created = {j["jobId"]: float(j["createdAt"]) for j in jobs}
                break
            time.sleep(0.05)
        row: dict[str, Any] = {"share": share, "jobs": LATE_JOBS}
        if first_start is None:
            row["reason"] = "no job of the late share started within 30 s"
        else:
            row["submit_to_start_s"] = (first_start - first_submit * 1000.0) / 1000.0
            row["created_to_start_s"] = (first_start - created[first_id]) / 1000.0
            row["first_started_after_submit_of_last_s"] = (first_start - submitted[-1][1] * 1000.0) / 1000.0
        late.append(row)
        log(f"fairshare: {share}: {row}")
        time.sleep(3.0)

    return {
        "weights": weights,
        "targets": targets,
        "vcpus": VCPUS,
        "job_seconds": JOB_SECONDS,
        "reservation": reservation,
        "share_decay_seconds": decay_s,
        "backlog": backlog,
        "submit_s": submit_s,
        "duration_s": elapsed_s,
        "ran_dry": ran_dry,
        "samples": samples,
        "final_fraction": final["fraction"],
        "final_error": errors,
        "max_abs_error": max((abs(e) for e in errors.values() if e is not None), default=None),
        "second_half_fraction": second,
        "second_half_error": second_errors,
        "total_vcpu_s": total_vcpu_s,
        "utilization": total_vcpu_s / (VCPUS * elapsed_s) if elapsed_s else None,
        "jobs_finished": finished,
        "describe_s_p50": sorted(ledger.read_s)[len(ledger.read_s) // 2] if ledger.read_s else None,
        "late": late,
    }
