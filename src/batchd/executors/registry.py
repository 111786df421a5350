"""Which executors this server has, and which one runs jobs by default (`--executor`)."""

from __future__ import annotations

import logging
import os

from batchd.config import Settings
from batchd.executors.base import Executor
from batchd.executors.docker import DockerExecutor
from batchd.executors.local import LocalExecutor

log = logging.getLogger("batchd")


class Executors:
    def __init__(self, executors: dict[str, Executor], default: str) -> None:
        self._executors = executors
        self.default = default

    @classmethod
    def create(cls, settings: Settings, server_id: str) -> Executors:
        docker = DockerExecutor(owner=server_id)
        executors: dict[str, Executor] = {"local": LocalExecutor(), "docker": docker}
        default = settings.executor
        if default == "auto":
            problem = docker.problem()
            default = "docker" if problem is None else "local"
            where = os.environ.get("DOCKER_HOST", "the default socket")
            if problem is None:
                log.info("executor: docker (engine at %s answers)", where)
            else:
                log.info("executor: local (no Docker engine: %s)", problem)
        return cls(executors, default)

    def get(self, name: str) -> Executor:
        return self._executors[name]

    def problem(self, name: str) -> str | None:
        executor = self._executors.get(name)
        if executor is None:
            return f"No executor named {name}"
        return executor.problem()

    @property
    def host_memory_mib(self) -> int:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1024 * 1024)

    async def open(self) -> None:
        """Readies the default executor; the others get ready when a job first needs them."""
        await self._executors[self.default].open()

    async def close(self) -> None:
        for executor in self._executors.values():
            await executor.close()
