//! A private PostgreSQL cluster (the Debian package's server) for tests: initialised in
//! a temporary directory, listening on a free 127.0.0.1 port and on a unix socket in
//! that directory, and gone with the test process, even when the process is killed.
//!
//! The server is a child of a thread of its own (the cluster's keeper), started with
//! `PR_SET_PDEATHSIG`: the kernel sends the death signal when the spawning *thread*
//! ends, so the keeper ends only after the server has stopped. At a normal exit an
//! `atexit` handler stops every cluster and removes its directory; after a SIGKILL the
//! death signal stops the server and the directory stays behind.

use std::fs::File;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{mpsc, Mutex, Once};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use nix::sys::signal::{self, Signal};
use nix::unistd::{Pid, User};
use tokio::sync::{oneshot, OnceCell};

/// The role that owns the databases of [`TestPostgres::create_database`], as the
/// collector would connect in production: not a superuser, owner of its database.
pub const OWNER: &str = "nodebom";
/// Roles that must give their password over TCP (scram-sha-256): members of this one.
const PASSWORD_GROUP: &str = "password_login";
/// Creates the databases and roles, over the unix socket.
const SUPERUSER: &str = "postgres";
/// The system user that the Debian package creates to run the server.
const SERVER_USER: &str = "postgres";
/// How long the server gets to start, or to stop before it is killed.
const PATIENCE: Duration = Duration::from_secs(30);

/// Settings on the server's command line, whatever its [`Durability`].
const SETTINGS: &[(&str, &str)] = &[
    ("listen_addresses", "127.0.0.1"),
    // Tests run in parallel, each with a collector or several, each with a pool.
    ("max_connections", "300"),
];

/// Whether the server makes a commit durable before it answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// Tests: `fsync`, `full_page_writes` and `synchronous_commit` off. A test database
    /// needs no durability: without it, start-up and writes cost less on a small shared
    /// machine.
    #[default]
    Off,
    /// Benchmarks: the three on, as a production server has them, so that a commit
    /// costs what it costs in production (an fsync of the WAL).
    Full,
}

impl Durability {
    fn settings(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Self::Off => &[
                ("fsync", "off"),
                ("full_page_writes", "off"),
                ("synchronous_commit", "off"),
            ],
            Self::Full => &[
                ("fsync", "on"),
                ("full_page_writes", "on"),
                ("synchronous_commit", "on"),
            ],
        }
    }
}

/// `pg_hba.conf`: the superuser over the socket; over TCP a password for the members
/// of [`PASSWORD_GROUP`], none for the other roles.
fn hba_conf() -> String {
    format!(
        "local all all                       trust\n\
         host  all +{PASSWORD_GROUP} 127.0.0.1/32 scram-sha-256\n\
         host  all all             127.0.0.1/32 trust\n"
    )
}

/// The cluster of every test in this process, started by the first caller.
static SHARED: OnceCell<Result<TestPostgres, String>> = OnceCell::const_new();

/// A running PostgreSQL cluster. [`TestPostgres::shared`] is the one for tests that only
/// need databases; a test that stops the server starts its own with
/// [`TestPostgres::start`], since stopping the shared one would fail its neighbours.
pub struct TestPostgres {
    directory: PathBuf,
    port: u16,
    keeper: mpsc::Sender<Request>,
    next_id: AtomicU32,
}

impl TestPostgres {
    /// The cluster shared by every test of this process, started on the first call.
    /// A failure to start is returned to every caller.
    pub async fn shared() -> Result<&'static TestPostgres> {
        SHARED
            .get_or_init(|| async { Self::start().await.map_err(|err| format!("{err:#}")) })
            .await
            .as_ref()
            .map_err(|err| anyhow!("{err}"))
    }

    /// Starts a cluster of its own, without durability; stopped and removed when
    /// dropped (or at exit). Fails (never skips) when the PostgreSQL server is not
    /// installed.
    pub async fn start() -> Result<Self> {
        Self::start_with(Durability::Off).await
    }

    /// [`TestPostgres::start`] with the given durability.
    pub async fn start_with(durability: Durability) -> Result<Self> {
        let binaries = server_binaries()?;
        // As root, the server runs as the user the Debian package made for it.
        let run_as = if nix::unistd::geteuid().is_root() {
            let user = User::from_name(SERVER_USER)
                .context("looking up the `postgres` user")?
                .context(
                    "PostgreSQL refuses to run as root and there is no `postgres` user: \
                     install the Debian package `postgresql`",
                )?;
            Some(user)
        } else {
            None
        };
        let dir = tempfile::Builder::new()
            .prefix("nodebom-pg-")
            .tempdir()
            .context("creating the PostgreSQL temp dir")?;
        let directory = dir.path().to_path_buf();
        let server = Server {
            dir,
            binaries,
            run_as,
            durability,
            port: 0,
            child: None,
        };
        let (requests, received) = mpsc::channel();
        let (started, port) = oneshot::channel();
        let thread = std::thread::Builder::new()
            .name("test-postgres".into())
            .spawn(move || keep(server, started, received))
            .context("starting the PostgreSQL keeper thread")?;
        register(requests.clone(), thread);
        let port = port
            .await
            .context("the PostgreSQL keeper thread ended while starting")??;
        Ok(Self {
            directory,
            port,
            keeper: requests,
            next_id: AtomicU32::new(1),
        })
    }

    /// The server's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The cluster's directory: `data/`, `socket/` and the server's log `postgres.log`.
    pub fn directory(&self) -> &Path {
        &self.directory
    }

    /// A new empty database owned by [`OWNER`]; its URL,
    /// `postgres://nodebom@127.0.0.1:PORT/NAME`, connects without a password.
    pub async fn create_database(&self) -> Result<String> {
        let name = self.create_database_of(OWNER).await?;
        Ok(self.url(OWNER, &name))
    }

    /// A new empty database owned by a new role whose `password` is required (by
    /// scram-sha-256 over TCP); its URL names the role and not the password.
    pub async fn create_database_with_password(&self, password: &str) -> Result<String> {
        if password.contains('\0') {
            bail!("a PostgreSQL password cannot contain NUL");
        }
        let role = format!("nodebom_password_{}", self.next_id());
        self.superuser()
            .await?
            .batch_execute(&format!(
                "CREATE ROLE {role} LOGIN PASSWORD '{}' IN ROLE {PASSWORD_GROUP}",
                password.replace('\'', "''")
            ))
            .await
            .with_context(|| format!("creating role {role}"))?;
        let name = self.create_database_of(&role).await?;
        Ok(self.url(&role, &name))
    }

    /// Ends every session on the database of `url` (as a server-side failure or an
    /// administrator would), waiting until each is gone; returns how many there were.
    pub async fn terminate_connections(&self, url: &str) -> Result<u64> {
        let config: tokio_postgres::Config = url.parse().context("parsing the database URL")?;
        let database = config.get_dbname().context("no database in the URL")?;
        let terminated: i64 = self
            .superuser()
            .await?
            .query_one(
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 10000)) \
                 FROM pg_stat_activity WHERE datname = $1",
                &[&database],
            )
            .await
            .with_context(|| format!("terminating the sessions on {database}"))?
            .get(0);
        Ok(terminated.try_into()?)
    }

    /// Stops the server (fast shutdown: sessions are ended, data is kept).
    pub async fn stop(&mut self) -> Result<()> {
        self.ask(Request::Stop).await
    }

    /// Stops the server when it runs and starts it again on the same data, port and
    /// socket; URLs handed out before stay valid.
    pub async fn restart(&mut self) -> Result<()> {
        self.ask(Request::Restart).await
    }

    async fn ask(&self, request: fn(oneshot::Sender<Result<()>>) -> Request) -> Result<()> {
        let (reply, answer) = oneshot::channel();
        self.keeper
            .send(request(reply))
            .map_err(|_| anyhow!("the PostgreSQL keeper thread has ended"))?;
        answer
            .await
            .context("the PostgreSQL keeper thread ended without answering")?
    }

    fn next_id(&self) -> u32 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    async fn create_database_of(&self, owner: &str) -> Result<String> {
        let name = format!("nodebom_test_{}", self.next_id());
        self.superuser()
            .await?
            .batch_execute(&format!("CREATE DATABASE {name} OWNER {owner}"))
            .await
            .with_context(|| format!("creating database {name}"))?;
        Ok(name)
    }

    fn url(&self, user: &str, database: &str) -> String {
        format!("postgres://{user}@127.0.0.1:{}/{database}", self.port)
    }

    async fn superuser(&self) -> Result<tokio_postgres::Client> {
        superuser_client(&self.directory.join("socket"), self.port).await
    }
}

impl Drop for TestPostgres {
    /// The keeper stops the server and removes the directory; nothing here waits for
    /// it (the `atexit` handler does), so that dropping never blocks a runtime.
    fn drop(&mut self) {
        let _ = self.keeper.send(Request::Shutdown);
    }
}

/// What the keeper thread is asked to do.
enum Request {
    Stop(oneshot::Sender<Result<()>>),
    Restart(oneshot::Sender<Result<()>>),
    Shutdown,
}

/// Every keeper of this process, for [`shut_down_at_exit`].
static KEEPERS: Mutex<Vec<(mpsc::Sender<Request>, JoinHandle<()>)>> = Mutex::new(Vec::new());

fn register(requests: mpsc::Sender<Request>, thread: JoinHandle<()>) {
    static AT_EXIT: Once = Once::new();
    AT_EXIT.call_once(|| {
        // SAFETY: registers a plain function; it catches its own failures.
        unsafe { libc::atexit(shut_down_at_exit) };
    });
    let mut keepers = KEEPERS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    keepers.retain(|(_, thread)| !thread.is_finished());
    keepers.push((requests, thread));
}

/// Stops every cluster still running (the shared one is never dropped) and waits for
/// its directory to be removed.
extern "C" fn shut_down_at_exit() {
    let keepers = std::mem::take(
        &mut *KEEPERS
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()),
    );
    for (requests, _) in &keepers {
        let _ = requests.send(Request::Shutdown);
    }
    let deadline = Instant::now() + PATIENCE;
    for (_, thread) in keepers {
        while !thread.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// The keeper thread: starts the server, answers requests, and stops the server and
/// removes its directory before it ends.
fn keep(
    mut server: Server,
    started: oneshot::Sender<Result<u16>>,
    requests: mpsc::Receiver<Request>,
) {
    let outcome = server.first_start();
    let failed = outcome.is_err();
    let _ = started.send(outcome);
    if !failed {
        while let Ok(request) = requests.recv() {
            match request {
                Request::Stop(reply) => {
                    let _ = reply.send(server.stop(Signal::SIGINT));
                }
                Request::Restart(reply) => {
                    let outcome = server.stop(Signal::SIGINT).and_then(|()| server.run());
                    let _ = reply.send(outcome);
                }
                Request::Shutdown => break,
            }
        }
    }
    // Immediate shutdown: the data is about to be removed.
    let _ = server.stop(Signal::SIGQUIT);
}

/// The server's files and process; lives on the keeper thread.
struct Server {
    /// Removed on drop.
    dir: tempfile::TempDir,
    binaries: PathBuf,
    run_as: Option<User>,
    durability: Durability,
    port: u16,
    child: Option<Child>,
}

impl Server {
    /// Creates the cluster, starts the server on a free port (another if that one is
    /// taken meanwhile) and creates the roles.
    fn first_start(&mut self) -> Result<u16> {
        self.own(self.dir.path())?;
        let socket = self.dir.path().join("socket");
        std::fs::create_dir(&socket).context("creating the socket directory")?;
        self.own(&socket)?;
        let output = self
            .command("initdb")
            .arg("--pgdata")
            .arg(self.dir.path().join("data"))
            .args([
                "--username",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
                "--no-instructions",
            ])
            .output()
            .context("running initdb")?;
        if !output.status.success() {
            bail!(
                "initdb failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        let hba = self.dir.path().join("data/pg_hba.conf");
        std::fs::write(&hba, hba_conf()).context("writing pg_hba.conf")?;
        self.own(&hba)?;
        let mut attempts = 0;
        loop {
            self.port = free_port()?;
            match self.run() {
                Ok(()) => break,
                Err(_) if attempts < 3 && self.log_tail().contains("could not bind") => {
                    attempts += 1;
                }
                Err(err) => return Err(err),
            }
        }
        let setup = format!("CREATE ROLE {OWNER} LOGIN; CREATE ROLE {PASSWORD_GROUP} NOLOGIN;");
        runtime()?.block_on(async {
            superuser_client(&socket, self.port)
                .await?
                .batch_execute(&setup)
                .await
                .context("creating the roles")
        })?;
        Ok(self.port)
    }

    /// Starts the server and waits until it accepts connections.
    fn run(&mut self) -> Result<()> {
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.dir.path().join("postgres.log"))
            .context("opening the PostgreSQL log")?;
        let mut command = self.command("postgres");
        command
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-k")
            .arg(self.dir.path().join("socket"));
        for (name, value) in SETTINGS.iter().chain(self.durability.settings()) {
            command.arg("-c").arg(format!("{name}={value}"));
        }
        command
            .stdin(Stdio::null())
            .stdout(log.try_clone().context("opening the PostgreSQL log")?)
            .stderr(log);
        self.child = Some(command.spawn().context("starting postgres")?);
        self.wait_ready()
    }

    fn wait_ready(&mut self) -> Result<()> {
        let runtime = runtime()?;
        let socket = self.dir.path().join("socket");
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(child) = &mut self.child {
                if let Some(status) = child.try_wait().context("polling postgres")? {
                    self.child = None;
                    bail!("postgres exited with {status}: {}", self.log_tail());
                }
            }
            let attempt = runtime.block_on(superuser_client(&socket, self.port));
            match attempt {
                Ok(_) => return Ok(()),
                Err(err) if Instant::now() > deadline => bail!(
                    "postgres did not accept connections within {PATIENCE:?} ({err:#}): {}",
                    self.log_tail()
                ),
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }

    /// Stops the server with `signal` (SIGINT: fast shutdown, SIGQUIT: immediate),
    /// killing it when it is still there after [`PATIENCE`].
    fn stop(&mut self, signal: Signal) -> Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let pid = Pid::from_raw(i32::try_from(child.id()).context("postgres pid")?);
        signal::kill(pid, signal).context("signalling postgres")?;
        let deadline = Instant::now() + PATIENCE;
        while child.try_wait().context("polling postgres")?.is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                child.wait().context("waiting for postgres")?;
                bail!(
                    "postgres did not stop within {PATIENCE:?} of {signal}: {}",
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }

    /// A command of the PostgreSQL server's binaries, as the server's user, that dies
    /// with the keeper thread.
    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(self.binaries.join(program));
        if let Some(user) = &self.run_as {
            command.uid(user.uid.as_raw()).gid(user.gid.as_raw());
        }
        let parent = nix::unistd::getpid();
        // SAFETY: the closure makes two system calls and allocates nothing. std runs it
        // after changing the user, which would otherwise clear the death signal.
        unsafe {
            command.pre_exec(move || {
                nix::sys::prctl::set_pdeathsig(Signal::SIGQUIT)?;
                // The test process ended before the death signal was set.
                if nix::unistd::getppid() != parent {
                    return Err(io::Error::from_raw_os_error(libc::ESRCH));
                }
                Ok(())
            });
        }
        command
    }

    /// Gives `path` to the server's user.
    fn own(&self, path: &Path) -> Result<()> {
        if let Some(user) = &self.run_as {
            std::os::unix::fs::chown(path, Some(user.uid.as_raw()), Some(user.gid.as_raw()))
                .with_context(|| format!("giving {} to user postgres", path.display()))?;
        }
        Ok(())
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("postgres.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

/// A connection as the superuser through the unix socket in `socket`, driven by a task
/// of the current runtime.
async fn superuser_client(socket: &Path, port: u16) -> Result<tokio_postgres::Client> {
    let (client, connection) = tokio_postgres::Config::new()
        .host_path(socket)
        .port(port)
        .user(SUPERUSER)
        .dbname("postgres")
        .connect(tokio_postgres::NoTls)
        .await
        .context("connecting to PostgreSQL as its superuser")?;
    // Its errors reach the client's calls.
    tokio::spawn(connection);
    Ok(client)
}

/// The keeper's runtime, for its own connections.
fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("building a runtime for the PostgreSQL keeper")
}

fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr().context("finding a free port")?.port())
}

/// The directory of `initdb` and `postgres`: `pg_config --bindir`, else the newest of
/// Debian's `/usr/lib/postgresql/VERSION/bin`.
fn server_binaries() -> Result<PathBuf> {
    let from_pg_config = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| PathBuf::from(String::from_utf8_lossy(&output.stdout).trim()));
    let mut debian: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .collect();
    debian.sort_by_key(|(version, _)| std::cmp::Reverse(*version));
    from_pg_config
        .into_iter()
        .chain(debian.into_iter().map(|(_, bin)| bin))
        .find(|bin| bin.join("initdb").is_file() && bin.join("postgres").is_file())
        .context(
            "the PostgreSQL server (initdb, postgres) is not installed (looked in \
             `pg_config --bindir` and /usr/lib/postgresql/*/bin): install the Debian \
             package `postgresql`",
        )
}
