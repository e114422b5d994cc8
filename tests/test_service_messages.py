"""Service events worded exactly as the ECS API words them (what describe-services prints)."""

from __future__ import annotations

import json
from pathlib import Path

import botocore

from clusterkit.services import messages


def _api_examples() -> list[str]:
    """The service event messages in botocore's ECS examples (the API's own words)."""
    found: list[str] = []
    for path in (Path(botocore.__file__).parent / "data" / "ecs").glob("*/examples-1.json"):

        def walk(value: object) -> None:
            if isinstance(value, dict):
                if isinstance(value.get("message"), str) and value["message"].startswith("(service "):
                    found.append(value["message"])
                for item in value.values():
                    walk(item)
            elif isinstance(value, list):
                for item in value:
                    walk(item)

        walk(json.loads(path.read_text()))
    return found


def test_unable_to_place_matches_the_api_example_word_for_word() -> None:
    (example,) = {m for m in _api_examples() if "unable to place" in m}
    service = example.split(")", 1)[0].removeprefix("(service ")
    instance = example.split("(container-instance ", 1)[1].split(")", 1)[0]
    assert messages.unable_to_place(service, "RESOURCE:PORTS", instance) == example


def test_every_message_opens_with_the_service_in_parentheses() -> None:
    texts = [
        messages.steady_state("web"),
        messages.started_tasks("web", ["a", "b"]),
        messages.stopped_tasks("web", ["a"]),
        messages.unable_to_place("web", "RESOURCE:CPU"),
        messages.deployment_stuck("web"),
        messages.unable_to_start_consistently("web"),
        messages.deployment_completed("web", "ecs-svc/1"),
        messages.circuit_breaker_tripped("web", "ecs-svc/1"),
        messages.rolling_back("web", "ecs-svc/2", "ecs-svc/1"),
        messages.stalled("web", "ecs-svc/2", rollback=True),
        messages.registered_targets("web", 1, "arn:tg"),
        messages.began_draining("web", 1),
        messages.deregistered_targets("web", 1, "arn:tg"),
    ]
    assert all(text.startswith("(service web) ") for text in texts), texts


def test_task_references_are_separated_by_a_space() -> None:
    assert messages.started_tasks("web", ["a1", "c3"]) == "(service web) has started 2 tasks: (task a1) (task c3)."
    assert messages.stopped_tasks("web", ["a1"]) == "(service web) has stopped 1 running tasks: (task a1)."
    assert messages.steady_state("web") == "(service web) has reached a steady state."


def test_the_closest_instance_is_named_as_ecs_names_it() -> None:
    text = messages.unable_to_place("web", "RESOURCE:CPU", "i-1")
    assert "The closest matching (container-instance i-1) has insufficient CPU units available." in text
    assert messages.unable_to_place("web", "RESOURCE:GPU").endswith(
        "The closest matching container-instance has insufficient GPU available. "
        "For more information, see the Troubleshooting section of the Amazon ECS Developer Guide."
    )
