//! `nodebom-collector`: `serve` (the default) or `query`.

use anyhow::Context as _;
use clap::Parser as _;
use nodebom_collector::config::{Cli, Command, LogFormat, ServeArgs};
use tracing_subscriber::EnvFilter;

/// mimalloc returns freed memory to the system within milliseconds; glibc's malloc kept
/// most of a flood of agent sessions (0.7 GB) for good once it was over.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn init_logging(filter: &str, format: LogFormat) -> anyhow::Result<()> {
    let filter =
        EnvFilter::try_new(filter).with_context(|| format!("invalid --log filter {filter:?}"))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
    Ok(())
}

/// Completes on Ctrl-C or SIGTERM (how Kubernetes stops a pod).
async fn termination() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for SIGTERM; stopping on Ctrl-C only");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

async fn serve(args: &ServeArgs) -> anyhow::Result<()> {
    let config = args.resolve().context("invalid configuration")?;
    // mimalloc asks for transparent huge pages on its arenas; where the kernel honours
    // that (`madvise` mode), khugepaged fills in whole 2 MiB pages of freed memory in the
    // background and the idle collector's RSS creeps up by hundreds of MiB.
    #[cfg(target_os = "linux")]
    if let Err(err) = rustix::thread::disable_transparent_huge_pages(true) {
        tracing::warn!(error = %err, "cannot opt out of transparent huge pages");
    }
    let collector = nodebom_collector::server::start(config)
        .await
        .context("starting the collector")?;
    collector
        .run_until(termination())
        .await
        .context("serving")?;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_logging(&cli.log, cli.log_format)?;
    match cli.command {
        None => serve(&ServeArgs::try_parse_from(["serve"])?).await,
        Some(Command::Serve(args)) => serve(&args).await,
        Some(Command::Query(args)) => {
            let mut stdout = std::io::stdout();
            nodebom_collector::cli::run(args, &mut stdout)
                .await
                .context("query failed")
        }
        Some(Command::Report(args)) => {
            let mut stdout = std::io::stdout();
            nodebom_collector::cli::report(args, &mut stdout)
                .await
                .context("report failed")
        }
    }
}
