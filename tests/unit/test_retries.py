"""domain/retries.should_retry: retryStrategy.attempts and evaluateOnExit (AWS's rules)."""

from __future__ import annotations

from typing import Any

import pytest

from batchd.domain.retries import check_retry_strategy, registered_retry_strategy, should_retry
from batchd.errors import ClientException

EXITED = "Essential container in task exited"


def retry(
    strategy: dict[str, Any] | None,
    made: int = 1,
    exit_code: int | None = 1,
    reason: str | None = None,
    status_reason: str = EXITED,
) -> bool:
    return should_retry(strategy, made, exit_code, reason, status_reason)


def test_no_strategy_means_one_attempt() -> None:
    assert not retry(None)
    assert not retry({})


def test_attempts_one_means_no_retry() -> None:
    assert not retry({"attempts": 1})


@pytest.mark.parametrize(("made", "expected"), [(1, True), (2, True), (3, False), (4, False)])
def test_attempts_bound_the_retries(made: int, expected: bool) -> None:
    assert retry({"attempts": 3}, made=made) is expected


def test_missing_attempts_counts_as_one() -> None:
    assert not retry({"evaluateOnExit": [{"onExitCode": "*", "action": "RETRY"}]})


@pytest.mark.parametrize(
    ("rule", "exit_code", "expected"),
    [
        ({"onExitCode": "3", "action": "EXIT"}, 3, False),
        ({"onExitCode": "3", "action": "EXIT"}, 4, True),
        ({"onExitCode": "3", "action": "EXIT"}, 33, True),
        ({"onExitCode": "3*", "action": "EXIT"}, 33, False),
        ({"onExitCode": "3*", "action": "EXIT"}, 3, False),
        ({"onExitCode": "3*", "action": "EXIT"}, 43, True),
        ({"onExitCode": "*", "action": "EXIT"}, 137, False),
        ({"onExitCode": "1", "action": "RETRY"}, 1, True),
    ],
)
def test_on_exit_code(rule: dict[str, str], exit_code: int, expected: bool) -> None:
    assert retry({"attempts": 5, "evaluateOnExit": [rule]}, exit_code=exit_code) is expected


def test_on_exit_code_does_not_match_a_missing_exit_code_except_star() -> None:
    strategy = {"attempts": 5, "evaluateOnExit": [{"onExitCode": "1", "action": "EXIT"}]}
    assert retry(strategy, exit_code=None)
    star = {"attempts": 5, "evaluateOnExit": [{"onExitCode": "*", "action": "EXIT"}]}
    assert not retry(star, exit_code=None)


@pytest.mark.parametrize(
    ("pattern", "reason", "expected_match"),
    [
        ("OutOfMemoryError*", "OutOfMemoryError: Container killed due to memory usage", True),
        ("OutOfMemoryError", "OutOfMemoryError: Container killed due to memory usage", False),
        ("CannotPullContainerError*", "OutOfMemoryError: Container killed", False),
        ("*", "anything", True),
        ("*", "", True),
        ("OutOfMemoryError*", None, False),
    ],
)
def test_on_reason(pattern: str, reason: str | None, expected_match: bool) -> None:
    strategy = {"attempts": 5, "evaluateOnExit": [{"onReason": pattern, "action": "EXIT"}]}
    assert retry(strategy, reason=reason) is not expected_match


@pytest.mark.parametrize(
    ("pattern", "status_reason", "expected_match"),
    [
        ("Task failed to start", "Task failed to start", True),
        ("Task failed*", "Task failed to start", True),
        ("Task*", EXITED, False),
        ("Host EC2*", "Host EC2 (instance i-1) terminated.", True),
        ("task failed to start", "Task failed to start", False),
    ],
)
def test_on_status_reason(pattern: str, status_reason: str, expected_match: bool) -> None:
    strategy = {"attempts": 5, "evaluateOnExit": [{"onStatusReason": pattern, "action": "EXIT"}]}
    assert retry(strategy, status_reason=status_reason) is not expected_match


def test_all_conditions_of_a_rule_must_match() -> None:
    rule = {"onExitCode": "137", "onReason": "OutOfMemoryError*", "action": "EXIT"}
    strategy = {"attempts": 5, "evaluateOnExit": [rule]}
    assert not retry(strategy, exit_code=137, reason="OutOfMemoryError: killed")
    assert retry(strategy, exit_code=137, reason=None)
    assert retry(strategy, exit_code=1, reason="OutOfMemoryError: killed")


def test_the_first_matching_rule_decides() -> None:
    rules = [
        {"onExitCode": "2", "action": "RETRY"},
        {"onExitCode": "*", "action": "EXIT"},
    ]
    strategy = {"attempts": 5, "evaluateOnExit": rules}
    assert retry(strategy, exit_code=2)
    assert not retry(strategy, exit_code=3)
    reversed_rules = {"attempts": 5, "evaluateOnExit": list(reversed(rules))}
    assert not retry(reversed_rules, exit_code=2)


def test_a_later_rule_applies_when_earlier_ones_do_not_match() -> None:
    rules = [
        {"onExitCode": "1", "action": "RETRY"},
        {"onStatusReason": "Task failed*", "action": "EXIT"},
    ]
    strategy = {"attempts": 5, "evaluateOnExit": rules}
    assert not retry(strategy, exit_code=None, status_reason="Task failed to start")


@pytest.mark.parametrize("action", ["EXIT", "exit", "Exit"])
def test_exit_is_case_insensitive(action: str) -> None:
    strategy = {"attempts": 5, "evaluateOnExit": [{"onExitCode": "1", "action": action}]}
    assert not retry(strategy, exit_code=1)


@pytest.mark.parametrize("action", ["RETRY", "retry", "Retry"])
def test_retry_is_case_insensitive(action: str) -> None:
    strategy = {"attempts": 5, "evaluateOnExit": [{"onExitCode": "1", "action": action}]}
    assert retry(strategy, exit_code=1)


def test_no_matching_rule_means_retry() -> None:
    strategy = {"attempts": 5, "evaluateOnExit": [{"onExitCode": "7", "action": "EXIT"}]}
    assert retry(strategy, exit_code=1)


def test_retry_rule_still_bounded_by_attempts() -> None:
    strategy = {"attempts": 2, "evaluateOnExit": [{"onExitCode": "*", "action": "RETRY"}]}
    assert retry(strategy, made=1)
    assert not retry(strategy, made=2)


def test_empty_rule_list_retries() -> None:
    assert retry({"attempts": 2, "evaluateOnExit": []})


# --- check_retry_strategy / registered_retry_strategy ------------------------------------------------


@pytest.mark.parametrize(
    ("strategy", "message"),
    [
        ({"attempts": 11}, "retryStrategy.attempts must be between 1 and 10, got 11."),
        ({"attempts": 0}, "retryStrategy.attempts must be between 1 and 10, got 0."),
        ({"evaluateOnExit": [{"action": "EXIT"}] * 6}, "may hold at most 5 entries"),
        ({"evaluateOnExit": [{"action": "again"}]}, "must be RETRY or EXIT, got 'again'."),
        ({"evaluateOnExit": [{"action": "EXIT", "onReason": "x" * 513}]}, "onReason must be at most 512"),
    ],
)
def test_strategies_aws_refuses_are_refused(strategy: dict[str, Any], message: str) -> None:
    with pytest.raises(ClientException, match=message):
        check_retry_strategy(strategy)


def test_actions_are_read_in_any_case_and_registered_lower_case() -> None:
    strategy = {"attempts": 2, "evaluateOnExit": [{"onExitCode": "1", "action": "Exit"}, {"action": "RETRY"}]}
    check_retry_strategy(strategy)
    registered = registered_retry_strategy(strategy)
    assert registered == {
        "attempts": 2,
        "evaluateOnExit": [{"onExitCode": "1", "action": "exit"}, {"action": "retry"}],
    }
    assert strategy["evaluateOnExit"][0]["action"] == "Exit"
    # The scheduler reads the registered, lower-case actions as AWS does.
    assert not should_retry(registered, 1, 1, None, EXITED)
    assert should_retry(registered, 1, 2, None, EXITED)
