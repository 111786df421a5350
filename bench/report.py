"""Turn the raw results into medians, a markdown report and a JSON file.

Every batchd figure is shown next to each peer's and as a ratio batchd ÷ other, where "other" is each peer
and the raw reference cost of the same work. For times, latencies, CPU and memory a ratio below 1 means
batchd does better; for throughput (jobs/s) a ratio above 1 does.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from bench.light import LATENCY_OPERATIONS
from bench.settings import DOCKER_RUN, RESULTS_DIR
from bench.stats import median_or_none
from bench.workloads import OPERATIONS

LOWER, HIGHER = "lower", "higher"
E2E_ORDER = ("batchd-local", "batchd-docker", "moto-docker", "localbatch-docker")
NOOP = "noop"  # the no-op server's key in results["light"] and its column in the light section


@dataclass
class Cell:
    value: float | None
    note: str = ""  # shown after the value, or alone when there is no value


@dataclass
class Row:
    label: str
    better: str
    cells: dict[str, Cell]
    raw: dict[str, float | None] = field(default_factory=dict)  # batchd target -> raw reference


@dataclass
class Section:
    title: str
    intro: str
    targets: list[str]
    rows: list[Row]
    raw_label: str | None = None
    footnotes: list[str] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)  # column title per target, if not its name

    @property
    def batchd(self) -> list[str]:
        return [t for t in self.targets if t.startswith("batchd")]

    @property
    def peers(self) -> list[str]:
        return [t for t in self.targets if not t.startswith("batchd")]


# -- medians over runs -------------------------------------------------------------------------------


def _get(d: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(d, dict):
            return None
        d = d.get(key)
    return d


def finalize(results: dict[str, Any]) -> None:
    """Add a "median" entry next to every list of per-run results."""
    for entry in results["api"].values():
        runs = entry["runs"]
        entry["median"] = {
            op: {
                "p50": median_or_none(_get(r, op, "p50") for r in runs),
                "p99": median_or_none(_get(r, op, "p99") for r in runs),
                "errors": sum(_get(r, op, "errors") or 0 for r in runs),
                "first_error": next(
                    (_get(r, op, "first_error") for r in runs if _get(r, op, "first_error")), None
                ),
            }
            for op in OPERATIONS
        }
    for entry in results["throughput"].values():
        runs = entry["runs"]
        med: dict[str, Any] = {"peak_rss_mib": median_or_none(r.get("peak_rss_mib") for r in runs)}
        for procs in {k for r in runs for k in r if k.isdigit()}:
            med[procs] = {
                "jobs_per_s": median_or_none(_get(r, procs, "jobs_per_s") for r in runs),
                "cpu_s_per_1000": median_or_none(_get(r, procs, "cpu_s_per_1000") for r in runs),
                "errors": sum(_get(r, procs, "errors") or 0 for r in runs),
                "first_error": next(
                    (_get(r, procs, "first_error") for r in runs if _get(r, procs, "first_error")), None
                ),
            }
        entry["median"] = med
    for entry in results.get("light", {}).values():
        runs = entry["runs"]
        entry["median"] = {
            "latency": {op: _median_of(runs, ("latency", op), ("p50", "p99")) for op in LATENCY_OPERATIONS},
            "throughput": {
                procs: _median_of(runs, ("throughput", procs), ("jobs_per_s", "cpu_s_per_1000"))
                for procs in {k for r in runs for k in (r.get("throughput") or {})}
            },
        }
    for per_n in results["e2e"].values():
        for n, entry in per_n.items():
            if not isinstance(entry, dict) or "runs" not in entry:
                continue
            ok = [r for r in entry["runs"] if r.get("finished")]
            why = next((r.get("reason") for r in entry["runs"] if r.get("reason")), "failed")
            entry["median"] = {
                "n": int(n),
                "finished_runs": len(ok),
                "runs": len(entry["runs"]),
                "succeeded_max": max((r.get("succeeded", 0) for r in entry["runs"]), default=0),
                "wall_s": median_or_none(r["wall_s"] for r in ok),
                "jobs_per_s": median_or_none(r["jobs_per_s"] for r in ok),
                "p50_s": median_or_none(_get(r, "per_job_s", "p50") for r in ok),
                "p99_s": median_or_none(_get(r, "per_job_s", "p99") for r in ok),
                "cpu_s_per_1000": median_or_none(r.get("cpu_s_per_1000") for r in ok),
                "peak_rss_mib": median_or_none(r.get("peak_rss_mib") for r in ok),
                "latency_source": ok[0]["latency_source"] if ok else None,
                "reason": None if ok else why,
            }


def _median_of(runs: list[dict[str, Any]], path: tuple[str, ...], metrics: tuple[str, ...]) -> dict[str, Any]:
    """Median of each metric over runs at `path`, with the errors summed and the first error kept."""
    out: dict[str, Any] = {m: median_or_none(_get(r, *path, m) for r in runs) for m in metrics}
    out["errors"] = sum(_get(r, *path, "errors") or 0 for r in runs)
    out["first_error"] = next(
        (_get(r, *path, "first_error") for r in runs if _get(r, *path, "first_error")), None
    )
    return out


# -- sections ----------------------------------------------------------------------------------------


def _skip_note(results: dict[str, Any], target: str, workload: str) -> str | None:
    for s in results["skipped"]:
        if s["target"] in (target, target.split("-")[0]) and (
            s["workload"] == "all" or workload in s["workload"]
        ):
            return str(s["reason"])
    return None


def _limited(results: dict[str, Any], target: str, workload: str, size: int, notes: list[str]) -> Cell | None:
    """The cell of a peer's step that a default run leaves to --full, or None if it was not left out."""
    if size not in (_get(results, "limited", target, workload) or []):
        return None
    _footnote(notes, f"{target}: steps above those shown for it run with `--full`")
    return Cell(None, "--full")


def _absent(results: dict[str, Any], target: str, workload: str, notes: list[str]) -> Cell:
    why = _skip_note(results, target, workload)
    if why:
        _footnote(notes, f"{target}: {why}")
        return Cell(None, "skipped")
    return Cell(None, "—")


def _footnote(notes: list[str], text: str) -> None:
    if text not in notes:
        notes.append(text)


def api_section(results: dict[str, Any], targets: list[str]) -> Section:
    notes: list[str] = []
    noop = _get(results, "raw", "noop_api", "submit_ms") or {}
    rows: list[Row] = []
    for op in OPERATIONS:
        for q in ("p50", "p99"):
            cells: dict[str, Cell] = {}
            for t in targets:
                m = _get(results, "api", t, "median", op)
                if m is None:
                    cells[t] = _absent(results, t, "api", notes)
                    continue
                note = ""
                if m["errors"]:
                    note = f"({m['errors']} err)"
                    _footnote(notes, f"{t} {op}: {m['first_error']}")
                cells[t] = Cell(m[q], note)
            rows.append(Row(f"{op} {q} (ms)", LOWER, cells, {"batchd": noop.get(q)}))
    intro = (
        "One client, median over runs of each run's p50/p99. SubmitJob goes to a queue on a DISABLED "
        "compute environment, so on batchd the job stays queued; moto and localbatch ignore that state and "
        "run nothing because they get no Docker engine (their jobs fail in the background). "
        "ListJobs uses the default status filter. Raw = boto3 SubmitJob against a no-op HTTP server."
    )
    return Section("API latency", intro, targets, rows, "boto3 floor", notes)


def throughput_section(results: dict[str, Any], targets: list[str]) -> Section:
    notes: list[str] = []
    rows: list[Row] = []
    procs_list = sorted(
        {int(k) for t in targets for k in (_get(results, "throughput", t, "median") or {}) if k.isdigit()}
    ) or [1, 4]
    noop_tp = _get(results, "raw", "noop_api", "throughput") or {}
    for metric, label, better in (
        ("jobs_per_s", "SubmitJob jobs/s, {p} client process(es)", HIGHER),
        ("cpu_s_per_1000", "server CPU s per 1,000 SubmitJob, {p} process(es)", LOWER),
    ):
        for p in procs_list:
            cells: dict[str, Cell] = {}
            for t in targets:
                m = _get(results, "throughput", t, "median", str(p))
                if m is None:
                    cells[t] = _absent(results, t, "throughput", notes)
                    continue
                note = f"({m['errors']} err)" if m["errors"] else ""
                if m["errors"]:
                    _footnote(notes, f"{t} {p} proc: {m['first_error']}")
                cells[t] = Cell(m[metric], note)
            raw = {"batchd": noop_tp.get(str(p))} if metric == "jobs_per_s" else {}
            rows.append(Row(label.format(p=p), better, cells, raw))
    cells = {}
    for t in targets:
        v = _get(results, "throughput", t, "median", "peak_rss_mib")
        cells[t] = Cell(v) if v is not None else _absent(results, t, "throughput", notes)
    rows.append(Row("server peak RSS after API + throughput (MiB)", LOWER, cells))
    intro = (
        "Jobs per second accepted by SubmitJob, each client process with its own boto3 client, all starting "
        "together; CPU is utime+stime of the server's process tree over the same window. Raw = the same "
        "clients against the no-op HTTP server."
    )
    return Section("SubmitJob throughput and cost", intro, targets, rows, "no-op server", notes)


def light_section(results: dict[str, Any], targets: list[str]) -> Section:
    notes: list[str] = []
    cols = [*targets, NOOP]
    rows: list[Row] = []

    def cell(t: str, m: dict[str, Any] | None, metric: str, what: str) -> Cell:
        if m is None:
            return _absent(results, t, "light", notes)
        note = ""
        if m["errors"]:
            note = f"({m['errors']} err)"
            _footnote(notes, f"{t} {what}: {m['first_error']}")
        return Cell(m[metric], note)

    for op, label in (
        ("SubmitJob", "SubmitJob"),
        ("DescribeJobs", "DescribeJobs of 1 id"),
        ("ListJobs", "ListJobs one page"),
    ):
        for q in ("p50", "p99"):
            cells = {t: cell(t, _get(results, "light", t, "median", "latency", op), q, op) for t in cols}
            rows.append(Row(f"{label} {q} (ms)", LOWER, cells))
    procs_list = sorted(
        {int(k) for t in cols for k in (_get(results, "light", t, "median", "throughput") or {})}
    ) or [1, 4]
    for metric, label, better in (
        ("jobs_per_s", "SubmitJob jobs/s, {p} client process(es)", HIGHER),
        ("cpu_s_per_1000", "server CPU s per 1,000 SubmitJob, {p} process(es)", LOWER),
    ):
        for p in procs_list:
            cells = {
                t: cell(t, _get(results, "light", t, "median", "throughput", str(p)), metric, f"{p} proc")
                for t in cols
            }
            rows.append(Row(label.format(p=p), better, cells))

    floor = _get(results, "raw", "noop_api") or {}
    b3 = floor.get("submit_ms") or {}
    b3_tp = ", ".join(
        f"{_fmt(v)} jobs/s with {k} process{'' if k == '1' else 'es'}"
        for k, v in sorted((floor.get("throughput") or {}).items(), key=lambda kv: int(kv[0]))
        if v
    )
    if b3.get("p50") is not None:
        boto3_floor = (
            f"boto3's own cost is left out: boto3 SubmitJob against the same no-op server takes "
            f"p50 {_fmt(b3['p50'])} ms, p99 {_fmt(b3['p99'])} ms and reaches {b3_tp or 'no rate'} "
            "(Raw reference costs above), a floor under every figure of the boto3 sections."
        )
    else:
        boto3_floor = (
            "boto3's own cost is left out; its floor (boto3 against the no-op server) is measured by the raw "
            "workload, which was not run."
        )
    intro = (
        "The same servers, fixtures (DISABLED compute environment, queue, job definition) and job "
        "sequence as the API and throughput sections, measured through a light client instead of boto3: "
        "one keep-alive `http.client` connection per process, each request signed with botocore's SigV4Auth, "
        "JSON built and parsed with the json module, no retries (a non-2xx answer counts as an error). "
        "Latency is the whole call from one client; jobs/s as in the throughput section, each process with "
        "its own light client. The no-op server column is the light client against bench/noop_server.py "
        "(answers `{}` to everything): the floor of this client and this machine, so batchd ÷ no-op server "
        "says how much of a figure is the server's own work. "
        + boto3_floor
        + " The figures show what each server can take, not what a boto3 caller sees."
    )
    return Section(
        "Light client (server capacity)", intro, cols, rows, None, notes, headers={NOOP: "no-op server"}
    )


def e2e_section(results: dict[str, Any], sizes: list[int], selected: list[str]) -> Section:
    notes: list[str] = []
    targets = [t for t in E2E_ORDER if t.split("-")[0] in selected]
    fork = _get(results, "raw", "fork_exec", "parallel") or {}
    dock = _get(results, "raw", "docker_run", "parallel")
    rows: list[Row] = []
    for n in sizes:
        metrics = (
            ("wall_s", f"{n} jobs: time until all SUCCEEDED (s)", LOWER),
            ("jobs_per_s", f"{n} jobs: jobs/s", HIGHER),
            ("p50_s", f"{n} jobs: per-job submit→SUCCEEDED p50 (s)", LOWER),
            ("p99_s", f"{n} jobs: per-job submit→SUCCEEDED p99 (s)", LOWER),
            ("cpu_s_per_1000", f"{n} jobs: server CPU s per 1,000 jobs", LOWER),
            ("peak_rss_mib", f"{n} jobs: server peak RSS (MiB)", LOWER),
        )
        for metric, label, better in metrics:
            cells: dict[str, Cell] = {}
            for t in targets:
                m = _get(results, "e2e", t, str(n), "median")
                limited = _limited(results, t, "e2e", n, notes)
                if limited is not None:
                    cells[t] = limited
                elif m is None:
                    gave_up = _get(results, "e2e", t, "gave_up")
                    if gave_up:
                        _footnote(notes, f"{t} N={n}: {gave_up}")
                        cells[t] = Cell(None, "not run")
                    else:
                        cells[t] = _absent(results, t, "e2e", notes)
                elif m["finished_runs"] == 0:
                    _footnote(notes, f"{t} N={n}: {m['reason']}")
                    word = "DNF" if "did not finish" in (m["reason"] or "") else "failed"
                    cells[t] = Cell(None, f"{word} ({m['succeeded_max']}/{m['n']} ok)")
                else:
                    partial = (
                        f"({m['finished_runs']}/{m['runs']} runs)" if m["finished_runs"] < m["runs"] else ""
                    )
                    cells[t] = Cell(m[metric], partial)
            raw: dict[str, float | None] = {}
            fk = fork.get(str(n))
            if fk:
                raw["batchd-local"] = _raw_e2e(fk, metric, n)
            if dock:
                raw["batchd-docker"] = _raw_e2e(dock, metric, n)
            rows.append(Row(label, better, cells, raw))
            bd, rd = cells.get("batchd-docker"), raw.get("batchd-docker")
            if metric == "jobs_per_s" and bd is not None and bd.value is not None and rd:
                share = bd.value / rd
                verdict = "meets" if share >= 0.9 else "misses"
                _footnote(
                    notes,
                    f"batchd-docker at N={n} runs jobs at {share:.0%} of the raw `docker run` rate at the "
                    f"same parallelism ({verdict} the 90% target)",
                )
    docker_n = (dock or {}).get("n", "?")
    intro = (
        f"N jobs (busybox:latest, command true, 1 vCPU, 16 MiB) on an ENABLED environment with "
        f"maxvCpus {results['meta'].get('e2e_parallelism', 4)}, submitted by one client while another "
        "polls DescribeJobs 100 ids at a time. Per-job latency from the server's createdAt/stoppedAt "
        "where present. Raw for batchd-local = fork/exec of /bin/true, for batchd-docker = "
        f"`{' '.join(DOCKER_RUN)}` (the container batchd creates), N at the same parallelism (docker "
        f"measured at N={docker_n} and scaled to other N by rate); 'per-job' raw is the completion time "
        "counted from the start "
        "of the batch. moto and localbatch start every job at once (they ignore maxvCpus); batchd runs "
        "at most maxvCpus/vcpus at a time, as AWS does."
    )
    return Section("End to end", intro, targets, rows, "raw", notes)


def _raw_e2e(ref: dict[str, Any], metric: str, n: int) -> float | None:
    rate = ref.get("jobs_per_s")
    if metric == "wall_s":
        return n / rate if rate else None
    if metric == "jobs_per_s":
        return rate if isinstance(rate, float) else None
    if metric in ("p50_s", "p99_s"):
        # Completion times grow with the batch; scale the measured batch's to this N.
        v = _get(ref, "per_job_s", metric[:3])
        return v * n / ref["n"] if isinstance(v, float) else None
    if metric == "cpu_s_per_1000":
        v = ref.get("cpu_s_per_1000")
        return v if isinstance(v, float) else None
    return None


def _array_cell(
    results: dict[str, Any], t: str, entry: dict[str, Any] | None, value: Any, notes: list[str], what: str
) -> Cell:
    if entry is None:
        return _absent(results, t, "array", notes)
    note = ""
    if entry.get("errors"):
        note = f"({entry['errors']} err)"
        _footnote(notes, f"{t} {what}: {entry.get('first_error')}")
    return Cell(value if isinstance(value, int | float) else None, note)


def _k(n: int) -> str:
    return f"{n:,}"


def array_api_section(results: dict[str, Any], sizes: list[int], targets: list[str]) -> Section:
    """SubmitJob and DescribeJobs of array parents on a DISABLED environment."""
    notes: list[str] = []
    arr = results.get("array") or {}
    rows: list[Row] = []
    for size in sizes:
        # (figure key in a submit entry, in a tried entry, label, better)
        metrics: list[tuple[str, str, str, str]] = [
            ("submit_ms.p50", "submit_ms", f"SubmitJob of one {_k(size)}-child array p50 (ms)", LOWER),
            ("submit_ms.p99", "", f"SubmitJob of one {_k(size)}-child array p99 (ms)", LOWER),
            (
                "all_children_s.p50",
                "all_children_s",
                f"{_k(size)}-child array: SubmitJob until every child exists, p50 (s)",
                LOWER,
            ),
            (
                "cpu_s_per_array",
                "cpu_s",
                f"{_k(size)}-child array: server CPU s per array (accepting it, creating the children)",
                LOWER,
            ),
        ]
        for key, tried_key, label, better in metrics:
            cells: dict[str, Cell] = {}
            for t in targets:
                sub = _get(arr, "api", t, "submit", str(size))
                tried = _get(arr, "api", t, "tried", str(size))
                if sub is not None:
                    cells[t] = _array_cell(results, t, sub, _get(sub, *key.split(".")), notes, f"{_k(size)}")
                elif tried is not None:
                    if not tried.get("ok"):
                        _footnote(
                            notes,
                            f"{t}, one try at {_k(size)} (limit {tried['timeout_s']:.0f} s): "
                            f"{tried['outcome']}",
                        )
                        word = (
                            "DNF"
                            if "within" in tried["outcome"] or "timeout" in tried["outcome"].lower()
                            else "failed"
                        )
                        cells[t] = Cell(None, word)
                    elif tried_key:
                        cells[t] = Cell(tried.get(tried_key), "(1 try)")
                        _footnote(
                            notes,
                            f"{t}: {_k(size)} was tried once (limit {tried['timeout_s']:.0f} s) and it "
                            f"{tried['outcome']}; its cells at {_k(size)} are that one try",
                        )
                    else:
                        cells[t] = Cell(None, "1 try")
                elif _get(arr, "api", t) is not None:
                    cells[t] = Cell(None, "not run")
                else:
                    cells[t] = _absent(results, t, "array", notes)
            rows.append(Row(label, better, cells))
    describe_sizes = sorted(
        {int(k) for t in targets for k in (_get(arr, "api", t, "describe") or {})}, reverse=True
    )
    for size in describe_sizes[:1] or sizes[-1:]:
        for q in ("p50", "p99"):
            cells = {}
            for t in targets:
                d = _get(arr, "api", t, "describe", str(size))
                cells[t] = (
                    _array_cell(results, t, d, _get(d, "ms", q), notes, "DescribeJobs")
                    if d
                    else (
                        Cell(None, "not run")
                        if _get(arr, "api", t) is not None
                        else _absent(results, t, "array", notes)
                    )
                )
            rows.append(Row(f"DescribeJobs of a {_k(size)}-child parent {q} (ms)", LOWER, cells))
        cells = {}
        for t in targets:
            d = _get(arr, "api", t, "describe", str(size))
            cells[t] = Cell(_get(d, "cpu_ms_per_call")) if d else Cell(None, "—")
        rows.append(Row(f"DescribeJobs of a {_k(size)}-child parent: server CPU ms per call", LOWER, cells))
    cells = {}
    for t in targets:
        v = _get(arr, "api", t, "peak_rss_mib")
        cells[t] = Cell(v) if v is not None else _absent(results, t, "array", notes)
    rows.append(Row("server peak RSS after these arrays (MiB)", LOWER, cells))
    for fam, probe in sorted((arr.get("probe") or {}).items()):
        if not probe.get("supported"):
            _footnote(notes, f"{fam}: arrays not supported; {probe.get('answer')}")
            continue
        parent = probe.get("parent") or {}
        counts = {k: v for k, v in (_get(parent, "arrayProperties", "statusSummary") or {}).items() if v}
        _footnote(
            notes,
            f"{fam}: a first 1,000-child array (asked before these figures, on a server of its own) "
            f"had children {counts or '—'} and left its parent {parent.get('status')}",
        )
    st = _get(results, "meta", "settings") or {}
    reps, dreps = st.get("array_reps"), st.get("array_describe_reps")
    intro = (
        f"One client; each size submitted {reps} times, one after another, to a queue on a DISABLED "
        "compute environment, so nothing runs (moto gets no Docker engine, so its children fail at once). "
        "After each submission the bench waits, untimed, until the parent's statusSummary sums to the "
        "size, so each SubmitJob meets a server done with the previous array; 'until every child exists' "
        "is timed from the SubmitJob call to the first DescribeJobs (polled every 50 ms, so to within "
        "50 ms) that shows them all. batchd answers SubmitJob at once and creates the children in its "
        "scheduler, 500 per pass; moto creates every child, and a thread for each, inside the SubmitJob "
        "call. The peers run the first size only and each larger size once with a time limit, to record "
        "whether they take it. DescribeJobs of the largest parent whose children all exist, "
        f"{dreps} times. CPU is the server's process tree over each phase."
    )
    return Section("Array jobs: submit and describe", intro, targets, rows, None, notes)


def array_e2e_section(results: dict[str, Any], selected: list[str]) -> Section:
    notes: list[str] = []
    arr = results.get("array") or {}
    st = _get(results, "meta", "settings") or {}
    n = int(st.get("array_e2e_size") or 0)
    unsupported = {f for f, p in (arr.get("probe") or {}).items() if not p.get("supported")}
    targets = [t for t in E2E_ORDER if t.split("-")[0] in selected and t.split("-")[0] not in unsupported]
    e2e_ran = "e2e" in (st.get("workloads") or [])
    rows: list[Row] = []
    for metric, e2e_metric, label, better in (
        ("wall_s", "wall_s", f"{_k(n)} children: SubmitJob until the parent SUCCEEDED (s)", LOWER),
        ("children_per_s", "jobs_per_s", f"{_k(n)} children: children/s", HIGHER),
        ("submit_ms", None, "SubmitJob of the array (ms)", LOWER),
        ("cpu_s_per_1000", "cpu_s_per_1000", "server CPU s per 1,000 children", LOWER),
        ("peak_rss_mib", "peak_rss_mib", "server peak RSS (MiB)", LOWER),
    ):
        cells: dict[str, Cell] = {}
        raw: dict[str, float | None] = {}
        for t in targets:
            r = _get(arr, "e2e", t)
            limited = _limited(results, t, "array", n, notes)
            if limited is not None:
                cells[t] = limited
            elif r is None:
                cells[t] = _absent(results, t, "array e2e", notes)
            elif not r.get("finished") and metric != "submit_ms":
                _footnote(notes, f"{t}: {r.get('reason')}")
                word = "DNF" if "did not finish" in (r.get("reason") or "") else "failed"
                ok = (r.get("status_summary") or {}).get("SUCCEEDED", 0)
                cells[t] = Cell(None, f"{word} ({ok}/{n} ok)")
            else:
                cells[t] = Cell(r.get(metric))
            if e2e_metric and t.startswith("batchd"):
                raw[t] = _get(results, "e2e", t, str(n), "median", e2e_metric)
        rows.append(Row(label, better, cells, raw))
    for metric, label, better in (
        (
            "wall_s",
            f"for comparison, {_k(n)} ordinary jobs (e2e workload): time until all SUCCEEDED (s)",
            LOWER,
        ),
        ("jobs_per_s", f"for comparison, {_k(n)} ordinary jobs (e2e workload): jobs/s", HIGHER),
    ):
        cells = {}
        for t in targets:
            m = _get(results, "e2e", t, str(n), "median")
            if not e2e_ran:
                cells[t] = Cell(None, "not run")
            elif m is None or m.get("finished_runs", 0) == 0:
                cells[t] = Cell(None, "—" if m is None else "failed")
            else:
                cells[t] = Cell(m.get(metric))
        rows.append(Row(label, better, cells))
    if not e2e_ran:
        _footnote(
            notes, "the e2e workload did not run in this invocation, so there is no ordinary-job figure"
        )
    intro = (
        f"One array of {_k(n)} children (busybox:latest, command true, 1 vCPU, 16 MiB) on an ENABLED "
        "environment with maxvCpus 4, from a fresh server per target; the client polls DescribeJobs of the "
        "parent alone every 0.2 s until it is SUCCEEDED. 'ordinary jobs' = the e2e workload's batch of "
        "the same N on the same target in this invocation (N SubmitJob calls, polled 100 ids at a time); "
        "the raw column is batchd ÷ that figure. moto starts every child at once (it ignores maxvCpus) "
        "and marks a parent SUCCEEDED only when every child did."
    )
    return Section("Array jobs: end to end", intro, targets, rows, "ordinary jobs", notes)


def scale_section(results: dict[str, Any], steps: list[int], targets: list[str]) -> Section:
    notes: list[str] = []
    noop = _get(results, "raw", "noop_api", "submit_ms") or {}
    rows: list[Row] = []
    for step in steps:
        by_target: dict[str, dict[str, Any] | None] = {}
        for t in targets:
            entries = _get(results, "scale", t) or []
            by_target[t] = next((e for e in entries if e["step"] == step), None)
        k = f"{step // 1000}k" if step < 1_000_000 else f"{step // 1_000_000}M"

        def cell(t: str, value: Any, entry: dict[str, Any] | None, k: str = k, step: int = step) -> Cell:
            if entry is None:
                limited = _limited(results, t, "scale", step, notes)
                if limited is not None:
                    return limited
                if _get(results, "scale", t) is not None:
                    return Cell(None, "not reached")
                return _absent(results, t, "scale", notes)
            note = ""
            if not entry["reached"]:
                note = f"(at {entry['stored']:,})"
                _footnote(notes, f"{t} {k}: {entry.get('reason')}; measured where it stopped")
            return Cell(value if isinstance(value, int | float) else None, note)

        rows.append(
            Row(
                f"{k}: seeding rate, 8 processes (jobs/s)",
                HIGHER,
                {t: cell(t, _get(by_target[t], "seed_jobs_per_s"), by_target[t]) for t in targets},
            )
        )
        for op, label in (
            ("DescribeJobs", "DescribeJobs of 100 ids"),
            ("ListJobs", "ListJobs one page"),
            ("SubmitJob", "SubmitJob"),
        ):
            for q in ("p50", "p99"):
                cells = {}
                for t in targets:
                    e = by_target[t]
                    m = _get(e, op)
                    if m and m.get("errors"):
                        _footnote(notes, f"{t} {k} {op}: {m['errors']} errors, e.g. {m.get('first_error')}")
                    if op == "ListJobs" and m and m.get("page_size", 0) > 100:
                        _footnote(
                            notes,
                            f"{t} {k}: ListJobs ignores maxResults and returned {m['page_size']:,} jobs",
                        )
                    cells[t] = cell(t, _get(m, q), e)
                rows.append(Row(f"{k}: {label} {q} (ms)", LOWER, cells, {"batchd": noop.get(q)}))
        for metric, label, better in (
            ("seed_cpu_s_per_1000", "server CPU s per 1,000 seeded jobs", LOWER),
            ("rss_mib", "server RSS (MiB)", LOWER),
            ("peak_rss_mib", "server peak RSS (MiB)", LOWER),
        ):
            rows.append(
                Row(
                    f"{k}: {label}",
                    better,
                    {t: cell(t, _get(by_target[t], metric), by_target[t]) for t in targets},
                )
            )
        for t in targets:
            st = _get(by_target[t], "list_status")
            if st:
                _footnote(notes, f"{t}: ListJobs asks for jobStatus={st}, the status the seeded jobs are in")
    intro = (
        "Jobs seeded through SubmitJob by 8 light-client processes on a DISABLED environment (with a time "
        "limit per step), then DescribeJobs of 100 random stored ids, ListJobs with maxResults 100, "
        "and SubmitJob are timed from one client. Seeded once per target (not repeated); p50/p99 over "
        "the samples."
    )
    return Section("Scale", intro, targets, rows, "boto3 floor", notes)


def _lines(n: int) -> str:
    return f"{n // 1_000_000}M" if n >= 1_000_000 else f"{n // 1000}k" if n >= 1000 else str(n)


def logs_section(
    results: dict[str, Any], sizes: list[int], peer_sizes: list[int], targets: list[str]
) -> Section:
    """GetLogEvents and FilterLogEvents over streams of each size: the same row for the small and the
    large stream shows whether a page's cost grows with the stream."""
    notes: list[str] = []
    out = results.get("logs") or {}
    rows: list[Row] = []
    pairs = list(zip(sizes, peer_sizes, strict=False))

    def cell(t: str, size: int, *path: str) -> Cell:
        if t not in out:
            return _absent(results, t, "logs", notes)
        value = _get(out, t, str(size), *path)
        return Cell(value) if isinstance(value, int | float) else Cell(None, "—")

    def note(t: str, size: int, own: int) -> str:
        return "" if size == own else f"({_lines(size)} lines)"

    for op, label in (
        ("head", "GetLogEvents from the head, one page"),
        ("tail", "GetLogEvents, the newest page (the default)"),
        ("middle", "GetLogEvents from startTime in the middle, one page"),
        ("filter_page", "FilterLogEvents, first page, no pattern"),
        ("filter_rare_first_call", "FilterLogEvents for the last line, first call"),
    ):
        for size, peer_size in pairs:
            cells: dict[str, Cell] = {}
            for t in targets:
                own = size if t.startswith("batchd") else peer_size
                c = cell(t, own, op, "p50")
                cells[t] = Cell(c.value, (c.note + " " + note(t, own, size)).strip())
            raw = {"batchd": _get(out, "batchd", str(size), "raw_page", "p50")} if op == "tail" else {}
            rows.append(Row(f"{_lines(size)}-line stream: {label}, p50 (ms)", LOWER, cells, raw))
    for size, peer_size in pairs:
        for metric, label, better in (
            (("search_rare", "seconds"), "the whole search for the last line (s)", LOWER),
            (("search_rare", "calls"), "calls that search takes", LOWER),
        ):
            cells = {}
            for t in targets:
                own = size if t.startswith("batchd") else peer_size
                c = cell(t, own, *metric)
                cells[t] = Cell(c.value, (c.note + " " + note(t, own, size)).strip())
            rows.append(Row(f"{_lines(size)}-line stream: {label}", better, cells))
    for size in sizes:
        mib, ran = _get(out, "batchd", str(size), "file_mib"), _get(out, "batchd", str(size), "written_s")
        if mib is not None:
            _footnote(
                notes,
                f"batchd's {_lines(size)}-line stream is a {mib:.1f} MiB file; its job ran {ran:.1f} s from "
                "SubmitJob to SUCCEEDED",
            )
    intro = (
        "A job prints `seq 1 N` on batchd's local executor; boto3's logs client reads its stream. moto has "
        "no job output, so the same lines are put there with PutLogEvents, at smaller sizes. A page is what "
        "the server returns for one call: every read asks for 1,000 events. The raw reference: the last "
        "1,000 lines of the same file read and decoded in the benchmark's process."
    )
    return Section("CloudWatch Logs: reading job output", intro, targets, rows, "raw file page", notes)


def _pct(v: float | None, signed: bool = False) -> str:
    if v is None:
        return "—"
    return f"{v * 100:+.1f}%" if signed else f"{v * 100:.1f}%"


# Targets of the fair-share workload: each share's received fraction within ±10% of its target, and a late
# share's first job started within one placement pass (batchd's scheduler passes at least once a second).
FAIRSHARE_TOLERANCE = 0.10
FAIRSHARE_PASS_S = 1.0


def fairshare_section(results: dict[str, Any]) -> list[str]:
    """Per share, the fraction of vCPU-seconds received against its target over time, and the late
    shares' first starts."""
    lines = ["## Fair share", ""]
    out = results.get("fairshare") or {}
    if not out:
        return [*lines, "No fair-share run (see Skipped).", ""]
    for name, r in out.items():
        lines += _fairshare_run(name, r)
    lines += [
        "moto and LocalStack store scheduling policies but do not schedule by share; they are not run.",
        "",
    ]
    return lines


def _typical_running(samples: list[dict[str, Any]], shares: list[str]) -> str:
    """The most common split of running jobs over the second half of the samples, e.g. "2/1/1"."""
    half = samples[len(samples) // 2 :]
    splits = Counter("/".join(str(smp["running"].get(s, 0)) for s in shares) for smp in half)
    if not splits:
        return "—"
    split, n = splits.most_common(1)[0]
    return f"{split} ({n * 100 // len(half)}% of the samples)"


def _fairshare_run(name: str, r: dict[str, Any]) -> list[str]:
    weights, targets = r["weights"], r["targets"]
    shares = list(weights)
    backlog = ", ".join(f"{s}: {n}" for s, n in r["backlog"].items())
    lines = [
        f"### {name}",
        "",
        f"One fair-share queue (shareDecaySeconds {r['share_decay_seconds']}, computeReservation "
        f"{r['reservation']}) on a MANAGED environment of {r['vcpus']} vCPUs, local executor; per share a "
        f"backlog of 1-vCPU `sleep {r['job_seconds']}` jobs ({backlog}), submitted while the environment "
        f"was DISABLED ({_fmt(r['submit_s'])} s), then let go by enabling it. Every second, each share's "
        "vCPU-seconds received so far, from DescribeJobs' startedAt/stoppedAt (a running job counts up "
        "to the sample). Target fraction ∝ 1/weightFactor; target: within ±10% of it (relative).",
        "",
    ]
    samples: list[dict[str, Any]] = r["samples"]
    last_t = samples[-1]["t_s"] if samples else 0.0
    marks = [t for t in (5, 10, 20, 30, 60, 90) if t < last_t - 1]
    picked = [min(samples, key=lambda smp, t=t: abs(smp["t_s"] - t)) for t in marks]
    head = ["share", "weightFactor", "target", *[f"at {t} s" for t in marks], "final", "final error",
            "2nd half", "2nd-half error"]  # fmt: skip
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for s in shares:
        row = [s, f"{weights[s]:g}", _pct(targets[s])]
        row += [_pct(smp["fraction"].get(s)) for smp in picked]
        row += [
            _pct(r["final_fraction"].get(s)),
            _pct(r["final_error"].get(s), signed=True),
            _pct(r["second_half_fraction"].get(s)),
            _pct(r["second_half_error"].get(s), signed=True),
        ]
        lines.append("| " + " | ".join(row) + " |")
    worst = r.get("max_abs_error")
    ok = worst is not None and worst <= FAIRSHARE_TOLERANCE
    ideal = "/".join(_fmt(targets[s] * r["vcpus"]) for s in shares)
    lines += [
        "",
        f"- Final ratio error (largest |received − target| ÷ target over the shares, after "
        f"{_fmt(last_t)} s): {_pct(worst)}; target ±10%: {'met' if ok else 'NOT met'}.",
        f"- Running jobs per share ({'/'.join(shares)}), most common split in the second half: "
        f"{_typical_running(samples, shares)}; the target split is {ideal} vCPUs.",
        f"- {_fmt(r['total_vcpu_s'])} vCPU-seconds handed out in {_fmt(r['duration_s'])} s: "
        f"{_pct(r['utilization'])} of the {r['vcpus']} vCPUs; {r['jobs_finished']:,} jobs finished. "
        f"One sample's DescribeJobs of the unfinished jobs took {_fmt(r['describe_s_p50'])} s (p50).",
    ]
    if r.get("ran_dry"):
        lines.append(f"- Sampling stopped early: {r['ran_dry']}.")
    late = r.get("late") or []
    if late:
        lines += [
            "",
            "Late shares: after the sampling, with every backlog still deep and every vCPU taken, a "
            "share the queue has not seen submits a few jobs; time from its first SubmitJob to its first "
            "job's startedAt (and from that job's createdAt). Target: within one placement pass "
            f"(≤ {FAIRSHARE_PASS_S:g} s, batchd's longest gap between passes).",
            "",
            "| late share | jobs | SubmitJob → first startedAt (s) | createdAt → startedAt (s) |",
            "|---|---|---|---|",
        ]
        for row in late:
            if "reason" in row:
                lines.append(f"| {row['share']} | {row['jobs']} | {row['reason']} | — |")
            else:
                lines.append(
                    f"| {row['share']} | {row['jobs']} | {_fmt(row['submit_to_start_s'])} | "
                    f"{_fmt(row['created_to_start_s'])} |"
                )
        waits = [row["submit_to_start_s"] for row in late if "submit_to_start_s" in row]
        met = len(waits) == len(late) and max(waits) <= FAIRSHARE_PASS_S
        lines += ["", f"- Late share target (≤ {FAIRSHARE_PASS_S:g} s): {'met' if met else 'NOT met'}."]
    return [*lines, ""]


def raw_section(results: dict[str, Any]) -> list[str]:
    r = results.get("raw") or {}
    lines = ["## Raw reference costs", ""]
    fe = _get(r, "fork_exec", "single_ms")
    if fe:
        lines.append(
            f"- fork/exec of /bin/true: p50 {_fmt(fe['p50'])} ms, p99 {_fmt(fe['p99'])} ms (n={fe['n']})"
        )
    for n, p in sorted((_get(r, "fork_exec", "parallel") or {}).items(), key=lambda kv: int(kv[0])):
        lines.append(
            f"- {n} × /bin/true at parallelism {p['parallelism']}: {_fmt(p['wall_s'])} s, "
            f"{_fmt(p['jobs_per_s'])} jobs/s, CPU {_fmt(p['cpu_s_per_1000'])} s per 1,000"
        )
    dr = _get(r, "docker_run")
    if dr:
        s = dr["single_ms"]
        p = dr["parallel"]
        lines.append(f"- `{' '.join(DOCKER_RUN)}`: p50 {_fmt(s['p50'])} ms, p99 {_fmt(s['p99'])} ms")
        lines.append(
            f"- {p['n']} × docker run at parallelism {p['parallelism']}: {_fmt(p['wall_s'])} s, "
            f"{_fmt(p['jobs_per_s'])} jobs/s "
            f"(batchd-docker's 90% target: ≥ {_fmt(0.9 * p['jobs_per_s'])} jobs/s)"
        )
    else:
        why = _skip_note(results, "raw", "docker run") or "not measured"
        lines.append(f"- docker run: skipped ({why})")
    na = _get(r, "noop_api")
    if na:
        s = na["submit_ms"]
        tp = ", ".join(f"{k} proc {_fmt(v)} jobs/s" for k, v in sorted(na["throughput"].items()) if v)
        lines.append(
            f"- boto3 SubmitJob to a no-op HTTP server: p50 {_fmt(s['p50'])} ms, "
            f"p99 {_fmt(s['p99'])} ms; {tp}"
        )
    return [*lines, ""]


# -- rendering ---------------------------------------------------------------------------------------


def _fmt(v: float | None) -> str:
    if v is None:
        return "—"
    a = abs(v)
    if a >= 100:
        return f"{v:,.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.2f}"
    return f"{v:.3f}"


def _ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b == 0:
        return "—"
    r = a / b
    # Two significant figures at least: "0.00×" would hide a 300-fold difference.
    if r >= 10:
        return f"{r:.1f}×"
    return f"{r:.2f}×" if r >= 0.1 else f"{r:.2g}×"


def render_section(sec: Section) -> list[str]:
    ratio_cols = [(b, p) for b in sec.batchd for p in sec.peers]
    has_raw = sec.raw_label is not None and any(v is not None for r in sec.rows for v in r.raw.values())
    name = {t: sec.headers.get(t, t) for t in sec.targets}
    head = ["figure", "better", *[name[t] for t in sec.targets], *[f"{b} ÷ {name[p]}" for b, p in ratio_cols]]
    if has_raw:
        head += [f"{b} ÷ {sec.raw_label}" for b in sec.batchd]
    lines = [f"## {sec.title}", "", sec.intro, "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in sec.rows:
        cells = []
        for t in sec.targets:
            c = row.cells.get(t, Cell(None, "—"))
            text = _fmt(c.value) if c.value is not None else ""
            cells.append((text + " " + c.note).strip() or "—")
        ratios = [
            _ratio(row.cells.get(b, Cell(None)).value, row.cells.get(p, Cell(None)).value)
            for b, p in ratio_cols
        ]
        if has_raw:
            ratios += [_ratio(row.cells.get(b, Cell(None)).value, row.raw.get(b)) for b in sec.batchd]
        arrow = "↓" if row.better == LOWER else "↑"
        lines.append("| " + " | ".join([row.label, arrow, *cells, *ratios]) + " |")
    if sec.footnotes:
        lines += ["", "Notes:", *[f"- {n}" for n in sec.footnotes]]
    return [*lines, ""]


def render(results: dict[str, Any]) -> str:
    meta = results["meta"]
    st = meta.get("settings", {})
    fams = list(st.get("families", []))
    wl = set(st.get("workloads", []))
    host = meta.get("host", {})
    versions = ", ".join(f"{k} {v}" for k, v in meta.get("versions", {}).items())
    out = [
        f"# batchd benchmark — {meta.get('started', '')}",
        "",
        f"Machine: {host.get('cpus')} CPUs ({host.get('cpu_model')}), {host.get('mem_gib')} GiB, "
        f"Linux {host.get('kernel')}, Python {host.get('python')}. Versions: {versions or '—'}. "
        f"Docker: {'available' if meta.get('docker', {}).get('available') else 'unavailable'} "
        f"({meta.get('docker', {}).get('reason', '')}). Runs: {st.get('repeat')} (medians shown)"
        f"{', quick' if st.get('quick') else ''}{', full' if st.get('full') else ''}. "
        f"Took {meta.get('duration_s', 0) / 60:.1f} min; load average "
        f"{_fmt((meta.get('loadavg_start') or [None])[0])} at start, "
        f"{_fmt((meta.get('loadavg_end') or [None])[0])} at end.",
        "",
        "Ratios are batchd ÷ other: below 1× is better for batchd where the arrow is ↓ (time, CPU, memory), "
        "above 1× where it is ↑ (jobs/s).",
        "",
    ]
    api_targets = [f for f in ("batchd", "moto", "localbatch") if f in fams]
    if "raw" in wl:
        out += raw_section(results)
    if "api" in wl:
        out += render_section(api_section(results, api_targets))
    if "throughput" in wl:
        out += render_section(throughput_section(results, api_targets))
    if "light" in wl:
        out += render_section(light_section(results, api_targets))
    if "e2e" in wl:
        out += render_section(e2e_section(results, list(st.get("e2e_sizes", [])), fams))
    if "array" in wl:
        array_targets = [
            t
            for t in api_targets
            if t == "batchd" or _get(results, "array", "probe", t, "supported") is not False
        ]
        out += render_section(array_api_section(results, list(st.get("array_sizes", [])), array_targets))
        out += render_section(array_e2e_section(results, fams))
    if "scale" in wl:
        out += render_section(scale_section(results, list(st.get("scale_steps", [])), api_targets))
    if "logs" in wl:
        logs_targets = [f for f in ("batchd", "moto") if f in fams]
        sizes, peer_sizes = list(st.get("logs_sizes", [])), list(st.get("logs_peer_sizes", []))
        out += render_section(logs_section(results, sizes, peer_sizes, logs_targets))
    if "fairshare" in wl:
        out += fairshare_section(results)
    if results["skipped"]:
        out += ["## Skipped", ""]
        out += [f"- {s['target']} / {s['workload']}: {s['reason']}" for s in results["skipped"]]
        out.append("")
    return "\n".join(out)


def _atomic_write(path: os.PathLike[str], text: str) -> None:
    tmp = f"{os.fspath(path)}.tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def write(results: dict[str, Any], name: str = "latest") -> str:
    """Write bench/results/<name>.json and .md; returns the markdown."""
    finalize(results)
    md = render(results)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    _atomic_write(
        RESULTS_DIR / f"{name}.json", json.dumps(results, indent=2, sort_keys=True, default=str) + "\n"
    )
    _atomic_write(RESULTS_DIR / f"{name}.md", md + "\n")
    return md
