//! The tests' private PostgreSQL cluster (`nodebom_e2e::postgres`): databases of their
//! own, the password path, restarts that keep the data, ended sessions, and a cluster
//! that goes away with its test process however that process ends.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nodebom_e2e::postgres::OWNER;
use nodebom_e2e::{Durability, TestPostgres};
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, Config, NoTls};

async fn connect_with(config: &Config) -> Result<Client, tokio_postgres::Error> {
    let (client, connection) = config.connect(NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

async fn connect(url: &str) -> Result<Client, tokio_postgres::Error> {
    connect_with(&url.parse().unwrap()).await
}

async fn notes(client: &Client) -> Vec<String> {
    client
        .query("SELECT body FROM note ORDER BY body", &[])
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect()
}

#[tokio::test]
async fn each_database_is_new_empty_and_owned_by_the_collector_role() {
    let postgres = TestPostgres::shared().await.unwrap();
    let first = postgres.create_database().await.unwrap();
    let second = postgres.create_database().await.unwrap();
    assert_ne!(first, second);
    let prefix = format!("postgres://nodebom@127.0.0.1:{}/", postgres.port());
    for (url, body) in [(&first, "in the first"), (&second, "in the second")] {
        assert!(url.starts_with(&prefix), "{url}");
        let client = connect(url).await.unwrap();
        let row = client
            .query_one(
                "SELECT current_user::text, r.rolsuper, pg_get_userbyid(d.datdba)::text, \
                 (SELECT count(*) FROM pg_tables WHERE schemaname = 'public') \
                 FROM pg_database d, pg_roles r \
                 WHERE d.datname = current_database() AND r.rolname = current_user",
                &[],
            )
            .await
            .unwrap();
        let (user, superuser, owner, tables): (String, bool, String, i64) =
            (row.get(0), row.get(1), row.get(2), row.get(3));
        assert_eq!((user.as_str(), superuser), (OWNER, false));
        assert_eq!(owner, OWNER);
        assert_eq!(tables, 0);
        client
            .batch_execute("CREATE TABLE note (body text NOT NULL)")
            .await
            .unwrap();
        client
            .execute("INSERT INTO note VALUES ($1)", &[&body])
            .await
            .unwrap();
    }
    // Each database holds its own row only, read on a new connection.
    assert_eq!(
        notes(&connect(&first).await.unwrap()).await,
        ["in the first"]
    );
    assert_eq!(
        notes(&connect(&second).await.unwrap()).await,
        ["in the second"]
    );
}

#[tokio::test]
async fn a_database_with_a_password_admits_only_that_password() {
    let postgres = TestPostgres::shared().await.unwrap();
    let password = "it's a p@ss:word/ é";
    let url = postgres
        .create_database_with_password(password)
        .await
        .unwrap();
    assert!(!url.contains("p@ss"), "{url}");
    let config: Config = url.parse().unwrap();

    // The server asks for a password; without one the client cannot answer.
    let missing = connect_with(&config).await.unwrap_err();
    let cause = std::error::Error::source(&missing).map(ToString::to_string);
    assert_eq!(cause.as_deref(), Some("password missing"), "{missing:?}");
    let wrong = connect_with(config.clone().password("not it"))
        .await
        .unwrap_err();
    assert_eq!(wrong.code(), Some(&SqlState::INVALID_PASSWORD), "{wrong}");

    let client = connect_with(config.clone().password(password))
        .await
        .unwrap();
    let row = client
        .query_one(
            "SELECT current_user::text, pg_get_userbyid(datdba)::text \
             FROM pg_database WHERE datname = current_database()",
            &[],
        )
        .await
        .unwrap();
    let (user, owner): (String, String) = (row.get(0), row.get(1));
    assert_eq!(Some(user.as_str()), config.get_user());
    assert_eq!(owner, user);
    client
        .batch_execute("CREATE TABLE note (body text NOT NULL)")
        .await
        .unwrap();
}

#[tokio::test]
async fn terminating_the_sessions_of_a_database_ends_those_only() {
    let postgres = TestPostgres::shared().await.unwrap();
    let target = postgres.create_database().await.unwrap();
    let bystander = postgres.create_database().await.unwrap();
    let ended = [
        connect(&target).await.unwrap(),
        connect(&target).await.unwrap(),
    ];
    let kept = connect(&bystander).await.unwrap();

    assert_eq!(postgres.terminate_connections(&target).await.unwrap(), 2);
    for client in &ended {
        let error = client.simple_query("SELECT 1").await.unwrap_err();
        assert!(error.is_closed() || error.code().is_some(), "{error}");
    }
    kept.simple_query("SELECT 1").await.unwrap();
    connect(&target)
        .await
        .unwrap()
        .simple_query("SELECT 1")
        .await
        .unwrap();
}

#[tokio::test]
async fn a_stopped_and_restarted_cluster_keeps_its_data() {
    let mut postgres = TestPostgres::start().await.unwrap();
    let url = postgres.create_database().await.unwrap();
    let client = connect(&url).await.unwrap();
    client
        .batch_execute("CREATE TABLE note (body text NOT NULL); INSERT INTO note VALUES ('kept')")
        .await
        .unwrap();

    postgres.stop().await.unwrap();
    assert!(client.simple_query("SELECT 1").await.is_err());
    assert!(connect(&url).await.is_err(), "nothing should listen");

    postgres.restart().await.unwrap();
    let client = connect(&url).await.unwrap();
    assert_eq!(notes(&client).await, ["kept"]);
    client
        .execute("INSERT INTO note VALUES ('after the first restart')", &[])
        .await
        .unwrap();

    // A restart of a running server ends its sessions too.
    postgres.restart().await.unwrap();
    assert!(client.simple_query("SELECT 1").await.is_err());
    assert_eq!(
        notes(&connect(&url).await.unwrap()).await,
        ["after the first restart", "kept"]
    );

    let directory = postgres.directory().to_path_buf();
    drop(postgres);
    wait_until("the dropped cluster's directory is removed", || {
        !directory.exists()
    });
}

/// `fsync`, `full_page_writes` and `synchronous_commit` of the server behind `url`.
async fn durability_settings(url: &str) -> [String; 3] {
    let client = connect(url).await.unwrap();
    let mut values = Vec::new();
    for setting in ["fsync", "full_page_writes", "synchronous_commit"] {
        let row = client
            .query_one("SELECT current_setting($1)", &[&setting])
            .await
            .unwrap();
        values.push(row.get(0));
    }
    values.try_into().unwrap()
}

#[tokio::test]
async fn tests_get_a_cluster_without_durability_benchmarks_one_with() {
    let shared = TestPostgres::shared().await.unwrap();
    let url = shared.create_database().await.unwrap();
    assert_eq!(durability_settings(&url).await, ["off", "off", "off"]);

    let durable = TestPostgres::start_with(Durability::Full).await.unwrap();
    let url = durable.create_database().await.unwrap();
    assert_eq!(durability_settings(&url).await, ["on", "on", "on"]);
}

/// Environment variable that makes [`cluster_of_a_child_process`] start a cluster.
const CHILD_MODE: &str = "NODEBOM_TEST_POSTGRES_CHILD";

/// Run by the tests below in a child process (this test binary again): starts the
/// shared cluster, prints `READY <port> <directory>`, then returns (`exit`) or waits
/// to be killed (`wait`). Does nothing when run otherwise.
#[tokio::test]
#[ignore = "run by the tests below in a child process"]
async fn cluster_of_a_child_process() {
    let Ok(mode) = std::env::var(CHILD_MODE) else {
        return;
    };
    let postgres = TestPostgres::shared().await.unwrap();
    postgres.create_database().await.unwrap();
    println!(
        "READY {} {}",
        postgres.port(),
        postgres.directory().display()
    );
    if mode == "wait" {
        tokio::time::sleep(Duration::from_secs(60)).await;
    }
}

/// A child process with a cluster started: the child, its server's port, the
/// cluster's directory and the postmaster's pid.
fn child_with_cluster(mode: &str) -> (std::process::Child, u16, PathBuf, u32) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "cluster_of_a_child_process",
            "--exact",
            "--ignored",
            "--nocapture",
        ])
        .env(CHILD_MODE, mode)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let ready = lines
        .by_ref()
        .map(Result::unwrap)
        .find_map(|line| line.strip_prefix("READY ").map(str::to_string))
        .expect("the child ended without starting its cluster");
    // The rest of its output, read so that the child can write it.
    std::thread::spawn(move || lines.for_each(drop));
    let (port, directory) = ready.split_once(' ').unwrap();
    let directory = PathBuf::from(directory);
    let postmaster = std::fs::read_to_string(directory.join("data/postmaster.pid")).unwrap();
    let pid = postmaster.lines().next().unwrap().parse().unwrap();
    (child, port.parse().unwrap(), directory, pid)
}

/// Whether process `pid` runs (a zombie, waiting for its new parent, does not).
fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let state = stat.rsplit_once(')')?.1.split_whitespace().next()?;
            Some(state != "Z" && state != "X")
        })
        .unwrap_or(false)
}

fn refuses(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_err()
}

fn wait_until(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within 10 s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_killed_test_process_takes_its_cluster_with_it() {
    let (mut child, port, directory, postmaster) = child_with_cluster("wait");
    assert!(running(postmaster));
    child.kill().unwrap();
    child.wait().unwrap();
    wait_until("the postmaster of a killed test process stops", || {
        !running(postmaster)
    });
    assert!(refuses(port));
    // Nothing ran to remove the directory: this test does.
    std::fs::remove_dir_all(&directory).unwrap();
}

#[test]
fn a_test_process_that_exits_stops_its_cluster_and_removes_it() {
    let (mut child, port, directory, postmaster) = child_with_cluster("exit");
    assert!(child.wait().unwrap().success());
    assert!(!running(postmaster));
    assert!(refuses(port));
    assert!(!directory.exists(), "{} is left", directory.display());
}
