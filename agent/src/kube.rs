//! The one thing the agent asks the Kubernetes API: a label of its own node (its node
//! pool), with the pod's service account. Everything else comes from containerd.

use std::time::Duration;

use anyhow::{bail, Context};

/// Where a pod's service account credentials are mounted.
const SERVICE_ACCOUNT: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
/// Deadline of the whole request.
const DEADLINE: Duration = Duration::from_secs(10);
/// Largest Node object read.
const MAX_NODE_BYTES: usize = 1 << 20;

/// The value of `label` on node `node` ('' when the node has no such label). `api` is the
/// API server's URL; by default the in-cluster address, with the service account's CA
/// and token.
pub async fn node_label(api: Option<&str>, node: &str, label: &str) -> anyhow::Result<String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut client = reqwest::Client::builder()
        .timeout(DEADLINE)
        .user_agent(concat!("nodebom-agent/", env!("CARGO_PKG_VERSION")));
    let api = match api {
        Some(api) => api.trim_end_matches('/').to_owned(),
        None => {
            let host = std::env::var("KUBERNETES_SERVICE_HOST")
                .context("KUBERNETES_SERVICE_HOST is not set: not in a pod; pass --node-pool")?;
            let port = std::env::var("KUBERNETES_SERVICE_PORT").unwrap_or_else(|_| "443".into());
            let ca = std::fs::read(format!("{SERVICE_ACCOUNT}/ca.crt"))
                .context("reading the service account's CA")?;
            client = client.add_root_certificate(
                reqwest::Certificate::from_pem(&ca).context("the service account's CA")?,
            );
            // An IPv6 address needs brackets in a URL.
            if host.contains(':') {
                format!("https://[{host}]:{port}")
            } else {
                format!("https://{host}:{port}")
            }
        }
    };
    let client = client.build().context("HTTP client")?;
    let mut request = client.get(format!("{api}/api/v1/nodes/{node}"));
    if let Ok(token) = std::fs::read_to_string(format!("{SERVICE_ACCOUNT}/token")) {
        request = request.bearer_auth(token.trim());
    }
    let mut response = request
        .send()
        .await
        .with_context(|| format!("GET node {node}"))?;
    if !response.status().is_success() {
        bail!(
            "GET node {node}: HTTP {} (the agent's service account needs `get` on nodes)",
            response.status()
        );
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.context("reading the node")? {
        if body.len() + chunk.len() > MAX_NODE_BYTES {
            bail!("node {node}: object larger than {MAX_NODE_BYTES} bytes");
        }
        body.extend_from_slice(&chunk);
    }
    let node_object: serde_json::Value =
        serde_json::from_slice(&body).context("the node is not JSON")?;
    Ok(node_object["metadata"]["labels"][label]
        .as_str()
        .unwrap_or_default()
        .to_owned())
}

#[cfg(test)]
mod tests {
    use axum::routing::get;

    use super::*;

    /// An API server that knows one node, `worker-1`.
    async fn api_server() -> String {
        let app = axum::Router::new().route(
            "/api/v1/nodes/{name}",
            get(
                |axum::extract::Path(name): axum::extract::Path<String>| async move {
                    if name != "worker-1" {
                        return Err(axum::http::StatusCode::NOT_FOUND);
                    }
                    Ok(axum::Json(serde_json::json!({
                        "kind": "Node",
                        "metadata": {"name": name, "labels": {
                            "cloud.google.com/gke-nodepool": "pool-a",
                            "kubernetes.io/arch": "amd64"
                        }}
                    })))
                },
            ),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn the_pool_is_the_nodes_label_value() {
        let api = api_server().await;
        let label = "cloud.google.com/gke-nodepool";
        assert_eq!(
            node_label(Some(&api), "worker-1", label).await.unwrap(),
            "pool-a"
        );
        // No such label: no pool.
        assert_eq!(
            node_label(Some(&api), "worker-1", "agentpool")
                .await
                .unwrap(),
            ""
        );
        // An unknown node is an error that says what the agent needs.
        let error = node_label(Some(&api), "worker-9", label).await.unwrap_err();
        assert!(format!("{error:#}").contains("404"), "{error:#}");
    }
}
