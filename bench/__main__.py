"""python -m bench: run the workloads against batchd and its peers, write bench/results/NAME.{md,json}."""

from __future__ import annotations

import argparse
import os
import platform
import signal
import sys
import time
import traceback
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from bench import dockerenv, procstat, raw, report
from bench.arrays import probe_array, run_array_api, run_array_e2e
from bench.client import make_client, provision_network, setup_fixture
from bench.dockerenv import DockerInfo
from bench.e2e import run_e2e
from bench.fairshare import run_fairshare
from bench.logs import run_logs_batchd, run_logs_moto
from bench.scale import run_scale
from bench.settings import E2E_PARALLELISM, FAMILIES, WORKLOADS, Settings
from bench.targets import (
    API_TARGETS,
    E2E_TARGETS,
    Server,
    TargetSpec,
    TargetUnavailable,
    describe_versions,
    ensure_peer,
    log,
)
from bench.workloads import run_api, run_light, run_throughput


def _csv(allowed: tuple[str, ...]) -> Callable[[str], tuple[str, ...]]:
    def parse(text: str) -> tuple[str, ...]:
        items = tuple(x.strip() for x in text.split(",") if x.strip())
        bad = [x for x in items if x not in allowed]
        if bad or not items:
            raise argparse.ArgumentTypeError(f"choose from {','.join(allowed)}")
        return items

    return parse


def parse_args(argv: list[str] | None) -> Settings:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--quick", action="store_true", help="small N everywhere: a smoke run")
    p.add_argument(
        "--full",
        action="store_true",
        help="add the 1M-jobs scale step and run the peers at every size (about 30 min)",
    )
    p.add_argument(
        "--targets", type=_csv(FAMILIES), default=FAMILIES, help="comma list of batchd,moto,localbatch"
    )
    p.add_argument(
        "--workloads",
        type=_csv(WORKLOADS),
        default=None,
        help="comma list of " + ",".join(WORKLOADS) + " (default all but fairshare; --full adds it)",
    )
    p.add_argument("--skip-docker", action="store_true", help="do not look for or use a Docker engine")
    p.add_argument("--repeat", type=int, help="runs of api, throughput (default 3, --quick 1)")
    p.add_argument("--e2e-repeat", type=int, help="runs of each end-to-end batch (default 1)")
    p.add_argument("--step-timeout", type=float, help="seconds allowed to seed one scale step")
    p.add_argument("--e2e-timeout", type=float, help="seconds allowed for one end-to-end batch")
    p.add_argument("--batchd-bin", type=Path, help="batchd executable (default .venv/bin/batchd)")
    p.add_argument(
        "--output",
        help="write bench/results/OUTPUT.{md,json} (default latest; quick with --quick, full with --full)",
    )
    a = p.parse_args(argv)
    if a.output is not None and not a.output.replace("-", "").replace("_", "").isalnum():
        p.error("--output takes a plain name: letters, digits, - and _")
    return Settings.build(
        quick=a.quick,
        full=a.full,
        families=a.targets,
        workloads=a.workloads,
        skip_docker=a.skip_docker,
        repeat=a.repeat,
        e2e_repeat=a.e2e_repeat,
        step_timeout_s=a.step_timeout,
        e2e_timeout_s=a.e2e_timeout,
        batchd_bin=a.batchd_bin,
        output=a.output,
    )


class Bench:
    def __init__(self, settings: Settings) -> None:
        self.s = settings
        self.docker = DockerInfo(False, "not needed by the selected workloads")
        self.families: list[str] = []
        self.results: dict[str, Any] = {
            "meta": {},
            "skipped": [],
            "limited": {},  # peer -> workload -> sizes left to --full
            "raw": {},
            "api": {},
            "throughput": {},
            "light": {},
            "e2e": {},
            "array": {"probe": {}, "api": {}, "e2e": {}},
            "scale": {},
            "logs": {},
            "fairshare": {},
        }

    # -- bookkeeping ---------------------------------------------------------------------------------

    def skip(self, target: str, workload: str, reason: str) -> None:
        log(f"SKIP {target} / {workload}: {reason}")
        self.results["skipped"].append({"target": target, "workload": workload, "reason": reason})

    def limit(self, target: str, workload: str, size: int) -> None:
        """A peer's step left out of a default run; the report says it runs with --full."""
        log(f"LEAVE {target} / {workload} {size:,} to --full")
        self.results["limited"].setdefault(target, {}).setdefault(workload, []).append(size)

    def guarded(self, target: str, workload: str, fn: Callable[[], None]) -> bool:
        """Run one (target, workload); a failure is recorded as a skip so the other targets still run."""
        try:
            fn()
            return True
        except TargetUnavailable as exc:
            self.skip(target, workload, str(exc))
        except Exception as exc:  # an unfinished server must not sink the whole run
            traceback.print_exc(file=sys.stderr)
            self.skip(target, workload, f"error: {type(exc).__name__}: {exc}"[:400])
        return False

    # -- phases --------------------------------------------------------------------------------------

    def prepare(self) -> None:
        needs_docker = bool({"e2e", "raw", "array"} & set(self.s.workloads))
        if needs_docker:
            self.docker = dockerenv.detect(skip=not self.s.use_docker)
        log(f"docker: {'available' if self.docker.available else 'unavailable'} ({self.docker.reason})")
        api_like = {"api", "throughput", "light", "e2e", "array", "scale", "logs", "fairshare"} & set(
            self.s.workloads
        )
        for fam in self.s.families:
            if not api_like:
                break
            if fam == "batchd":
                if self.s.batchd_bin.exists():
                    self.families.append(fam)
                else:
                    self.skip(fam, "all", f"{self.s.batchd_bin} does not exist (batchd not installed yet)")
                continue
            try:
                ensure_peer(fam)
                self.families.append(fam)
            except TargetUnavailable as exc:
                self.skip(fam, "all", str(exc))

    def run_raw(self) -> None:
        out = self.results["raw"]
        log("raw: fork/exec of /bin/true")
        out["fork_exec"] = raw.fork_exec(self.s.raw_fork_n, self.s.e2e_sizes)
        log("raw: boto3 against a no-op HTTP server")
        out["noop_api"] = raw.noop_api(self.s.api_reps * 4, self.s.rounds)
        if self.docker.available:
            n = self.s.raw_docker_batch
            log(f"raw: docker run x{self.s.raw_docker_n}, then {n} at parallelism {E2E_PARALLELISM}")
            out["docker_run"] = raw.docker_run(self.docker, self.s.raw_docker_n, n)
        else:
            self.skip("raw", "docker run", f"Docker unavailable: {self.docker.reason}")

    def run_api_and_throughput(self) -> None:
        """The api, throughput and light workloads, on one fresh server per target and run."""
        want_api = "api" in self.s.workloads
        want_tp = "throughput" in self.s.workloads
        want_light = "light" in self.s.workloads
        if not (want_api or want_tp or want_light):
            return
        label = "/".join(w for w in ("api", "throughput", "light") if w in self.s.workloads)
        for run in range(self.s.repeat):
            if want_light:
                self.guarded("noop", "light", partial(self._light_noop, run))
            for fam in self.families:
                spec = API_TARGETS[fam]

                def one(spec: TargetSpec = spec, run: int = run) -> None:
                    with Server(spec, self.s, self.docker) as srv:
                        net = provision_network(srv.endpoint, spec.family)
                        if want_api:
                            log(f"api: {spec.name} run {run + 1}/{self.s.repeat}")
                            api = run_api(srv.endpoint, net, self.s.api_reps, run)
                            self.results["api"].setdefault(spec.name, {"runs": []})["runs"].append(api)
                        if want_tp:
                            log(f"throughput: {spec.name} run {run + 1}/{self.s.repeat}")
                            tp = run_throughput(srv.endpoint, net, self.s.rounds, run, srv.usage)
                            tp["peak_rss_mib"] = srv.usage().peak_rss_kib / 1024
                            self.results["throughput"].setdefault(spec.name, {"runs": []})["runs"].append(tp)
                        if want_light:
                            log(f"light: {spec.name} run {run + 1}/{self.s.repeat}")
                            # The same fixture as api/throughput, made through boto3 and not timed.
                            fx = setup_fixture(
                                make_client(srv.endpoint), net, f"lt{run}", ce_state="DISABLED"
                            )
                            lt = run_light(
                                srv.endpoint,
                                fx.queue,
                                fx.job_definition,
                                self.s.light_reps,
                                self.s.rounds,
                                run,
                                srv.usage,
                            )
                            self.results["light"].setdefault(spec.name, {"runs": []})["runs"].append(lt)

                self.guarded(spec.name, label, one)

    def _light_noop(self, run: int) -> None:
        """The light workload against bench.noop_server: the light client's own floor."""
        log(f"light: no-op server run {run + 1}/{self.s.repeat}")
        with raw.noop_endpoint() as (endpoint, pid):
            lt = run_light(
                endpoint, "q", "jd", self.s.light_reps, self.s.rounds, run, partial(procstat.usage, pid)
            )
        self.results["light"].setdefault("noop", {"runs": []})["runs"].append(lt)

    def run_e2e(self) -> None:
        if "e2e" not in self.s.workloads:
            return
        specs: list[TargetSpec] = []
        for fam in self.families:
            for spec in E2E_TARGETS[fam]:
                if spec.jobs_in_docker and not self.docker.available:
                    self.skip(spec.name, "e2e", f"needs Docker: {self.docker.reason}")
                else:
                    specs.append(spec)
        given_up: dict[str, str] = {}  # target -> why later batches are not attempted
        for run in range(self.s.e2e_repeat):
            for spec in specs:
                for n in self.s.e2e_sizes:
                    if spec.name in given_up:
                        continue
                    if not spec.is_batchd and self.s.peer_e2e_max is not None and n > self.s.peer_e2e_max:
                        self.limit(spec.name, "e2e", n)
                        continue
                    self.guarded(spec.name, f"e2e {n}", partial(self._e2e_one, spec, n, run))
                    entry = self.results["e2e"].get(spec.name, {}).get(str(n), {"runs": []})
                    last = entry["runs"][-1] if entry["runs"] else None
                    if last is None or not last.get("finished"):
                        # A batch that did not finish will not finish next time either; the time limit
                        # would only be paid again.
                        why = last.get("reason", "failed") if last else "failed"
                        given_up[spec.name] = f"not attempted after N={n} run {run + 1}: {why}"
        for name, why in given_up.items():
            self.results["e2e"].setdefault(name, {})["gave_up"] = why

    def _e2e_one(self, spec: TargetSpec, n: int, run: int) -> None:
        with Server(spec, self.s, self.docker) as srv:
            net = provision_network(srv.endpoint, spec.family)
            log(f"e2e: {spec.name} N={n} run {run + 1}/{self.s.e2e_repeat}")
            load = os.getloadavg()[0]
            before = srv.usage()
            res = run_e2e(srv.endpoint, net, n, self.s.e2e_timeout_s, run, srv.job_ids)
            res["loadavg_before"] = load
            after = srv.usage()
            res["cpu_s_per_1000"] = (after.cpu_s - before.cpu_s) / n * 1000
            res["peak_rss_mib"] = after.peak_rss_kib / 1024
            status = "ok" if res["finished"] else res.get("reason", "")
            log(f"e2e: {spec.name} N={n}: {status}")
            self.results["e2e"].setdefault(spec.name, {}).setdefault(str(n), {"runs": []})["runs"].append(res)

    def run_array(self) -> None:
        """Array jobs: submit/describe on a DISABLED environment, then one array end to end. A peer is
        first asked what it does with one array; one that ignores arrayProperties is 'not supported'."""
        if "array" not in self.s.workloads:
            return
        out = self.results["array"]
        supported: list[str] = []
        for fam in self.families:
            if fam == "batchd":
                supported.append(fam)
                continue
            spec = API_TARGETS[fam]

            def probe(spec: TargetSpec = spec) -> None:
                with Server(spec, self.s, self.docker) as srv:
                    net = provision_network(srv.endpoint, spec.family)
                    log(f"array: asking {spec.name} what it does with one array")
                    out["probe"][spec.name] = probe_array(srv.endpoint, net)

            if not self.guarded(fam, "array", probe):
                continue
            if out["probe"][fam]["supported"]:
                supported.append(fam)
            else:
                self.skip(fam, "array", f"not supported: {out['probe'][fam]['answer']}")
        for fam in supported:
            spec = API_TARGETS[fam]
            sizes = self.s.array_sizes if spec.is_batchd else self.s.array_sizes[:1]
            # The peers' larger sizes once, with a time limit: whether they take them at all is the figure.
            tries = (
                {} if spec.is_batchd else dict.fromkeys(self.s.array_sizes[1:], self.s.array_try_timeout_s)
            )

            def api(
                spec: TargetSpec = spec, sizes: tuple[int, ...] = sizes, tries: dict[int, float] = tries
            ) -> None:
                with Server(spec, self.s, self.docker) as srv:
                    net = provision_network(srv.endpoint, spec.family)
                    log(f"array: {spec.name} SubmitJob of arrays of {', '.join(f'{n:,}' for n in sizes)}")
                    res = run_array_api(
                        srv.endpoint,
                        net,
                        srv.usage,
                        sizes=sizes,
                        reps=self.s.array_reps,
                        describe_reps=self.s.array_describe_reps,
                        settle_timeout_s=self.s.array_settle_timeout_s,
                        try_once=tries,
                    )
                    res["peak_rss_mib"] = srv.usage().peak_rss_kib / 1024
                    out["api"][spec.name] = res

            self.guarded(spec.name, "array", api)
        n = self.s.array_e2e_size
        for fam in self.families:
            for spec in E2E_TARGETS[fam]:
                if fam not in supported:
                    continue  # its reason is already in the skipped list
                if spec.jobs_in_docker and not self.docker.available:
                    self.skip(spec.name, "array e2e", f"needs Docker: {self.docker.reason}")
                    continue
                if not spec.is_batchd and self.s.peer_e2e_max is not None and n > self.s.peer_e2e_max:
                    self.limit(spec.name, "array", n)
                    continue
                self.guarded(spec.name, "array e2e", partial(self._array_e2e_one, spec, n))

    def _array_e2e_one(self, spec: TargetSpec, n: int) -> None:
        with Server(spec, self.s, self.docker) as srv:
            net = provision_network(srv.endpoint, spec.family)
            log(f"array: {spec.name} one array of {n:,} children end to end")
            load = os.getloadavg()[0]
            res = run_array_e2e(srv.endpoint, net, n, self.s.e2e_timeout_s, srv.usage, srv.job_ids)
            res["loadavg_before"] = load
            log(f"array: {spec.name} {n:,} children: {'ok' if res['finished'] else res.get('reason', '')}")
            self.results["array"]["e2e"][spec.name] = res

    def run_scale(self) -> None:
        if "scale" not in self.s.workloads:
            return
        for fam in self.families:
            spec = API_TARGETS[fam]

            steps = self.s.scale_steps
            step_timeout_s = self.s.step_timeout_s
            if not spec.is_batchd:
                step_timeout_s = self.s.peer_step_timeout_s
                cap = self.s.peer_scale_max
                for step in steps:
                    if cap is not None and step > cap:
                        self.limit(spec.name, "scale", step)
                steps = tuple(step for step in steps if cap is None or step <= cap)

            def one(
                spec: TargetSpec = spec,
                steps: tuple[int, ...] = steps,
                step_timeout_s: float = step_timeout_s,
            ) -> None:
                with Server(spec, self.s, self.docker) as srv:
                    net = provision_network(srv.endpoint, spec.family)
                    self.results["scale"][spec.name] = run_scale(
                        srv,
                        net,
                        steps,
                        self.s.scale_samples,
                        self.s.scale_op_budget_s,
                        step_timeout_s,
                        self.s.seed_procs,
                    )

            self.guarded(spec.name, "scale", one)

    def run_logs(self) -> None:
        """The Logs API over streams of a thousand to ten million lines (batchd) and moto's, filled by
        PutLogEvents; localbatch has no Logs API."""
        if "logs" not in self.s.workloads:
            return
        for fam in self.families:
            spec = API_TARGETS[fam]
            if fam == "localbatch":
                self.skip(fam, "logs", "no CloudWatch Logs API")
                continue

            def one(spec: TargetSpec = spec) -> None:
                with Server(spec, self.s, self.docker) as srv:
                    if spec.is_batchd:
                        res = run_logs_batchd(
                            srv, self.s.logs_sizes, self.s.logs_samples, self.s.logs_job_timeout_s
                        )
                    else:
                        res = run_logs_moto(srv, self.s.logs_peer_sizes, self.s.logs_samples)
                    res["peak_rss_mib"] = srv.usage().peak_rss_kib / 1024
                    self.results["logs"][spec.name] = res

            self.guarded(spec.name, "logs", one)

    def run_fairshare(self) -> None:
        """Fair-share scheduling by weight, and a late share's first start; batchd only."""
        if "fairshare" not in self.s.workloads:
            return
        for fam in self.families:
            if fam != "batchd":
                self.skip(fam, "fairshare", "stores scheduling policies but does not schedule by share")
                continue
            spec = E2E_TARGETS["batchd"][0]  # the local executor
            for label, weights, duration_s, late in self.s.fairshare_runs:

                def one(
                    spec: TargetSpec = spec,
                    label: str = label,
                    weights: tuple[tuple[str, float], ...] = weights,
                    duration_s: float = duration_s,
                    late: int = late,
                ) -> None:
                    with Server(spec, self.s, self.docker) as srv:
                        log(f"fairshare: {spec.name}, {label}")
                        res = run_fairshare(srv, dict(weights), duration_s, late)
                        res["peak_rss_mib"] = srv.usage().peak_rss_kib / 1024
                        self.results["fairshare"][f"{spec.name}, {label}"] = res

                self.guarded(spec.name, f"fairshare {label}", one)

    def run(self) -> dict[str, Any]:
        started = time.time()
        # Other work on the machine (a test suite, a dockerd still reaping containers) shows up as noise;
        # the load averages let a reader judge it.
        load_start = os.getloadavg()
        self.prepare()
        if "raw" in self.s.workloads:
            self.guarded("raw", "raw", self.run_raw)
        self.run_api_and_throughput()
        self.run_e2e()
        self.run_array()
        self.run_scale()
        self.run_logs()
        self.run_fairshare()
        self.results["meta"] = {
            "started": time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(started)),
            "duration_s": time.time() - started,
            "host": host_info(),
            "settings": self.s.as_dict(),
            "versions": describe_versions(self.s, self.families),
            "docker": {"available": self.docker.available, "reason": self.docker.reason},
            "e2e_parallelism": E2E_PARALLELISM,
            "loadavg_start": load_start,
            "loadavg_end": os.getloadavg(),
        }
        return self.results


def host_info() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu,
        "mem_gib": round(mem_gib, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def main(argv: list[str] | None = None) -> int:
    settings = parse_args(argv)

    # Servers run in their own sessions; turn SIGTERM into an exception so `with Server` stops them.
    def on_term(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_term)
    results = Bench(settings).run()
    md = report.write(results, settings.output)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
