"""docker-compose.yml and deploy/Dockerfile, checked by reading them: there is no Docker
engine on the development machines, so neither has been started here."""

import base64
import itertools
import json
import re
import secrets
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.contract.topics import Topics
from tests.deploy.schema_check import errors
from tests.deploy.support import (
    REQUIRED_BY_NAME,
    interpolate,
    required_variables,
    run_topics_script,
    settings_error,
)

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
SERVICES = {"ingest": 8000, "router": 8001, "publisher": 8002}
# The only ports published on every interface: the services' HTTP APIs (docker-compose.yml's
# header says why).
PUBLIC_PORTS = set(SERVICES.values())
PUBLISHED = re.compile(
    r"^(?:(?P<ip>[0-9.]+|\[[0-9a-f:]+\]):)?(?P<host>\d+):(?P<target>\d+)(?:/tcp)?$"
)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def test_kafka_is_apache_kafka_in_kraft_mode_with_a_volume(compose: dict[str, Any]) -> None:
    kafka = compose["services"]["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    env = kafka["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert "CONTROLLER" in env["KAFKA_CONTROLLER_LISTENER_NAMES"]
    assert "ZOOKEEPER" not in " ".join(env).upper()
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert any(v.startswith("kafka-data:") for v in kafka["volumes"])
    assert "kafka-data" in compose["volumes"]
    assert kafka["healthcheck"]["test"]


def test_postgres_has_a_volume_one_database_per_service_and_a_health_check(
    compose: dict[str, Any],
) -> None:
    postgres = compose["services"]["postgres"]
    assert postgres["image"].startswith("postgres:")
    assert any(v.startswith("pgdata:") for v in postgres["volumes"])
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    init = (ROOT / "deploy" / "postgres-init.sql").read_text()
    for service in SERVICES:
        assert f"CREATE DATABASE planb_{service}" in init


def test_topics_are_created_with_partitions_and_replication_before_services(
    compose: dict[str, Any],
) -> None:
    step = compose["services"]["kafka-topics"]
    assert step["image"] == compose["services"]["kafka"]["image"]
    assert step["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert step["restart"] == "no"
    for name in ("PARTITIONS", "REPLICATION_FACTOR", "MIN_INSYNC_REPLICAS"):
        assert int(step["environment"][name]) >= 1
    script = (ROOT / "deploy" / "create-topics.sh").read_text()
    assert "--partitions" in script
    assert "--replication-factor" in script
    for topic in ("incidents", "outbound", "deliveries", "audit"):
        assert re.search(rf"\b{topic}\b", script), topic
    assert ".dlq" in script


@pytest.mark.parametrize(("name", "port"), SERVICES.items())
def test_each_service_runs_from_the_one_image_and_waits_for_its_dependencies(
    compose: dict[str, Any], name: str, port: int
) -> None:
    service = compose["services"][name]
    assert service["build"]["dockerfile"] == "deploy/Dockerfile"
    assert f"services.{name}.main:create_app" in service["command"]
    assert str(port) in service["command"]
    assert service["ports"] == [f"{port}:{port}"]
    assert service["depends_on"] == {
        "kafka": {"condition": "service_healthy"},
        "postgres": {"condition": "service_healthy"},
        "kafka-topics": {"condition": "service_completed_successfully"},
    }
    env = service["environment"]
    assert env["DATABASE_URL"].startswith("postgresql+asyncpg://")
    assert env["DATABASE_URL"].endswith(f"/planb_{name}")
    assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
    assert env["ENVIRONMENT"] == "production"
    assert env["TOKENS_FILE"].startswith("/run/secrets/")
    assert f"localhost:{port}/readyz" in " ".join(service["healthcheck"]["test"])
    assert service["user"] == "10001:10001"
    assert service["read_only"] is True


def test_the_services_databases_differ(compose: dict[str, Any]) -> None:
    """Router and publisher both have `deliveries` and `channel_pauses` tables."""
    urls = {compose["services"][s]["environment"]["DATABASE_URL"] for s in SERVICES}
    assert len(urls) == len(SERVICES)


def test_dockerfile_is_multi_stage_and_runs_as_a_numeric_non_root_user() -> None:
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    stages = re.findall(r"^FROM\s+\S+(?:\s+AS\s+(\w+))?", dockerfile, re.MULTILINE | re.I)
    assert len(stages) >= 2
    assert "COPY --from=build" in dockerfile
    users = re.findall(r"^USER\s+(\S+)", dockerfile, re.MULTILINE)
    assert users, "the image must drop root"
    uid = users[-1].split(":")[0]
    assert uid.isdigit(), "numeric, so Kubernetes' runAsNonRoot can verify it"
    assert int(uid) != 0
    assert "pip install ." in dockerfile


def test_every_file_compose_mounts_exists_or_is_documented(compose: dict[str, Any]) -> None:
    """The tokens file is written by `planb tokens --data-dir deploy`; the rest are in git."""
    for service in compose["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), source
    assert "planb tokens --data-dir deploy" in COMPOSE.read_text()


def _kafka_env(compose: dict[str, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in compose["services"]["kafka"]["environment"].items()}


def _listeners(value: str) -> dict[str, int]:
    """`NAME://host:port,...` as {name: port}."""
    found = {}
    for listener in value.split(","):
        name, address = listener.split("://")
        found[name] = int(address.rsplit(":", 1)[1])
    return found


def test_the_compose_file_is_valid_against_the_compose_spec_schema(
    compose: dict[str, Any],
) -> None:
    """tests/deploy/schema/compose-spec.json, vendored: catches keys and shapes Compose refuses."""
    schema = json.loads((ROOT / "tests/deploy/schema/compose-spec.json").read_text())
    assert errors(compose, schema, schema) == []


def test_the_schema_check_refuses_what_compose_refuses(compose: dict[str, Any]) -> None:
    schema = json.loads((ROOT / "tests/deploy/schema/compose-spec.json").read_text())
    broken = json.loads(json.dumps(compose))
    router = broken["services"]["router"]
    router["depend_on"] = router.pop("depends_on")
    router["healthcheck"]["interval"] = 10
    router["ports"] = [{"target": 8001, "bind": "0.0.0.0"}]
    assert sorted(errors(broken, schema, schema)) == [
        "/services/router/depend_on: not allowed",
        "/services/router/healthcheck/interval: 10 is not of type string",
        "/services/router/ports/0: matches 0 of oneOf's schemas, not exactly 1",
    ]


def test_kafka_cluster_id_is_a_base64url_uuid(compose: dict[str, Any]) -> None:
    """Kafka's Uuid.fromString: 22 base64url characters (no padding) decoding to 16 bytes;
    anything else and `kafka-storage.sh format` refuses, so the broker never starts."""
    cluster_id = _kafka_env(compose)["CLUSTER_ID"]
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", cluster_id), cluster_id
    raw = base64.urlsafe_b64decode(cluster_id + "==")
    assert len(raw) == 16
    assert base64.urlsafe_b64encode(raw).rstrip(b"=").decode() == cluster_id
    assert not cluster_id.startswith("-"), "Kafka never makes one that reads as a flag"


def test_kafka_listeners_are_consistent(compose: dict[str, Any]) -> None:
    env = _kafka_env(compose)
    listeners = _listeners(env["KAFKA_LISTENERS"])
    advertised = _listeners(env["KAFKA_ADVERTISED_LISTENERS"])
    protocols = dict(p.split(":") for p in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    assert set(advertised) <= set(listeners)
    assert set(listeners) <= set(protocols)
    assert env["KAFKA_CONTROLLER_LISTENER_NAMES"] in listeners
    assert env["KAFKA_CONTROLLER_LISTENER_NAMES"] not in advertised
    assert env["KAFKA_INTER_BROKER_LISTENER_NAME"] in advertised
    assert advertised == {n: p for n, p in listeners.items() if n in advertised}
    voters = env["KAFKA_CONTROLLER_QUORUM_VOTERS"]
    assert voters == f"{env['KAFKA_NODE_ID']}@kafka:{listeners['CONTROLLER']}"
    service_bootstrap = compose["services"]["ingest"]["environment"]["KAFKA_BOOTSTRAP_SERVERS"]
    assert service_bootstrap == f"kafka:{listeners[env['KAFKA_INTER_BROKER_LISTENER_NAME']]}"


def test_no_plaintext_kafka_listener_and_no_database_on_every_interface(
    compose: dict[str, Any],
) -> None:
    """Only the services' HTTP ports are published on every interface; Kafka's PLAINTEXT
    listener (no authentication) on loopback only; PostgreSQL not at all."""
    env = _kafka_env(compose)
    protocols = dict(p.split(":") for p in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    by_port = {port: protocols[name] for name, port in _listeners(env["KAFKA_LISTENERS"]).items()}
    published_kafka = []
    for name, service in compose["services"].items():
        for spec in service.get("ports", []):
            match = PUBLISHED.match(str(spec))
            assert match, f"{name}: {spec!r} is not HOST_IP:HOST:CONTAINER or HOST:CONTAINER"
            everywhere = match["ip"] in (None, "0.0.0.0", "[::]")
            if name == "kafka":
                published_kafka.append(by_port[int(match["target"])])
                if by_port[int(match["target"])].endswith("PLAINTEXT"):
                    assert match["ip"] in ("127.0.0.1", "[::1]"), spec
            if everywhere:
                assert name in SERVICES, f"{name} publishes {spec} on every interface"
                assert int(match["target"]) in PUBLIC_PORTS
    assert published_kafka == ["PLAINTEXT"]
    assert "ports" not in compose["services"]["postgres"]


def test_every_required_variable_is_documented() -> None:
    text = COMPOSE.read_text()
    required = required_variables(text)
    assert "CONSOLE_SECRET" in required
    header = "".join(itertools.takewhile(lambda line: line.startswith("#"), text.splitlines()))
    readme = (ROOT / "deploy" / "README.md").read_text()
    for name in required:
        assert f"{name} " in header or f"{name}=" in header, name
        assert name in readme, name
    assert "openssl rand -hex 32" in readme


def test_compose_refuses_to_start_without_console_secret(compose: dict[str, Any]) -> None:
    value = compose["services"]["router"]["environment"]["CONSOLE_SECRET"]
    with pytest.raises(ValueError, match="CONSOLE_SECRET"):
        interpolate(value, {})
    secret = secrets.token_hex(32)
    assert interpolate(value, {"CONSOLE_SECRET": secret}) == secret


def _production_env(service: dict[str, Any]) -> dict[str, str]:
    """The service's environment as Compose resolves it, the required variables set."""
    text = COMPOSE.read_text()
    given = {name: secrets.token_hex(32) for name in required_variables(text)}
    return {k: interpolate(str(v), given) for k, v in service["environment"].items()}


@pytest.mark.parametrize("name", SERVICES)
def test_each_service_is_given_what_it_requires_in_production(
    compose: dict[str, Any], name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The service's own settings, built from the compose environment alone, accept it; and
    the variables it needs by name are there."""
    env = _production_env(compose["services"][name])
    assert env["ENVIRONMENT"] == "production"
    assert REQUIRED_BY_NAME[name] <= set(env)
    assert settings_error(name, env, monkeypatch) is None
    without_database = {k: v for k, v in env.items() if k != "DATABASE_URL"}
    assert "DATABASE_URL" in (settings_error(name, without_database, monkeypatch) or "")


@pytest.mark.parametrize("name", SERVICES)
def test_tokens_file_is_where_compose_mounts_the_secret(compose: dict[str, Any], name: str) -> None:
    service = compose["services"][name]
    (secret,) = service["secrets"]
    assert service["environment"]["TOKENS_FILE"] == f"/run/secrets/{secret}"
    assert compose["secrets"][secret]["file"] == "./deploy/tokens.json"


def test_kafka_refuses_to_create_topics_on_produce(compose: dict[str, Any]) -> None:
    """A service that produces to a missing topic gets an error, not a topic with defaults."""
    assert _kafka_env(compose)["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"


def test_the_topics_step_creates_every_topic_the_services_use(
    compose: dict[str, Any], tmp_path: Path
) -> None:
    """deploy/create-topics.sh, run by bash with the step's environment against a stand-in
    for kafka-topics.sh: one `--create --if-not-exists` per topic of shared/contract/topics.py."""
    step = compose["services"]["kafka-topics"]
    assert step["entrypoint"] == ["/bin/bash", "/deploy/create-topics.sh"]
    assert "./deploy/create-topics.sh:/deploy/create-topics.sh:ro" in step["volumes"]
    env = {k: str(v) for k, v in step["environment"].items()}
    result, calls = run_topics_script(tmp_path, env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("topics ready")
    created = {c[c.index("--topic") + 1]: c for c in calls if "--create" in c}
    assert set(created) == set(Topics(env["TOPIC_PREFIX"]).all())
    for topic, call in created.items():
        assert "--if-not-exists" in call
        assert call[call.index("--bootstrap-server") + 1] == "kafka:9092"
        assert call[call.index("--replication-factor") + 1] == "1"  # one broker here
        partitions = "1" if topic.endswith(".dlq") else env["PARTITIONS"]
        assert call[call.index("--partitions") + 1] == partitions
