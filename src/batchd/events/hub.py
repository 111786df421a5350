"""Wakes the coroutines waiting for new job events: streams and webhook deliveries.

The store calls `notify()` synchronously after each commit that appended events, on the event-loop thread,
so this does no I/O: it only resolves futures. `close()` (at shutdown) wakes everyone for good.
"""

from __future__ import annotations

import asyncio


class EventHub:
    def __init__(self) -> None:
        self._waiters: set[asyncio.Future[None]] = set()
        self.closed = False

    def notify(self) -> None:
        waiters, self._waiters = self._waiters, set()
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def close(self) -> None:
        self.closed = True
        self.notify()

    def next_change(self) -> asyncio.Future[None]:
        """A future resolved at the next commit of events (or at close). Take it *before* reading the
        store: an event committed between the read and the wait then still wakes the waiter."""
        waiter = asyncio.get_running_loop().create_future()
        if self.closed:
            waiter.set_result(None)
        else:
            self._waiters.add(waiter)
        return waiter

    def forget(self, waiter: asyncio.Future[None]) -> None:
        """Drops a waiter that stopped waiting (timeout, disconnect), so idle streams hold nothing."""
        self._waiters.discard(waiter)
        waiter.cancel()
