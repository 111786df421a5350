"""Consumable resources: the rules AWS documents for a resource, for the quantities jobs name, and for how
much of a resource is in use (docs/api.md, Consumable resources; docs/jobs.md, Consumable resources)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from batchd.errors import ClientException

# The resource kind, as it appears in ARNs and as the store files it.
CR = "consumable-resource"

REPLENISHABLE = "REPLENISHABLE"
NON_REPLENISHABLE = "NON_REPLENISHABLE"
RESOURCE_TYPES = (REPLENISHABLE, NON_REPLENISHABLE)
UPDATE_OPERATIONS = ("SET", "ADD", "REMOVE")
MAX_QUANTITY = 2**53  # beyond this a JSON number stops being an exact integer for many clients
MAX_PER_JOB = 50  # batchd's own bound: AWS documents "one or more"

# What a job needs: (resource ARN, quantity) pairs.
Needs = tuple[tuple[str, int], ...]


def check_quantity(value: Any, member: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= MAX_QUANTITY:
        raise ClientException(f"{member} must be an integer from {minimum} to {MAX_QUANTITY}, got {value}.")
    return value


def check_resource_type(value: Any) -> str:
    if value is None:
        return REPLENISHABLE  # AWS's default
    if value not in RESOURCE_TYPES:
        raise ClientException(f"resourceType must be REPLENISHABLE or NON_REPLENISHABLE, got '{value}'.")
    return str(value)


def new_total(total: int, operation: Any, quantity: Any) -> int:
    """totalQuantity after UpdateConsumableResource: SET replaces it, ADD and REMOVE change it by
    `quantity`. A total below zero is refused."""
    operation = operation or "SET"
    if operation not in UPDATE_OPERATIONS:
        raise ClientException(f"operation must be SET, ADD or REMOVE, got '{operation}'.")
    if quantity is None:
        raise ClientException("quantity is required: the new total (SET) or the change (ADD, REMOVE).")
    amount = check_quantity(quantity, "quantity", 0)
    if operation == "SET":
        return amount
    if operation == "ADD":
        return check_quantity(total + amount, "The resulting totalQuantity", 0)
    if amount > total:
        raise ClientException(
            f"Cannot REMOVE {amount}: the totalQuantity is {total}, and it cannot go below 0."
        )
    return total - amount


def requirement_list(properties: Any, member: str) -> list[tuple[str, int]]:
    """The (resource name or ARN, quantity) pairs of a consumableResourceProperties, checked for shape."""
    if properties is None:
        return []
    if not isinstance(properties, Mapping):
        raise ClientException(f"{member} must be an object with a consumableResourceList.")
    entries = properties.get("consumableResourceList") or []
    if not isinstance(entries, list) or not all(isinstance(e, Mapping) for e in entries):
        raise ClientException(
            f"{member}.consumableResourceList must be a list of {{consumableResource, quantity}}."
        )
    if len(entries) > MAX_PER_JOB:
        raise ClientException(
            f"{member}.consumableResourceList may name at most {MAX_PER_JOB} resources, got {len(entries)}."
        )
    found: list[tuple[str, int]] = []
    for entry in entries:
        reference = entry.get("consumableResource")
        if not isinstance(reference, str) or not reference:
            raise ClientException(
                f"Each entry of {member}.consumableResourceList needs a consumableResource."
            )
        quantity = check_quantity(entry.get("quantity"), f"The quantity of {reference[:200]}", 1)
        found.append((reference, quantity))
    return found


def merged(definition: list[tuple[str, int]], override: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """A job's needs: its definition's, with each resource the override names taking the override's
    quantity (both lists already resolved to ARNs)."""
    out = dict(definition)
    out.update(override)
    return list(out.items())


def as_properties(needs: Iterable[tuple[str, int]]) -> dict[str, Any]:
    return {"consumableResourceList": [{"consumableResource": a, "quantity": q} for a, q in needs]}


def needs_of(doc: Mapping[str, Any]) -> Needs:
    """What a job (or job definition) document names: (ARN, quantity) pairs, as stored (resolved)."""
    entries = (doc.get("consumableResourceProperties") or {}).get("consumableResourceList") or []
    return tuple((str(e["consumableResource"]), int(e["quantity"])) for e in entries)


def in_use(resources: Iterable[Mapping[str, Any]], holders: Iterable[Needs]) -> dict[str, int]:
    """ARN → inUseQuantity.

    A REPLENISHABLE resource is in use by what the active (STARTING or RUNNING) jobs hold: the count is
    derived from the jobs' states, so it changes in the very transaction that moves a job in or out of
    them and cannot leak or be counted twice across a crash. A NON_REPLENISHABLE resource keeps what
    jobs took when they started (`consumedQuantity`, written with their move to STARTING)."""
    docs = {d["consumableResourceArn"]: d for d in resources}
    used = {
        arn: int(d.get("consumedQuantity") or 0) if d.get("resourceType") == NON_REPLENISHABLE else 0
        for arn, d in docs.items()
    }
    for needs in holders:
        for arn, quantity in needs:
            doc = docs.get(arn)
            if doc is not None and doc.get("resourceType") != NON_REPLENISHABLE:
                used[arn] += quantity
    return used


def available(resources: Iterable[Mapping[str, Any]], holders: Iterable[Needs]) -> dict[str, int]:
    """ARN → availableQuantity: the total less what is in use, never below 0 (the total may have been
    lowered below what running jobs hold)."""
    resources = list(resources)
    used = in_use(resources, holders)
    return {
        d["consumableResourceArn"]: max(0, int(d["totalQuantity"]) - used[d["consumableResourceArn"]])
        for d in resources
    }
