"""Job parameters: the definition's defaults, the submitter's values and `Ref::` substitution."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

# Re-exported for the scheduler until it imports batchd.domain.amounts itself.

REF_PREFIX = "Ref::"


def effective_parameters(definition: Mapping[str, str], submitted: Mapping[str, str]) -> dict[str, str]:
    """Definition defaults overlaid by the submitter's values."""
    return {**definition, **submitted}


def substitute(command: Sequence[str], parameters: Mapping[str, str]) -> list[str]:
    """Replaces each element exactly equal to `Ref::NAME` by NAME's value; unknown names stay as written."""
    out = []
    for arg in command:
        if arg.startswith(REF_PREFIX):
            out.append(parameters.get(arg[len(REF_PREFIX) :], arg))
        else:
            out.append(arg)
    return out
