"""Parameters, `Ref::` substitution, environment merge and resource amounts (docs/api.md, The job's container
and environment)."""

from __future__ import annotations

from typing import Any

import pytest

from batchd.domain.amounts import resource_amounts
from batchd.domain.containers import effective_container, merge_environment
from batchd.domain.parameters import effective_parameters, substitute
from batchd.errors import ClientException

# --- effective_parameters ---------------------------------------------------------------------------


def test_submitted_parameters_win_over_definition_defaults() -> None:
    merged = effective_parameters({"a": "1", "b": "2"}, {"b": "20", "c": "30"})
    assert merged == {"a": "1", "b": "20", "c": "30"}


def test_effective_parameters_leave_inputs_alone() -> None:
    definition, submitted = {"a": "1"}, {"a": "2"}
    effective_parameters(definition, submitted)
    assert definition == {"a": "1"} and submitted == {"a": "2"}


# --- substitute ---------------------------------------------------------------------------------------


def test_substitute_replaces_whole_elements() -> None:
    command = ["ffmpeg", "-i", "Ref::input", "-c", "Ref::codec"]
    assert substitute(command, {"input": "in.mov", "codec": "mp4"}) == ["ffmpeg", "-i", "in.mov", "-c", "mp4"]


def test_substitute_leaves_unknown_references_as_written() -> None:
    assert substitute(["echo", "Ref::missing"], {"other": "x"}) == ["echo", "Ref::missing"]


def test_substitute_does_not_replace_substrings() -> None:
    command = ["echo", "prefix-Ref::name", "Ref::name-suffix", "ref::name", " Ref::name"]
    assert substitute(command, {"name": "v", "name-suffix": "w"}) == [
        "echo",
        "prefix-Ref::name",
        "w",
        "ref::name",
        " Ref::name",
    ]


def test_substitute_values_are_not_split_or_resubstituted() -> None:
    assert substitute(["Ref::a"], {"a": "two words Ref::b", "b": "x"}) == ["two words Ref::b"]


def test_substitute_empty_value_and_empty_command() -> None:
    assert substitute(["echo", "Ref::e"], {"e": ""}) == ["echo", ""]
    assert substitute([], {"a": "1"}) == []


def test_substitute_returns_a_new_list() -> None:
    command = ["Ref::a"]
    assert substitute(command, {"a": "1"}) == ["1"]
    assert command == ["Ref::a"]


# --- merge_environment ----------------------------------------------------------------------------


def test_merge_environment_by_name() -> None:
    base = [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]
    overrides = [{"name": "B", "value": "20"}, {"name": "C", "value": "30"}]
    assert merge_environment(base, overrides) == [
        {"name": "A", "value": "1"},
        {"name": "B", "value": "20"},
        {"name": "C", "value": "30"},
    ]


def test_merge_environment_without_overrides_keeps_base() -> None:
    base = [{"name": "A", "value": "1"}]
    assert merge_environment(base, []) == base
    assert merge_environment([], base) == base


def test_merge_environment_missing_value_is_empty_and_nameless_entries_dropped() -> None:
    assert merge_environment([{"name": "A"}, {"value": "x"}], []) == [{"name": "A", "value": ""}]


# --- resource_amounts -----------------------------------------------------------------------------


def test_resource_amounts_from_deprecated_members() -> None:
    assert resource_amounts({"vcpus": 2, "memory": 512}) == (2, 512)


def test_resource_amounts_absent() -> None:
    assert resource_amounts({}) == (None, None)


def test_resource_requirements_win() -> None:
    container = {
        "vcpus": 2,
        "memory": 512,
        "resourceRequirements": [{"type": "VCPU", "value": "0.5"}, {"type": "MEMORY", "value": "2048"}],
    }
    assert resource_amounts(container) == (0.5, 2048)


def test_resource_requirements_other_kinds_ignored() -> None:
    container = {"vcpus": 1, "memory": 64, "resourceRequirements": [{"type": "GPU", "value": "1"}]}
    assert resource_amounts(container) == (1, 64)


@pytest.mark.parametrize("value", ["lots", "nan", "inf", None])
def test_resource_requirements_must_be_numbers(value: Any) -> None:
    with pytest.raises(ClientException):
        resource_amounts({"resourceRequirements": [{"type": "VCPU", "value": value}]})


# --- effective_container (domain/containers.py) --------------------------------------------------------


def definition(**container: Any) -> dict[str, Any]:
    props = {"image": "busybox", "vcpus": 1, "memory": 64, "command": ["echo", "Ref::word"], **container}
    return {"containerProperties": props}


def test_effective_container_substitutes_the_definition_command() -> None:
    c = effective_container(definition(), {}, {"word": "hi"})
    assert c["command"] == ["echo", "hi"]
    assert c["image"] == "busybox"
    assert (c["vcpus"], c["memory"]) == (1, 64)


def test_effective_container_override_command_is_substituted_too() -> None:
    c = effective_container(definition(), {"command": ["printf", "Ref::word", "Ref::none"]}, {"word": "x"})
    assert c["command"] == ["printf", "x", "Ref::none"]


def test_effective_container_empty_override_command_replaces() -> None:
    c = effective_container(definition(), {"command": []}, {})
    assert c["command"] == []


def test_effective_container_environment_merge() -> None:
    d = definition(environment=[{"name": "A", "value": "1"}, {"name": "B", "value": "2"}])
    c = effective_container(
        d, {"environment": [{"name": "B", "value": "3"}, {"name": "C", "value": "4"}]}, {}
    )
    assert {e["name"]: e["value"] for e in c["environment"]} == {"A": "1", "B": "3", "C": "4"}


def test_effective_container_vcpus_memory_override() -> None:
    c = effective_container(definition(), {"vcpus": 3, "memory": 256}, {})
    assert (c["vcpus"], c["memory"]) == (3, 256)


def test_effective_container_resource_requirements_override() -> None:
    d = definition(resourceRequirements=[{"type": "VCPU", "value": "2"}, {"type": "MEMORY", "value": "128"}])
    c = effective_container(d, {"resourceRequirements": [{"type": "MEMORY", "value": "1024"}]}, {})
    assert (c["vcpus"], c["memory"]) == (2, 1024)
    assert isinstance(c["vcpus"], int)


def test_effective_container_fractional_vcpus_kept() -> None:
    d = definition(resourceRequirements=[{"type": "VCPU", "value": "0.25"}])
    c = effective_container(d, {}, {})
    # The wire's `vcpus` is an Integer: as on AWS, a fractional amount shows only in resourceRequirements.
    assert "vcpus" not in c
    assert resource_amounts(c)[0] == 0.25


def test_effective_container_explicit_override_beats_definition_requirement() -> None:
    d = definition(resourceRequirements=[{"type": "VCPU", "value": "2"}])
    c = effective_container(d, {"vcpus": 4}, {})
    assert c["vcpus"] == 4


def test_effective_container_collections_default_empty() -> None:
    c = effective_container({"containerProperties": {"image": "x", "vcpus": 1, "memory": 4}}, {}, {})
    assert c["command"] == []
    for member in ("environment", "volumes", "mountPoints", "ulimits"):
        assert c[member] == []


def test_effective_container_does_not_share_state_with_the_definition() -> None:
    d = definition(environment=[{"name": "A", "value": "1"}])
    c = effective_container(d, {}, {"word": "w"})
    c["environment"].append({"name": "Z", "value": "z"})
    c["command"].append("more")
    assert d["containerProperties"]["environment"] == [{"name": "A", "value": "1"}]
    assert d["containerProperties"]["command"] == ["echo", "Ref::word"]


def test_effective_container_drops_unknown_members() -> None:
    c = effective_container(definition(notAMember=1), {}, {})
    assert "notAMember" not in c
