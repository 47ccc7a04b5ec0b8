//! Tests of the configuration: precedence (flags and variables over the
//! file over defaults, either way for booleans), the defaults, the names of
//! flags, variables and keys, and the errors.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::CommandFactory;
use laker_auth::external::JwksSource;

use super::cli::{Cli, load};
use super::error::ConfigError;
use super::file::keys_of;
use super::server_config::ServerConfig;
use super::settings::identity::IdentityProvider;
use super::settings::ldap::Ldap;
use crate::telemetry::LogFormat;

fn parse(args: &[&str]) -> Result<ServerConfig, ConfigError> {
    let matches = Cli::command()
        .try_get_matches_from(std::iter::once("laker-server").chain(args.iter().copied()))
        .map_err(|e| ConfigError(e.to_string()))?;
    load(&matches).map(|(_, c)| c)
}

/// Writes `text` to a TOML file in `dir`; returns its path.
fn toml_file(dir: &tempfile::TempDir, text: &str) -> String {
    let path = dir.path().join("laker.toml");
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

/// The top-level keys of the TOML file: those the code before the settings
/// were declared once accepted, `result_cache_mb`, `ldap`,
/// `trusted_proxies`, the retention clock's, `ingest_jobs` and
/// `parquet_plain_strings`.
const FILE_KEYS: [&str; 61] = [
    "listen",
    "http_listen",
    "shutdown_grace_secs",
    "keepalive_secs",
    "otlp_endpoint",
    "advertise_url",
    "data_dir",
    "catalog_url",
    "demo",
    "demo_rows",
    "token_ttl_secs",
    "ticket_ttl_secs",
    "secret_file",
    "previous_secret_files",
    "audit_queue",
    "audit_retention_days",
    "max_partitions",
    "batch_size",
    "large_batch_size",
    "large_batch_streams",
    "direct_do_get",
    "result_cache_mb",
    "parquet_options",
    "parquet_plain_strings",
    "sql_timeout_secs",
    "sql_query_memory_mb",
    "sql_max_concurrent",
    "memory_limit_mb",
    "stream_memory_mb",
    "max_streams_per_user",
    "max_expr_depth",
    "max_expr_nodes",
    "max_function_output_mb",
    "max_batch_mb",
    "upload_max_batch_mb",
    "upload_max_bytes",
    "upload_max_rows",
    "notify_webhook_url",
    "notify_webhook_secret_file",
    "notify_nats_url",
    "notify_nats_stream",
    "notify_nats_subject_prefix",
    "upload_orphan_grace_secs",
    "upload_store",
    "upload_target_file_mb",
    "upload_idle_secs",
    "ingest_jobs",
    "login_max_failures",
    "login_max_failures_per_address",
    "login_lockout_secs",
    "log_format",
    "log",
    "stores",
    "identity_provider",
    "ldap",
    "tls_cert",
    "tls_key",
    "tls_client_ca",
    "trusted_proxies",
    "retention_interval_secs",
    "retention_delete_after_hours",
];

#[test]
fn defaults() {
    let c = parse(&[]).unwrap();
    assert_eq!(c.listen.to_string(), "127.0.0.1:50051");
    assert_eq!(c.data_dir, PathBuf::from("laker-data"));
    assert_eq!(c.catalog_url, "sqlite://laker-data/catalog.db?mode=rwc");
    assert!(!c.demo);
}

/// Every value the code before the settings were declared once resolved
/// an empty command line and an empty file to.
fn assert_unchanged_defaults(c: &ServerConfig) {
    assert_eq!(c.listen, SocketAddr::from(([127, 0, 0, 1], 50051)));
    assert_eq!(c.http_listen, None);
    assert_eq!(c.shutdown_grace, Duration::from_secs(30));
    assert_eq!(c.keepalive, Some(Duration::from_secs(30)));
    assert_eq!(c.otlp_endpoint, None);
    assert_eq!(c.advertise_url, None);
    assert_eq!(c.data_dir, PathBuf::from("laker-data"));
    assert_eq!(c.catalog_url, "sqlite://laker-data/catalog.db?mode=rwc");
    assert!(!c.demo);
    assert_eq!(c.demo_rows, 2_000_000);
    assert_eq!(c.token_ttl, Duration::from_secs(28_800));
    assert_eq!(c.ticket_ttl, Duration::from_secs(3600));
    assert_eq!(c.secret_file, PathBuf::from("laker-data/secret.key"));
    assert!(c.previous_secret_files.is_empty());
    assert_eq!(c.audit_queue, 10_000);
    assert_eq!(c.audit_retention, Some(Duration::from_secs(365 * 86_400)));
    assert_eq!(c.max_partitions, 8);
    assert_eq!(c.batch_size, 8192);
    assert!(c.direct_do_get);
    assert_eq!(c.result_cache_bytes, 0, "the result cache is off");
    assert!(c.parquet_options.is_empty());
    assert!(c.parquet_plain_strings);
    assert_eq!(
        c.sql_limits,
        laker_query::sql::limits::SqlLimits {
            memory_per_query: 1 << 30,
            timeout: Some(Duration::from_secs(300)),
            concurrent_per_principal: 8,
        }
    );
    assert_eq!(
        c.stream_limits,
        laker_query::admission::StreamLimits {
            memory_limit: laker_query::admission::default_memory_limit(),
            stream_memory: 256 << 20,
            streams_per_user: 64,
            parallel_reads: 2,
            large_batch_rows: 65_536,
            large_batch_streams: std::thread::available_parallelism().map_or(2, |n| n.get()),
        }
    );
    assert_eq!(
        c.expr_limits,
        laker_query::ExprLimits {
            max_depth: 256,
            max_nodes: 50_000,
        }
    );
    assert_eq!(
        c.function_limits,
        laker_query::FunctionLimits {
            max_call_bytes: 64 << 20,
            max_value_bytes: 32 << 10,
            max_literal_bytes: 32 << 10,
            max_batch_bytes: 256 << 20,
        }
    );
    let upload = &c.upload_limits;
    assert_eq!(
        (upload.max_bytes, upload.max_rows, upload.target_file_bytes),
        (16 << 30, 2_000_000_000, 128 << 20)
    );
    assert_eq!(upload.idle, Duration::from_secs(300));
    assert_eq!(upload.decode, laker_ingest::inbound::Limits::default());
    assert_eq!(
        (
            upload.decode.max_message_bytes,
            upload.decode.max_dictionary_bytes
        ),
        (256 << 20, 64 << 20)
    );
    assert_eq!(c.upload_orphan_grace, Duration::from_secs(3600));
    assert_eq!(c.upload_store, None);
    assert_eq!(c.retention_interval, Some(Duration::from_secs(3600)));
    assert_eq!(c.retention_delete_after, Duration::from_secs(24 * 3600));
    assert!(c.ingest_jobs, "ingest jobs run on their schedules");
    assert!(!c.ingest_crash_after_commit);
    let notify = &c.notify;
    assert_eq!(notify.webhook_url, None);
    assert_eq!(notify.webhook_secret_file, None);
    assert_eq!(notify.nats_url, None);
    assert_eq!(notify.nats_stream, "LAKER_COMMITS");
    assert_eq!(notify.nats_subject_prefix, "laker.commits");
    let login = c.login_limits;
    assert_eq!(
        (login.per_user, login.per_address, login.window),
        (5, 20, Duration::from_secs(300))
    );
    assert_eq!(c.log_format, LogFormat::Text);
    assert_eq!(c.log, "info");
    assert!(c.stores.is_empty());
    assert_eq!(c.identity_provider, None);
    assert_eq!(c.ldap, None);
    assert_eq!(c.tls_cert, None);
    assert_eq!(c.tls_key, None);
    assert_eq!(c.tls_client_ca, None);
    assert!(c.trusted_proxies.is_empty());
}

#[test]
fn an_empty_command_line_and_file_give_the_same_defaults_as_before() {
    assert_unchanged_defaults(&parse(&[]).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let empty = toml_file(&dir, "");
    assert_unchanged_defaults(&parse(&["--config", &empty]).unwrap());
}

#[test]
fn file_then_flags() {
    let dir = tempfile::tempdir().unwrap();
    let f = toml_file(
        &dir,
        "listen = \"127.0.0.1:6000\"\ndata_dir = \"/srv/laker\"\ntoken_ttl_secs = 60\nlog_format = \"json\"\n\n[stores.lake]\nurl = \"s3://bucket\"\nregion = \"eu-north-1\"\n",
    );
    let c = parse(&["--config", &f]).unwrap();
    assert_eq!(c.listen.port(), 6000);
    assert_eq!(c.token_ttl, Duration::from_secs(60));
    assert_eq!(c.log_format, LogFormat::Json);
    assert_eq!(c.secret_file, PathBuf::from("/srv/laker/secret.key"));
    assert_eq!(c.stores["lake"].url, "s3://bucket");
    let c = parse(&[
        "--config",
        &f,
        "--listen",
        "127.0.0.1:7000",
        "--log-format",
        "text",
    ])
    .unwrap();
    assert_eq!(c.listen.port(), 7000);
    assert_eq!(c.log_format, LogFormat::Text);
}

#[test]
fn flags_override_the_file_and_leave_the_rest_of_it() {
    let dir = tempfile::tempdir().unwrap();
    let f = toml_file(
        &dir,
        "demo_rows = 3\nupload_max_rows = 10\nprevious_secret_files = [\"/a\", \"/b\"]\n\
         sql_timeout_secs = 5\n[parquet_options]\nenable_page_index = \"false\"\n",
    );
    let c = parse(&["--config", &f]).unwrap();
    assert_eq!(c.demo_rows, 3);
    assert_eq!(c.upload_limits.max_rows, 10);
    assert_eq!(c.previous_secret_files, [PathBuf::from("/a"), "/b".into()]);
    assert_eq!(c.sql_limits.timeout, Some(Duration::from_secs(5)));
    let c = parse(&[
        "--config",
        &f,
        "--demo-rows",
        "4",
        "--previous-secret-file",
        "/c",
        "--sql-timeout-secs",
        "0",
        "--parquet-option",
        "bloom_filter_on_read=true",
    ])
    .unwrap();
    assert_eq!(c.demo_rows, 4);
    assert_eq!(c.previous_secret_files, [PathBuf::from("/c")]);
    assert_eq!(c.sql_limits.timeout, None);
    assert_eq!(
        c.parquet_options,
        [("bloom_filter_on_read".to_string(), "true".to_string())]
    );
    assert_eq!(c.upload_limits.max_rows, 10, "not given: the file's");
}

#[test]
fn a_false_flag_turns_off_what_the_file_turned_on() {
    let dir = tempfile::tempdir().unwrap();
    let f = toml_file(&dir, "demo = true\ndirect_do_get = false\n");
    let c = parse(&["--config", &f]).unwrap();
    assert!(c.demo && !c.direct_do_get);
    let c = parse(&["--config", &f, "--demo=false", "--direct-do-get=true"]).unwrap();
    assert!(!c.demo && c.direct_do_get);
    assert!(parse(&["--config", &f, "--demo=true"]).unwrap().demo);
    // Without a value the flag turns it on, as before.
    assert!(parse(&["--demo"]).unwrap().demo);
    assert!(!parse(&["--demo=false"]).unwrap().demo);
    // Its value must follow `=`: a separate word is not taken for it.
    assert!(parse(&["--demo", "false"]).is_err());
}

#[test]
fn parquet_plain_strings_from_the_file_or_flags() {
    let dir = tempfile::tempdir().unwrap();
    let f = toml_file(&dir, "parquet_plain_strings = false\n");
    assert!(!parse(&["--config", &f]).unwrap().parquet_plain_strings);
    let c = parse(&["--config", &f, "--parquet-plain-strings=true"]).unwrap();
    assert!(c.parquet_plain_strings, "the flag over the file");
    assert!(
        !parse(&["--parquet-plain-strings", "false"])
            .unwrap()
            .parquet_plain_strings
    );
    let e = parse(&["--parquet-plain-strings", "maybe"]).unwrap_err();
    assert!(e.0.contains("--parquet-plain-strings"), "{e}");
    let f = toml_file(&dir, "parquet_plain_strings = \"no\"\n");
    let e = parse(&["--config", &f]).unwrap_err();
    assert!(e.0.contains("invalid config file"), "{e}");
}

#[test]
fn variables_count_as_flags_over_the_file() {
    const CHILD: &str = "LAKER_TEST_CONFIG_CHILD";
    if std::env::var_os(CHILD).is_some() {
        // Run again by the parent below, with LAKER_* variables set.
        let c = parse(&[]).unwrap();
        assert_eq!(c.listen.port(), 6001, "the file named by LAKER_CONFIG");
        assert!(!c.demo, "LAKER_DEMO=false over the file's demo = true");
        assert_eq!(c.demo_rows, 7, "LAKER_DEMO_ROWS over the file");
        assert!(
            !c.parquet_plain_strings,
            "LAKER_PARQUET_PLAIN_STRINGS=false over the default"
        );
        let c = parse(&["--demo-rows", "9"]).unwrap();
        assert_eq!(c.demo_rows, 9, "flags over variables");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let f = toml_file(
        &dir,
        "listen = \"127.0.0.1:6001\"\ndemo = true\ndemo_rows = 3\n",
    );
    let module = module_path!()
        .split_once("::")
        .map_or(module_path!(), |(_, m)| m);
    let name = format!("{module}::variables_count_as_flags_over_the_file");
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", &name, "--test-threads=1"])
        .env(CHILD, "1")
        .env("LAKER_CONFIG", &f)
        .env("LAKER_DEMO", "false")
        .env("LAKER_DEMO_ROWS", "7")
        .env("LAKER_PARQUET_PLAIN_STRINGS", "false")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn operations_flags() {
    let c = parse(&[]).unwrap();
    assert_eq!(c.http_listen, None);
    assert_eq!(c.shutdown_grace, Duration::from_secs(30));
    assert_eq!(c.keepalive, Some(Duration::from_secs(30)));
    let c = parse(&[
        "--http-listen",
        "127.0.0.1:9090",
        "--shutdown-grace-secs",
        "5",
        "--keepalive-secs",
        "0",
    ])
    .unwrap();
    assert_eq!(c.http_listen.map(|a| a.port()), Some(9090));
    assert_eq!(c.shutdown_grace, Duration::from_secs(5));
    assert_eq!(c.keepalive, None);
}

#[test]
fn parquet_options_from_flags_or_file_are_checked() {
    let c = parse(&[
        "--parquet-option",
        "enable_page_index=false",
        "--parquet-option",
        "metadata_size_hint = 1048576",
    ])
    .unwrap();
    assert_eq!(
        c.parquet_options,
        [
            ("enable_page_index".to_string(), "false".to_string()),
            ("metadata_size_hint".to_string(), "1048576".to_string())
        ]
    );
    c.validate().unwrap();

    let dir = tempfile::tempdir().unwrap();
    let f = toml_file(
        &dir,
        "[parquet_options]\nbloom_filter_on_read = \"false\"\n",
    );
    let c = parse(&["--config", &f]).unwrap();
    assert_eq!(
        c.parquet_options,
        [("bloom_filter_on_read".to_string(), "false".to_string())]
    );

    let e = parse(&["--parquet-option", "enable_page_index"]).unwrap_err();
    assert!(e.0.contains("expected name=value"), "{e}");
    for bad in ["no_such_option=1", "enable_page_index=maybe"] {
        let e = parse(&["--parquet-option", bad]).unwrap_err();
        assert!(e.0.starts_with("invalid Parquet option"), "{e}");
    }
}

#[test]
fn the_result_cache_is_sized_in_mib_and_bounded_by_the_memory_limit() {
    let dir = tempfile::tempdir().unwrap();
    let f = toml_file(&dir, "result_cache_mb = 64\nmemory_limit_mb = 1024\n");
    assert_eq!(
        parse(&["--config", &f]).unwrap().result_cache_bytes,
        64 << 20
    );
    let c = parse(&["--config", &f, "--result-cache-mb", "512"]).unwrap();
    assert_eq!(
        c.result_cache_bytes,
        512 << 20,
        "half the budget is allowed"
    );
    let e = parse(&["--config", &f, "--result-cache-mb", "513"]).unwrap_err();
    assert!(
        e.0.contains(
            "--result-cache-mb (513 MiB) must be at most half of --memory-limit-mb (1024 MiB)"
        ),
        "{e}"
    );
    let c = parse(&["--config", &f, "--result-cache-mb", "0"]).unwrap();
    assert_eq!(c.result_cache_bytes, 0);
}

#[test]
fn the_retention_clock_from_the_file_or_flags_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    let f = toml_file(
        &dir,
        "retention_interval_secs = 60\nretention_delete_after_hours = 2\n",
    );
    let c = parse(&["--config", &f]).unwrap();
    assert_eq!(c.retention_interval, Some(Duration::from_secs(60)));
    assert_eq!(c.retention_delete_after, Duration::from_secs(2 * 3600));
    let c = parse(&[
        "--config",
        &f,
        "--retention-interval-secs",
        "0",
        "--retention-delete-after-hours",
        "0",
    ])
    .unwrap();
    assert_eq!(c.retention_interval, None, "0 turns the clock off");
    assert_eq!(c.retention_delete_after, Duration::ZERO);
    assert_eq!(
        parse(&["--retention-delete-after-hours", "168"])
            .unwrap()
            .retention_delete_after,
        Duration::from_secs(168 * 3600)
    );
    let e = parse(&["--retention-delete-after-hours", "169"]).unwrap_err();
    assert!(
        e.0.contains("--retention-delete-after-hours must be at most 168"),
        "{e}"
    );
}

#[test]
fn bad_config_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let f = toml_file(&dir, "listn = \"x\"\n");
    let err = parse(&["--config", &f]).unwrap_err().0;
    assert!(err.contains("unknown field `listn`"), "{err}");
    let err = parse(&["--demo", "--listen", "0.0.0.0:50051"])
        .unwrap_err()
        .0;
    assert!(err.contains("loopback"), "{err}");
    let err = parse(&["--catalog-url", "mysql://x"]).unwrap_err().0;
    assert!(err.contains("catalog-url"), "{err}");
}

#[test]
fn an_unknown_key_is_refused_at_its_line_naming_the_known_keys() {
    let dir = tempfile::tempdir().unwrap();
    let f = toml_file(&dir, "listen = \"127.0.0.1:1\"\nlistn = \"x\"\n");
    let err = parse(&["--config", &f]).unwrap_err().0;
    assert!(err.contains("line 2, column 1"), "{err}");
    let (_, expected) = err
        .split_once("unknown field `listn`, expected one of ")
        .unwrap();
    let expected: Vec<&str> = expected.trim_end().split(", ").collect();
    let mut known: Vec<String> = FILE_KEYS.iter().map(|k| format!("`{k}`")).collect();
    let mut named: Vec<String> = expected.iter().map(|k| k.to_string()).collect();
    known.sort();
    named.sort();
    assert_eq!(named, known);
    // A wrongly typed value is named at its own line, as before.
    let f = toml_file(&dir, "demo = true\nlisten = 5\n");
    let err = parse(&["--config", &f]).unwrap_err().0;
    assert!(err.contains("line 2, column 10"), "{err}");
}

#[test]
fn flags_variables_and_keys_keep_their_names() {
    let mut longs: Vec<&str> = FILE_KEYS
        .iter()
        .filter(|k| !matches!(**k, "stores" | "identity_provider" | "ldap"))
        .copied()
        .collect();
    longs.extend([
        "config",
        "jwt_issuer",
        "jwt_audience",
        "jwks_url",
        "jwks_file",
        "jwt_user_claim",
        "jwt_roles_claim",
        "jwt_role_map",
        "jwt_attribute_claim",
        "jwt_name_prefix",
        "ldap_url",
        "ldap_starttls",
        "ldap_ca_cert",
        "ldap_bind_dn_template",
        "ldap_search_base",
        "ldap_user_filter",
        "ldap_service_dn",
        "ldap_service_password_file",
        "ldap_group_base",
        "ldap_group_filter",
        "ldap_nested_groups",
        "ldap_group_role",
        "ldap_attribute",
        "ldap_cache_secs",
        "ldap_timeout_secs",
        "ldap_connect_timeout_secs",
        "ldap_max_connections",
        "ldap_name_prefix",
    ]);
    let renamed = BTreeMap::from([
        ("previous_secret_files", "previous_secret_file"),
        ("parquet_options", "parquet_option"),
        ("trusted_proxies", "trusted_proxy"),
    ]);
    let plural = BTreeMap::from([
        ("previous_secret_file", "LAKER_PREVIOUS_SECRET_FILES"),
        ("parquet_option", "LAKER_PARQUET_OPTIONS"),
        ("jwt_attribute_claim", "LAKER_JWT_ATTRIBUTE_CLAIMS"),
        ("ldap_group_role", "LAKER_LDAP_GROUP_ROLES"),
        ("ldap_attribute", "LAKER_LDAP_ATTRIBUTES"),
        ("trusted_proxy", "LAKER_TRUSTED_PROXIES"),
    ]);
    let mut expected: Vec<(String, String)> = longs
        .iter()
        .map(|key| {
            let long = renamed.get(key).unwrap_or(key);
            let env = plural.get(long).map_or_else(
                || format!("LAKER_{}", long.to_uppercase()),
                |e| e.to_string(),
            );
            (long.replace('_', "-"), env)
        })
        .collect();
    let mut actual: Vec<(String, String)> = Cli::command()
        .get_arguments()
        .filter(|a| !["help", "version"].contains(&a.get_id().as_str()))
        .map(|a| {
            let env = a.get_env().map(|e| e.to_string_lossy().into_owned());
            (
                a.get_long().unwrap_or_default().to_string(),
                env.unwrap_or_default(),
            )
        })
        .collect();
    expected.sort();
    actual.sort();
    assert_eq!(actual, expected);
    assert_eq!(
        keys_of::<IdentityProvider>(),
        [
            "issuer",
            "audience",
            "jwks_url",
            "jwks_file",
            "user_claim",
            "roles_claim",
            "role_map",
            "attribute_claims",
            "name_prefix"
        ]
    );
    assert_eq!(
        keys_of::<Ldap>(),
        [
            "url",
            "starttls",
            "ca_cert",
            "bind_dn_template",
            "search_base",
            "user_filter",
            "service_dn",
            "service_password_file",
            "group_base",
            "group_filter",
            "nested_groups",
            "group_roles",
            "attributes",
            "cache_secs",
            "timeout_secs",
            "connect_timeout_secs",
            "max_connections",
            "name_prefix"
        ]
    );
}

#[test]
fn trusted_proxies_from_the_file_or_flags_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let f = toml_file(&dir, "trusted_proxies = [\"10.0.0.0/8\", \"fd00::/8\"]\n");
    let c = parse(&["--config", &f]).unwrap();
    let ranges: Vec<String> = c.trusted_proxies.iter().map(|r| r.to_string()).collect();
    assert_eq!(ranges, ["10.0.0.0/8", "fd00::/8"]);
    let c = parse(&[
        "--config",
        &f,
        "--trusted-proxy",
        "127.0.0.1",
        "--trusted-proxy",
        "192.168.0.0/16",
    ])
    .unwrap();
    let ranges: Vec<String> = c.trusted_proxies.iter().map(|r| r.to_string()).collect();
    assert_eq!(
        ranges,
        ["127.0.0.1/32", "192.168.0.0/16"],
        "flags replace the file's"
    );
    let err = parse(&["--trusted-proxy", "10.0.0.1/8"]).unwrap_err();
    assert!(err.0.contains("did you mean 10.0.0.0/8?"), "{err}");
    let f = toml_file(&dir, "trusted_proxies = [\"proxy.example.org\"]\n");
    let err = parse(&["--config", &f]).unwrap_err();
    assert!(err.0.contains("not an address range"), "{err}");
}

#[test]
fn identity_provider_flags_win_over_the_file_and_problems_are_named() {
    assert_eq!(parse(&[]).unwrap().identity_provider, None);
    let dir = tempfile::tempdir().unwrap();
    let f = toml_file(
        &dir,
        r#"[identity_provider]
issuer = "https://sso"
audience = "laker"
jwks_file = "/etc/jwks.json"
[identity_provider.role_map]
admins = "platform_admin"
"#,
    );
    let c = parse(&["--config", &f, "--jwt-audience", "other"])
        .unwrap()
        .identity_provider
        .unwrap();
    assert_eq!(
        (c.issuer.as_str(), c.audience.as_str()),
        ("https://sso", "other")
    );
    assert_eq!(c.jwks, JwksSource::File("/etc/jwks.json".into()));
    assert_eq!(c.role_map["admins"], "platform_admin");
    assert_eq!(
        (c.user_claim.as_str(), c.name_prefix.as_str()),
        ("sub", "sso:")
    );
    // A flag's mappings replace the file's; their roles are lowercased.
    let c = parse(&[
        "--config",
        &f,
        "--jwt-role-map",
        "readers = Analyst,admins=ADMIN",
    ])
    .unwrap()
    .identity_provider
    .unwrap();
    assert_eq!(
        c.role_map,
        BTreeMap::from([
            ("admins".to_string(), "admin".to_string()),
            ("readers".to_string(), "analyst".to_string())
        ])
    );
    let no_audience = parse(&["--jwt-issuer", "x"]).unwrap_err();
    assert!(no_audience.0.contains("--jwt-audience"), "{no_audience}");
    let both = parse(&["--config", &f, "--jwks-url", "https://k"]).unwrap_err();
    assert!(
        both.0
            .contains("one of --jwks-url or --jwks-file, not both"),
        "{both}"
    );
    // Neither: the issuer's discovery document names the keys.
    let issuer = "https://sso.example.org/realms/x";
    let c = parse(&["--jwt-issuer", issuer, "--jwt-audience", "laker"])
        .unwrap()
        .identity_provider
        .unwrap();
    assert_eq!(c.jwks, JwksSource::Discover(issuer.into()));
    let local = "http://127.0.0.1:8080/realms/x";
    let c = parse(&["--jwt-issuer", local, "--jwt-audience", "laker"])
        .unwrap()
        .identity_provider
        .unwrap();
    assert_eq!(c.jwks, JwksSource::Discover(local.into()), "loopback http");
    for args in [
        &[
            "--jwt-issuer",
            "http://sso.example.org",
            "--jwt-audience",
            "laker",
        ][..],
        &[
            "--jwt-issuer",
            issuer,
            "--jwt-audience",
            "laker",
            "--jwks-url",
            "http://sso.example.org/certs",
        ][..],
    ] {
        let err = parse(args).unwrap_err();
        assert!(err.0.contains("must be an https:// URL"), "{args:?}: {err}");
    }
    let f = toml_file(&dir, "[identity_provider]\nissuer_url = \"x\"\n");
    let unknown = parse(&["--config", &f]).unwrap_err();
    assert!(
        unknown.0.contains("unknown field `issuer_url`"),
        "{unknown}"
    );
}

#[test]
fn ldap_from_the_file_and_flags_and_problems_are_named() {
    use laker_auth::ldap::{GroupLookup, UserLookup};

    assert_eq!(parse(&[]).unwrap().ldap, None);
    let dir = tempfile::tempdir().unwrap();
    let password = dir.path().join("service.password");
    std::fs::write(&password, "s3cret\n").unwrap();
    let f = toml_file(
        &dir,
        &format!(
            r#"[ldap]
url = "ldaps://ldap.example.org"
search_base = "ou=people,dc=example,dc=org"
service_dn = "cn=laker,ou=services,dc=example,dc=org"
service_password_file = "{}"
nested_groups = 2
cache_secs = 60
[ldap.group_roles]
"cn=analysts,ou=groups,dc=example,dc=org" = "analyst"
[ldap.attributes]
departmentNumber = "department"
"#,
            password.display()
        ),
    );
    let c = parse(&["--config", &f, "--ldap-timeout-secs", "3"])
        .unwrap()
        .ldap
        .unwrap();
    assert_eq!(c.url, "ldaps://ldap.example.org");
    assert_eq!(
        c.users,
        UserLookup::Search {
            base: "ou=people,dc=example,dc=org".into(),
            filter: "(uid={user})".into()
        }
    );
    let service = c.service.unwrap();
    assert_eq!(service.password.expose(), "s3cret", "without the newline");
    assert_eq!(c.groups, GroupLookup::MemberOf);
    assert_eq!(c.nesting_depth, 2);
    assert_eq!(
        c.group_roles,
        vec![(
            "cn=analysts,ou=groups,dc=example,dc=org".to_string(),
            "analyst".to_string()
        )]
    );
    assert_eq!(
        c.attributes,
        vec![("departmentNumber".to_string(), "department".to_string())]
    );
    assert_eq!(
        (c.cache_ttl, c.timeout, c.connect_timeout),
        (
            Duration::from_secs(60),
            Duration::from_secs(3),
            Duration::from_secs(5)
        )
    );
    assert_eq!(c.name_prefix, "ldap:");
    // Flags: a bind DN template, StartTLS, repeatable mappings.
    let c = parse(&[
        "--ldap-url",
        "ldap://ldap.example.org",
        "--ldap-starttls",
        "true",
        "--ldap-bind-dn-template",
        "uid={user},ou=people,dc=example,dc=org",
        "--ldap-group-base",
        "ou=groups,dc=example,dc=org",
        "--ldap-group-role",
        "cn=analysts,ou=groups,dc=example,dc=org=Analyst",
        "--ldap-group-role",
        "cn=engineers,ou=groups,dc=example,dc=org=engineer",
        "--ldap-attribute",
        "departmentNumber=department,mail",
    ])
    .unwrap()
    .ldap
    .unwrap();
    assert!(c.starttls);
    assert_eq!(
        c.users,
        UserLookup::Template("uid={user},ou=people,dc=example,dc=org".into())
    );
    assert!(matches!(c.groups, GroupLookup::Search { .. }));
    assert_eq!(c.group_roles.len(), 2);
    assert_eq!(c.group_roles[0].1, "analyst");
    assert_eq!(c.attributes[1], ("mail".to_string(), "mail".to_string()));
    // Problems, named.
    for (args, expected) in [
        (&["--ldap-search-base", "ou=people"][..], "need --ldap-url"),
        (&["--ldap-url", "ldaps://x"][..], "exactly one of"),
        (
            &[
                "--ldap-url",
                "ldap://ldap.example.org",
                "--ldap-bind-dn-template",
                "uid={user},dc=x",
            ][..],
            "clear text",
        ),
        (
            &["--ldap-url", "ldaps://x", "--ldap-search-base", "ou=people"][..],
            "service account",
        ),
        (
            &[
                "--ldap-url",
                "ldaps://x",
                "--ldap-bind-dn-template",
                "uid={user},dc=x",
                "--ldap-service-dn",
                "cn=laker",
            ][..],
            "LAKER_LDAP_SERVICE_PASSWORD",
        ),
        (
            &["--ldap-url", "ldaps://x", "--ldap-group-role", "analysts"][..],
            "GROUP_DN=role",
        ),
    ] {
        let err = parse(args).unwrap_err().0;
        assert!(err.contains(expected), "{args:?}: {err}");
    }
    let f = toml_file(&dir, "[ldap]\nurl = \"ldaps://x\"\nbind_dn = \"x\"\n");
    let unknown = parse(&["--config", &f]).unwrap_err();
    assert!(unknown.0.contains("unknown field `bind_dn`"), "{unknown}");
}
