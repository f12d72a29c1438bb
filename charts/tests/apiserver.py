"""A stand-in for the Kubernetes API server, just enough for `helm install` to run.

helm-sdkpy exposes Helm's install action but not `helm template`, and Helm's install
talks to a cluster: it reads the server version and API discovery, checks that no
object of the release exists yet, creates the objects and stores the release. This
server answers those calls from memory (discovery of the kinds the charts use, 404 for
every read of an object not created, echo for every create) and records the objects
it was asked to create, so the tests see exactly what Helm would send to a cluster.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

# group/version -> (kind, plural, namespaced) of every kind the charts may render.
RESOURCES: dict[str, list[tuple[str, str, bool]]] = {
    "v1": [
        ("ConfigMap", "configmaps", True),
        ("Namespace", "namespaces", False),
        ("PersistentVolumeClaim", "persistentvolumeclaims", True),
        ("Pod", "pods", True),
        ("Secret", "secrets", True),
        ("Service", "services", True),
        ("ServiceAccount", "serviceaccounts", True),
    ],
    "apps/v1": [
        ("DaemonSet", "daemonsets", True),
        ("Deployment", "deployments", True),
        ("StatefulSet", "statefulsets", True),
    ],
    "networking.k8s.io/v1": [("NetworkPolicy", "networkpolicies", True)],
    "policy/v1": [("PodDisruptionBudget", "poddisruptionbudgets", True)],
    "rbac.authorization.k8s.io/v1": [
        ("ClusterRole", "clusterroles", False),
        ("ClusterRoleBinding", "clusterrolebindings", False),
    ],
    "scheduling.k8s.io/v1": [("PriorityClass", "priorityclasses", False)],
    "monitoring.coreos.com/v1": [("ServiceMonitor", "servicemonitors", True)],
}


def _resource_list(group_version: str) -> dict:
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": [
            {
                "name": plural,
                "singularName": kind.lower(),
                "namespaced": namespaced,
                "kind": kind,
                "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"],
            }
            for kind, plural, namespaced in RESOURCES[group_version]
        ],
    }


def _group_list() -> dict:
    groups = []
    for group_version in RESOURCES:
        if "/" not in group_version:
            continue
        group, version = group_version.split("/", 1)
        entry = {"groupVersion": group_version, "version": version}
        groups.append({"name": group, "versions": [entry], "preferredVersion": entry})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def _status(code: int, reason: str, message: str) -> dict:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


class FakeApiServer:
    """Serves on 127.0.0.1 in a thread; `created` holds every object POSTed, in order."""

    def __init__(self) -> None:
        self.created: list[dict] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format, *args):  # noqa: A002 - BaseHTTPRequestHandler's name
                pass

            def _send(self, code: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):  # noqa: N802 - http.server's name
                path = urlsplit(self.path).path.rstrip("/")
                if path == "/version":
                    self._send(200, {"major": "1", "minor": "31", "gitVersion": "v1.31.0",
                                     "platform": "linux/amd64"})
                elif path == "/api":
                    self._send(200, {"kind": "APIVersions", "versions": ["v1"]})
                elif path == "/apis":
                    self._send(200, _group_list())
                elif path == "/api/v1":
                    self._send(200, _resource_list("v1"))
                elif path.startswith("/apis/") and path[len("/apis/"):] in RESOURCES:
                    self._send(200, _resource_list(path[len("/apis/"):]))
                elif path.endswith("/secrets") or path.endswith("/configmaps"):
                    # Helm's release storage looking for earlier releases: there are none.
                    kind = "SecretList" if path.endswith("/secrets") else "ConfigMapList"
                    self._send(200, {"kind": kind, "apiVersion": "v1",
                                     "metadata": {}, "items": []})
                else:
                    self._send(404, _status(404, "NotFound", f"{path} not found"))

            def do_POST(self):  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length", "0"))
                data = self.rfile.read(length)
                if not self.headers.get("Content-Type", "").startswith("application/json"):
                    # Helm's release storage (a typed client) sends its Secret as
                    # protobuf; it only needs a Secret back, not the chart's objects.
                    self._send(201, {"kind": "Secret", "apiVersion": "v1",
                                     "metadata": {"name": "release"}})
                    return
                body = json.loads(data)
                with server._lock:
                    server.created.append(body)
                self._send(201, body)

            do_PUT = do_POST  # noqa: N815 - Helm marks its stored release deployed

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def kubeconfig(self) -> str:
        """A kubeconfig (YAML, written as JSON) that points at this server."""
        return json.dumps({
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "fake", "user": {"token": "fake"}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}],
            "current-context": "fake",
        })

    def __enter__(self) -> "FakeApiServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
