//! Builds the sample images of `nodebom_e2e::samples` as OCI archives, for
//! `bench/accuracy.sh`: `cargo run -p nodebom-e2e --example samples -- OUT_DIR`.
//!
//! Writes `OUT_DIR/<image>.oci.tar` and `OUT_DIR/samples.json`: per image its name, its
//! archive, the purl types it is about and the packages really installed in it.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Parser;
use serde_json::json;

/// Builds the per-ecosystem sample images (needs rpmbuild, rpm, javac, jar, dpkg-query).
#[derive(Parser)]
struct Args {
    /// Where the archives and samples.json go.
    out_dir: PathBuf,
}

fn main() -> Result<()> {
    let args = Args::parse();
    std::fs::create_dir_all(&args.out_dir)
        .with_context(|| format!("creating {}", args.out_dir.display()))?;
    let work = tempfile::tempdir()?;
    let mut listing = Vec::new();
    for sample in nodebom_e2e::samples::all(work.path())? {
        let built = nodebom_e2e::oci::build(&sample.spec, &args.out_dir)?;
        eprintln!(
            "[samples] {}: {} packages installed ({})",
            built.name,
            sample.installed.len(),
            sample.purl_types.join(", ")
        );
        listing.push(json!({
            "name": built.name,
            "archive": built.archive,
            "purl_types": sample.purl_types,
            "installed": sample.installed.iter().map(|p| json!({
                "type": p.purl_type, "name": p.name, "version": p.version,
            })).collect::<Vec<_>>(),
        }));
    }
    let path = args.out_dir.join("samples.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&listing)?)?;
    eprintln!("[samples] wrote {}", path.display());
    Ok(())
}
