"""deploy/: the Helm chart is linted and rendered by Helm's own engine
(helm-python-sdk), every rendered manifest is checked against the
Kubernetes API schemas, and the laker-server configuration the chart and
the compose file produce is loaded by a real laker-server.

Docker cannot run here (no image registry), so the Dockerfile and
compose.yaml are not built or started.
"""

from __future__ import annotations

import os
import re
import urllib.request
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from helm_python import chart as helm

from conftest import REPO, start_server, stop_server

CHART = REPO / "deploy" / "helm" / "laker"
KUBERNETES = "1.30"


def render(values: dict | None = None) -> dict[str, list[dict]]:
    with helm.Chart.load(CHART) as chart:
        manifests = chart.render(values=values or {}, name="prod", namespace="data")
    docs: dict[str, list[dict]] = {}
    for text in manifests.values():
        for doc in yaml.safe_load_all(text):
            if doc:
                docs.setdefault(doc["kind"], []).append(doc)
    return docs


FULL = {
    "stores": {"lake": {"url": "s3://bucket/lake/", "region": "eu-north-1",
                        "access_key_id_env": "AWS_ACCESS_KEY_ID",
                        "secret_access_key_env": "AWS_SECRET_ACCESS_KEY"}},
    "uploadStore": "lake",
    "envFromSecrets": ["laker-s3"],
    "signingKey": {"previousSecrets": ["laker-signing-key-2026-11"]},
    "tls": {"existingSecret": "laker-tls"},
    "ingress": {"enabled": True, "className": "nginx", "tlsSecret": "laker-ingress-tls"},
    "autoscaling": {"enabled": False},
    "replicaCount": 4,
    "fanOut": True,
    "extraConfig": '[identity_provider]\nissuer = "https://sso.example/realms/data"\n'
                   'audience = "laker"\njwks_url = "https://sso.example/certs"\n',
}


def test_chart_lints_clean():
    for values in ({}, FULL):
        report = helm.lint(CHART, values, strict=True)
        assert report["errors"] == []
        assert [m for m in report["messages"] if m["severity"] >= 2] == []


@pytest.mark.parametrize("values", [{}, FULL], ids=["defaults", "full"])
def test_rendered_manifests_are_valid_kubernetes(values):
    docs = render(values)
    for kind, items in docs.items():
        for doc in items:
            kubernetes_validate.validate(doc, KUBERNETES, strict=True)
    expected = {"ConfigMap", "Deployment", "Service", "PodDisruptionBudget"}
    expected |= {"Ingress"} if values else {"HorizontalPodAutoscaler"}
    assert set(docs) == expected


def test_deployment_runs_unprivileged_with_probes_and_secrets():
    docs = render(FULL)
    pod = docs["Deployment"][0]["spec"]["template"]["spec"]
    assert docs["Deployment"][0]["spec"]["replicas"] == 4
    assert pod["securityContext"]["runAsNonRoot"] is True
    container = pod["containers"][0]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {"flight": 50051, "http": 9090}
    catalog = container["env"][0]
    assert catalog["name"] == "LAKER_CATALOG_URL"
    assert catalog["valueFrom"]["secretKeyRef"] == {"name": "laker-catalog", "key": "url"}
    secrets = {v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
    assert secrets == {"laker-signing-key", "laker-signing-key-2026-11", "laker-tls"}
    assert container["envFrom"] == [{"secretRef": {"name": "laker-s3"}}]
    env = {e["name"]: e for e in container["env"]}
    assert env["LAKER_ADVERTISE_URL"]["value"] == "grpc+tls://$(POD_IP):50051"
    assert env["POD_IP"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"
    assert "LAKER_ADVERTISE_URL" not in {e["name"] for e in
                                         render()["Deployment"][0]["spec"]["template"]["spec"]["containers"][0]["env"]}
    # The pod outlives the server's own grace period and the pre-stop pause.
    config = docs["ConfigMap"][0]["data"]["laker.toml"]
    assert '[identity_provider]\nissuer = "https://sso.example/realms/data"' in config
    grace = int(re.search(r"shutdown_grace_secs = (\d+)", config).group(1))
    assert pod["terminationGracePeriodSeconds"] > grace + 5

    defaults = render()
    hpa = defaults["HorizontalPodAutoscaler"][0]["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (3, 12)
    assert "replicas" not in defaults["Deployment"][0]["spec"]
    assert defaults["PodDisruptionBudget"][0]["spec"]["maxUnavailable"] == 1


def http_addr(server) -> str:
    event = server.events(
        lambda e: e.get("fields", {}).get("message") == "HTTP console, API, health and metrics listening",
        timeout=10,
    )
    return event["fields"]["addr"]


def ready(addr: str) -> str:
    with urllib.request.urlopen(f"http://{addr}/readyz", timeout=5) as r:
        return r.read().decode()


def test_the_chart_configuration_starts_a_server(tmp_path):
    lake = tmp_path / "lake"
    lake.mkdir()
    values = {**FULL, "tls": {"existingSecret": ""},
              "extraConfig": '[parquet_options]\nbloom_filter_on_read = "false"\n',
              "signingKey": {"previousSecrets": []},
              "stores": {"lake": {"url": lake.as_uri() + "/"}}}
    config = render(values)["ConfigMap"][0]["data"]["laker.toml"]
    (tmp_path / "laker.toml").write_text(config)
    # Flags win over the file: loopback ports, a local data dir and secret.
    server = start_server(
        tmp_path / "data", "--config", str(tmp_path / "laker.toml"),
        "--http-listen", "127.0.0.1:0", "--secret-file", str(tmp_path / "secret.key"),
        demo=False,
    )
    try:
        assert ready(http_addr(server)) == "ready\n"
    finally:
        stop_server(server)


def test_the_compose_configuration_starts_a_server(tmp_path):
    compose = yaml.safe_load((REPO / "deploy" / "compose.yaml").read_text())
    assert {"postgres", "s3", "create-bucket", "seed", "laker"} <= set(compose["services"])
    assert compose["services"]["laker"]["command"] == ["--config", "/etc/laker/laker.toml"]
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "laker")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "laker-secret-key")
    server = start_server(
        tmp_path / "data", "--config", str(REPO / "deploy" / "laker.compose.toml"),
        "--http-listen", "127.0.0.1:0", demo=False,
    )
    try:
        assert ready(http_addr(server)) == "ready\n"
    finally:
        stop_server(server)
