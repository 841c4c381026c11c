"""The Kubernetes chart (deploy/helm/second-opinion) renders, passes `helm lint`, validates
against the Kubernetes JSON schemas offline, and keeps the promises deploy/PRODUCTION.md makes.

helm and kubeconform are built by `make provision` (deploy/local/stack.py); the Kubernetes
schemas come from the kubernetes-validate package, and Strimzi's KafkaTopic schema is ours
(schemas/, written from Strimzi's documented CRD, which no package we fetch carries)."""

from __future__ import annotations

import json
import os
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from deploy.local import stack
from shared.settings import StackSettings
from shared.topics import DLQ_SUFFIX, platform_topics

REPO = Path(__file__).resolve().parents[3]
CHART = REPO / "deploy" / "helm" / "second-opinion"
HERE = Path(__file__).resolve().parent
PRODUCTION_VALUES = HERE / "production-values.yaml"
# The newest Kubernetes whose schemas kubernetes-validate bundles; strict: unknown fields fail.
KUBERNETES_SCHEMAS = (
    Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema" / "v1.37.0-local-strict"
)
SERVICES = sorted(p.parent.name for p in (REPO / "services").glob("*/__main__.py"))
# Services whose code runs a Kafka consumer group: each needs an HPA on its consumer lag.
KAFKA_CONSUMERS = sorted(
    name
    for name in SERVICES
    if any("ConsumerRunner(" in f.read_text() for f in (REPO / "services" / name).glob("*.py"))
)
RENDERINGS = {"defaults": [], "production": ["--values", str(PRODUCTION_VALUES)]}


@cache
def tool(name: str) -> str:
    found = stack.cache_root() / "bin" / f"{name}-{getattr(stack, f'{name.upper()}_VERSION')}"
    if not (found / name).is_file() and not os.environ.get("SOP_REQUIRE_STACK"):
        pytest.skip(f"{name} is not built: run `make provision`")
    return str(stack.provision((name,))[name])


def run(*cmd: str) -> str:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{' '.join(cmd)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@cache
def rendered_text(rendering: str) -> str:
    return run(tool("helm"), "template", "sop", str(CHART), *RENDERINGS[rendering])


@cache
def rendered(rendering: str) -> tuple[dict[str, Any], ...]:
    return tuple(doc for doc in yaml.safe_load_all(rendered_text(rendering)) if doc)


def of_kind(rendering: str, kind: str) -> dict[str, dict[str, Any]]:
    """Objects of one kind by their service (app.kubernetes.io/name) or their own name."""
    found = {}
    for doc in rendered(rendering):
        if doc["kind"] == kind:
            labels = doc["metadata"].get("labels", {})
            found[labels.get("app.kubernetes.io/name", doc["metadata"]["name"])] = doc
    return found


def values(rendering: str) -> dict[str, Any]:
    merged: dict[str, Any] = yaml.safe_load((CHART / "values.yaml").read_text())
    if rendering == "production":
        _merge(merged, yaml.safe_load(PRODUCTION_VALUES.read_text()))
    return merged


def _merge(into: dict[str, Any], over: dict[str, Any]) -> None:
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


@pytest.mark.parametrize("rendering", RENDERINGS)
def test_helm_lint_passes(rendering: str) -> None:
    run(tool("helm"), "lint", "--strict", str(CHART), *RENDERINGS[rendering])


@pytest.fixture(scope="module")
def kubernetes_schemas(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """kubernetes-validate's schemas as kubeconform reads them offline: their `$id` and
    `$ref`s name kubernetes.io addresses (kubernetes-validate maps them itself), so each copy
    drops its `$id` and refers to `_definitions.json` beside it."""
    schemas = tmp_path_factory.mktemp("kubernetes-schemas")
    for source in KUBERNETES_SCHEMAS.glob("*.json"):
        schema = json.loads(source.read_text())
        schema.pop("$id", None)
        text = json.dumps(schema).replace('"/api/_definitions.json#', '"_definitions.json#')
        (schemas / source.name).write_text(text)
    return schemas


@pytest.mark.parametrize("rendering", RENDERINGS)
def test_every_object_validates_against_the_kubernetes_schemas(
    rendering: str, tmp_path: Path, kubernetes_schemas: Path
) -> None:
    manifests = tmp_path / "rendered.yaml"
    manifests.write_text(rendered_text(rendering))
    out = run(
        tool("kubeconform"),
        "-strict",
        "-summary",
        "-output",
        "json",
        "-schema-location",
        f"{kubernetes_schemas}/{{{{ .ResourceKind }}}}{{{{ .KindSuffix }}}}.json",
        "-schema-location",
        str(HERE / "schemas" / "{{ .ResourceKind }}-{{ .Group }}-{{ .ResourceAPIVersion }}.json"),
        str(manifests),
    )
    summary = json.loads(out)["summary"]
    # No schema missing (kubeconform would count the object as skipped), nothing invalid.
    assert summary == {
        "valid": len(rendered(rendering)),
        "invalid": 0,
        "errors": 0,
        "skipped": 0,
    }
    kinds = {doc["kind"] for doc in rendered(rendering)}
    assert {"Deployment", "HorizontalPodAutoscaler", "NetworkPolicy", "KafkaTopic"} <= kinds


@pytest.mark.parametrize("rendering", RENDERINGS)
def test_every_service_has_probes_resources_and_a_locked_down_container(rendering: str) -> None:
    deployments = of_kind(rendering, "Deployment")
    assert sorted(deployments) == SERVICES
    assert sorted(of_kind(rendering, "Service")) == SERVICES
    assert sorted(of_kind(rendering, "PodDisruptionBudget")) == SERVICES
    for name, deployment in deployments.items():
        pod = deployment["spec"]["template"]["spec"]
        container = pod["containers"][0]
        assert container["name"] == name
        assert container["command"] == ["python", "-m", f"services.{name}"]
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert {"cpu", "memory"} <= set(container["resources"]["requests"])
        assert {"cpu", "memory"} <= set(container["resources"]["limits"])
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        # Uploads are spooled and PDFs rendered in /tmp: a writable emptyDir.
        tmp = next(m for m in container["volumeMounts"] if m["mountPath"] == "/tmp")
        assert "emptyDir" in next(v for v in pod["volumes"] if v["name"] == tmp["name"])
        # Only the services that sign case links get the private link key.
        auth = next(v for v in pod["volumes"] if v["name"] == "auth")["secret"]["items"]
        signs_links = any(item["key"] == "link-key.pem" for item in auth)
        assert signs_links == (name in ("intake", "notify")), name


@pytest.mark.parametrize("rendering", RENDERINGS)
def test_every_kafka_consumer_scales_on_its_lag_up_to_its_partitions(rendering: str) -> None:
    settings = values(rendering)
    hpas = of_kind(rendering, "HorizontalPodAutoscaler")
    assert KAFKA_CONSUMERS and sorted(hpas) == KAFKA_CONSUMERS
    for name, hpa in hpas.items():
        spec = hpa["spec"]
        assert spec["maxReplicas"] <= settings["topics"]["partitions"], name
        assert spec["minReplicas"] == settings["services"][name]["replicas"]
        external = next(m["external"] for m in spec["metrics"] if m["type"] == "External")
        assert external["metric"]["name"] == settings["autoscaling"]["lagMetric"]
        group = settings["namespacePrefix"] + name  # the service's consumer group
        assert external["metric"]["selector"]["matchLabels"] == {"group": group}
        assert any(m["type"] == "Resource" for m in spec["metrics"])  # CPU as the fallback


def test_no_secret_in_the_chart_holds_a_key() -> None:
    secrets = [doc for doc in rendered("defaults") if doc["kind"] == "Secret"]
    assert secrets, "the defaults create the Secrets (from empty values)"
    for secret in secrets:
        assert "data" not in secret
        assert all(value == "" for value in secret["stringData"].values()), secret["metadata"]
    # A production install names existing Secrets: the chart creates none.
    assert not [doc for doc in rendered("production") if doc["kind"] == "Secret"]
    for rendering in RENDERINGS:
        assert "PRIVATE KEY" not in rendered_text(rendering)


@pytest.mark.parametrize("rendering", RENDERINGS)
def test_network_policies_deny_by_default_and_allow_only_what_each_service_needs(
    rendering: str,
) -> None:
    policies = of_kind(rendering, "NetworkPolicy")
    deny = policies.pop("sop-second-opinion-default-deny")
    assert deny["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert "ingress" not in deny["spec"] and "egress" not in deny["spec"]
    assert deny["spec"]["podSelector"] == {"matchLabels": {"app.kubernetes.io/instance": "sop"}}
    assert sorted(policies) == SERVICES
    net = values(rendering)["networkPolicy"]

    def reaches(name: str, what: str) -> bool:
        return any(rule["to"] == net[what]["peers"] for rule in policies[name]["spec"]["egress"])

    for name in SERVICES:
        assert reaches(name, "dns")
        assert reaches(name, "kafka") == (name in KAFKA_CONSUMERS), name
        assert reaches(name, "objectStore") == (name in ("records", "reports")), name
        assert reaches(name, "webhooks") == (name == "notify"), name
        assert reaches(name, "smtp") == (name == "notify"), name
    # Nothing reaches the web front door's pods but the ingress controller (and Prometheus).
    sources = [rule["from"] for rule in policies["web"]["spec"]["ingress"]]
    assert sources == [net["monitoring"]["peers"], net["ingressController"]["peers"]]


def test_records_takes_dicom_tls_from_pacs_and_keeps_plain_dicom_on_loopback() -> None:
    dimse = values("production")["services"]["records"]["dimse"]
    ports = of_kind("production", "Service")["records"]["spec"]["ports"]
    assert [(p["name"], p["port"]) for p in ports] == [("http", 8000), ("dicom-tls", 2762)]
    config = of_kind("production", "ConfigMap")["records"]["data"]
    assert json.loads(config["RECORDS_DIMSE_CALLING_AES"]) == dimse["callingAes"]
    assert config["RECORDS_DIMSE_HOST"] == "127.0.0.1"
    pod = of_kind("production", "Deployment")["records"]["spec"]["template"]["spec"]
    proxy = next(c for c in pod["containers"] if c["name"] == "dicom-tls")
    assert proxy["ports"] == [{"name": "dicom-tls", "containerPort": 2762, "protocol": "TCP"}]
    stunnel = next(
        doc["data"]["stunnel.conf"]
        for doc in rendered("production")
        if doc["kind"] == "ConfigMap" and doc["metadata"]["name"].endswith("-dicom-tls")
    )
    assert "connect = 127.0.0.1:11112" in stunnel and "requireCert = yes" in stunnel
    assert [p["name"] for p in of_kind("defaults", "Service")["records"]["spec"]["ports"]] == [
        "http"
    ]


def test_a_service_may_have_its_own_database_user_and_s3_key() -> None:
    for name, deployment in of_kind("production", "Deployment").items():
        env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
        s3_key = next(e for e in env if e["name"] == "S3_ACCESS_KEY")
        own = {"records": "second-opinion-records", "reports": "second-opinion-reports"}
        expected = own.get(name, "second-opinion-env")
        assert s3_key["valueFrom"]["secretKeyRef"]["name"] == expected, name


@pytest.mark.parametrize("rendering", RENDERINGS)
def test_every_platform_topic_and_its_dead_letters_is_a_kafka_topic(rendering: str) -> None:
    settings = values(rendering)
    expected = platform_topics(
        StackSettings(sop_namespace=settings["namespacePrefix"]),
        partitions=settings["topics"]["partitions"],
    )
    topics = {
        doc["spec"]["topicName"]: doc for doc in rendered(rendering) if doc["kind"] == "KafkaTopic"
    }
    assert sorted(topics) == sorted(spec.name for spec in expected)
    for spec in expected:
        topic = topics[spec.name]
        assert topic["spec"]["partitions"] == spec.partitions, spec.name
        config = topic["spec"]["config"]
        assert config["retention.ms"] == spec.retention_ms, spec.name
        assert {k: str(v) for k, v in config.items() if k != "min.insync.replicas"} == (
            spec.configs
        ), spec.name
        assert topic["spec"]["replicas"] == settings["topics"]["replicas"]
        assert (
            topic["metadata"]["labels"]["strimzi.io/cluster"]
            == (settings["kafka"]["strimziCluster"])
        )
    consumed = [s.name for s in expected if s.name + DLQ_SUFFIX in topics]
    assert len(consumed) == 14  # the case topics, the hospitals' inbound one and the audit trail
