//! The collector on PostgreSQL when things are wrong: an unreachable database, a wrong
//! password, a database of a newer collector, a connection lost in the middle of a
//! transaction, a server restart. Clear errors, retries, nothing half-written.

mod common;

use std::time::Duration;

use common::*;
use nodebom_collector::config::ServeArgs;
use nodebom_collector::server;
use nodebom_e2e::TestPostgres;
use nodebom_proto::v1 as pb;

/// Starts a collector on `store`; the error is what `serve` would print.
async fn start(store: &str, extra: &[&str]) -> Result<server::Collector, String> {
    let mut args = vec!["serve", "--listen", "127.0.0.1:0", "--store", store];
    args.extend_from_slice(extra);
    let config = ServeArgs::try_parse_from(args)
        .and_then(|args| args.resolve())
        .map_err(|err| err.to_string())?;
    server::start(config).await.map_err(|err| {
        let mut text = err.to_string();
        let mut source = std::error::Error::source(&err);
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        text
    })
}

#[tokio::test]
async fn an_unreachable_database_is_named_in_a_clear_error() {
    // A port nothing listens on: bound, then closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://nodebom@127.0.0.1:{port}/fleet?sslmode=disable");
    let err = start(&url, &[]).await.unwrap_err();
    assert!(
        err.contains(&format!(
            "connecting to postgres://nodebom@127.0.0.1:{port}/fleet"
        )),
        "{err}"
    );
    assert!(err.to_lowercase().contains("refused"), "{err}");
}

#[tokio::test]
async fn a_password_comes_from_a_file_or_the_environment_never_from_a_flag() {
    let postgres = TestPostgres::shared().await.unwrap();
    let url = postgres
        .create_database_with_password("correct horse")
        .await
        .unwrap();
    let err = start(&url, &[]).await.unwrap_err();
    assert!(err.contains("password missing"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let wrong = dir.path().join("wrong");
    std::fs::write(&wrong, "battery staple").unwrap();
    let err = start(&url, &["--store-password-file", wrong.to_str().unwrap()])
        .await
        .unwrap_err();
    assert!(err.contains("password authentication failed"), "{err}");

    let file = dir.path().join("password");
    std::fs::write(&file, "correct horse\n").unwrap();
    let collector = start(&url, &["--store-password-file", file.to_str().unwrap()])
        .await
        .unwrap();
    collector.shutdown().await.unwrap();

    let with_password = url.replacen("@", ":correct%20horse@", 1);
    let err = start(&with_password, &[]).await.unwrap_err();
    assert!(err.contains("would show in the process list"), "{err}");
}

#[tokio::test]
async fn a_database_of_a_newer_collector_is_refused() {
    let postgres = TestPostgres::shared().await.unwrap();
    let url = postgres.create_database().await.unwrap();
    start(&url, &[]).await.unwrap().shutdown().await.unwrap();
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
        .execute("INSERT INTO nodebom_schema (version) VALUES (99)", &[])
        .await
        .unwrap();
    let err = start(&url, &[]).await.unwrap_err();
    assert!(
        err.contains("the database has schema version 99, newer than this collector's"),
        "{err}"
    );
}

/// Images of a node, numbered.
fn images(count: usize) -> Vec<pb::Image> {
    (0..count)
        .map(|i| {
            image(
                &format!("image-{i}"),
                &[&format!("registry.example/app-{i}:1")],
            )
        })
        .collect()
}

/// How many images `node` has, as the Query API says.
async fn images_on(target: &impl Target, node: &str) -> usize {
    let mut query = query_client(target).await;
    let mut count = 0;
    let mut after = String::new();
    loop {
        let page = query
            .list_images(pb::ListImagesRequest {
                node: node.into(),
                page_size: 1000,
                page_token: after.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        count += page.images.len();
        if page.next_page_token.is_empty() {
            return count;
        }
        after = page.next_page_token;
    }
}

#[tokio::test]
async fn connections_lost_mid_transaction_are_retried_and_nothing_is_half_written() {
    // A cluster of this test's own: its connections are cut and it is restarted.
    let mut postgres = TestPostgres::start().await.unwrap();
    let url = postgres.create_database().await.unwrap();
    let collector = start(&url, &[]).await.unwrap();
    let target = format!("http://{}", collector.local_addr());

    // A large report takes a while to store; every session is cut meanwhile.
    let mut agent = Agent::connect_to(&target, None, "prod-a", "big-node")
        .await
        .unwrap();
    let report = images(3000);
    let sequence = agent
        .send(pb::sync_request::Message::Inventory(pb::InventoryPart {
            images: report.clone(),
            workloads: Vec::new(),
            last: true,
        }))
        .await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    let cut = postgres.terminate_connections(&url).await.unwrap();
    assert!(cut > 0, "the collector had no session to cut");
    match agent.ack(sequence).await {
        // Tried again on a new connection: all of it is there.
        Ok(_) => assert_eq!(images_on(&target, "big-node").await, report.len()),
        // Or given up with a status an agent retries on: none of it is there.
        Err(status) => {
            assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
            assert_eq!(images_on(&target, "big-node").await, 0);
        }
    }

    // A restart of the database: the pool opens new connections, the next report works.
    postgres.restart().await.unwrap();
    let mut agent = Agent::connect_to(&target, None, "prod-a", "small-node")
        .await
        .unwrap();
    agent.full(&images(5), &[]).await.unwrap();
    assert_eq!(images_on(&target, "small-node").await, 5);
    collector.shutdown().await.unwrap();
}
