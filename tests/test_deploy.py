"""deploy/kubernetes/ (SPEC §21 Deploy): every manifest validates against the Kubernetes
schemas offline (``kubernetes-validate``, strict: no unknown fields), and the Deployment
keeps the promises the docs make: probes on /healthz, non-root, read-only root
filesystem, settings and secrets from a ConfigMap and a Secret, a file-descriptor-light
single replica."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

FOLDER = Path(__file__).resolve().parent.parent / "deploy" / "kubernetes"
MANIFESTS = sorted(FOLDER.glob("*.yaml"))


def _docs() -> list[dict[str, Any]]:
    return [d for path in MANIFESTS for d in yaml.safe_load_all(path.read_text()) if d]


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_each_manifest_is_valid_kubernetes(path: Path) -> None:
    """Strict schema validation against the bundled Kubernetes schemas (no network)."""
    for doc in yaml.safe_load_all(path.read_text()):
        kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)


def test_a_broken_manifest_is_caught() -> None:
    """The validator is not a rubber stamp: a misspelt field fails."""
    [deployment] = [d for d in _docs() if d["kind"] == "Deployment"]
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGett"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, kubernetes_validate.latest_version(), strict=True)


def test_the_deployment_is_probed_non_root_and_read_only() -> None:
    """Probes on /healthz, non-root, read-only root filesystem, no privilege escalation,
    settings and secrets by reference only."""
    kinds = {d["kind"] for d in _docs()}
    assert {"Deployment", "Service", "ConfigMap", "Secret"} <= kinds
    [deployment] = [d for d in _docs() if d["kind"] == "Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    for container in pod["containers"] + pod["initContainers"]:
        context = container["securityContext"]
        assert context["readOnlyRootFilesystem"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"]["drop"] == ["ALL"]
    [main] = pod["containers"]
    for probe in ("readinessProbe", "livenessProbe"):
        assert main[probe]["httpGet"]["path"] == "/healthz"
    refs = {next(iter(r.values()))["name"] for r in main["envFrom"]}
    assert refs == {"reconciler"} and not any(
        "value" in e and "SECRET" in e["name"] for e in main.get("env", [])
    )
