//! `laker-server`: serve the data lake over Arrow Flight.

use std::process::ExitCode;

/// jemalloc, with its background threads returning freed memory to the
/// system within seconds whatever the threads that freed it do next: the
/// memory of downloads whose clients left comes back (glibc's allocator
/// keeps much of it in its arenas).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use clap::CommandFactory;
use laker_flight_server::config::{CatalogCommand, Command, load};
use laker_flight_server::{Cli, ServerConfig, ServerOptions, bootstrap, seed, start, telemetry};

fn main() -> ExitCode {
    // Usage errors, --help and --version end here, as clap does.
    let matches = Cli::command().get_matches();
    let (command, config) = match load(&matches) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("laker-server: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        // Planning recurses over a request's expressions: bounded by
        // --max-expr-depth, and run on stacks far larger than that needs.
        .thread_stack_size(laker_flight_server::WORKER_STACK_BYTES)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("laker-server: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // The trace exporter's gRPC channel lives on the runtime.
    let entered = runtime.enter();
    let telemetry = match telemetry::init(
        config.log_format,
        &config.log,
        config.otlp_endpoint.as_deref(),
    ) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("laker-server: {e}");
            return ExitCode::from(2);
        }
    };
    drop(entered);
    let code = run_command(&runtime, command, config);
    telemetry.shutdown();
    code
}

fn run_command(
    runtime: &tokio::runtime::Runtime,
    command: Option<Command>,
    config: ServerConfig,
) -> ExitCode {
    match command {
        None => runtime.block_on(run(config)),
        Some(Command::Catalog(CatalogCommand::Seed(args))) => {
            match runtime.block_on(seed::seed(&config, &args)) {
                Ok(report) => {
                    let files = if report.uploaded + report.skipped == 0 {
                        String::new()
                    } else {
                        format!(
                            " ({} files uploaded, {} already present)",
                            report.uploaded, report.skipped
                        )
                    };
                    println!(
                        "registered demo.trips and demo.zones at {}{files}",
                        report.location
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("laker-server catalog seed: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Some(Command::Catalog(CatalogCommand::CreateAdmin(args))) => {
            let Ok(password) = std::env::var("LAKER_ADMIN_PASSWORD") else {
                eprintln!(
                    "laker-server catalog create-admin: set LAKER_ADMIN_PASSWORD to the password"
                );
                return ExitCode::from(2);
            };
            match runtime.block_on(bootstrap::create_admin(&config, &args.name, &password)) {
                Ok(created) => {
                    let what = if created { "created" } else { "updated" };
                    println!("administrator '{}' {what}", args.name);
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("laker-server catalog create-admin: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

async fn run(config: ServerConfig) -> ExitCode {
    let mut server = match start(&config, ServerOptions::default()).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "laker-server failed to start");
            return ExitCode::FAILURE;
        }
    };
    let stopped_by_signal = tokio::select! {
        signal = shutdown_signal() => {
            if let Err(e) = signal {
                tracing::error!(error = %e, "cannot wait for signals");
            }
            true
        }
        ended = server.wait() => {
            if let Err(e) = ended {
                tracing::error!(error = %e, "laker-server stopped");
            }
            false
        }
    };
    if !stopped_by_signal {
        return ExitCode::FAILURE;
    }
    tracing::info!("shutting down");
    server.shutdown().await;
    ExitCode::SUCCESS
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r,
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await
    }
}
