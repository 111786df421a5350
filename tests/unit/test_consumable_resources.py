"""Consumable resources, the pure part: placement waits for and books the quantities jobs need, the in-use
counts are derived from the active jobs, and the API's quantity rules (docs/jobs.md, Consumable
resources)."""

from __future__ import annotations

from typing import Any

import pytest

from batchd.domain.consumable_resources import (
    available,
    in_use,
    merged,
    needs_of,
    new_total,
    requirement_list,
)
from batchd.domain.placement import Candidate, EnvironmentView, QueueView, place
from batchd.errors import ClientException

HOST = 64 * 1024
QUEUES = {"q": QueueView("q", 1, ("ce",))}
ENVS = {"ce": EnvironmentView("ce", 16, 0, True)}


def job(job_id: str, seq: int, *needs: tuple[str, int]) -> Candidate:
    return Candidate(job_id, "q", seq, 1, 64, consumables=tuple(needs))


def placed(candidates: list[Candidate], consumables: dict[str, int] | None) -> list[str]:
    plan = place(candidates, QUEUES, ENVS, HOST, HOST, consumables=consumables)
    return [a.job_id for a in plan.assignments]


def test_a_job_waits_until_every_resource_it_names_has_its_quantity() -> None:
    jobs = [job("both", 1, ("a", 1), ("b", 2)), job("a-only", 2, ("a", 1))]
    assert placed(jobs, {"a": 1, "b": 1}) == ["a-only"]
    assert placed(jobs, {"a": 2, "b": 2}) == ["both", "a-only"]


def test_quantities_are_booked_as_the_pass_goes() -> None:
    jobs = [job("first", 1, ("a", 2)), job("second", 2, ("a", 2)), job("small", 3, ("a", 1))]
    # The second does not fit after the first; the one behind it, smaller, still does.
    assert placed(jobs, {"a": 3}) == ["first", "small"]


def test_a_waiting_job_does_not_hold_back_jobs_that_need_nothing() -> None:
    jobs = [job("needs", 1, ("a", 1)), job("plain", 2)]
    assert placed(jobs, {"a": 0}) == ["plain"]
    # A resource nobody lists (deleted) has nothing available.
    assert placed(jobs, {}) == ["plain"]
    assert placed(jobs, None) == ["plain"]


def test_the_counts_given_are_not_changed() -> None:
    counts = {"a": 1}
    placed([job("j", 1, ("a", 1))], counts)
    assert counts == {"a": 1}


def resource(arn: str, total: int, kind: str = "REPLENISHABLE", consumed: int = 0) -> dict[str, Any]:
    doc: dict[str, Any] = {"consumableResourceArn": arn, "totalQuantity": total, "resourceType": kind}
    if consumed:
        doc["consumedQuantity"] = consumed
    return doc


def test_in_use_comes_from_the_active_jobs_or_what_was_consumed() -> None:
    docs = [resource("r", 4), resource("n", 5, "NON_REPLENISHABLE", consumed=3)]
    holders = [(("r", 1), ("n", 1)), (("r", 2),), (("gone", 7),)]
    # NON_REPLENISHABLE counts what jobs took when they started (an active job's take is in it already).
    assert in_use(docs, holders) == {"r": 3, "n": 3}
    assert available(docs, holders) == {"r": 1, "n": 2}
    # A total lowered below what is held shows nothing available, never a negative count.
    assert available([resource("r", 1)], holders) == {"r": 0}


def test_update_operations() -> None:
    assert new_total(5, "SET", 2) == 2
    assert new_total(5, None, 9) == 9
    assert new_total(5, "ADD", 2) == 7
    assert new_total(5, "REMOVE", 5) == 0
    for operation, quantity in (("REMOVE", 6), ("SET", -1), ("MULTIPLY", 2), ("ADD", None), ("ADD", True)):
        with pytest.raises(ClientException):
            new_total(5, operation, quantity)


def test_requirement_lists() -> None:
    props = {"consumableResourceList": [{"consumableResource": "a", "quantity": 2}]}
    assert requirement_list(props, "p") == [("a", 2)]
    assert requirement_list(None, "p") == []
    for bad in (
        {"consumableResourceList": [{"consumableResource": "a", "quantity": 0}]},
        {"consumableResourceList": [{"quantity": 1}]},
        {"consumableResourceList": "a"},
        "a",
    ):
        with pytest.raises(ClientException):
            requirement_list(bad, "p")
    assert merged([("a", 1), ("b", 2)], [("b", 5), ("c", 1)]) == [("a", 1), ("b", 5), ("c", 1)]
    assert needs_of({"consumableResourceProperties": props}) == (("a", 2),)
    assert needs_of({}) == ()
