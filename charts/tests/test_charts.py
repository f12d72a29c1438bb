"""Tests of the Helm charts with Helm's own engine (helm-sdkpy wraps Helm's Go library).

Each chart is linted with its default values and with non-default ones, and installed
(against `apiserver.FakeApiServer`) to check that the objects Helm would create carry
what the values asked for, and that values.schema.json and the charts' checks reject
what they must. Every object rendered for a set of value sets is validated against
Kubernetes' own OpenAPI schemas (kubernetes-validate's bundled copies, strict: unknown
fields are errors) of the oldest Kubernetes the charts support and of the newest one
that kubernetes-validate ships.
"""

from __future__ import annotations

import asyncio
import copy
import json
import shutil
from pathlib import Path

import helm_sdkpy
import kubernetes_validate
import pytest
import yaml
from kubernetes_validate import utils as kubernetes_validate_utils

from apiserver import FakeApiServer

CHARTS = Path(__file__).resolve().parent.parent
AGENT = CHARTS / "nodebom-agent"
COLLECTOR = CHARTS / "nodebom-collector"

# Helm's lint severities (pkg/lint/support): 1 info, 2 warning, 3 error.
LINT_WARNING = 2


class Release:
    """What `helm install` produced: the objects sent to the API server, the chart's
    default values as Helm parsed them, and the rendered NOTES.txt."""

    def __init__(self, objects: list[dict], defaults: dict, notes: str):
        self.objects = objects
        self.defaults = defaults
        self.notes = notes

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


def install(chart: Path, values: dict | None, tmp_path: Path, release: str,
            skip_schema_validation: bool = False) -> Release:
    """Runs Helm's install action for `chart` with `values`; raises InstallError.
    `skip_schema_validation` is `helm install --skip-schema-validation`."""
    with FakeApiServer() as api:
        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig.write_text(api.kubeconfig())
        config = helm_sdkpy.Configuration(namespace="nodebom", kubeconfig=str(kubeconfig))
        result = asyncio.run(
            helm_sdkpy.Install(config).run(release, str(chart), values=values, wait=False,
                                           skip_schema_validation=skip_schema_validation)
        )
        return Release(list(api.created), result["chart"]["values"], result["info"]["notes"])


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
    "nodeSoftware": {"enabled": True},
    "nodePool": {"label": "node.kubernetes.io/instance-type"},
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
        # The host is not mounted and the Kubernetes API is not used unless asked.
        assert all(v["name"] != "host-root" for v in pod["volumes"])
        assert not any(a.startswith(("--host-root", "--node-pool")) for a in container["args"])

    def test_node_software_mounts_the_host_read_only_and_a_pool_label_may_get_nodes(self, tmp_path):
        values = {"nodeSoftware": {"enabled": True, "interval": "30m"},
                  "nodePool": {"label": "cloud.google.com/gke-nodepool"}}
        release = install(AGENT, values, tmp_path, "nodebom-agent")
        pod = release.pod_spec("DaemonSet")
        container = release.container("DaemonSet")
        assert volume(pod, "host-root")["hostPath"] == {"path": "/", "type": "Directory"}
        assert mount(container, "host-root") == {"name": "host-root", "mountPath": "/host",
                                                 "readOnly": True}
        assert "--host-root=/host" in container["args"]
        assert "--host-interval=30m" in container["args"]
        assert "--node-pool-label=cloud.google.com/gke-nodepool" in container["args"]
        # Reading its own Node is the one thing the agent may do with the API.
        assert pod["automountServiceAccountToken"] is True
        (role,) = release.all("ClusterRole")
        assert role["rules"] == [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get"]}]
        (binding,) = release.all("ClusterRoleBinding")
        assert binding["roleRef"]["name"] == role["metadata"]["name"]
        assert binding["subjects"][0]["name"] == pod["serviceAccountName"]
        # Same privileges otherwise: no capability beyond reading files.
        assert container["securityContext"]["capabilities"] == {"drop": ["ALL"], "add": ["DAC_READ_SEARCH"]}

    def test_schema_rejects_a_bad_node_pool_label_and_interval(self, tmp_path):
        with pytest.raises(helm_sdkpy.InstallError, match="label"):
            install(AGENT, {"nodePool": {"label": "pool with spaces"}}, tmp_path, "nodebom-agent")
        with pytest.raises(helm_sdkpy.InstallError, match="interval"):
            install(AGENT, {"nodeSoftware": {"enabled": True, "interval": "hourly"}}, tmp_path,
                    "nodebom-agent")

    def test_default_container_is_pinned(self, tmp_path):
        """The agent's container with default values, whole: the end-to-end test runs the
        agent's image with `ctr run` the same way (root with only CAP_DAC_READ_SEARCH, a
        read-only root, containerd's socket directory and overlayfs snapshots read-only at
        their host paths), so a change here must be carried over there."""
        release = install(AGENT, None, tmp_path, "nodebom-agent")
        pod = release.pod_spec("DaemonSet")
        container = release.container("DaemonSet")
        snapshots = "/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs"

        assert pod["securityContext"] == {"seccompProfile": {"type": "RuntimeDefault"}}
        assert container["securityContext"] == {
            "runAsUser": 0,
            "runAsGroup": 0,
            "runAsNonRoot": False,
            "privileged": False,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"], "add": ["DAC_READ_SEARCH"]},
        }
        assert container["args"] == [
            "run",
            "--cluster=default",
            "--collector=https://nodebom-collector.nodebom.svc:7443",
            "--token-file=/etc/nodebom/token/token",
            "--socket=/run/containerd/containerd.sock",
            "--namespace=k8s.io",
            "--cache-dir=/var/cache/nodebom",
            "--cache-mib=512",
            "--builders=1",
            "--nice=10",
            "--metrics-listen=0.0.0.0:9090",
            "--spec=1.5",
        ]
        assert container["env"] == [
            {"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
            {"name": "NODEBOM_LOG", "value": "info"},
            {"name": "NODEBOM_LOG_FORMAT", "value": "json"},
        ]
        assert container["volumeMounts"] == [
            {"name": "containerd-socket", "mountPath": "/run/containerd", "readOnly": True},
            {"name": "containerd-snapshots", "mountPath": snapshots, "readOnly": True},
            {"name": "cache", "mountPath": "/var/cache/nodebom"},
            {"name": "scratch", "mountPath": "/tmp"},
            {"name": "token", "mountPath": "/etc/nodebom/token", "readOnly": True},
        ]
        assert pod["volumes"] == [
            {"name": "containerd-socket",
             "hostPath": {"path": "/run/containerd", "type": "Directory"}},
            {"name": "containerd-snapshots", "hostPath": {"path": snapshots, "type": "Directory"}},
            {"name": "cache",
             "hostPath": {"path": "/var/lib/nodebom-agent/cache", "type": "DirectoryOrCreate"}},
            {"name": "scratch", "emptyDir": {"sizeLimit": "2Gi"}},
            {"name": "token", "secret": {"secretName": "nodebom-cluster-token",
                                         "items": [{"key": "token", "path": "token"}]}},
        ]

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


COLLECTOR_FULL = {
    "tls": {"existingSecret": "collector-cert", "clientCAKey": "ca.crt"},
    "clusterTokens": {"existingSecret": "fleet-tokens", "key": "tokens.txt"},
    "queryTokens": {"existingSecret": "query-tokens"},
    "notifications": {"webhooks": {"existingSecret": "webhooks"}, "minEpss": 0.2},
    "dtrack": {
        "url": "https://dtrack.example.com",
        "frontendUrl": "https://dtrack-ui.example.com",
        "apiKey": {"existingSecret": "dtrack-key", "key": "key"},
        "project": {"name": "k8s/${repository}", "version": "${tag}@${digest}"},
        "nodeProject": {"name": "nodes/${node_pool}", "version": "${os}-${kernel}"},
        "tags": {"grace": "6h"},
        "findings": {"refresh": "30m"},
        "kev": {"catalog": "/etc/nodebom/kev/known_exploited_vulnerabilities.json"},
        "policies": [
            {"name": "nodebom-likely-exploited", "when": {"kev": True, "epss": 0.5}},
            {"name": "nodebom-copyleft", "state": "INFO", "tags": ["cluster:prod-a"],
             "when": {"severity": "high", "licenseGroups": ["Copyleft"]}},
        ],
        "policyInterval": "5m",
    },
    "networkPolicy": {"enabled": True,
                      "from": [{"namespaceSelector": {"matchLabels": {"nodebom/agents": "true"}}}]},
    "service": {"type": "LoadBalancer", "loadBalancerSourceRanges": ["10.0.0.0/8"]},
    "ui": {"from": [{"namespaceSelector": {"matchLabels": {"name": "ingress"}}}]},
    "extraVolumes": [{"name": "kev", "configMap": {"name": "cisa-kev"}}],
    "extraVolumeMounts": [{"name": "kev", "mountPath": "/etc/nodebom/kev", "readOnly": True}],
    "metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}},
                "from": [{"namespaceSelector": {"matchLabels": {"name": "monitoring"}}}]},
}


# No PVC, plaintext behind a mesh, an existing ServiceAccount.
COLLECTOR_EPHEMERAL = {
    "store": {"sqlite": {"persistence": {"enabled": False}}},
    "tls": {"enabled": False},
    "serviceAccount": {"create": False, "name": "nodebom"},
    "service": {"type": "NodePort"},
    "podAnnotations": {"example.com/scrape": "false"},
}


# Three pods sharing a PostgreSQL database whose server certificate a private CA signs,
# fewer connections per pod, a zone spread on top of the chart's node spread, metrics
# scraped through the headless Service.
COLLECTOR_POSTGRES_HA = {
    "replicas": 3,
    "store": {"type": "postgres",
              "postgres": {"existingSecret": "nodebom-db",
                           "ca": {"existingSecret": "db-ca", "key": "root.pem"},
                           "poolSize": 12}},
    "topologySpreadConstraints": [{
        "maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
        "whenUnsatisfiable": "ScheduleAnyway",
        "labelSelector": {"matchLabels": {"app.kubernetes.io/name": "nodebom-collector"}}}],
    "metrics": {"service": {"enabled": True}},
}


class TestCollectorChart:
    def test_lints_clean_with_default_values(self, tmp_path):
        assert_lint_clean(lint(COLLECTOR, None, tmp_path))

    def test_lints_clean_with_full_values(self, tmp_path):
        assert_lint_clean(lint(COLLECTOR, COLLECTOR_FULL, tmp_path))

    def test_lints_clean_with_postgres_values(self, tmp_path):
        assert_lint_clean(lint(COLLECTOR, COLLECTOR_POSTGRES_HA, tmp_path))

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
            {"name": "grpc", "port": 7443, "targetPort": "grpc", "protocol": "TCP", "appProtocol": "grpc"},
            {"name": "ui", "port": 8443, "targetPort": "ui", "protocol": "TCP", "appProtocol": "https"}]
        # The UI is on by default in the chart; without query tokens it says it is open.
        assert "--ui-listen=0.0.0.0:8443" in args
        assert "open: no query tokens are set" in release.notes

    # SQLite is one pod's file: a StatefulSet of exactly one pod. The schema refuses
    # other counts, and so do the templates when the schema is skipped
    # (--skip-schema-validation), in words that say what to do.

    @pytest.mark.parametrize("replicas", [2, 3])
    def test_sqlite_with_several_replicas_is_refused(self, tmp_path, replicas):
        with pytest.raises(helm_sdkpy.InstallError, match="'/replicas': value must be 1"):
            install(COLLECTOR, {"replicas": replicas}, tmp_path, "nodebom-collector")
        with pytest.raises(helm_sdkpy.InstallError,
                           match=r"replicas must be 1 with store.type sqlite: .* \(store.type postgres\)"):
            install(COLLECTOR, {"replicas": replicas}, tmp_path, "nodebom-collector",
                    skip_schema_validation=True)

    def test_zero_replicas_are_refused(self, tmp_path):
        postgres = {"replicas": 0,
                    "store": {"type": "postgres", "postgres": {"existingSecret": "nodebom-db"}}}
        with pytest.raises(helm_sdkpy.InstallError, match="'/replicas': minimum: got 0, want 1"):
            install(COLLECTOR, postgres, tmp_path, "nodebom-collector")
        with pytest.raises(helm_sdkpy.InstallError, match="replicas must be at least 1"):
            install(COLLECTOR, postgres, tmp_path, "nodebom-collector",
                    skip_schema_validation=True)

    def test_sqlite_renders_only_a_statefulset(self, tmp_path):
        for values in (None, COLLECTOR_FULL, COLLECTOR_EPHEMERAL):
            release = install(COLLECTOR, values, tmp_path, "nodebom-collector")
            assert not release.all("Deployment")
            assert not release.all("PodDisruptionBudget")
            assert release.one("StatefulSet")["spec"]["replicas"] == 1
            container = release.container("StatefulSet")
            assert not any(e["name"].startswith("NODEBOM_STORE") for e in container["env"])
            assert not any(a.startswith("--store") for a in container["args"])
            assert "topologySpreadConstraints" not in release.pod_spec("StatefulSet")

    def test_postgres_with_three_replicas_is_a_deployment_with_a_disruption_budget(self, tmp_path):
        values = {"replicas": 3,
                  "store": {"type": "postgres", "postgres": {"existingSecret": "nodebom-db"}}}
        release = install(COLLECTOR, values, tmp_path, "nodebom-collector")
        assert sorted(o["kind"] for o in release.objects) == [
            "Deployment", "PodDisruptionBudget", "Service", "ServiceAccount"]
        assert not release.all("StatefulSet")
        assert not release.all("PersistentVolumeClaim")
        deployment = release.one("Deployment")
        pod = release.pod_spec("Deployment")
        container = release.container("Deployment")
        args = container["args"]
        selector = {"app.kubernetes.io/name": "nodebom-collector",
                    "app.kubernetes.io/instance": "nodebom-collector"}

        assert deployment["metadata"]["name"] == "nodebom-collector"
        assert deployment["spec"]["replicas"] == 3
        assert deployment["spec"]["selector"]["matchLabels"] == selector
        # A rollout starts a new pod before it stops an old one.
        assert deployment["spec"]["strategy"] == {
            "type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}

        budget = release.one("PodDisruptionBudget")
        assert budget["apiVersion"] == "policy/v1"
        assert budget["spec"] == {"maxUnavailable": 1, "selector": {"matchLabels": selector}}
        assert pod["topologySpreadConstraints"] == [
            {"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
             "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": {"matchLabels": selector}}]

        # The URL and the password come from the Secret, never through the arguments.
        assert env(container, "NODEBOM_STORE")["valueFrom"] == {
            "secretKeyRef": {"name": "nodebom-db", "key": "url"}}
        assert env(container, "NODEBOM_STORE_PASSWORD")["valueFrom"] == {
            "secretKeyRef": {"name": "nodebom-db", "key": "password"}}
        assert not any(a.startswith(("--store", "--data-dir")) or "postgres" in a for a in args)
        # No volume of its own: the SQLite data directory is neither mounted nor named.
        assert not any(v["name"] == "data" for v in pod["volumes"])
        assert not any(m["name"] == "data" for m in container["volumeMounts"])

        # Probes over HTTP on the metrics port: ready while the database is usable, alive
        # while the process is, so that a database outage restarts nothing.
        assert "--metrics-listen=0.0.0.0:9090" in args
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
        assert container["livenessProbe"]["failureThreshold"] == 6
        assert "tcpSocket" not in container["readinessProbe"]

        assert "store: PostgreSQL, 3 pods sharing it" in release.notes
        assert "nodebom-db (key url: postgres://" in release.notes
        assert "/readyz" in release.notes

    def test_postgres_with_one_replica_has_no_disruption_budget(self, tmp_path):
        values = {"store": {"type": "postgres", "postgres": {"existingSecret": "nodebom-db"}}}
        release = install(COLLECTOR, values, tmp_path, "nodebom-collector")
        assert release.one("Deployment")["spec"]["replicas"] == 1
        assert not release.all("PodDisruptionBudget")
        assert "topologySpreadConstraints" not in release.pod_spec("Deployment")
        assert "store: PostgreSQL, 1 pod)" in release.notes

    def test_postgres_ca_is_mounted_and_passed(self, tmp_path):
        release = install(COLLECTOR, COLLECTOR_POSTGRES_HA, tmp_path, "nodebom-collector")
        pod = release.pod_spec("Deployment")
        container = release.container("Deployment")
        args = container["args"]

        assert "--store-ca-file=/etc/nodebom/store-ca/root.pem" in args
        assert volume(pod, "store-ca")["secret"] == {
            "secretName": "db-ca", "items": [{"key": "root.pem", "path": "root.pem"}]}
        assert mount(container, "store-ca") == {
            "name": "store-ca", "mountPath": "/etc/nodebom/store-ca", "readOnly": True}
        assert "--store-pool-size=12" in args
        # The chart's node spread first, then the one asked for.
        spread = pod["topologySpreadConstraints"]
        assert [c["topologyKey"] for c in spread] == [
            "kubernetes.io/hostname", "topology.kubernetes.io/zone"]

    def test_postgres_password_in_the_url(self, tmp_path):
        """passwordKey empty: the URL in the Secret carries the password, and no password
        variable names a key the Secret lacks (the pod would not start)."""
        values = {"store": {"type": "postgres",
                            "postgres": {"existingSecret": "nodebom-db", "urlKey": "dsn",
                                         "passwordKey": ""}}}
        container = install(COLLECTOR, values, tmp_path, "nodebom-collector").container("Deployment")
        assert env(container, "NODEBOM_STORE")["valueFrom"] == {
            "secretKeyRef": {"name": "nodebom-db", "key": "dsn"}}
        assert not any(e["name"] == "NODEBOM_STORE_PASSWORD" for e in container["env"])
        # Without a CA or a pool size, neither flag: the collector's defaults apply.
        assert not any(a.startswith("--store") for a in container["args"])
        assert not any(m["name"] == "store-ca" for m in container["volumeMounts"])

    def test_postgres_without_its_secret_is_refused(self, tmp_path):
        values = {"replicas": 2, "store": {"type": "postgres"}}
        with pytest.raises(helm_sdkpy.InstallError,
                           match="'/store/postgres/existingSecret': minLength: got 0, want 1"):
            install(COLLECTOR, values, tmp_path, "nodebom-collector")
        with pytest.raises(helm_sdkpy.InstallError,
                           match="store.type postgres needs store.postgres.existingSecret"):
            install(COLLECTOR, values, tmp_path, "nodebom-collector", skip_schema_validation=True)

    @pytest.mark.parametrize("postgres", [
        {"existingSecret": "nodebom-db"},
        {"ca": {"existingSecret": "db-ca", "key": "ca.crt"}},
    ])
    def test_sqlite_and_postgres_together_are_refused(self, tmp_path, postgres):
        """PostgreSQL settings while store.type is still sqlite (the default): a switch
        made halfway fails instead of leaving the collector on SQLite."""
        values = {"store": {"postgres": postgres}}
        with pytest.raises(helm_sdkpy.InstallError,
                           match="'/store/postgres/(ca/)?existingSecret': value must be ''"):
            install(COLLECTOR, values, tmp_path, "nodebom-collector")
        with pytest.raises(helm_sdkpy.InstallError,
                           match="store.postgres is set but store.type is sqlite: .*store.type=postgres"):
            install(COLLECTOR, values, tmp_path, "nodebom-collector", skip_schema_validation=True)

    def test_unknown_store_type_is_refused(self, tmp_path):
        values = {"store": {"type": "mysql"}}
        with pytest.raises(helm_sdkpy.InstallError,
                           match="'/store/type': value must be one of 'sqlite', 'postgres'"):
            install(COLLECTOR, values, tmp_path, "nodebom-collector")
        with pytest.raises(helm_sdkpy.InstallError,
                           match='store.type must be sqlite or postgres, not "mysql"'):
            install(COLLECTOR, values, tmp_path, "nodebom-collector", skip_schema_validation=True)

    def test_without_persistence_the_database_is_in_an_emptydir(self, tmp_path):
        release = install(COLLECTOR, COLLECTOR_EPHEMERAL, tmp_path, "nodebom-collector")
        statefulset = release.one("StatefulSet")
        assert "volumeClaimTemplates" not in statefulset["spec"]
        assert volume(release.pod_spec("StatefulSet"), "data") == {"name": "data", "emptyDir": {}}
        container = release.container("StatefulSet")
        assert mount(container, "data")["mountPath"] == "/var/lib/nodebom"
        assert "--data-dir=/var/lib/nodebom" in container["args"]

    def test_full_values_reach_the_statefulset(self, tmp_path):
        release = install(COLLECTOR, COLLECTOR_FULL, tmp_path, "nodebom-collector")
        statefulset = release.one("StatefulSet")
        assert statefulset["spec"]["replicas"] == 1
        (claim,) = statefulset["spec"]["volumeClaimTemplates"]
        assert claim["metadata"]["name"] == "data"
        container = release.container("StatefulSet")
        pod = release.pod_spec("StatefulSet")
        args = container["args"]

        assert not any(e["name"] == "NODEBOM_STORE" for e in container["env"])
        assert env(container, "NODEBOM_QUERY_TOKENS")["valueFrom"] == {
            "secretKeyRef": {"name": "query-tokens", "key": "tokens"}}
        # Webhook URLs are secrets: from the Secret, never in the arguments.
        assert env(container, "NODEBOM_WEBHOOKS")["valueFrom"] == {
            "secretKeyRef": {"name": "webhooks", "key": "webhooks"}}
        assert "--notify-min-epss=0.2" in args
        assert "--notify-interval=1m" in args
        assert not any(v["name"] == "data" for v in pod["volumes"])
        assert "--tls-client-ca=/etc/nodebom/tls/ca.crt" in args
        assert volume(pod, "tls")["secret"]["secretName"] == "collector-cert"
        assert "--cluster-tokens-file=/etc/nodebom/cluster-tokens/tokens.txt" in args
        assert volume(pod, "cluster-tokens")["secret"]["secretName"] == "fleet-tokens"

        # The collector's templates arrive as written: Helm does not touch `${…}`.
        assert "--dtrack-url=https://dtrack.example.com" in args
        assert "--dtrack-frontend-url=https://dtrack-ui.example.com" in args
        assert "--dtrack-project-name=k8s/${repository}" in args
        assert "--dtrack-project-version=${tag}@${digest}" in args
        assert "--dtrack-node-project-name=nodes/${node_pool}" in args
        assert "--dtrack-node-project-version=${os}-${kernel}" in args
        assert "--dtrack-tag-grace=6h" in args
        assert "--dtrack-findings-refresh=30m" in args
        assert "--kev-catalog=/etc/nodebom/kev/known_exploited_vulnerabilities.json" in args
        assert "--dtrack-api-key-file=/etc/nodebom/dtrack/key" in args
        assert volume(pod, "dtrack")["secret"]["secretName"] == "dtrack-key"
        assert volume(pod, "kev") == {"name": "kev", "configMap": {"name": "cisa-kev"}}
        assert mount(container, "kev") == {"name": "kev", "mountPath": "/etc/nodebom/kev", "readOnly": True}
        # The policies arrive as the collector's policy file, from a ConfigMap.
        assert "--dtrack-policies=/etc/nodebom/policies/policies.yaml" in args
        assert "--dtrack-policy-interval=5m" in args
        policies = release.one("ConfigMap")
        assert volume(pod, "policies")["configMap"]["name"] == policies["metadata"]["name"]
        assert mount(container, "policies")["mountPath"] == "/etc/nodebom/policies"
        assert yaml.safe_load(policies["data"]["policies.yaml"]) == {
            "policies": COLLECTOR_FULL["dtrack"]["policies"]}

        policy = release.one("NetworkPolicy")
        assert policy["spec"]["ingress"] == [
            {"ports": [{"port": "grpc", "protocol": "TCP"}],
             "from": COLLECTOR_FULL["networkPolicy"]["from"]},
            {"ports": [{"port": "ui", "protocol": "TCP"}],
             "from": COLLECTOR_FULL["ui"]["from"]},
            {"ports": [{"port": "metrics", "protocol": "TCP"}],
             "from": COLLECTOR_FULL["metrics"]["from"]}]
        services = {o["metadata"]["name"]: o for o in release.objects if o["kind"] == "Service"}
        service = services["nodebom-collector"]
        assert service["spec"]["type"] == "LoadBalancer"
        assert service["spec"]["loadBalancerSourceRanges"] == ["10.0.0.0/8"]

        # Metrics on their own port, scraped through a headless Service.
        assert "--metrics-listen=0.0.0.0:9090" in args
        assert {"name": "metrics", "containerPort": 9090, "protocol": "TCP"} in container["ports"]
        # The web UI on its own port, with the gRPC port's TLS, reachable as configured.
        assert "--ui-listen=0.0.0.0:8443" in args
        assert {"name": "ui", "containerPort": 8443, "protocol": "TCP"} in container["ports"]
        assert {"name": "ui", "port": 8443, "targetPort": "ui", "protocol": "TCP",
                "appProtocol": "https"} in service["spec"]["ports"]
        metrics = services["nodebom-collector-metrics"]
        assert metrics["spec"]["clusterIP"] == "None"
        assert metrics["spec"]["ports"] == [
            {"name": "metrics", "port": 9090, "targetPort": "metrics", "protocol": "TCP"}]
        monitor = release.one("ServiceMonitor")
        assert monitor["metadata"]["labels"]["release"] == "prometheus"
        assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
        assert monitor["spec"]["selector"]["matchLabels"].items() <= metrics["metadata"]["labels"].items()

    def test_plaintext_behind_a_mesh_probes_grpc_health(self, tmp_path):
        release = install(COLLECTOR, {"tls": {"enabled": False}}, tmp_path, "nodebom-collector")
        container = release.container("StatefulSet")
        assert "--insecure" in container["args"]
        assert not any(a.startswith("--tls") for a in container["args"])
        assert container["readinessProbe"]["grpc"] == {"port": 7443}
        assert container["livenessProbe"]["grpc"] == {"port": 7443}
        ui = next(p for p in release.one("Service")["spec"]["ports"] if p["name"] == "ui")
        assert ui["appProtocol"] == "http"

    def test_ui_can_be_turned_off(self, tmp_path):
        release = install(COLLECTOR, {"ui": {"enabled": False}}, tmp_path, "nodebom-collector")
        container = release.container("StatefulSet")
        assert not any(a.startswith("--ui-listen") for a in container["args"])
        assert [p["name"] for p in container["ports"]] == ["grpc", "metrics"]
        assert "web UI" not in release.notes

    def test_schema_rejects_a_misspelt_key(self, tmp_path):
        with pytest.raises(helm_sdkpy.InstallError, match="projectName"):
            install(COLLECTOR, {"dtrack": {"projectName": "${repository}"}}, tmp_path,
                    "nodebom-collector")

    @pytest.mark.parametrize("policy, field", [
        ({"name": "p", "when": {"epss": 1.5}}, "epss"),
        ({"name": "p", "when": {"severity": "urgent"}}, "severity"),
        ({"name": "p", "when": {"cvss": 9}}, "cvss"),
        ({"name": "p", "state": "DENY", "when": {"kev": True}}, "state"),
        ({"name": "p"}, "when"),
    ])
    def test_schema_rejects_a_bad_policy(self, tmp_path, policy, field):
        values = {"dtrack": {"url": "https://dtrack.example.com", "policies": [policy]}}
        with pytest.raises(helm_sdkpy.InstallError, match=field):
            install(COLLECTOR, values, tmp_path, "nodebom-collector")

    def test_schema_rejects_a_replica_count_given_as_text(self, tmp_path):
        with pytest.raises(helm_sdkpy.InstallError, match="replicas"):
            install(COLLECTOR, {"replicas": "3"}, tmp_path, "nodebom-collector")


# --- Kubernetes' own schemas -------------------------------------------------------------

# The oldest Kubernetes the charts support (Chart.yaml's kubeVersion) and the newest one
# whose schemas the pinned kubernetes-validate (requirements.txt) ships.
KUBERNETES_OLDEST = "1.25"
KUBERNETES_NEWEST = "1.37"

# Kinds of CRDs, which are not in Kubernetes' schemas: the only objects not validated.
NOT_IN_KUBERNETES = {("monitoring.coreos.com/v1", "ServiceMonitor")}

# Plaintext to the collector, no snapshots, no cache, an existing ServiceAccount, and the
# metrics Service without a ServiceMonitor.
AGENT_MINIMAL = {
    "collector": {"address": "http://nodebom-collector.nodebom.svc:7443", "insecure": True},
    "containerd": {"snapshots": False, "namespace": "k8s.io"},
    "cache": {"enabled": False},
    "serviceAccount": {"create": False, "name": "nodebom"},
    "metrics": {"port": 9464, "service": {"enabled": True}},
    "imagePullSecrets": [{"name": "registry"}],
    "podAnnotations": {"example.com/owner": "security"},
    "podLabels": {"team": "security"},
    "extraEnv": [{"name": "RUST_BACKTRACE", "value": "1"}],
    "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [
            {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64", "arm64"]}]}]}}},
    "updateStrategy": {"type": "OnDelete"},
}

# name -> (chart, values, kinds rendered, sorted). The kinds pin how many objects each
# set renders, so that an object that silently stops rendering is noticed too.
RENDERINGS = {
    "agent-defaults": (AGENT, None, ["DaemonSet", "ServiceAccount"]),
    # ServiceMonitor, a CA Secret, SYS_ADMIN, SELinux options, tolerations.
    # ... and the node's own software with its pool label (RBAC to get nodes).
    "agent-k3s": (AGENT, AGENT_K3S, ["ClusterRole", "ClusterRoleBinding", "DaemonSet", "Service",
                                     "ServiceAccount", "ServiceMonitor"]),
    "agent-minimal": (AGENT, AGENT_MINIMAL, ["DaemonSet", "Service"]),
    "collector-defaults": (COLLECTOR, None, ["Service", "ServiceAccount", "StatefulSet"]),
    # NetworkPolicy, mTLS, query tokens, Dependency-Track, LoadBalancer, extra volumes.
    # Metrics Service and ServiceMonitor.
    "collector-full": (COLLECTOR, COLLECTOR_FULL,
                       ["ConfigMap", "NetworkPolicy", "Service", "Service", "ServiceAccount", "ServiceMonitor",
                        "StatefulSet"]),
    # Plaintext (gRPC probes), the database in an emptyDir.
    "collector-ephemeral": (COLLECTOR, COLLECTOR_EPHEMERAL, ["Service", "StatefulSet"]),
    # PostgreSQL: three pods, a disruption budget, spread constraints, HTTP probes, a CA.
    "collector-postgres-ha": (COLLECTOR, COLLECTOR_POSTGRES_HA,
                              ["Deployment", "PodDisruptionBudget", "Service", "Service",
                               "ServiceAccount"]),
}


@pytest.fixture(scope="module")
def renderings(tmp_path_factory) -> dict[str, list[dict]]:
    """The objects of every entry of RENDERINGS, rendered once for the module."""
    out = {}
    for name, (chart, values, _kinds) in RENDERINGS.items():
        out[name] = install(chart, values, tmp_path_factory.mktemp(name), chart.name).objects
    return out


def kubernetes_schema_errors(obj: dict, version: str) -> list[str]:
    """Everything Kubernetes `version`'s OpenAPI schema (strict: unknown fields are
    errors) finds wrong with `obj`, and what the API server would also refuse beyond
    the schema: a volumeMount of no volume."""
    try:
        validated = kubernetes_validate.validate(obj, version, strict=True)
    except kubernetes_validate.ValidationError as e:
        where = ".".join(str(p) for p in e.absolute_path)
        return [f"{where}: {e.message}"]
    # kubernetes-validate falls back to an older version's schemas when it lacks the
    # one asked for: make sure it did not.
    assert validated == version, f"asked for Kubernetes {version}, validated against {validated}"
    errors = []
    template = obj.get("spec", {}).get("template", {}).get("spec")
    if template:
        volumes = {v["name"] for v in template.get("volumes", [])}
        volumes |= {c["metadata"]["name"] for c in obj["spec"].get("volumeClaimTemplates", [])}
        for container in template["containers"] + template.get("initContainers", []):
            for m in container.get("volumeMounts", []):
                if m["name"] not in volumes:
                    errors.append(f"container {container['name']} mounts volume {m['name']!r}, "
                                  f"which the pod does not have")
    return errors


def test_kubernetes_versions_are_the_supported_range():
    for chart in (AGENT, COLLECTOR):
        chart_yaml = yaml.safe_load((chart / "Chart.yaml").read_text())
        assert chart_yaml["kubeVersion"] == f">={KUBERNETES_OLDEST}.0-0", chart.name
    shipped = kubernetes_validate_utils.all_versions()
    assert f"{KUBERNETES_OLDEST}.0" in shipped
    # A newer kubernetes-validate brings newer schemas: validate against those too.
    assert kubernetes_validate_utils.latest_version() == f"{KUBERNETES_NEWEST}.0"


@pytest.mark.parametrize("version", [KUBERNETES_OLDEST, KUBERNETES_NEWEST])
def test_rendered_objects_are_valid_kubernetes(renderings, version):
    validated = 0
    errors = []
    for name, objects in renderings.items():
        kinds = sorted(o["kind"] for o in objects)
        assert kinds == RENDERINGS[name][2], f"{name} rendered {kinds}"
        for obj in objects:
            what = f"{name}: {obj['kind']} {obj['metadata']['name']}"
            if (obj["apiVersion"], obj["kind"]) in NOT_IN_KUBERNETES:
                # Skipped only because Kubernetes has no schema for it: check that.
                with pytest.raises(kubernetes_validate.SchemaNotFoundError):
                    kubernetes_validate.validate(obj, version, strict=True)
                continue
            try:
                errors += [f"{what}: {e}" for e in kubernetes_schema_errors(obj, version)]
            except kubernetes_validate.SchemaNotFoundError as e:
                errors.append(f"{what}: {e.message}")
            validated += 1
    assert not errors, f"Kubernetes {version}:\n" + "\n".join(errors)
    # Every object but the ServiceMonitors of agent-k3s and collector-full.
    skipped = {kind for _api, kind in NOT_IN_KUBERNETES}
    expected = sum(k not in skipped for _c, _v, kinds in RENDERINGS.values() for k in kinds)
    assert validated == expected == 25


def test_kubernetes_validation_finds_errors(renderings):
    """The validation is not vacuous: a wrong type, an unknown field and a mount of a
    missing volume in the agent's DaemonSet are each found, in both versions."""
    (daemonset,) = [o for o in renderings["agent-defaults"] if o["kind"] == "DaemonSet"]
    wrong_type = copy.deepcopy(daemonset)
    wrong_type["spec"]["template"]["spec"]["containers"][0]["volumeMounts"][0]["readOnly"] = "yes"
    misspelt = copy.deepcopy(daemonset)
    security = misspelt["spec"]["template"]["spec"]["containers"][0]["securityContext"]
    security["readOnlyRootFilesystm"] = security.pop("readOnlyRootFilesystem")
    unmounted = copy.deepcopy(daemonset)
    unmounted["spec"]["template"]["spec"]["volumes"].pop()
    for version in (KUBERNETES_OLDEST, KUBERNETES_NEWEST):
        assert kubernetes_schema_errors(daemonset, version) == []
        assert "readOnly" in kubernetes_schema_errors(wrong_type, version)[0]
        assert "readOnlyRootFilesystm" in kubernetes_schema_errors(misspelt, version)[0]
        assert "token" in kubernetes_schema_errors(unmounted, version)[0]
