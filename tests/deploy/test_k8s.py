"""deploy/k8s: probes, resources, non-root, Secret references and the generated ConfigMaps,
checked by reading the manifests (no cluster here)."""

import importlib.util
import secrets
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.contract.topics import Topics
from shared.runtime.settings import PRODUCTION_OPS_PORT
from tests.deploy.support import REQUIRED_BY_NAME, run_topics_script, settings_error

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
SERVICES = {"ingest": 8000, "router": 8001, "publisher": 8002}
DAY_MS = 86_400_000


def _documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


@pytest.fixture(scope="module")
def objects() -> dict[tuple[str, str], dict[str, Any]]:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    found = {}
    for resource in kustomization["resources"]:
        for doc in _documents(K8S / resource):
            found[(doc["kind"], doc["metadata"]["name"])] = doc
    return found


def _container(objects: dict[tuple[str, str], dict[str, Any]], name: str) -> dict[str, Any]:
    (container,) = objects[("Deployment", name)]["spec"]["template"]["spec"]["containers"]
    return container


@pytest.mark.parametrize(("name", "port"), SERVICES.items())
def test_probes_readiness_on_readyz_liveness_on_healthz(
    objects: dict[tuple[str, str], dict[str, Any]], name: str, port: int
) -> None:
    container = _container(objects, name)
    assert container["ports"] == [
        {"name": "http", "containerPort": port},
        {"name": "ops", "containerPort": PRODUCTION_OPS_PORT},
    ]
    annotations = objects[("Deployment", name)]["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(PRODUCTION_OPS_PORT)
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert f"services.{name}.main:create_app" in container["command"]
    service = objects[("Service", name)]
    assert [p["port"] for p in service["spec"]["ports"]] == [port]  # operations stay inside


@pytest.mark.parametrize("name", SERVICES)
def test_resources_requests_and_limits(
    objects: dict[tuple[str, str], dict[str, Any]], name: str
) -> None:
    resources = _container(objects, name)["resources"]
    for kind in ("requests", "limits"):
        assert set(resources[kind]) == {"cpu", "memory"}


@pytest.mark.parametrize("name", SERVICES)
def test_runs_as_non_root_on_a_read_only_filesystem(
    objects: dict[tuple[str, str], dict[str, Any]], name: str
) -> None:
    pod = objects[("Deployment", name)]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    container = _container(objects, name)["securityContext"]
    assert container["readOnlyRootFilesystem"] is True
    assert container["allowPrivilegeEscalation"] is False
    assert container["capabilities"]["drop"] == ["ALL"]


@pytest.mark.parametrize("name", SERVICES)
def test_secrets_come_from_secret_refs_never_literals(
    objects: dict[tuple[str, str], dict[str, Any]], name: str
) -> None:
    container = _container(objects, name)
    env = {e["name"]: e for e in container["env"]}
    assert env["DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "planb-database",
        "key": f"{name}-url",
    }
    pod = objects[("Deployment", name)]["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["tokens"]["secret"]["secretName"] == "planb-tokens"
    assert env["TOKENS_FILE"]["value"].startswith("/var/run/planb/tokens/")
    for entry in container["env"]:
        if any(word in entry["name"] for word in ("TOKEN", "SECRET", "PASSWORD", "URL")):
            assert "value" not in entry or entry["name"] == "TOKENS_FILE", entry["name"]
    config = objects[("ConfigMap", "planb-env")]["data"]
    assert "DATABASE_URL" not in config
    assert not any("TOKEN" in key and key != "TOKENS_FILE" for key in config)


def test_ingest_and_publisher_secret_refs(
    objects: dict[tuple[str, str], dict[str, Any]],
) -> None:
    ingest = {e["name"]: e for e in _container(objects, "ingest")["env"]}
    assert ingest["ALERTMANAGER_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == "planb-ingest"
    sources = _container(objects, "publisher")["envFrom"]
    assert {"secretRef": {"name": "planb-channel-credentials", "optional": True}} in sources


def test_the_secrets_referenced_are_described_in_the_example(
    objects: dict[tuple[str, str], dict[str, Any]],
) -> None:
    example = {d["metadata"]["name"]: d for d in _documents(K8S / "secrets.example.yaml")}
    for name in SERVICES:
        container = _container(objects, name)
        for entry in container["env"]:
            ref = entry.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                assert ref["key"] in example[ref["name"]]["stringData"], ref
        for source in container.get("envFrom", []):
            if "secretRef" in source:
                assert source["secretRef"]["name"] in example


def test_config_files_are_mounted_from_the_configmap(
    objects: dict[tuple[str, str], dict[str, Any]],
) -> None:
    config = objects[("ConfigMap", "planb-config")]["data"]
    assert set(config) == {"channels.yaml", "policy.yaml", "alertmanager.yaml"}
    env = objects[("ConfigMap", "planb-env")]["data"]
    for variable, file in (
        ("CHANNELS_FILE", "channels.yaml"),
        ("POLICY_FILE", "policy.yaml"),
        ("ALERTMANAGER_MAPPING_FILE", "alertmanager.yaml"),
    ):
        assert env[variable] == f"/etc/planb/{file}"
    for name in SERVICES:
        mounts = {m["name"]: m for m in _container(objects, name)["volumeMounts"]}
        assert mounts["config"]["mountPath"] == "/etc/planb"


def test_topics_job_creates_replicated_topics(
    objects: dict[tuple[str, str], dict[str, Any]],
) -> None:
    job = objects[("Job", "planb-topics")]
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["image"].startswith("apache/kafka:")
    env = {e["name"]: e["value"] for e in container["env"]}
    assert int(env["REPLICATION_FACTOR"]) == 3
    assert int(env["MIN_INSYNC_REPLICAS"]) == 2
    assert env["PARTITIONS"] == objects[("ConfigMap", "planb-env")]["data"]["TOPIC_PARTITIONS"]
    assert "resources" in container


def test_replicas_do_not_exceed_partitions(
    objects: dict[tuple[str, str], dict[str, Any]],
) -> None:
    """A consumer-group member beyond the partition count gets nothing to do."""
    partitions = int(objects[("ConfigMap", "planb-env")]["data"]["TOPIC_PARTITIONS"])
    for name in ("router", "publisher"):
        assert objects[("Deployment", name)]["spec"]["replicas"] <= partitions


def test_generated_configmaps_are_fresh() -> None:
    spec = importlib.util.spec_from_file_location("render", ROOT / "deploy/render_configmaps.py")
    assert spec is not None
    assert spec.loader is not None
    render = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(render)
    assert (K8S / "configmap.yaml").read_text() == render.render(), (
        "deploy/k8s/configmap.yaml is stale: run `make docs`"
    )


def test_sizing_note_exists() -> None:
    note = (ROOT / "deploy" / "README.md").read_text()
    assert "partition" in note
    assert "replica" in note


def _example_secrets() -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in _documents(K8S / "secrets.example.yaml")}


def _pod_env(objects: dict[tuple[str, str], dict[str, Any]], name: str) -> dict[str, str]:
    """The container's environment as the kubelet builds it: envFrom ConfigMaps, then env;
    every Secret value a fresh random string (the example's are placeholders)."""
    container = _container(objects, name)
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env.update(objects[("ConfigMap", source["configMapRef"]["name"])]["data"])
    for entry in container["env"]:
        if "value" in entry:
            env[entry["name"]] = entry["value"]
        elif "secretKeyRef" in entry["valueFrom"]:
            env[entry["name"]] = secrets.token_hex(32)
        else:
            ref = entry["valueFrom"]["configMapKeyRef"]
            env[entry["name"]] = objects[("ConfigMap", ref["name"])]["data"][ref["key"]]
    return env


@pytest.mark.parametrize("name", SERVICES)
def test_each_service_is_given_what_it_requires_in_production(
    objects: dict[tuple[str, str], dict[str, Any]], name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = _pod_env(objects, name)
    assert env["ENVIRONMENT"] == "production"
    assert REQUIRED_BY_NAME[name] <= set(env)
    assert settings_error(name, env, monkeypatch) is None


def test_the_router_replicas_share_one_console_secret(
    objects: dict[tuple[str, str], dict[str, Any]],
) -> None:
    """Each pod would otherwise sign cookies with its own random secret: a sign-in would hold
    on one of the two replicas only."""
    env = {e["name"]: e for e in _container(objects, "router")["env"]}
    ref = env["CONSOLE_SECRET"]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": "planb-router", "key": "console-secret"}  # not optional
    assert ref["key"] in _example_secrets()["planb-router"]["stringData"]
    assert objects[("Deployment", "router")]["spec"]["replicas"] > 1


@pytest.mark.parametrize("name", SERVICES)
def test_tokens_file_is_in_the_mounted_tokens_secret(
    objects: dict[tuple[str, str], dict[str, Any]], name: str
) -> None:
    container = _container(objects, name)
    tokens_file = Path({e["name"]: e for e in container["env"]}["TOKENS_FILE"]["value"])
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    assert Path(mounts["tokens"]["mountPath"]) == tokens_file.parent
    assert tokens_file.name in _example_secrets()["planb-tokens"]["stringData"]


@pytest.mark.parametrize("name", SERVICES)
def test_no_container_starts_before_the_topics_exist(
    objects: dict[tuple[str, str], dict[str, Any]], name: str
) -> None:
    """Kubernetes orders nothing between a Job and a Deployment: each pod's initContainer
    runs `create-topics.sh wait`, so the service starts once the Job has made every topic."""
    pod = objects[("Deployment", name)]["spec"]["template"]["spec"]
    (init,) = pod["initContainers"]
    job = objects[("Job", "planb-topics")]["spec"]["template"]["spec"]
    (creator,) = job["containers"]
    assert init["image"] == creator["image"]
    assert init["command"] == [*creator["command"], "wait"]
    script_dir = str(Path(init["command"][1]).parent)
    mounts = {m["mountPath"]: m["name"] for m in init["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes[mounts[script_dir]]["configMap"]["name"] == "planb-topics-script"
    script = Path(init["command"][1]).name
    assert script in objects[("ConfigMap", "planb-topics-script")]["data"]
    # the restricted Pod Security profile of namespace.yaml, and a writable /tmp for the JVM
    assert init["securityContext"]["allowPrivilegeEscalation"] is False
    assert init["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert init["securityContext"]["readOnlyRootFilesystem"] is True
    assert volumes[mounts["/tmp"]]["emptyDir"]
    assert set(init["resources"]["limits"]) == {"cpu", "memory"}
    # it looks where the services and the Job look
    env = {e["name"]: e for e in init["env"]}
    for key in ("KAFKA_BOOTSTRAP_SERVERS", "TOPIC_PREFIX"):
        assert env[key]["valueFrom"]["configMapKeyRef"] == {"name": "planb-env", "key": key}


def _job_env(objects: dict[tuple[str, str], dict[str, Any]]) -> dict[str, str]:
    (container,) = objects[("Job", "planb-topics")]["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e["value"] for e in container["env"]}


def test_the_job_looks_where_the_services_look(
    objects: dict[tuple[str, str], dict[str, Any]],
) -> None:
    env = _job_env(objects)
    config = objects[("ConfigMap", "planb-env")]["data"]
    assert env["BOOTSTRAP"] == config["KAFKA_BOOTSTRAP_SERVERS"]
    assert env["TOPIC_PREFIX"] == config["TOPIC_PREFIX"]


def test_the_job_creates_every_topic_replicated_with_its_retention(
    objects: dict[tuple[str, str], dict[str, Any]], tmp_path: Path
) -> None:
    """The Job's script, run by bash with the Job's environment against a stand-in for
    kafka-topics.sh: replication 3, min.insync.replicas=2, dead letters kept a year."""
    env = _job_env(objects)
    result, calls = run_topics_script(tmp_path, env)
    assert result.returncode == 0, result.stderr
    created = {c[c.index("--topic") + 1]: c for c in calls if "--create" in c}
    topics = Topics(env["TOPIC_PREFIX"])
    assert set(created) == set(topics.all())
    for topic, call in created.items():
        assert call[call.index("--replication-factor") + 1] == "3"
        configs = {call[i + 1] for i, arg in enumerate(call) if arg == "--config"}
        dead_letter = topic.endswith(".dlq")
        year = topic == topics.audit or dead_letter
        assert configs == {
            "min.insync.replicas=2",
            f"retention.ms={(365 if year else 7) * DAY_MS}",
        }, topic
        assert call[call.index("--partitions") + 1] == ("1" if dead_letter else "12")


def test_wait_returns_only_once_every_topic_exists(tmp_path: Path) -> None:
    """The stand-in lists every topic but planb.audit (a prefix of planb.audit.dlq, which
    is there) twice, then all of them."""
    names = Topics("planb").all()
    env = {"KAFKA_BOOTSTRAP_SERVERS": "kafka-bootstrap:9092", "TOPIC_PREFIX": "planb"}
    at_first = [n for n in names if n != "planb.audit"]
    result, calls = run_topics_script(tmp_path, env, "wait", existing=names, at_first=at_first)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "waiting for topics: planb.audit",
        "waiting for topics: planb.audit",
        "topics ready",
    ]
    assert calls == [["--bootstrap-server", "kafka-bootstrap:9092", "--list"]] * 3
    assert not any("--create" in call for call in calls)


def test_the_secrets_example_has_every_key_a_deployment_references(
    objects: dict[tuple[str, str], dict[str, Any]],
) -> None:
    """Including the initContainers' (ConfigMap keys) and the router's CONSOLE_SECRET."""
    example = _example_secrets()
    assert "console-secret" in example["planb-router"]["stringData"]
    for name in SERVICES:
        pod = objects[("Deployment", name)]["spec"]["template"]["spec"]
        for container in pod["containers"] + pod.get("initContainers", []):
            for entry in container.get("env", []):
                source = entry.get("valueFrom", {})
                if "secretKeyRef" in source:
                    ref = source["secretKeyRef"]
                    assert ref["key"] in example[ref["name"]]["stringData"], ref
                if "configMapKeyRef" in source:
                    ref = source["configMapKeyRef"]
                    assert ref["key"] in objects[("ConfigMap", ref["name"])]["data"], ref
