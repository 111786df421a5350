"""Run parameters: one frozen object derived from the command line, passed to every workload."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
PEERS_DIR = BENCH_DIR / ".peers"

REGION = "us-east-1"
IMAGE = "busybox:latest"
COMMAND = ["true"]
JOB_VCPUS = 1
JOB_MEMORY_MIB = 16
CE_MAX_VCPUS = 4
# The containers batchd's Docker executor creates for the end-to-end jobs (host network, the job's memory
# with no swap, 1024 CPU shares per vCPU), so "90% of docker run" compares the same containers.
DOCKER_RUN = [
    "docker",
    "run",
    "--rm",
    "--network",
    "host",
    "--memory",
    f"{JOB_MEMORY_MIB}m",
    "--memory-swap",
    f"{JOB_MEMORY_MIB}m",
    "--cpu-shares",
    str(JOB_VCPUS * 1024),
    IMAGE,
    "true",
]

# Real Batch runs at most maxvCpus / vcpus jobs at once; the raw references use the same parallelism so
# "batchd vs plain docker run" compares like with like.
E2E_PARALLELISM = CE_MAX_VCPUS // JOB_VCPUS

FAMILIES = ("batchd", "moto", "localbatch")
WORKLOADS = ("raw", "api", "throughput", "light", "e2e", "array", "scale", "logs", "fairshare")
# What a run does without --workloads. fairshare (about 3 minutes of one server running sleeps) is left to
# --full and to `--workloads fairshare`.
DEFAULT_WORKLOADS = tuple(w for w in WORKLOADS if w != "fairshare")


@dataclass(frozen=True)
class SubmitRounds:
    """How SubmitJob throughput is measured: one round per entry of `procs` (that many client processes),
    each `jobs` jobs or `window_s` seconds, whichever ends first, and never past `timeout_s`."""

    procs: tuple[int, ...]
    jobs: int
    window_s: float | None
    timeout_s: float


@dataclass(frozen=True)
class Settings:
    families: tuple[str, ...] = FAMILIES
    workloads: tuple[str, ...] = DEFAULT_WORKLOADS
    repeat: int = 3
    # One batch of 1,000 containers takes minutes; its 1,000 per-job samples already average out noise,
    # so end-to-end batches run once by default (--e2e-repeat to change).
    e2e_repeat: int = 1
    api_reps: int = 100
    # Jobs per throughput run, shared by the client processes, and the window that ends a run sooner: a
    # fixed window costs a slow peer no more time than batchd, and 1.5 s of submissions are a thousand
    # jobs or more on batchd, enough that the processes' staggered start does not weigh on the rate.
    throughput_jobs: int = 4000
    throughput_window_s: float = 1.5
    throughput_procs: tuple[int, ...] = (1, 4)
    # Repetitions of SubmitJob, DescribeJobs and ListJobs through the light client. Its calls are cheap,
    # so more than the api workload's, for a p99 that is not just the maximum. Its throughput part uses
    # throughput_jobs and throughput_procs.
    light_reps: int = 300
    e2e_sizes: tuple[int, ...] = (200, 1000)
    e2e_timeout_s: float = 300.0
    scale_steps: tuple[int, ...] = (10_000, 100_000)
    # The peers' largest end-to-end batch and scale step in a default run (None: every size). At 1,000
    # containers moto and localbatch start every job at once and fail most of them after ~3 min each, and
    # moto seeds ~250 jobs/s, so their big steps would triple the run's length to show what their small
    # steps already show; --full runs them.
    peer_e2e_max: int | None = 200
    peer_scale_max: int | None = 10_000
    scale_samples: int = 20
    # Upper bound on the time spent sampling one operation at one scale step: a peer whose ListJobs
    # returns every stored job could otherwise take minutes for 20 samples.
    scale_op_budget_s: float = 5.0
    # One that cannot seed a step in time is measured where it stopped. Peers keep the default limit
    # when --full raises batchd's for the 1M step.
    step_timeout_s: float = 150.0
    peer_step_timeout_s: float = 150.0
    seed_procs: int = 8
    raw_fork_n: int = 500
    raw_docker_n: int = 10
    # Plain `docker run` at the end-to-end parallelism, as many as the smallest end-to-end batch, which
    # is compared with it directly (larger batches by rate).
    raw_docker_batch: int = 200
    # Array jobs (bench/arrays.py): SubmitJob of one array of each size, array_reps times, on a DISABLED
    # environment (batchd; the peers get the first size and one try of the others, each with a read
    # timeout of array_try_timeout_s, to see whether they take it), DescribeJobs of the largest parent
    # array_describe_reps times, and one array of array_e2e_size children run end to end (peers only up to
    # peer_e2e_max, as the e2e workload's batches).
    array_sizes: tuple[int, ...] = (1000, 10_000)
    array_reps: int = 20
    array_describe_reps: int = 100
    array_settle_timeout_s: float = 120.0
    array_try_timeout_s: float = 180.0
    array_e2e_size: int = 1000
    # Reading job output through the Logs API (bench/logs.py): streams of these many lines, each read
    # logs_samples times per operation. moto is filled by PutLogEvents, at about 25k lines/s here, so it
    # gets the smaller sizes; its figures at the first size are the side-by-side ones.
    logs_sizes: tuple[int, ...] = (1000, 10_000_000)
    logs_peer_sizes: tuple[int, ...] = (1000, 100_000)
    logs_samples: int = 20
    logs_job_timeout_s: float = 900.0
    # Fair share (bench/fairshare.py, batchd only), one fresh server per run: a label, the shares and their
    # weightFactors, how long the backlogs are sampled once the environment is enabled, and how many late
    # shares arrive afterwards. The first run's ideal split (4/7, 2/7, 1/7 of 4 vCPUs) is not a whole
    # number of vCPUs per share; the second's (3 and 1) is.
    fairshare_runs: tuple[tuple[str, tuple[tuple[str, float], ...], float, int], ...] = (
        ("weights 1, 0.5, 0.25", (("w1", 1.0), ("w05", 0.5), ("w025", 0.25)), 120.0, 3),
        ("weights 1, 0.3333", (("w1", 1.0), ("w033", 0.3333)), 60.0, 0),
    )
    # bench/results/<output>.{md,json}
    output: str = "latest"
    use_docker: bool = True
    quick: bool = False
    full: bool = False
    batchd_bin: Path = field(default_factory=lambda: REPO_DIR / ".venv" / "bin" / "batchd")

    @classmethod
    def build(
        cls,
        *,
        quick: bool,
        full: bool,
        families: tuple[str, ...],
        workloads: tuple[str, ...] | None,
        skip_docker: bool,
        repeat: int | None,
        e2e_repeat: int | None,
        step_timeout_s: float | None,
        e2e_timeout_s: float | None,
        batchd_bin: Path | None,
        output: str | None = None,
    ) -> Settings:
        base = cls()
        values: dict[str, Any] = {
            "families": families,
            "workloads": workloads if workloads is not None else (WORKLOADS if full else DEFAULT_WORKLOADS),
            "use_docker": not skip_docker,
            "quick": quick,
            "full": full,
        }
        if quick:
            # A smoke run: every code path once, small enough to finish in about a minute per target.
            values |= {
                "repeat": 1,
                "api_reps": 10,
                "throughput_jobs": 100,
                "throughput_window_s": 1.0,
                "light_reps": 50,
                "e2e_sizes": (20, 50),
                "peer_e2e_max": None,
                "e2e_timeout_s": 60.0,
                "scale_steps": (10_000,),
                "scale_samples": 10,
                "step_timeout_s": 60.0,
                "peer_step_timeout_s": 60.0,
                "raw_fork_n": 100,
                "raw_docker_n": 3,
                "raw_docker_batch": 20,
                "array_reps": 5,
                "array_describe_reps": 20,
                "array_settle_timeout_s": 60.0,
                "array_try_timeout_s": 90.0,
                "array_e2e_size": 50,
                "logs_sizes": (1000, 100_000),
                "logs_peer_sizes": (1000, 10_000),
                "logs_samples": 5,
                "fairshare_runs": tuple(
                    (label, w, 20.0, min(late, 1)) for label, w, _, late in base.fairshare_runs
                ),
                "output": "quick",
            }
        if full:
            values["scale_steps"] = tuple(
                sorted(set(values.get("scale_steps", base.scale_steps)) | {1_000_000})
            )
            values |= {"peer_e2e_max": None, "peer_scale_max": None, "output": "full"}
            # Seeding a million jobs needs far longer than the default per-step limit.
            values["step_timeout_s"] = 1800.0
        if repeat is not None:
            values["repeat"] = repeat
        if e2e_repeat is not None:
            values["e2e_repeat"] = e2e_repeat
        if step_timeout_s is not None:
            values["step_timeout_s"] = values["peer_step_timeout_s"] = step_timeout_s
        if e2e_timeout_s is not None:
            values["e2e_timeout_s"] = e2e_timeout_s
        if batchd_bin is not None:
            values["batchd_bin"] = batchd_bin
        if output is not None:
            values["output"] = output
        return cls(**values)

    @property
    def rounds(self) -> SubmitRounds:
        """The throughput rounds of the throughput and light workloads."""
        return SubmitRounds(
            self.throughput_procs, self.throughput_jobs, self.throughput_window_s, self.step_timeout_s
        )

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["batchd_bin"] = str(self.batchd_bin)
        return d
