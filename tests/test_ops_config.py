"""The processes' configuration: file < environment < flags, errors that name the source, the docs' table."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from clusterkit.cli import main
from clusterkit.errors import ClusterkitError
from clusterkit.ops import AgentConfig, ConfigError, ControllerConfig, config_table, load_config
from clusterkit.placement import PortRange

DOCS = Path(__file__).resolve().parent.parent / "docs" / "operating.md"


def test_defaults_need_nothing() -> None:
    config = load_config(AgentConfig, environ={})
    assert config == AgentConfig()
    assert config.prefix == "/clusterkit/default" and config.liveness_ttl == 10 and not config.drain_on_stop
    assert load_config(ControllerConfig, environ={}).service_scheduler


def test_flags_win_over_the_environment_which_wins_over_the_file(tmp_path: Path) -> None:
    file = tmp_path / "agent.toml"
    file.write_text(
        'cluster = "from-file"\nliveness_ttl = 4\ninstance_id = "i-file"\netcd_endpoints = ["http://10.0.0.1:2379"]\n'
        'attributes = { zone = "a" }\ndrain_on_stop = true\n'
    )
    config = load_config(
        AgentConfig,
        file=file,
        environ={"CLUSTERKIT_LIVENESS_TTL": "5", "CLUSTERKIT_INSTANCE_ID": "i-env", "OTHER": "x"},
        flags={"instance_id": "i-flag", "cluster": None, "dynamic_ports": "40000-40099"},
    )
    assert config.cluster == "from-file"  # a flag not given (None) leaves the value below it
    assert config.liveness_ttl == 5
    assert config.instance_id == "i-flag"
    assert config.etcd_endpoints == ("http://10.0.0.1:2379",)
    assert config.attributes == {"zone": "a"}
    assert config.drain_on_stop is True
    assert config.dynamic_ports == PortRange(40000, 40099)
    assert config.prefix == "/clusterkit/from-file"


def test_text_forms_of_lists_tables_and_flags() -> None:
    config = load_config(
        ControllerConfig,
        environ={
            "CLUSTERKIT_ETCD_ENDPOINTS": "http://a:1, http://b:2",
            "CLUSTERKIT_SERVICE_SCHEDULER": "off",
            "CLUSTERKIT_LEASE_TTL": "3",
        },
    )
    assert config.etcd_endpoints == ("http://a:1", "http://b:2")
    assert config.service_scheduler is False and config.lease_ttl == 3
    agent = load_config(AgentConfig, environ={"CLUSTERKIT_ATTRIBUTES": "zone=a, rack = r1"})
    assert agent.attributes == {"zone": "a", "rack": "r1"}


@pytest.mark.parametrize(
    ("environ", "flags", "where", "value"),
    [
        ({"CLUSTERKIT_LIVENESS_TTL": "ten"}, {}, "CLUSTERKIT_LIVENESS_TTL", "ten"),
        ({}, {"liveness_ttl": "0"}, "--liveness-ttl", "0"),
        ({}, {"metrics_port": "70000"}, "--metrics-port", "70000"),
        ({}, {"cleanup_wait": "-1"}, "--cleanup-wait", "-1"),
        ({}, {"drain_on_stop": "maybe"}, "--drain-on-stop", "maybe"),
        ({}, {"etcd_endpoints": "10.0.0.1:2379"}, "--etcd-endpoints", "10.0.0.1:2379"),
        ({}, {"dynamic_ports": "60000-50000"}, "--dynamic-ports", "60000-50000"),
        ({"CLUSTERKIT_ATTRIBUTES": "zone"}, {}, "CLUSTERKIT_ATTRIBUTES", "zone"),
        ({}, {"no_such": "1"}, "--no-such", "1"),
    ],
)
def test_a_bad_value_names_its_source_and_value(
    environ: dict[str, str], flags: dict[str, object], where: str, value: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config(AgentConfig, environ=environ, flags=flags)
    assert isinstance(raised.value, ClusterkitError)
    assert raised.value.field == where and raised.value.value == value
    assert where in str(raised.value) and value in str(raised.value)


def test_a_bad_file_names_the_key_and_the_file(tmp_path: Path) -> None:
    file = tmp_path / "controller.toml"
    file.write_text("lease_tll = 3\n")
    with pytest.raises(ConfigError, match=r"lease_tll \(in .*controller.toml\)=3: is not a setting"):
        load_config(ControllerConfig, file=file, environ={})
    file.write_text("lease_ttl = 'three'\n")
    with pytest.raises(ConfigError, match=r"lease_ttl \(in .*\)='three': must be a whole number"):
        load_config(ControllerConfig, file=file, environ={})
    file.write_text("lease_ttl = \n")
    with pytest.raises(ConfigError, match="is not TOML"):
        load_config(ControllerConfig, file=file, environ={})
    with pytest.raises(ConfigError, match="cannot be read"):
        load_config(ControllerConfig, file=tmp_path / "missing.toml", environ={})


@given(
    ttl=st.integers(min_value=1, max_value=10**6),
    file_ttl=st.integers(min_value=1, max_value=10**6),
    order=st.sampled_from(["file", "env", "flag"]),
)
def test_the_highest_source_given_wins_whatever_the_values(ttl: int, file_ttl: int, order: str) -> None:
    environ = {"CLUSTERKIT_LEASE_TTL": str(ttl)} if order in ("env", "flag") else {}
    flags = {"lease_ttl": str(ttl + 1)} if order == "flag" else {}
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as handle:
        handle.write(f"lease_ttl = {file_ttl}\n")
    config = load_config(ControllerConfig, file=handle.name, environ=environ, flags=flags)
    Path(handle.name).unlink()
    assert config.lease_ttl == {"file": file_ttl, "env": ttl, "flag": ttl + 1}[order]


@pytest.mark.parametrize("cls", [AgentConfig, ControllerConfig])
def test_every_setting_is_documented_in_the_operating_page(cls: type[AgentConfig] | type[ControllerConfig]) -> None:
    assert config_table(cls) in DOCS.read_text(), f"docs/operating.md lacks the table of {cls.__name__}: regenerate it"
    for field in attrs.fields(cls):
        assert field.metadata["help"], field.name


def test_the_pull_behaviors_are_the_docker_executors_pull_policies() -> None:
    docker = pytest.importorskip("clusterkit.executor.docker")
    from clusterkit.ops._config import PULL_BEHAVIORS

    assert docker.PULL_POLICIES == PULL_BEHAVIORS
    with pytest.raises(ConfigError, match="--image-pull-behavior='never'"):
        load_config(AgentConfig, environ={}, flags={"image_pull_behavior": "never"})


def test_the_commands_refuse_a_bad_setting_with_exit_2_and_name_it(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["agent", "--liveness-ttl", "soon"], env={})
    assert result.exit_code == 2 and "--liveness-ttl='soon'" in result.output
    result = runner.invoke(main, ["controller"], env={"CLUSTERKIT_LEASE_TTL": "-3"})
    assert result.exit_code == 2 and "CLUSTERKIT_LEASE_TTL='-3'" in result.output
    result = runner.invoke(main, ["controller", "--service-autoscaler", "no_such_module:make"], env={})
    assert result.exit_code == 2 and "--service-autoscaler='no_such_module:make'" in result.output
    result = runner.invoke(main, ["controller", "--config", str(tmp_path / "none.toml")], env={})
    assert result.exit_code == 2 and "cannot be read" in result.output


_WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789.-_:", min_size=1, max_size=12)


@given(attributes=st.dictionaries(_WORD, _WORD, max_size=5), first=st.integers(1, 65535), span=st.integers(0, 1000))
def test_text_settings_read_as_their_toml_forms(attributes: dict[str, str], first: int, span: int) -> None:
    last = min(65535, first + span)
    text = ",".join(f"{key}={value}" for key, value in attributes.items())
    from_env = load_config(
        AgentConfig, environ={"CLUSTERKIT_ATTRIBUTES": text, "CLUSTERKIT_DYNAMIC_PORTS": f"{first}-{last}"}
    )
    from_flags = load_config(
        AgentConfig, environ={}, flags={"attributes": attributes, "dynamic_ports": f"{first}-{last}"}
    )
    assert from_env == from_flags
    assert from_env.attributes == attributes and from_env.dynamic_ports == PortRange(first, last)
