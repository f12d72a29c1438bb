//! A private containerd daemon (the Debian package's binary) in a temporary directory.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// The namespace Kubernetes uses, and so the one the tests use.
pub const NAMESPACE: &str = "k8s.io";

/// A containerd daemon with its own root, state and socket; stopped and removed on drop.
pub struct ContainerdDaemon {
    dir: tempfile::TempDir,
    child: Child,
    socket: PathBuf,
}

impl ContainerdDaemon {
    /// Starts containerd and waits until it answers. Fails (never skips) when the
    /// `containerd` or `ctr` binaries are missing: `.ci/run` installs them.
    pub fn start() -> Result<Self> {
        for tool in ["containerd", "ctr"] {
            which(tool).with_context(|| {
                format!("`{tool}` not found on PATH: install the Debian package `containerd`")
            })?;
        }
        let dir = tempfile::Builder::new()
            .prefix("nodebom-ctd-")
            .tempdir()
            .context("creating containerd temp dir")?;
        let root = dir.path().join("root");
        let state = dir.path().join("state");
        // The sockets have a directory of their own, as /run/containerd on a node, so that
        // a container can be given the socket's directory and nothing else.
        let run = dir.path().join("run");
        std::fs::create_dir(&run).context("creating the socket directory")?;
        let socket = run.join("containerd.sock");
        let config = dir.path().join("config.toml");
        // CRI is not needed (pods are containers with kubelet's labels) and would want CNI.
        std::fs::write(
            &config,
            format!(
                "version = 2\nroot = {root:?}\nstate = {state:?}\n\
                 disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
                 [grpc]\n  address = {socket:?}\n\
                 [ttrpc]\n  address = {ttrpc:?}\n\
                 [debug]\n  level = \"warn\"\n",
                root = root.display().to_string(),
                state = state.display().to_string(),
                socket = socket.display().to_string(),
                ttrpc = run.join("containerd.sock.ttrpc").display().to_string(),
            ),
        )
        .context("writing containerd config")?;
        let child = spawn_daemon(dir.path())?;
        let mut daemon = ContainerdDaemon { dir, child, socket };
        daemon.wait_ready()?;
        Ok(daemon)
    }

    /// Stops containerd and starts it again on the same root, state and socket, as
    /// when a node's containerd is upgraded or crashes: clients lose their connection
    /// and event subscriptions; images and containers stay.
    pub fn restart(&mut self) -> Result<()> {
        self.child.kill().context("stopping containerd")?;
        self.child
            .wait()
            .context("waiting for containerd to stop")?;
        self.child = spawn_daemon(self.dir.path())?;
        self.wait_ready()
    }

    fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().context("polling containerd")? {
                bail!("containerd exited with {status}: {}", self.log_tail());
            }
            if self.socket.exists() && self.ctr(&["version"]).is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("containerd did not answer within 30 s: {}", self.log_tail());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn log_tail(&self) -> String {
        let log =
            std::fs::read_to_string(self.dir.path().join("containerd.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// containerd's root directory (content store, snapshots).
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    /// Runs `ctr` against this daemon in namespace `k8s.io`; fails on a non-zero exit.
    pub fn ctr(&self, args: &[&str]) -> Result<Output> {
        let output = Command::new("ctr")
            .arg("--address")
            .arg(&self.socket)
            .arg("--namespace")
            .arg(NAMESPACE)
            .args(args)
            .output()
            .context("running ctr")?;
        if !output.status.success() {
            bail!(
                "ctr {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        Ok(output)
    }

    /// Imports an OCI archive and unpacks it into overlayfs snapshots, also creating the
    /// `repo@sha256:` records a CRI pull makes.
    pub fn import(&self, image: &crate::BuiltImage) -> Result<()> {
        self.import_with(image, true)
    }

    /// Imports without unpacking: the image exists only as blobs, as after a pull by a
    /// tool that does not unpack (or on a node that has not started it yet).
    pub fn import_packed(&self, image: &crate::BuiltImage) -> Result<()> {
        self.import_with(image, false)
    }

    fn import_with(&self, image: &crate::BuiltImage, unpack: bool) -> Result<()> {
        let archive = image
            .archive
            .to_str()
            .context("archive path is not UTF-8")?;
        let repository = image
            .name
            .rsplit_once(':')
            .map_or(image.name.as_str(), |(repo, _)| repo);
        let mut args = vec!["images", "import", "--digests", "--base-name", repository];
        if unpack {
            args.extend(["--snapshotter", "overlayfs"]);
        } else {
            args.push("--no-unpack");
        }
        args.push(archive);
        self.ctr(&args)?;
        Ok(())
    }

    /// Imports an OCI archive made elsewhere (nodebom's own images), named by its
    /// `io.containerd.image.name` annotation, and unpacks it for overlayfs.
    pub fn import_archive(&self, archive: &Path) -> Result<()> {
        let archive = archive.to_str().context("archive path is not UTF-8")?;
        self.ctr(&["images", "import", "--snapshotter", "overlayfs", archive])?;
        Ok(())
    }

    /// Starts container `id` from `image` with `ctr run --detach`: `options` are
    /// ctr's run options, `command` the process; its output goes to `log`. The task is
    /// killed and the container removed when the daemon is dropped.
    pub fn run_detached(
        &self,
        id: &str,
        image: &str,
        options: &[String],
        command: &[String],
        log: &Path,
    ) -> Result<()> {
        let log_uri = format!("file://{}", log.display());
        let mut args = vec!["run", "--detach", "--log-uri", &log_uri];
        args.extend(options.iter().map(String::as_str));
        args.extend([image, id]);
        args.extend(command.iter().map(String::as_str));
        self.ctr(&args)?;
        Ok(())
    }

    /// Whether container `id` has a running task.
    pub fn task_running(&self, id: &str) -> Result<bool> {
        let listed = self.ctr(&["tasks", "ls"])?;
        Ok(String::from_utf8_lossy(&listed.stdout)
            .lines()
            .any(|line| line.split_whitespace().next() == Some(id) && line.contains("RUNNING")))
    }

    /// Kills every task and removes its container: their shims outlive containerd.
    fn stop_tasks(&self) {
        let Ok(listed) = self.ctr(&["tasks", "ls", "-q"]) else {
            return;
        };
        for id in String::from_utf8_lossy(&listed.stdout).split_whitespace() {
            let _ = self.ctr(&["tasks", "kill", "--signal", "SIGKILL", id]);
            let deadline = Instant::now() + Duration::from_secs(10);
            while self.ctr(&["tasks", "delete", id]).is_err() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = self.ctr(&["containers", "delete", id]);
        }
    }

    /// Deletes blobs from the content store, as `discard_unpacked_layers` does for layers.
    pub fn delete_blobs(&self, digests: &[String]) -> Result<()> {
        let mut args = vec!["content", "rm"];
        args.extend(digests.iter().map(String::as_str));
        self.ctr(&args)?;
        let listed =
            String::from_utf8_lossy(&self.ctr(&["content", "ls", "-q"])?.stdout).into_owned();
        if let Some(left) = digests.iter().find(|d| listed.contains(d.as_str())) {
            bail!("blob {left} is still in the content store after `ctr content rm`");
        }
        Ok(())
    }

    /// Creates a container record (no task, nothing runs) labelled the way kubelet's CRI
    /// labels the container `container` of `pod`.
    pub fn create_pod_container(
        &self,
        id: &str,
        image: &str,
        pod: &Pod,
        container: &str,
    ) -> Result<()> {
        let container_label = format!("io.kubernetes.container.name={container}");
        self.create_labelled(id, image, pod, "container", &[&container_label])
    }

    /// Creates the record of `pod`'s sandbox (its pause container) as the CRI labels it.
    pub fn create_pod_sandbox(&self, id: &str, image: &str, pod: &Pod) -> Result<()> {
        self.create_labelled(id, image, pod, "sandbox", &[])
    }

    fn create_labelled(
        &self,
        id: &str,
        image: &str,
        pod: &Pod,
        kind: &str,
        extra: &[&str],
    ) -> Result<()> {
        let labels = [
            format!("io.cri-containerd.kind={kind}"),
            format!("io.kubernetes.pod.namespace={}", pod.namespace),
            format!("io.kubernetes.pod.name={}", pod.name),
            format!("io.kubernetes.pod.uid={}", pod.uid),
        ];
        let mut args = vec!["containers", "create"];
        for label in labels
            .iter()
            .map(String::as_str)
            .chain(extra.iter().copied())
        {
            args.extend(["--label", label]);
        }
        args.extend([image, id]);
        self.ctr(&args)?;
        Ok(())
    }

    /// Deletes a container record (and its snapshot).
    pub fn delete_container(&self, id: &str) -> Result<()> {
        self.ctr(&["containers", "delete", id])?;
        Ok(())
    }

    /// Names of the images containerd knows in `k8s.io`.
    pub fn image_names(&self) -> Result<Vec<String>> {
        let out = self.ctr(&["images", "ls", "-q"])?;
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect())
    }
}

impl Drop for ContainerdDaemon {
    fn drop(&mut self) {
        self.stop_tasks();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A pod, as kubelet's labels on its containers name it.
#[derive(Debug, Clone)]
pub struct Pod {
    pub namespace: String,
    pub name: String,
    pub uid: String,
}

/// Starts containerd with the config in `dir`, appending its log to `dir/containerd.log`.
fn spawn_daemon(dir: &Path) -> Result<Child> {
    let log = std::fs::File::options()
        .create(true)
        .append(true)
        .open(dir.join("containerd.log"))
        .context("opening containerd log")?;
    Command::new("containerd")
        .arg("--config")
        .arg(dir.join("config.toml"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .context("starting containerd")
}

fn which(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(tool))
        .find(|candidate| candidate.is_file())
}
