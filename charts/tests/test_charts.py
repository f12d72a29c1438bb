"""Tests of the Helm charts with Helm's own engine (helm-sdkpy wraps Helm's Go library).

Each chart is linted with its default values and with non-default ones, and installed
(against `apiserver.FakeApiServer`) to check that the objects Helm would create carry
what the values asked for, and that values.schema.json and the charts' checks reject
what they must.
"""

from __future__ import annotations

import asyncio
import copy
import json
import shutil
from pathlib import Path

import helm_sdkpy
import pytest

from apiserver import FakeApiServer

CHARTS = Path(__file__).resolve().parent.parent
AGENT = CHARTS / "nodebom-agent"
COLLECTOR = CHARTS / "nodebom-collector"

# Helm's lint severities (pkg/lint/support): 1 info, 2 warning, 3 error.
LINT_WARNING = 2


class Release:
    """What `helm install` produced: the objects sent to the API server, and the chart's
    default values as Helm parsed them."""

    def __init__(self, objects: list[dict], defaults: dict):
        self.objects = objects
        self.defaults = defaults

    def all(self, kind: str) -> list[dict]:
        return [o for o in self.objects if o["kind"] == kind]

    def one(self, kind: str) -> dict:
        found = self.all(kind)
        assert len(found) == 1, f"expected one {kind}, got {[o['metadata']['name'] for o in found]}"
        return found[0]

    def container(self, kind: str) -> dict:
        (container,) = self.one(kind)["spec"]["template"]["spec"]["containers"]
        return container

    def pod_spec(self, kind: str) -> dict:
        return self.one(kind)["spec"]["template"]["spec"]


def install(chart: Path, values: dict | None, tmp_path: Path, release: str) -> Release:
    """Runs Helm's install action for `chart` with `values`; raises InstallError."""
    with FakeApiServer() as api:
        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig.write_text(api.kubeconfig())
        config = helm_sdkpy.Configuration(namespace="nodebom", kubeconfig=str(kubeconfig))
        result = asyncio.run(
            helm_sdkpy.Install(config).run(release, str(chart), values=values, wait=False)
        )
        return Release(list(api.created), result["chart"]["values"])


def merged(defaults: dict, overrides: dict) -> dict:
    """Helm's coalescing of user values over a chart's: maps merge, the rest replaces."""
    out = copy.deepcopy(defaults)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = value
    return out


def lint(chart: Path, values: dict | None, tmp_path: Path) -> dict:
    """`helm lint` of `chart`, with `values` over its defaults. helm-sdkpy's lint takes no
    values, so a copy of the chart gets the merged values as its values.yaml (JSON is
    YAML)."""
    if values:
        defaults = install(chart, None, tmp_path, "defaults").defaults
        copied = tmp_path / chart.name
        shutil.copytree(chart, copied)
        (copied / "values.yaml").write_text(json.dumps(merged(defaults, values), indent=2))
        chart = copied
    config = helm_sdkpy.Configuration(namespace="nodebom")
    return asyncio.run(helm_sdkpy.Lint(config).run(str(chart)))


def assert_lint_clean(result: dict) -> None:
    assert result["TotalChartsLinted"] == 1
    assert not result["Errors"], result
    serious = [m for m in result["Messages"] or [] if m["Severity"] >= LINT_WARNING]
    assert not serious, serious


def volume(pod_spec: dict, name: str) -> dict:
    (found,) = [v for v in pod_spec["volumes"] if v["name"] == name]
    return found


def mount(container: dict, name: str) -> dict:
    (found,) = [m for m in container["volumeMounts"] if m["name"] == name]
    return found


def env(container: dict, name: str) -> dict:
    (found,) = [e for e in container["env"] if e["name"] == name]
    return found


AGENT_K3S = {
    "cluster": "edge-k3s-7",
    "collector": {
        "address": "https://collector.nodebom.example.com:443",
        "token": {"existingSecret": "edge-token", "key": "cluster-token"},
        "ca": {"existingSecret": "nodebom-ca", "key": "root.pem"},
    },
    "containerd": {
        "socket": "/run/k3s/containerd/containerd.sock",
        "root": "/var/lib/rancher/k3s/agent/containerd",
    },
    "cache": {"hostPath": "/var/lib/rancher/nodebom", "sizeMiB": 256},
    "security": {"readOpaqueXattrs": True, "seLinuxOptions": {"type": "spc_t"}},
    "tolerations": [{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists",
                     "effect": "NoSchedule"}],
    "priorityClassName": "nodebom-agent",
    "resources": {"requests": {"cpu": "50m", "memory": "96Mi"}, "limits": {"memory": "384Mi"}},
    "metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}}},
}


class TestAgentChart:
    def test_lints_clean_with_default_values(self, tmp_path):
        assert_lint_clean(lint(AGENT, None, tmp_path))

    def test_lints_clean_with_k3s_values(self, tmp_path):
        assert_lint_clean(lint(AGENT, AGENT_K3S, tmp_path))

    def test_lint_reports_values_the_schema_rejects(self, tmp_path):
        result = lint(AGENT, {"cache": {"sizeMib": 256}}, tmp_path)
        assert result["Errors"]
        assert any(m["Path"] == "values.yaml" and m["Severity"] > LINT_WARNING
                   for m in result["Messages"])

    def test_defaults_run_on_every_node_with_least_privileges(self, tmp_path):
        release = install(AGENT, None, tmp_path, "nodebom-agent")
        assert sorted(o["kind"] for o in release.objects) == ["DaemonSet", "ServiceAccount"]
        daemonset = release.one("DaemonSet")
        pod = release.pod_spec("DaemonSet")
        container = release.container("DaemonSet")

        assert daemonset["metadata"]["labels"]["app.kubernetes.io/name"] == "nodebom-agent"
        assert daemonset["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "Helm"
        assert pod["tolerations"] == [{"operator": "Exists"}]
        assert pod["nodeSelector"] == {"kubernetes.io/os": "linux"}
        assert pod["automountServiceAccountToken"] is False
        assert container["image"] == "ghcr.io/nodebom/nodebom-agent:0.1.0"

        security = container["securityContext"]
        assert security["readOnlyRootFilesystem"] is True
        assert security["allowPrivilegeEscalation"] is False
        assert security["privileged"] is False
        assert security["runAsUser"] == 0
        assert security["capabilities"] == {"drop": ["ALL"], "add": ["DAC_READ_SEARCH"]}
        assert "seLinuxOptions" not in security

        assert env(container, "NODE_NAME")["valueFrom"] == {"fieldRef": {"fieldPath": "spec.nodeName"}}
        assert "--collector=https://nodebom-collector.nodebom.svc:7443" in container["args"]
        assert "--socket=/run/containerd/containerd.sock" in container["args"]
        assert "--token-file=/etc/nodebom/token/token" in container["args"]
        assert not any(a.startswith("--ca-file") for a in container["args"])
        assert volume(pod, "token")["secret"]["secretName"] == "nodebom-cluster-token"

        snapshots = "/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs"
        assert volume(pod, "containerd-snapshots")["hostPath"] == {"path": snapshots, "type": "Directory"}
        assert mount(container, "containerd-snapshots") == {
            "name": "containerd-snapshots", "mountPath": snapshots, "readOnly": True}
        assert volume(pod, "containerd-socket")["hostPath"]["path"] == "/run/containerd"
        assert mount(container, "containerd-socket")["readOnly"] is True
        assert volume(pod, "cache")["hostPath"]["path"] == "/var/lib/nodebom-agent/cache"
        assert "--cache-mib=512" in container["args"]
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["resources"]["limits"]["memory"] == "256Mi"

    def test_k3s_values_reach_the_daemonset(self, tmp_path):
        release = install(AGENT, AGENT_K3S, tmp_path, "nodebom-agent")
        pod = release.pod_spec("DaemonSet")
        container = release.container("DaemonSet")
        args = container["args"]

        assert "--cluster=edge-k3s-7" in args
        assert "--collector=https://collector.nodebom.example.com:443" in args
        assert "--socket=/run/k3s/containerd/containerd.sock" in args
        assert "--cache-mib=256" in args
        # Snapshots are mounted at the path containerd reports for them.
        snapshots = "/var/lib/rancher/k3s/agent/containerd/io.containerd.snapshotter.v1.overlayfs"
        assert volume(pod, "containerd-snapshots")["hostPath"]["path"] == snapshots
        assert mount(container, "containerd-snapshots")["mountPath"] == snapshots
        assert volume(pod, "containerd-socket")["hostPath"]["path"] == "/run/k3s/containerd"
        assert mount(container, "containerd-socket")["mountPath"] == "/run/k3s/containerd"
        assert volume(pod, "cache")["hostPath"]["path"] == "/var/lib/rancher/nodebom"

        assert "--token-file=/etc/nodebom/token/cluster-token" in args
        assert volume(pod, "token")["secret"] == {
            "secretName": "edge-token", "items": [{"key": "cluster-token", "path": "cluster-token"}]}
        assert "--ca-file=/etc/nodebom/ca/root.pem" in args
        assert volume(pod, "ca")["secret"]["secretName"] == "nodebom-ca"

        assert pod["tolerations"] == AGENT_K3S["tolerations"]
        assert pod["priorityClassName"] == "nodebom-agent"
        assert container["resources"] == AGENT_K3S["resources"]
        assert container["securityContext"]["capabilities"]["add"] == ["DAC_READ_SEARCH", "SYS_ADMIN"]
        assert container["securityContext"]["seLinuxOptions"] == {"type": "spc_t"}

        monitor = release.one("ServiceMonitor")
        assert monitor["metadata"]["labels"]["release"] == "prometheus"
        service = release.one("Service")
        assert service["spec"]["clusterIP"] == "None"
        assert service["spec"]["selector"] == monitor["spec"]["selector"]["matchLabels"]

    def test_schema_rejects_a_misspelt_key(self, tmp_path):
        with pytest.raises(helm_sdkpy.InstallError, match="sockt"):
            install(AGENT, {"containerd": {"sockt": "/run/k3s/containerd/containerd.sock"}},
                    tmp_path, "nodebom-agent")

    def test_schema_rejects_a_relative_containerd_root(self, tmp_path):
        with pytest.raises(helm_sdkpy.InstallError, match="root"):
            install(AGENT, {"containerd": {"root": "var/lib/containerd"}}, tmp_path, "nodebom-agent")

    def test_plaintext_collector_needs_insecure(self, tmp_path):
        plaintext = {"collector": {"address": "http://nodebom-collector:7443"}}
        with pytest.raises(helm_sdkpy.InstallError, match="collector.insecure"):
            install(AGENT, plaintext, tmp_path, "nodebom-agent")
        allowed = merged(plaintext, {"collector": {"insecure": True}})
        container = install(AGENT, allowed, tmp_path, "nodebom-agent").container("DaemonSet")
        assert "--insecure" in container["args"]


COLLECTOR_HA = {
    "replicas": 3,
    "store": {"postgres": {"existingSecret": "nodebom-postgres", "key": "dsn"}},
    "tls": {"existingSecret": "collector-cert", "clientCAKey": "ca.crt"},
    "clusterTokens": {"existingSecret": "fleet-tokens", "key": "tokens.txt"},
    "queryTokens": {"existingSecret": "query-tokens"},
    "dtrack": {
        "url": "https://dtrack.example.com",
        "apiKey": {"existingSecret": "dtrack-key", "key": "key"},
        "project": {"name": "k8s/${repository}", "version": "${tag}@${digest}"},
        "tags": {"grace": "6h"},
        "kev": {"catalog": "/etc/nodebom/kev/known_exploited_vulnerabilities.json"},
    },
    "networkPolicy": {"enabled": True,
                      "from": [{"namespaceSelector": {"matchLabels": {"nodebom/agents": "true"}}}]},
    "service": {"type": "LoadBalancer", "loadBalancerSourceRanges": ["10.0.0.0/8"]},
    "extraVolumes": [{"name": "kev", "configMap": {"name": "cisa-kev"}}],
    "extraVolumeMounts": [{"name": "kev", "mountPath": "/etc/nodebom/kev", "readOnly": True}],
}


class TestCollectorChart:
    def test_lints_clean_with_default_values(self, tmp_path):
        assert_lint_clean(lint(COLLECTOR, None, tmp_path))

    def test_lints_clean_with_ha_values(self, tmp_path):
        assert_lint_clean(lint(COLLECTOR, COLLECTOR_HA, tmp_path))

    def test_defaults_are_one_sqlite_pod_with_tls_and_tokens(self, tmp_path):
        release = install(COLLECTOR, None, tmp_path, "nodebom-collector")
        assert sorted(o["kind"] for o in release.objects) == ["Service", "ServiceAccount", "StatefulSet"]
        statefulset = release.one("StatefulSet")
        container = release.container("StatefulSet")
        pod = release.pod_spec("StatefulSet")
        args = container["args"]

        assert statefulset["metadata"]["name"] == "nodebom-collector"
        assert statefulset["spec"]["replicas"] == 1
        (claim,) = statefulset["spec"]["volumeClaimTemplates"]
        assert claim["metadata"]["name"] == "data"
        assert claim["spec"]["resources"]["requests"]["storage"] == "10Gi"
        assert mount(container, "data")["mountPath"] == "/var/lib/nodebom"
        assert "--data-dir=/var/lib/nodebom" in args
        assert "--listen=0.0.0.0:7443" in args
        assert "--tls-cert=/etc/nodebom/tls/tls.crt" in args
        assert "--insecure" not in args
        assert volume(pod, "tls")["secret"]["secretName"] == "nodebom-collector-tls"
        assert "--cluster-tokens-file=/etc/nodebom/cluster-tokens/tokens" in args
        assert volume(pod, "cluster-tokens")["secret"]["secretName"] == "nodebom-cluster-tokens"
        assert "--max-sbom-bytes=134217728" in args
        assert not any(a.startswith("--dtrack") for a in args)
        # The kubelet's gRPC probe cannot speak TLS.
        assert container["readinessProbe"]["tcpSocket"] == {"port": "grpc"}
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert pod["securityContext"]["runAsNonRoot"] is True

        service = release.one("Service")
        assert service["spec"]["ports"] == [
            {"name": "grpc", "port": 7443, "targetPort": "grpc", "protocol": "TCP", "appProtocol": "grpc"}]

    def test_replicas_above_one_require_postgres(self, tmp_path):
        with pytest.raises(helm_sdkpy.InstallError, match="replicas > 1 needs PostgreSQL"):
            install(COLLECTOR, {"replicas": 2}, tmp_path, "nodebom-collector")

    def test_ha_values_reach_the_deployment(self, tmp_path):
        release = install(COLLECTOR, COLLECTOR_HA, tmp_path, "nodebom-collector")
        assert not release.all("StatefulSet")
        assert release.one("Deployment")["spec"]["replicas"] == 3
        container = release.container("Deployment")
        pod = release.pod_spec("Deployment")
        args = container["args"]

        assert env(container, "NODEBOM_STORE")["valueFrom"] == {
            "secretKeyRef": {"name": "nodebom-postgres", "key": "dsn"}}
        assert env(container, "NODEBOM_QUERY_TOKENS")["valueFrom"] == {
            "secretKeyRef": {"name": "query-tokens", "key": "tokens"}}
        assert volume(pod, "data") == {"name": "data", "emptyDir": {}}
        assert "--tls-client-ca=/etc/nodebom/tls/ca.crt" in args
        assert volume(pod, "tls")["secret"]["secretName"] == "collector-cert"
        assert "--cluster-tokens-file=/etc/nodebom/cluster-tokens/tokens.txt" in args
        assert volume(pod, "cluster-tokens")["secret"]["secretName"] == "fleet-tokens"

        # The collector's templates arrive as written: Helm does not touch `${…}`.
        assert "--dtrack-url=https://dtrack.example.com" in args
        assert "--dtrack-project-name=k8s/${repository}" in args
        assert "--dtrack-project-version=${tag}@${digest}" in args
        assert "--dtrack-tag-grace=6h" in args
        assert "--kev-catalog=/etc/nodebom/kev/known_exploited_vulnerabilities.json" in args
        assert "--dtrack-api-key-file=/etc/nodebom/dtrack/key" in args
        assert volume(pod, "dtrack")["secret"]["secretName"] == "dtrack-key"
        assert volume(pod, "kev") == {"name": "kev", "configMap": {"name": "cisa-kev"}}
        assert mount(container, "kev") == {"name": "kev", "mountPath": "/etc/nodebom/kev", "readOnly": True}

        policy = release.one("NetworkPolicy")
        assert policy["spec"]["ingress"] == [{
            "ports": [{"port": "grpc", "protocol": "TCP"}],
            "from": COLLECTOR_HA["networkPolicy"]["from"]}]
        service = release.one("Service")
        assert service["spec"]["type"] == "LoadBalancer"
        assert service["spec"]["loadBalancerSourceRanges"] == ["10.0.0.0/8"]

    def test_plaintext_behind_a_mesh_probes_grpc_health(self, tmp_path):
        release = install(COLLECTOR, {"tls": {"enabled": False}}, tmp_path, "nodebom-collector")
        container = release.container("StatefulSet")
        assert "--insecure" in container["args"]
        assert not any(a.startswith("--tls") for a in container["args"])
        assert container["readinessProbe"]["grpc"] == {"port": 7443}
        assert container["livenessProbe"]["grpc"] == {"port": 7443}

    def test_schema_rejects_a_misspelt_key(self, tmp_path):
        with pytest.raises(helm_sdkpy.InstallError, match="projectName"):
            install(COLLECTOR, {"dtrack": {"projectName": "${repository}"}}, tmp_path,
                    "nodebom-collector")

    def test_schema_rejects_a_replica_count_given_as_text(self, tmp_path):
        with pytest.raises(helm_sdkpy.InstallError, match="replicas"):
            install(COLLECTOR, {"replicas": "3"}, tmp_path, "nodebom-collector")
