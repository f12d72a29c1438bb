//! The web UI over real HTTP: every route, its authentication, its bounds and what it
//! does with text that came from an image.

mod common;

use common::*;
use nodebom_proto::v1 as pb;
use reqwest::redirect::Policy;
use reqwest::{header, Client, StatusCode};

const QUERY_TOKEN: &str = "ui-test-query-token";
/// A package name and version an attacker chose, as an image can carry them.
const HOSTILE_NAME: &str = "<script>alert('name')</script>";
const HOSTILE_VERSION: &str = "\"><img src=x onerror=alert(1)>";

fn client() -> Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    Client::builder().redirect(Policy::none()).build().unwrap()
}

/// The python fixture with a hostile package added to it.
fn hostile_sbom() -> Vec<u8> {
    let mut document: serde_json::Value = serde_json::from_slice(PYTHON_SBOM).unwrap();
    document["components"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({
            "type": "library", "bom-ref": "hostile", "name": HOSTILE_NAME,
            "version": HOSTILE_VERSION, "purl": "pkg:pypi/evil@1.0",
        }));
    serde_json::to_vec(&document).unwrap()
}

/// prod-a/a1 runs nginx (with the hostile SBOM) in namespace web and has `extra`
/// images on disk.
async fn fleet(collector: &TestCollector, extra: usize) -> (Agent, pb::Image) {
    let nginx = image("nginx", &["docker.io/library/nginx:1.27.0"]);
    let mut images = vec![nginx.clone()];
    images.extend((0..extra).map(|i| {
        image(
            &format!("extra-{i}"),
            &[&format!("registry.example/extra:{i}")],
        )
    }));
    let mut a1 = Agent::connect(collector, Some(TOKEN_A), "prod-a", "a1")
        .await
        .unwrap();
    a1.full(&images, &[workload("web", "nginx-0", "nginx", &nginx)])
        .await
        .unwrap();
    a1.upload(
        collector,
        Some(TOKEN_A),
        &nginx.manifest_digest,
        &hostile_sbom(),
        1 << 20,
    )
    .await
    .unwrap();
    (a1, nginx)
}

async fn start(extra: &[&str]) -> TestCollector {
    let mut args = vec!["--ui-listen", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    TestCollector::start(&args).await
}

async fn get(collector: &TestCollector, path: &str) -> (StatusCode, header::HeaderMap, String) {
    let response = client()
        .get(collector.ui_endpoint(path))
        .send()
        .await
        .unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    (status, headers, response.text().await.unwrap())
}

#[tokio::test]
async fn every_page_answers_with_a_strict_policy_and_shows_image_text_as_text() {
    let collector = start(&[]).await;
    let (_a1, nginx) = fleet(&collector, 0).await;
    let digest = &nginx.manifest_digest;

    let pages = [
        "/".to_owned(),
        "/images".into(),
        "/images?cluster=prod-a&running=1".into(),
        format!("/images/{digest}"),
        "/search".into(),
        "/search?q=click".into(),
        format!("/search?q={}", urlencode(HOSTILE_NAME)),
        "/exposures".into(),
        "/clusters/prod-a".into(),
        "/clusters/prod-a/namespaces/web".into(),
        "/sign-in".into(),
    ];
    for path in &pages {
        let (status, headers, body) = get(&collector, path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        let policy = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(policy.starts_with("default-src 'none'"), "{path}: {policy}");
        assert!(!policy.contains("script-src"), "{path}: {policy}");
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
        assert!(
            !body.contains("<script"),
            "{path} carries markup from an image:\n{body}"
        );
        assert!(!body.contains("<img src=x"), "{path}");
    }

    let (_, _, fleet) = get(&collector, "/").await;
    assert!(fleet.contains("SBOM coverage"), "{fleet}");
    let (_, _, by_pod) = get(&collector, "/images?pod=nginx-0").await;
    assert!(
        by_pod.contains("docker.io/library/nginx:1.27.0"),
        "{by_pod}"
    );
    let (_, _, named) = get(&collector, "/images?name=LIBRARY/NGINX").await;
    assert!(named.contains("docker.io/library/nginx:1.27.0"), "{named}");
    let (_, _, unnamed) = get(&collector, "/images?name=redis%25").await;
    assert!(unnamed.contains("No image here."), "{unnamed}");
    let (_, _, no_pod) = get(&collector, "/images?pod=nginx-9").await;
    assert!(no_pod.contains("No image here."), "{no_pod}");
    let (_, _, images) = get(&collector, "/images").await;
    assert!(images.contains("docker.io/library/nginx:1.27.0"));
    assert!(images.contains(&format!("href=\"/images/{digest}\"")));
    // The image's page lists its packages by layer, the hostile one as text, and where
    // it runs.
    let (_, _, page) = get(&collector, &format!("/images/{digest}")).await;
    assert!(
        page.contains("&#60;script&#62;alert(&#39;name&#39;)&#60;/script&#62;"),
        "{page}"
    );
    for expected in [
        "click",
        "certifi",
        "nginx-0",
        "web",
        "prod-a",
        "Download the SBOM",
    ] {
        assert!(page.contains(expected), "{expected} missing:\n{page}");
    }
    // A search for the package reaches the pod that runs it.
    let (_, _, found) = get(&collector, "/search?q=click%20%3E%3D%201").await;
    assert!(found.contains("prod-a/web/nginx-0 (nginx)"), "{found}");
    let (_, _, none) = get(&collector, "/search?q=click%20%3C%201").await;
    assert!(none.contains("0 images with matching packages"), "{none}");
    // Fleet → cluster → namespace → pod → its image.
    let (_, _, fleet) = get(&collector, "/").await;
    assert!(fleet.contains("href=\"/clusters/prod-a\""), "{fleet}");
    let (_, _, cluster) = get(&collector, "/clusters/prod-a").await;
    for expected in [
        "a1",
        "href=\"/clusters/prod-a/namespaces/web\"",
        "Last contact",
    ] {
        assert!(cluster.contains(expected), "{expected} missing:\n{cluster}");
    }
    let (_, _, namespace) = get(&collector, "/clusters/prod-a/namespaces/web").await;
    for expected in [
        "nginx-0",
        &format!("href=\"/images/{digest}\""),
        "docker.io/library/nginx:1.27.0",
    ] {
        assert!(
            namespace.contains(expected),
            "{expected} missing:\n{namespace}"
        );
    }
    let (_, _, open) = get(&collector, "/sign-in").await;
    assert!(open.contains("open to whoever reaches them"), "{open}");

    // The SBOM download is the stored document.
    let response = client()
        .get(collector.ui_endpoint(&format!("/images/{digest}/sbom.json")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "application/vnd.cyclonedx+json"
    );
    assert!(response.headers()[header::CONTENT_DISPOSITION]
        .to_str()
        .unwrap()
        .starts_with("attachment"));
    let document: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        document["metadata"]["component"]["version"],
        digest.as_str()
    );

    // Searches for a digest, a vulnerability and a namespace lead to their pages.
    for (query, location) in [
        (digest.clone(), format!("/images/{digest}")),
        (
            "cve-2024-3094".into(),
            "/exposures?vulnerability=CVE-2024-3094".into(),
        ),
        ("ns:web".into(), "/images?namespace=web".into()),
        ("pod:nginx-0".into(), "/images?pod=nginx-0".into()),
        (
            "library/nginx:1.27".into(),
            "/images?name=library%2Fnginx%3A1.27".into(),
        ),
    ] {
        let response = client()
            .get(collector.ui_endpoint(&format!("/search?q={}", urlencode(&query))))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{query}");
        assert_eq!(response.headers()[header::LOCATION], location.as_str());
    }
    collector.stop().await;
}

/// A form posted as a browser posts it.
async fn post_form(
    collector: &TestCollector,
    path: &str,
    fields: &[(&str, &str)],
) -> reqwest::Result<reqwest::Response> {
    client()
        .post(collector.ui_endpoint(path))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(fields).unwrap())
        .send()
        .await
}

fn urlencode(text: &str) -> String {
    serde_urlencoded::to_string([("", text)]).unwrap()[1..].to_owned()
}

#[tokio::test]
async fn with_query_tokens_every_page_needs_a_session_that_sign_in_sets() {
    let collector = start(&["--query-token", QUERY_TOKEN]).await;
    let _ = fleet(&collector, 0).await;

    let response = client()
        .get(collector.ui_endpoint("/images?running=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        response.headers()[header::LOCATION],
        "/sign-in?next=%2Fimages%3Frunning%3D1"
    );
    // The style sheet needs no session: the sign-in page uses it.
    let (status, _, _) = get(&collector, "/static/style.css").await;
    assert_eq!(status, StatusCode::OK);

    let next = "/images?running=1";
    let refused = post_form(
        &collector,
        "/sign-in",
        &[("token", "wrong"), ("next", next)],
    )
    .await
    .unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert!(refused.headers().get(header::SET_COOKIE).is_none());
    assert!(refused.text().await.unwrap().contains("not valid"));

    let accepted = post_form(
        &collector,
        "/sign-in",
        &[("token", QUERY_TOKEN), ("next", next)],
    )
    .await
    .unwrap();
    assert_eq!(accepted.status(), StatusCode::SEE_OTHER);
    assert_eq!(accepted.headers()[header::LOCATION], "/images?running=1");
    let cookie = accepted.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_owned();
    for attribute in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    assert!(
        !cookie.contains(QUERY_TOKEN),
        "the token itself is kept: {cookie}"
    );
    let session = cookie.split(';').next().unwrap().to_owned();
    let signed = client()
        .get(collector.ui_endpoint("/images?running=1"))
        .header(header::COOKIE, &session)
        .send()
        .await
        .unwrap();
    assert_eq!(signed.status(), StatusCode::OK);
    assert!(signed.text().await.unwrap().contains("nginx"));
    let forged = client()
        .get(collector.ui_endpoint("/"))
        .header(
            header::COOKIE,
            format!("nodebom_session={}", "0".repeat(64)),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::SEE_OTHER);
    let scripted = client()
        .get(collector.ui_endpoint("/"))
        .bearer_auth(QUERY_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(scripted.status(), StatusCode::OK);
    // A sign-in never sends the browser to another site.
    let elsewhere = post_form(
        &collector,
        "/sign-in",
        &[("token", QUERY_TOKEN), ("next", "//evil.example/")],
    )
    .await
    .unwrap();
    assert_eq!(elsewhere.headers()[header::LOCATION], "/");
    let out = client()
        .post(collector.ui_endpoint("/sign-out"))
        .header(header::COOKIE, &session)
        .send()
        .await
        .unwrap();
    assert!(out.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    collector.stop().await;
}

#[tokio::test]
async fn bad_parameters_and_pages_out_of_range_are_400_with_a_message() {
    let collector = start(&[]).await;
    let _ = fleet(&collector, 0).await;
    let zeros = format!("sha256:{}", "0".repeat(64));
    let cases = [
        ("/exposures?page=0", StatusCode::BAD_REQUEST, "page"),
        (
            "/exposures?page=7",
            StatusCode::BAD_REQUEST,
            "past the last page",
        ),
        ("/exposures?min_epss=2", StatusCode::BAD_REQUEST, "min_epss"),
        (
            "/exposures?min_severity=URGENT",
            StatusCode::BAD_REQUEST,
            "min_severity",
        ),
        ("/exposures?kev=maybe", StatusCode::BAD_REQUEST, "kev"),
        ("/images?after=nope", StatusCode::BAD_REQUEST, "after"),
        (
            "/images?colour=red",
            StatusCode::BAD_REQUEST,
            "unknown field",
        ),
        (
            "/search?q=sha256:12",
            StatusCode::BAD_REQUEST,
            "not a sha256 digest",
        ),
        (
            "/search?q=openssl%20%3C",
            StatusCode::BAD_REQUEST,
            "needs a version",
        ),
        ("/images/sha256:zz", StatusCode::BAD_REQUEST, "digest"),
        (
            &format!("/images/{zeros}"),
            StatusCode::NOT_FOUND,
            "no node has reported",
        ),
        (
            &format!("/images/{zeros}/sbom.json"),
            StatusCode::NOT_FOUND,
            "no SBOM",
        ),
        ("/nowhere", StatusCode::NOT_FOUND, "no such page"),
        (
            "/clusters/prod-z",
            StatusCode::NOT_FOUND,
            "no node of cluster",
        ),
        (
            "/clusters/prod-a/namespaces/none",
            StatusCode::NOT_FOUND,
            "nothing runs",
        ),
        (
            "/clusters/prod-a/namespaces/%01",
            StatusCode::BAD_REQUEST,
            "namespace",
        ),
    ];
    for (path, status, message) in cases {
        let (got, headers, body) = get(&collector, path).await;
        assert_eq!(got, status, "{path}: {body}");
        assert!(body.contains(message), "{path}: {message:?} not in\n{body}");
        assert!(
            headers.contains_key(header::CONTENT_SECURITY_POLICY),
            "{path}"
        );
    }
    collector.stop().await;
}

#[tokio::test]
async fn image_lists_go_page_by_page() {
    let collector = start(&[]).await;
    let _ = fleet(&collector, 59).await;
    let (_, _, first) = get(&collector, "/images?cluster=prod-a").await;
    let rows = |page: &str| page.matches("<tr>").count() - 1;
    assert_eq!(rows(&first), 50);
    let next = first
        .split("rel=\"next\" href=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .replace("&amp;", "&")
        .replace("&#38;", "&");
    assert!(
        next.starts_with("/images?cluster=prod-a&after=sha256"),
        "{next}"
    );
    let (status, _, second) = get(&collector, &next).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(rows(&second), 10);
    assert!(!second.contains("rel=\"next\""));
    collector.stop().await;
}

#[tokio::test]
async fn with_tls_the_ui_is_served_over_tls_with_the_collector_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (pem, cert, key) = localhost_tls(dir.path());
    let collector = start(&["--tls-cert", &cert, "--tls-key", &key]).await;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let trusting = Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(pem.as_bytes()).unwrap())
        .build()
        .unwrap();
    let url = collector
        .ui_endpoint("/")
        .replace("http://127.0.0.1", "https://localhost");
    let response = trusting.get(&url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.text().await.unwrap().contains("Fleet"));
    // Plaintext gets no page.
    assert!(client()
        .get(collector.ui_endpoint("/"))
        .send()
        .await
        .is_err());
    collector.stop().await;
}

#[tokio::test]
async fn an_image_page_links_to_its_dependency_track_project() {
    let dt =
        nodebom_e2e::dtrack::DtServer::start(nodebom_e2e::dtrack::DtOptions::default()).unwrap();
    let keys = tempfile::tempdir().unwrap();
    let collector = TestCollector::forwarding_to(
        &dt.url(),
        dt.api_key(),
        keys.path(),
        &[
            "--ui-listen",
            "127.0.0.1:0",
            "--dtrack-frontend-url",
            "https://dtrack.example.com/",
        ],
    )
    .await;
    let (_a1, nginx) = fleet(&collector, 0).await;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let project = loop {
        if let Some(project) = dt.project("docker.io/library/nginx", "1.27.0") {
            break project;
        }
        assert!(tokio::time::Instant::now() < deadline, "nothing forwarded");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let (_, _, page) = get(&collector, &format!("/images/{}", nginx.manifest_digest)).await;
    let link = format!(
        "href=\"https://dtrack.example.com/projects/{}\">docker.io/library/nginx@1.27.0</a>",
        project.uuid
    );
    assert!(page.contains(&link), "{link} not in\n{page}");
    collector.stop().await;
    dt.assert_conformant();
}

/// Where the browser test's screenshots are kept.
fn screenshots() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/ui-screenshots")
}

#[tokio::test]
async fn a_user_signs_in_searches_opens_an_image_and_downloads_its_sbom_in_chromium() {
    let browser = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    assert!(
        browser.join("node_modules/playwright-core").is_dir(),
        "playwright-core is not installed: run `npm ci --prefix {}` (scripts/test does)",
        browser.display()
    );
    let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|path| std::path::Path::new(path).exists())
        .expect("Chromium is not installed: Debian package chromium (scripts/test installs it)");
    let collector = start(&["--query-token", QUERY_TOKEN]).await;
    let (_a1, nginx) = fleet(&collector, 0).await;
    let shots = screenshots();
    std::fs::create_dir_all(&shots).unwrap();
    // localhost rather than 127.0.0.1: Chromium keeps Secure cookies on it over http.
    let url = collector.ui_endpoint("").replace("127.0.0.1", "localhost");
    let output = tokio::process::Command::new("node")
        .arg("ui.mjs")
        .current_dir(&browser)
        .env("UI_URL", url)
        .env("QUERY_TOKEN", QUERY_TOKEN)
        .env("DIGEST", &nginx.manifest_digest)
        .env("PACKAGE", "click >= 8")
        .env("POD", "prod-a/web/nginx-0 (nginx)")
        .env("HOSTILE", HOSTILE_NAME)
        .env("SHOTS", &shots)
        .env("CHROMIUM", chromium)
        .kill_on_drop(true)
        .output()
        .await
        .expect("node is not installed");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "browser test failed:\n{printed}");
    assert!(printed.contains("browser checks passed"), "{printed}");
    for page in [
        "sign-in",
        "images",
        "search",
        "image",
        "cluster",
        "namespace",
        "fleet",
        "exposures",
        "image-dark",
    ] {
        let shot = shots.join(format!("{page}.png"));
        let bytes = std::fs::read(&shot).unwrap_or_default();
        assert!(
            bytes.starts_with(b"\x89PNG"),
            "no screenshot {}",
            shot.display()
        );
    }
    collector.stop().await;
}

#[tokio::test]
async fn cluster_page_shows_each_nodes_pool_and_own_software() {
    let collector = start(&[]).await;
    let software = node_software("of the ui test");
    let mut node = Agent::connect_in_pool(&collector, Some(TOKEN_A), "prod-a", "n1", "pool-x")
        .await
        .unwrap();
    node.full(std::slice::from_ref(&software), &[])
        .await
        .unwrap();
    node.upload(
        &collector,
        Some(TOKEN_A),
        &software.manifest_digest,
        DEBIAN_SBOM,
        1 << 20,
    )
    .await
    .unwrap();
    let mut plain = Agent::connect(&collector, Some(TOKEN_A), "prod-a", "n2")
        .await
        .unwrap();
    plain.full(&[], &[]).await.unwrap();

    let (status, _, cluster) = get(&collector, "/clusters/prod-a").await;
    assert_eq!(status, StatusCode::OK);
    let link = format!(
        "<a href=\"/images/{}\">debian-12, 6.1.0-18-amd64</a>",
        software.manifest_digest
    );
    for expected in ["pool-x", link.as_str(), "not read"] {
        assert!(cluster.contains(expected), "{expected} missing:\n{cluster}");
    }
    // Its page lists the software's packages like an image's.
    let (status, _, page) = get(&collector, &format!("/images/{}", software.manifest_digest)).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    for expected in [
        "<h1>Node software</h1>",
        "Debian GNU/Linux 12 (bookworm)",
        "6.1.0-18-amd64",
        "libc6",
    ] {
        assert!(page.contains(expected), "{expected} missing:\n{page}");
    }
    assert!(!page.contains("Config digest"), "{page}");
}
