//! Image names: Docker-style short names and repository extraction.

/// Expands a Docker-style short name the way the CRI and Docker do:
/// `nginx` → `docker.io/library/nginx:latest`, `user/app:1` → `docker.io/user/app:1`.
/// Returns `None` when the name is already fully qualified or is a bare digest.
pub fn normalize_name(name: &str) -> Option<String> {
    if name.starts_with("sha256:") || name.is_empty() {
        return None;
    }
    let (path, suffix) = split_suffix(name);
    let first = path.split('/').next().unwrap_or(path);
    let has_registry =
        path.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    let full_path = if has_registry {
        path.to_string()
    } else if path.contains('/') {
        format!("docker.io/{path}")
    } else {
        format!("docker.io/library/{path}")
    };
    let suffix = if suffix.is_empty() { ":latest" } else { suffix };
    let normalized = format!("{full_path}{suffix}");
    (normalized != name).then_some(normalized)
}

/// The repository of an image name (`docker.io/library/nginx:1.27` → `docker.io/library/nginx`);
/// `None` for names that carry no repository (`sha256:<config digest>`).
pub fn repository_of(name: &str) -> Option<String> {
    if name.starts_with("sha256:") {
        return None;
    }
    let (path, _) = split_suffix(name);
    (!path.is_empty()).then(|| path.to_string())
}

/// Splits `path[:tag][@digest]` into the path and the `:tag`/`@digest` suffix.
fn split_suffix(name: &str) -> (&str, &str) {
    if let Some(at) = name.find('@') {
        let (before, _) = name.split_at(at);
        let (path, _) = split_tag(before);
        return (path, &name[path.len()..]);
    }
    split_tag(name)
}

fn split_tag(name: &str) -> (&str, &str) {
    let last_slash = name.rfind('/').map(|i| i + 1).unwrap_or(0);
    match name[last_slash..].find(':') {
        Some(colon) => name.split_at(last_slash + colon),
        None => (name, ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_expand_like_docker() {
        assert_eq!(
            normalize_name("nginx").as_deref(),
            Some("docker.io/library/nginx:latest")
        );
        assert_eq!(
            normalize_name("nginx:1.27").as_deref(),
            Some("docker.io/library/nginx:1.27")
        );
        assert_eq!(
            normalize_name("user/app:1").as_deref(),
            Some("docker.io/user/app:1")
        );
        assert_eq!(normalize_name("registry.k8s.io/pause:3.9"), None);
        assert_eq!(normalize_name("localhost:5000/app:1"), None);
        assert_eq!(normalize_name("sha256:abcd"), None);
    }

    #[test]
    fn repository_drops_tag_and_digest_but_keeps_registry_port() {
        assert_eq!(
            repository_of("docker.io/library/nginx:1.27").as_deref(),
            Some("docker.io/library/nginx")
        );
        assert_eq!(
            repository_of("localhost:5000/app@sha256:00").as_deref(),
            Some("localhost:5000/app")
        );
        assert_eq!(
            repository_of("localhost:5000/app:1@sha256:00").as_deref(),
            Some("localhost:5000/app")
        );
        assert_eq!(repository_of("sha256:00"), None);
    }
}
