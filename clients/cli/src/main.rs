//! `laker`: a command-line client for Laker servers.
//!
//! ```text
//! laker --url http://127.0.0.1:50051 --user demo --password demo ls taxi
//! laker --user demo --password demo get demo.trips -c pickup_at,fare -f "fare > 30" -n 10
//! ```

use std::process::ExitCode;

use arrow::util::pretty::pretty_format_batches;
use arrow_flight::error::FlightError;
use arrow_flight::{FlightClient, Ticket};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use clap::{Parser, Subcommand};
use futures::TryStreamExt;
use tonic::transport::Channel;

/// Talk to a Laker server.
#[derive(Debug, Parser)]
#[command(name = "laker", version, about)]
struct Cli {
    /// Server URL.
    #[arg(long, env = "LAKER_URL", default_value = "http://127.0.0.1:50051")]
    url: String,
    /// User name.
    #[arg(long, env = "LAKER_USER")]
    user: String,
    /// Password.
    #[arg(long, env = "LAKER_PASSWORD", hide_env_values = true)]
    password: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List the datasets you may read, optionally matching SEARCH.
    Ls {
        /// Case-insensitive search over names, descriptions and tags.
        search: Option<String>,
    },
    /// Download a slice of a dataset and print it as a table.
    Get {
        /// `namespace.dataset`.
        dataset: String,
        /// Comma-separated columns.
        #[arg(short, long, value_delimiter = ',')]
        columns: Option<Vec<String>>,
        /// SQL filter expression.
        #[arg(short, long)]
        filter: Option<String>,
        /// Row limit.
        #[arg(short = 'n', long, default_value_t = 20)]
        limit: u64,
    },
    /// Administration (needs the admin grant on `*`).
    #[command(subcommand)]
    Admin(AdminCommand),
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Onboard a client: namespace, service account, API key and grants.
    /// Running it again creates nothing new.
    Onboard {
        /// Client name (becomes its namespace and service account).
        client: String,
        /// Datasets (`ns.dataset` or `ns.*`) the client may read; comma-separated or repeated.
        #[arg(short, long, value_delimiter = ',')]
        read: Vec<String>,
        /// Description of the client's namespace.
        #[arg(short, long, default_value = "")]
        description: String,
    },
    /// Run any server action with a JSON body (see the server's ListActions).
    Action {
        /// Action type, e.g. `list_users`.
        name: String,
        /// JSON body.
        #[arg(default_value = "{}")]
        body: String,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            match e {
                FlightError::Tonic(status) => {
                    eprintln!("laker: {:?}: {}", status.code(), status.message());
                }
                other => eprintln!("laker: {other}"),
            }
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), FlightError> {
    let channel = Channel::from_shared(cli.url.clone())
        .map_err(|e| FlightError::protocol(format!("invalid --url: {e}")))?
        .connect()
        .await
        .map_err(|e| FlightError::protocol(format!("cannot connect to {}: {e}", cli.url)))?;
    let mut client = FlightClient::new(channel);
    let basic = STANDARD.encode(format!("{}:{}", cli.user, cli.password));
    client.add_header("authorization", &format!("Basic {basic}"))?;
    let token = client.handshake(Vec::<u8>::new()).await?;
    let token = String::from_utf8_lossy(&token).into_owned();
    client.add_header("authorization", &format!("Bearer {token}"))?;

    match cli.command {
        Command::Ls { search } => {
            let infos: Vec<_> = client
                .list_flights(search.unwrap_or_default().into_bytes())
                .await?
                .try_collect()
                .await?;
            for info in infos {
                let meta: serde_json::Value =
                    serde_json::from_slice(&info.app_metadata).unwrap_or_default();
                println!(
                    "{:<30} {}",
                    meta["name"].as_str().unwrap_or_default(),
                    meta["description"].as_str().unwrap_or_default()
                );
            }
        }
        Command::Get {
            dataset,
            columns,
            filter,
            limit,
        } => {
            let mut spec = serde_json::json!({"dataset": dataset, "limit": limit});
            if let Some(columns) = columns {
                spec["columns"] = columns.into();
            }
            if let Some(filter) = filter {
                spec["filter"] = filter.into();
            }
            let batches: Vec<_> = client
                .do_get(Ticket::new(spec.to_string()))
                .await?
                .try_collect()
                .await?;
            println!("{}", pretty_format_batches(&batches)?);
        }
        Command::Admin(admin) => {
            let (name, body) = match admin {
                AdminCommand::Onboard {
                    client,
                    read,
                    description,
                } => (
                    "onboard".to_string(),
                    serde_json::json!({"client": client, "read": read, "description": description})
                        .to_string(),
                ),
                AdminCommand::Action { name, body } => (name, body),
            };
            let results: Vec<_> = client
                .do_action(arrow_flight::Action::new(name, body))
                .await?
                .try_collect()
                .await?;
            for result in results {
                match serde_json::from_slice::<serde_json::Value>(&result) {
                    Ok(json) => println!(
                        "{}",
                        serde_json::to_string_pretty(&json).unwrap_or_default()
                    ),
                    Err(_) => println!("{}", String::from_utf8_lossy(&result)),
                }
            }
        }
    }
    Ok(())
}
