"""python -m bench.jobcost: where the CPU of one local-executor job goes, split by process.

One batchd server (`--executor local`, signatures verified) runs a 200-job batch to warm up, then N jobs
of the end-to-end workload (bench.e2e) while the CPU of each party is read before and after:

- client: this process (the submitting and the polling boto3 clients), from getrusage;
- server: the batchd process itself (utime+stime);
- agent: the local agent it starts jobs through (utime+stime);
- jobs: the job processes the agent reaped (its cutime+cstime).

The warm-up batch leaves its own compute environment on the server, idle, as a second environment
would be in use. Figures are per job, in ms; runs are repeated and each is printed as one JSON line,
then the medians.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
from pathlib import Path

from bench.client import Network
from bench.dockerenv import DockerInfo
from bench.e2e import run_e2e
from bench.settings import Settings
from bench.targets import E2E_TARGETS, Server

_CLK_TCK = os.sysconf("SC_CLK_TCK")
PARTIES = ("client", "server", "agent", "jobs")


def _own_and_reaped_s(pid: int) -> tuple[float, float]:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK, (int(fields[13]) + int(fields[14])) / _CLK_TCK


def _snapshot(server_pid: int, agent_pid: int) -> dict[str, float]:
    me = resource.getrusage(resource.RUSAGE_SELF)
    agent_own, agent_reaped = _own_and_reaped_s(agent_pid)
    return {
        "client": me.ru_utime + me.ru_stime,
        "server": _own_and_reaped_s(server_pid)[0],
        "agent": agent_own,
        "jobs": agent_reaped,
    }


def measure(n: int) -> dict[str, float]:
    spec = next(s for s in E2E_TARGETS["batchd"] if s.executor == "local")
    with Server(spec, Settings(), DockerInfo(False, "not used")) as srv:
        run_e2e(srv.endpoint, Network(), 200, 120, 0)
        children = Path(f"/proc/{srv.pid}/task/{srv.pid}/children").read_text().split()
        if len(children) != 1:
            raise RuntimeError(f"expected the server's one local agent, found children {children}")
        agent = int(children[0])
        before = _snapshot(srv.pid, agent)
        result = run_e2e(srv.endpoint, Network(), n, 300, 1)
        after = _snapshot(srv.pid, agent)
    if not result["finished"]:
        raise RuntimeError(f"the batch did not finish: {result.get('reason')}")
    row = {p: round((after[p] - before[p]) / n * 1000, 3) for p in PARTIES}
    row["jobs_per_s"] = round(result["jobs_per_s"], 1)
    return row


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.jobcost", description=__doc__)
    p.add_argument("--jobs", type=int, default=1000, help="jobs per measured batch (default 1000)")
    p.add_argument("--runs", type=int, default=3, help="batches, each on a fresh server (default 3)")
    a = p.parse_args(argv)
    rows = []
    for _ in range(a.runs):
        rows.append(measure(a.jobs))
        print(json.dumps(rows[-1]), flush=True)
    medians = {k: statistics.median(r[k] for r in rows) for k in (*PARTIES, "jobs_per_s")}
    medians["total"] = round(sum(medians[p] for p in PARTIES), 3)
    print(json.dumps({"median": medians}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
