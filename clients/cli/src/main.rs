//! `laker`: a command-line client for Laker servers.
//!
//! ```text
//! laker login http://127.0.0.1:50051 --as demo        # password from LAKER_PASSWORD or stdin
//! laker login https://laker.example.com --as demo --ca-cert ca.pem
//! laker ls taxi
//! laker describe demo.trips
//! laker get demo.trips -c pickup_at,fare -f "fare > 30" -o fares.parquet
//! laker get demo.trips -o trips.csv --resume            # continues an interrupted download
//! laker put team.orders orders.csv --mode append
//! laker sql "SELECT count(*) FROM demo.trips" --format csv
//! ```
//!
//! Errors go to stderr as one line with a nonzero exit code; results go to
//! stdout.

mod describe;
mod download;
mod error;
mod output;
mod partial;
mod resume;
mod session;
mod sql;
mod table;
mod tls;
mod upload;

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use futures::TryStreamExt;

use download::Compression;
use error::{Failure, Result};
use output::Format;
use session::{Credentials, Session, Stored};
use table::count;
use tls::TlsFiles;

/// Talk to a Laker server.
#[derive(Debug, Parser)]
#[command(name = "laker", version, about)]
struct Cli {
    /// Server URL [default: the one `laker login` stored, else http://127.0.0.1:50051].
    #[arg(long, env = "LAKER_URL", global = true)]
    url: Option<String>,
    /// User name (with --password); without it LAKER_TOKEN, or the stored login (on its own
    /// server only), is used.
    #[arg(long, env = "LAKER_USER", global = true)]
    user: Option<String>,
    /// Password.
    #[arg(long, env = "LAKER_PASSWORD", hide_env_values = true, global = true)]
    password: Option<String>,
    /// TLS servers: trust this PEM CA certificate instead of the system's CAs.
    #[arg(long, env = "LAKER_CA_CERT", global = true, value_name = "FILE")]
    ca_cert: Option<PathBuf>,
    /// TLS servers: present this PEM client certificate (mutual TLS; the
    /// server may take its common name as the user).
    #[arg(long, env = "LAKER_CLIENT_CERT", global = true, value_name = "FILE")]
    client_cert: Option<PathBuf>,
    /// The PEM private key of --client-cert.
    #[arg(long, env = "LAKER_CLIENT_KEY", global = true, value_name = "FILE")]
    client_key: Option<PathBuf>,
    /// TLS servers: check the certificate for NAME instead of the URL's host
    /// (e.g. through a tunnel).
    #[arg(long, env = "LAKER_TLS_NAME", global = true, value_name = "NAME")]
    tls_name: Option<String>,
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
        /// Print JSON (metadata and columns of each dataset) instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Describe a dataset: schema, size, rows, partitions, statistics, versions.
    Describe {
        /// `namespace.dataset`.
        dataset: String,
        /// Print the server's JSON document instead of tables.
        #[arg(long)]
        json: bool,
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
        /// Sort key: `COLUMN [ASC|DESC] [NULLS FIRST|NULLS LAST]`; repeat for more keys.
        #[arg(long = "order-by", value_name = "KEY")]
        order_by: Vec<String>,
        /// Delta tables: read this table version.
        #[arg(long, conflicts_with = "as_of")]
        version: Option<u64>,
        /// Delta tables: read the newest version committed at or before TIME
        /// (RFC 3339, or `YYYY-MM-DD[ HH:MM:SS]` in UTC).
        #[arg(long, value_name = "TIME")]
        as_of: Option<String>,
        /// Output file: .parquet, .csv, .arrow or .json.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Output format (default: from the file's extension, else a table).
        #[arg(long, value_enum)]
        format: Option<Format>,
        /// Endpoints downloaded at once.
        #[arg(long, default_value_t = 4)]
        parallel: usize,
        /// Ask the server to compress the Arrow data it sends (slow networks).
        #[arg(long, value_enum)]
        compression: Option<Compression>,
        /// Continue the interrupted download to -o FILE from the rows it
        /// wrote, if the table is unchanged (else start it).
        #[arg(long, requires = "output")]
        resume: bool,
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

/// The JSON answer of action `name`.
async fn action_json(session: &Session, name: &str, body: String) -> Result<serde_json::Value> {
    let mut client = session.client()?;
    let results: Vec<_> = client
        .do_action(arrow_flight::Action::new(name, body))
        .await?
        .try_collect()
        .await?;
    let first = results
        .first()
        .ok_or_else(|| Failure::new(format!("the server sent no answer to {name}")))?;
    Ok(serde_json::from_slice(first)?)
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
    let tls = TlsFiles {
        ca_cert: cli.ca_cert.clone(),
        client_cert: cli.client_cert.clone(),
        client_key: cli.client_key.clone(),
        name: cli.tls_name.clone(),
    };
    let creds = Credentials {
        url: cli.url.clone(),
        user: cli.user.clone(),
        password: cli.password.clone(),
        token: std::env::var("LAKER_TOKEN").ok(),
        tls: tls.clone(),
    };
    if let Command::Login { server, login_user } = cli.command {
        let user = login_user
            .or(cli.user)
            .ok_or_else(|| Failure::new("login needs a user: laker login URL --as NAME"))?;
        let tls = tls.absolute();
        tls.check()?;
        // The server (and its certificate) first, then the password.
        let channel = session::channel(&server, &tls).await?;
        let password = password(cli.password)?;
        let token = session::login(channel, &user, &password).await?;
        let path = session::store(&Stored {
            url: server.clone(),
            user: user.clone(),
            token,
            tls,
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
        Command::Ls { search, json } => {
            let mut client = session.client()?;
            let search = search.unwrap_or_default();
            let infos: Vec<_> = client
                .list_flights(search.clone().into_bytes())
                .await?
                .try_collect()
                .await?;
            let listed: Vec<serde_json::Value> = infos.iter().map(describe::listing_json).collect();
            if json {
                print_json(&listed.into())?;
            } else if listed.is_empty() && search.is_empty() {
                eprintln!("laker: you may read no dataset yet: ask an admin for a grant");
            } else if listed.is_empty() {
                eprintln!("laker: no dataset you may read matches '{search}'");
            } else {
                print!("{}", describe::listing_text(&listed));
            }
        }
        Command::Describe { dataset, json } => {
            let body = serde_json::json!({"name": dataset}).to_string();
            let answer = action_json(&session, "describe_dataset", body).await?;
            if json {
                print_json(&answer)?;
            } else {
                print!("{}", describe::describe_text(&answer));
            }
        }
        Command::Get {
            dataset,
            columns,
            filter,
            limit,
            order_by,
            version,
            as_of,
            output,
            format,
            parallel,
            compression,
            resume,
        } => {
            let printing = output.is_none() && matches!(format, None | Some(Format::Table));
            let limit = limit.or(printing.then_some(20));
            let mut spec = serde_json::json!({"dataset": &dataset});
            if let Some(limit) = limit {
                spec["limit"] = limit.into();
            }
            if let Some(columns) = columns {
                spec["columns"] = columns.into();
            }
            if let Some(filter) = filter {
                spec["filter"] = filter.into();
            }
            if !order_by.is_empty() {
                spec["order_by"] = order_by.into();
            }
            if let Some(version) = version {
                spec["version"] = version.into();
            }
            if let Some(as_of) = as_of {
                spec["as_of"] = as_of.into();
            }
            let get = download::Get {
                spec,
                output: output.clone(),
                format,
                parallel,
                compression,
                resume,
            };
            let done = download::get(&session, get).await?;
            let mut notes = Vec::new();
            if done.resumed_at > 0 {
                notes.push(format!("resumed after {} rows", count(done.resumed_at)));
            }
            if let Some(v) = done.version {
                notes.push(format!("{dataset} version {v}"));
            }
            match output {
                Some(path) if notes.is_empty() => {
                    eprintln!("{} rows written to {}", done.rows, path.display());
                }
                Some(path) => eprintln!(
                    "{} rows written to {} ({})",
                    done.rows,
                    path.display(),
                    notes.join("; ")
                ),
                None if !notes.is_empty() => eprintln!("laker: read {}", notes.join("; ")),
                None => {}
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
                    compression: None,
                    resume: false,
                };
                download::get(&session, get).await?;
            }
            AdminCommand::Action { name, body } => action(&session, &name, body).await?,
        },
    }
    Ok(())
}
