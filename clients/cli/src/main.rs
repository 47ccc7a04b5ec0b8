//! `laker`: a command-line client for Laker servers.
//!
//! ```text
//! laker login http://127.0.0.1:50051 --user demo      # password from LAKER_PASSWORD or stdin
//! laker ls taxi
//! laker describe demo.trips
//! laker get demo.trips -c pickup_at,fare -f "fare > 30" -o fares.parquet
//! laker put team.orders orders.csv --mode append
//! laker sql "SELECT count(*) FROM demo.trips" --format csv
//! ```
//!
//! Errors go to stderr with a nonzero exit code; results go to stdout.

mod download;
mod error;
mod output;
mod session;
mod sql;
mod upload;

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use futures::TryStreamExt;

use error::{Failure, Result};
use output::Format;
use session::{Credentials, Session, Stored};

/// Talk to a Laker server.
#[derive(Debug, Parser)]
#[command(name = "laker", version, about)]
struct Cli {
    /// Server URL [default: the one `laker login` stored, else http://127.0.0.1:50051].
    #[arg(long, env = "LAKER_URL", global = true)]
    url: Option<String>,
    /// User name (with --password); without it the stored login or LAKER_TOKEN is used.
    #[arg(long, env = "LAKER_USER", global = true)]
    user: Option<String>,
    /// Password.
    #[arg(long, env = "LAKER_PASSWORD", hide_env_values = true, global = true)]
    password: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Log in and store the token (in the config directory, readable by you only).
    Login {
        /// Server URL.
        server: String,
        /// User name (or `key` with an API key as the password).
        #[arg(long = "as", value_name = "USER")]
        login_user: Option<String>,
    },
    /// List the datasets you may read, optionally matching SEARCH.
    Ls {
        /// Case-insensitive search over names, descriptions and tags.
        search: Option<String>,
    },
    /// Describe a dataset: schema, size, statistics, versions.
    Describe {
        /// `namespace.dataset`.
        dataset: String,
    },
    /// Download a slice of a dataset: print it, or write it to a file.
    Get {
        /// `namespace.dataset`.
        dataset: String,
        /// Comma-separated columns.
        #[arg(short, long, value_delimiter = ',')]
        columns: Option<Vec<String>>,
        /// SQL filter expression.
        #[arg(short, long)]
        filter: Option<String>,
        /// Row limit [default: 20 when printing, none with -o].
        #[arg(short = 'n', long)]
        limit: Option<u64>,
        /// Delta version to read.
        #[arg(long)]
        version: Option<u64>,
        /// Output file: .parquet, .csv, .arrow or .json.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Output format (default: from the file's extension, else a table).
        #[arg(long, value_enum)]
        format: Option<Format>,
        /// Endpoints downloaded at once.
        #[arg(long, default_value_t = 4)]
        parallel: usize,
    },
    /// Upload a Parquet, CSV or Arrow file into a dataset.
    Put {
        /// `namespace.dataset`.
        dataset: String,
        /// The file.
        file: PathBuf,
        /// create, append, replace, create_append or create_replace.
        #[arg(long, default_value = "append")]
        mode: String,
        /// Upload id: a retry with the same id commits at most once.
        #[arg(long)]
        id: Option<String>,
    },
    /// Run a SQL query (Flight SQL).
    Sql {
        /// The query.
        query: String,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
        /// Output file (needed for parquet and arrow).
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Administration.
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
    /// Every user and service account.
    Users,
    /// Every grant, or one user's.
    Grants {
        /// Only this user's grants.
        #[arg(long)]
        user: Option<String>,
    },
    /// Recent audit records, newest first.
    Audit {
        /// Only records matching this SQL filter, e.g. "principal = 'alice'".
        #[arg(short, long)]
        filter: Option<String>,
        /// Most records.
        #[arg(short = 'n', long, default_value_t = 50)]
        limit: u64,
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
            eprintln!("laker: {e}");
            ExitCode::FAILURE
        }
    }
}

fn print_json(value: &serde_json::Value) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

async fn action(session: &Session, name: &str, body: String) -> Result<()> {
    let mut client = session.client()?;
    let results: Vec<_> = client
        .do_action(arrow_flight::Action::new(name, body))
        .await?
        .try_collect()
        .await?;
    for result in results {
        match serde_json::from_slice::<serde_json::Value>(&result) {
            Ok(json) => print_json(&json)?,
            Err(_) => println!("{}", String::from_utf8_lossy(&result)),
        }
    }
    Ok(())
}

/// The password: `--password`/`LAKER_PASSWORD`, else a line from stdin.
fn password(given: Option<String>) -> Result<String> {
    if let Some(p) = given {
        return Ok(p);
    }
    eprint!("password: ");
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let line = line.trim_end_matches(['\r', '\n']).to_string();
    if line.is_empty() {
        return Err(Failure::new("no password given"));
    }
    Ok(line)
}

async fn run(cli: Cli) -> Result<()> {
    let creds = Credentials {
        url: cli.url.clone(),
        user: cli.user.clone(),
        password: cli.password.clone(),
        token: std::env::var("LAKER_TOKEN").ok(),
    };
    if let Command::Login { server, login_user } = cli.command {
        let user = login_user
            .or(cli.user)
            .ok_or_else(|| Failure::new("login needs a user: laker login URL --as NAME"))?;
        let password = password(cli.password)?;
        let channel = session::channel(&server).await?;
        let token = session::login(channel, &user, &password).await?;
        let path = session::store(&Stored {
            url: server.clone(),
            user: user.clone(),
            token,
        })?;
        eprintln!(
            "logged in to {server} as {user}; token stored in {}",
            path.display()
        );
        return Ok(());
    }
    let session = Session::open(&creds).await?;
    match cli.command {
        Command::Login { .. } => {}
        Command::Ls { search } => {
            let mut client = session.client()?;
            let infos: Vec<_> = client
                .list_flights(search.unwrap_or_default().into_bytes())
                .await?
                .try_collect()
                .await?;
            for info in infos {
                let meta: serde_json::Value =
                    serde_json::from_slice(&info.app_metadata).unwrap_or_default();
                let tags: Vec<&str> = meta["tags"]
                    .as_array()
                    .map(|t| t.iter().filter_map(|t| t.as_str()).collect())
                    .unwrap_or_default();
                println!(
                    "{:<30} {:<50} {}",
                    meta["name"].as_str().unwrap_or_default(),
                    meta["description"].as_str().unwrap_or_default(),
                    tags.join(",")
                );
            }
        }
        Command::Describe { dataset } => {
            action(
                &session,
                "describe_dataset",
                serde_json::json!({"name": dataset}).to_string(),
            )
            .await?;
        }
        Command::Get {
            dataset,
            columns,
            filter,
            limit,
            version,
            output,
            format,
            parallel,
        } => {
            let printing = output.is_none() && matches!(format, None | Some(Format::Table));
            let limit = limit.or(printing.then_some(20));
            let mut spec = serde_json::json!({"dataset": dataset});
            if let Some(limit) = limit {
                spec["limit"] = limit.into();
            }
            if let Some(columns) = columns {
                spec["columns"] = columns.into();
            }
            if let Some(filter) = filter {
                spec["filter"] = filter.into();
            }
            if let Some(version) = version {
                spec["version"] = version.into();
            }
            let get = download::Get {
                spec,
                output: output.clone(),
                format,
                parallel,
            };
            let rows = download::get(&session, get).await?;
            if let Some(path) = output {
                eprintln!("{rows} rows written to {}", path.display());
            }
        }
        Command::Put {
            dataset,
            file,
            mode,
            id,
        } => {
            let answer = upload::put(&session, &dataset, &file, &mode, id.as_deref()).await?;
            print_json(&answer)?;
        }
        Command::Sql {
            query,
            format,
            output,
        } => {
            sql::sql(&session, &query, format, output.as_deref()).await?;
        }
        Command::Admin(admin) => match admin {
            AdminCommand::Onboard {
                client,
                read,
                description,
            } => {
                let body =
                    serde_json::json!({"client": client, "read": read, "description": description});
                action(&session, "onboard", body.to_string()).await?;
            }
            AdminCommand::Users => action(&session, "list_users", "{}".into()).await?,
            AdminCommand::Grants { user } => {
                let body = match user {
                    Some(user) => serde_json::json!({"user": user}),
                    None => serde_json::json!({}),
                };
                action(&session, "list_grants", body.to_string()).await?;
            }
            AdminCommand::Audit { filter, limit } => {
                let mut spec = serde_json::json!({
                    "dataset": "system.audit",
                    "columns": ["time", "principal", "action", "dataset", "outcome", "rows", "bytes", "message"],
                    "order_by": ["time DESC"],
                    "limit": limit,
                });
                if let Some(filter) = filter {
                    spec["filter"] = filter.into();
                }
                let get = download::Get {
                    spec,
                    output: None,
                    format: Some(Format::Table),
                    parallel: 1,
                };
                download::get(&session, get).await?;
            }
            AdminCommand::Action { name, body } => action(&session, &name, body).await?,
        },
    }
    Ok(())
}
