"""Private-registry pulls through the real htpasswd registry, and the password never leaking."""

from __future__ import annotations

import base64
import json
import logging
from pathlib import Path
from typing import Any

import docker
import pytest

from clusterkit import Agent, ClusterState
from clusterkit.errors import ExecutorError, ValidationError
from clusterkit.executor import REGISTRY_AUTH_VARIABLE, RegistryCredentials, registry_of
from clusterkit.executor.docker import DockerExecutor
from clusterkit.logs import LogStore
from tests.conftest import loopback
from tests.docker.conftest import container_definition, running, settle, stopped


def private_task(state: ClusterState, registry: dict[str, str]) -> str:
    image = f"{registry['address']}/clusterkit/busybox:latest"
    app = container_definition(image=image, command=["sh", "-c", "echo pulled and running; sleep 600"])
    state.register_task_definition({"family": "private", "containerDefinitions": [app]})
    return state.run_task("private").tasks[0].id


def test_a_private_pull_fails_without_credentials_and_runs_with_them_from_the_environment(
    state: ClusterState,
    cluster: str,
    registry: dict[str, str],
    engine1: docker.APIClient,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    caplog.set_level(logging.DEBUG)  # docker-py, urllib3 and clusterkit at their chattiest
    password = registry["password"]
    events = state.subscribe()
    logs = LogStore()

    monkeypatch.delenv(REGISTRY_AUTH_VARIABLE, raising=False)
    anonymous = DockerExecutor(cluster=cluster, pull_policy="always", host_ip=loopback(2))
    agent = Agent.register(state, anonymous, log_store=logs)
    refused = private_task(state, registry)
    task = settle(agent, refused, stopped)
    assert task.stop_code == "TaskFailedToStart"
    assert task.stopped_reason is not None
    assert task.stopped_reason.startswith(f"CannotPullContainerError: {registry['address']}/clusterkit/busybox")
    assert "no basic auth credentials" in task.stopped_reason or "unauthorized" in task.stopped_reason

    entry = {"username": registry["username"], "password": password}
    monkeypatch.setenv(REGISTRY_AUTH_VARIABLE, json.dumps({registry["address"]: entry}))
    authorised = DockerExecutor(cluster=cluster, pull_policy="always", host_ip=loopback(2))
    assert authorised.credentials.registries == (registry["address"],)
    agent = Agent(state, authorised, agent.instance_id, log_store=logs)
    pulled = private_task(state, registry)
    task = settle(agent, pulled, running)
    assert task.last_status == "RUNNING"
    settle(agent, pulled, lambda _: bool(logs.query(task_id=pulled, contains="pulled and running")))

    # A pull that fails with credentials loaded: its error must not carry them either.
    with pytest.raises(ExecutorError) as caught:
        authorised._pull("t", f"{registry['address']}/clusterkit/not-there:1")
    bad_env = {REGISTRY_AUTH_VARIABLE: json.dumps({registry["address"]: {"username": "u", "password": password}})[:-2]}
    with pytest.raises(ValidationError) as malformed:
        RegistryCredentials.from_env(bad_env)

    saved = tmp_path / "state.json"
    state.save(saved)
    seen = [
        saved.read_text(),
        repr(events.drain()),
        caplog.text,
        repr(authorised),
        repr(authorised.credentials),
        repr(agent.__dict__),
        repr(logs.query()),
        str(caught.value),
        repr(caught.value),
        repr(caught.value.__cause__),
        str(malformed.value),
        repr(malformed.value.value),
        repr(state.snapshot().task(refused)),
        repr(state.snapshot().task(pulled)),
    ]
    encoded = base64.b64encode(password.encode()).decode()
    for text in seen:
        assert password not in text
        assert encoded not in text
    with pytest.raises(TypeError):
        import pickle

        pickle.dumps(authorised.credentials)
    engine1.remove_image(f"{registry['address']}/clusterkit/busybox:latest", force=True)


@pytest.mark.parametrize(
    ("image", "registry"),
    [
        ("busybox", "docker.io"),
        ("library/busybox:1", "docker.io"),
        ("127.0.0.1:5000/clusterkit/busybox:latest", "127.0.0.1:5000"),
        ("registry.example/team/app@sha256:" + "a" * 64, "registry.example"),
        ("localhost/app", "localhost"),
    ],
)
def test_the_registry_of_an_image_is_found_as_docker_finds_it(image: str, registry: str) -> None:
    assert registry_of(image) == registry


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("not json", REGISTRY_AUTH_VARIABLE),
        ('["a"]', REGISTRY_AUTH_VARIABLE),
        ('{"r:5000": "s3cret-value"}', f"{REGISTRY_AUTH_VARIABLE}['r:5000']"),
        ('{"r:5000": {"username": "u"}}', f"{REGISTRY_AUTH_VARIABLE}['r:5000'].password"),
        ('{"r:5000": {"password": "s3cret-value"}}', f"{REGISTRY_AUTH_VARIABLE}['r:5000'].username"),
    ],
)
def test_a_malformed_credentials_variable_names_the_field_and_hides_the_text(text: str, field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        RegistryCredentials.from_env({REGISTRY_AUTH_VARIABLE: text})
    assert caught.value.field == field
    assert "s3cret-value" not in str(caught.value)


@pytest.mark.parametrize(
    ("policy", "pushed", "starts", "attempts"),
    [
        ("default", False, True, 2),  # each launch tries the registry, fails, and uses the cached image
        ("always", False, False, 2),  # each launch insists on the registry, and fails
        ("prefer-cached", False, True, 0),  # the cached image answers: no pull at all
        ("once", True, True, 1),  # one pull per executor, then the image it pulled
        ("once", False, False, 2),  # never pulled successfully: each launch tries again
    ],
)
def test_pull_policies_decide_between_the_registry_and_the_cached_image(
    state: ClusterState,
    cluster: str,
    registry: dict[str, str],
    engine1: docker.APIClient,
    monkeypatch: pytest.MonkeyPatch,
    policy: str,
    pushed: bool,
    starts: bool,
    attempts: int,
) -> None:
    if pushed:
        image = f"{registry['address']}/clusterkit/busybox:latest"
        credentials = RegistryCredentials({registry["address"]: registry})
    else:  # cached on the engine under a registry name, never pushed there
        image = f"{registry['address']}/clusterkit/local-only:{cluster}"
        engine1.tag("clusterkit/busybox:latest", image.rsplit(":", 1)[0], cluster)
        credentials = RegistryCredentials()
    executor = DockerExecutor(cluster=cluster, pull_policy=policy, credentials=credentials)  # type: ignore[arg-type]
    tried: list[str] = []
    pull = executor.api.pull

    def counting(repository: str, tag: str | None = None, **options: Any) -> object:
        tried.append(f"{repository}:{tag}")
        return pull(repository, tag, **options)

    monkeypatch.setattr(executor.api, "pull", counting)
    agent = Agent.register(state, executor)
    state.register_task_definition(
        {"family": "cached", "containerDefinitions": [container_definition(image=image, command=["sleep", "600"])]}
    )
    try:
        for _ in range(2):  # two launches, one after the other
            task = state.run_task("cached").tasks[0]
            outcome = settle(agent, task.id, lambda t: t.last_status in ("RUNNING", "STOPPED"))
            assert (outcome.last_status == "RUNNING") is starts, outcome.stopped_reason
        assert len(tried) == attempts
    finally:
        engine1.remove_image(image, force=True)
