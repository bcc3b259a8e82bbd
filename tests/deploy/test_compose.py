"""docker-compose.yml and deploy/Dockerfile, checked by reading them: there is no Docker
engine on the development machines, so neither has been started here."""

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SERVICES = {"ingest": 8000, "router": 8001, "publisher": 8002}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


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
    assert "planb tokens --data-dir deploy" in (ROOT / "docker-compose.yml").read_text()
