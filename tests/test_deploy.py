"""The deployment files: Kubernetes manifests valid against the API's schemas, and manifests
and compose file naming only settings the service reads, with the roles the service needs.

Offline: kubernetes-validate carries the schemas; compose is read as YAML.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import msgspec
import pytest
import yaml

from app.infrastructure.config import Settings

ROOT = Path(__file__).resolve().parent.parent
K8S = ROOT / "deploy" / "k8s"
#: The oldest Kubernetes the manifests target (gRPC probes are GA from 1.27 on).
KUBERNETES_VERSION = "1.30.0"
SETTINGS = {field.encode_name for field in msgspec.structs.fields(Settings)}
#: Read by the processes' launchers (shell, uvicorn, Taskiq), not by the settings.
LAUNCHER_VARIABLES = {"JOB_WORKERS", "PROMETHEUS_MULTIPROC_DIR"}
ROLES = ("api", "grpc", "consumer", "worker", "scheduler")

Resource = dict[str, Any]


def documents(path: Path) -> list[Resource]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def kustomization() -> Resource:
    [doc] = documents(K8S / "kustomization.yaml")
    return doc


def resources() -> list[Resource]:
    return [doc for name in kustomization()["resources"] for doc in documents(K8S / name)]


def named(kind: str) -> dict[str, Resource]:
    return {doc["metadata"]["name"]: doc for doc in resources() if doc["kind"] == kind}


def containers(doc: Resource) -> list[Resource]:
    containers: list[Resource] = doc["spec"]["template"]["spec"]["containers"]
    return containers


def deployment(role: str) -> Resource:
    return named("Deployment")[f"app-{role}"]


@pytest.mark.parametrize("path", sorted(K8S.glob("*.yaml")), ids=lambda path: path.name)
def test_every_manifest_is_valid_for_kubernetes(path: Path) -> None:
    for doc in documents(path):
        if doc["kind"] == "Kustomization":
            continue
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_the_kustomization_applies_every_manifest_but_the_secret_example() -> None:
    listed = set(kustomization()["resources"])

    assert listed == {path.name for path in K8S.glob("*.yaml")} - {"kustomization.yaml", "secret.example.yaml"}


def test_one_deployment_per_role_and_exactly_one_scheduler() -> None:
    assert set(named("Deployment")) == {f"app-{role}" for role in ROLES}
    scheduler = deployment("scheduler")["spec"]
    assert scheduler["replicas"] == 1
    assert scheduler["strategy"] == {"type": "Recreate"}


def test_the_api_is_probed_live_and_ready_and_the_grpc_server_through_its_health_service() -> None:
    [api] = containers(deployment("api"))
    assert api["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert api["readinessProbe"]["httpGet"]["path"] == "/health/ready"

    [grpc] = containers(deployment("grpc"))
    port = int(named("ConfigMap")["app-config"]["data"]["GRPC_PORT"])
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert grpc[probe]["grpc"]["port"] == port, probe


def test_the_api_has_a_disruption_budget_and_an_autoscaler() -> None:
    labels = deployment("api")["spec"]["selector"]["matchLabels"]
    [budget] = named("PodDisruptionBudget").values()
    [autoscaler] = named("HorizontalPodAutoscaler").values()

    assert budget["spec"]["selector"]["matchLabels"] == labels
    assert autoscaler["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "app-api"}
    assert autoscaler["spec"]["minReplicas"] > budget["spec"]["minAvailable"]


def test_the_migrate_job_upgrades_to_the_newest_migration() -> None:
    [job] = named("Job").values()
    [migrate] = containers(job)

    assert migrate["command"] == ["alembic", "upgrade", "head"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"


def test_every_container_has_resources_settings_and_no_privileges() -> None:
    workloads = [*named("Deployment").values(), *named("Job").values()]
    for workload in workloads:
        for container in containers(workload):
            where = f"{workload['metadata']['name']}/{container['name']}"
            assert container["resources"]["requests"].keys() >= {"cpu", "memory"}, where
            assert "memory" in container["resources"]["limits"], where
            assert {ref.get("configMapRef", ref.get("secretRef"))["name"] for ref in container["envFrom"]} == {
                "app-config",
                "app-secrets",
            }, where
            assert container["securityContext"]["allowPrivilegeEscalation"] is False, where
        assert workload["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True


def test_the_config_map_and_the_secret_name_only_settings_the_service_reads() -> None:
    [config] = named("ConfigMap").values()
    [secret] = documents(K8S / "secret.example.yaml")

    assert set(config["data"]) - SETTINGS - LAUNCHER_VARIABLES == set()
    assert set(secret["stringData"]) - SETTINGS == set()
    assert {"SECRET_KEY", "DATABASE_URL"} <= set(secret["stringData"])
    assert config["data"]["APP_ENV"] == "prod"


# ------------------------------------------------------------------------ compose

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, Resource] = COMPOSE["services"]
APP_SERVICES = {name: service for name, service in SERVICES.items() if service.get("image") == "app:local"}
INFRA = {"postgres", "redis", "rabbitmq", "mailpit"}


def test_compose_runs_every_role_of_the_image() -> None:
    assert set(APP_SERVICES) == {"migrate", *ROLES}


def test_compose_passes_the_env_file_through_and_names_only_known_settings() -> None:
    for name, service in APP_SERVICES.items():
        assert service["env_file"] == [{"path": ".env", "required": False}], name
        assert set(service["environment"]) - SETTINGS - LAUNCHER_VARIABLES == set(), name


def test_the_infra_profile_publishes_the_backing_servers_on_loopback_only() -> None:
    assert SERVICES["mailpit"]["profiles"] == ["infra"]
    for name in INFRA:
        published = SERVICES[name]["ports"]
        assert published, name
        assert all(port.startswith("127.0.0.1:") for port in published), name


def test_the_grpc_service_uses_the_images_healthcheck() -> None:
    """The image's check finds the gRPC server by itself (see app/interfaces/healthcheck.py)."""
    assert "healthcheck" not in SERVICES["grpc"]
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'CMD ["python", "-m", "app.interfaces.healthcheck"]' in dockerfile


def test_supervised_processes_check_their_settings_first() -> None:
    """uvicorn's and Taskiq's supervisors end with status 0 when their workers refuse the settings.

    The image's API runs the entry point that checks them before it starts uvicorn
    (``tests/test_startup_errors.py`` runs it with a bad one).
    """
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'exec python -m app.interfaces.http.serve"]' in dockerfile
    worker_command = " ".join(SERVICES["worker"]["command"])
    assert "python -m app.infrastructure.config worker &&" in worker_command
    [k8s_worker] = containers(deployment("worker"))
    assert "python -m app.infrastructure.config worker &&" in " ".join(k8s_worker["command"])
