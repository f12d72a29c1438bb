//! Prometheus' own linter, `promtool check metrics` (Debian package `prometheus`), over
//! a `/metrics` body.

use std::io::Write;
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

/// Fails with promtool's findings when it rejects `text` (a parse error or a lint
/// problem); fails (never skips) when promtool is not installed.
pub fn promtool_check_metrics(text: &str) -> Result<()> {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|err| match err.kind() {
            std::io::ErrorKind::NotFound => anyhow::anyhow!(
                "`promtool` not found on PATH: install the Debian package `prometheus`"
            ),
            _ => anyhow::Error::new(err).context("running promtool"),
        })?;
    // promtool reads all of its input before it writes anything.
    child
        .stdin
        .take()
        .context("promtool's stdin")?
        .write_all(text.as_bytes())
        .context("writing the metrics to promtool")?;
    let output = child.wait_with_output().context("running promtool")?;
    if !output.status.success() {
        // promtool parses the Prometheus text format (0.0.4) only.
        let openmetrics = if text.trim_end().ends_with("# EOF") {
            "\n(this is OpenMetrics text, which promtool reads as the Prometheus text \
             format: a counter `X` whose samples are `X_total` has no help text there)"
        } else {
            ""
        };
        bail!(
            "promtool check metrics rejected the metrics ({}):\n{}{}{openmetrics}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}
