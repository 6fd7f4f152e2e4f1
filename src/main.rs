//! The `therethere` command: `serve` (the default), `migrate`, `workspace create`, `demo`.

use clap::{Parser, Subcommand};
use therethere::config::{Config, LogFormat, Role};
use therethere::server::{self, Database};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(version, about = "The integration service of a helpdesk")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service (the default): pages, API and background work, or one of them.
    Serve {
        /// What to run: all, web (pages and API) or worker (webhook delivery, mail and sidebar warm-ups).
        /// Default: the `ROLE` variable, else all.
        #[arg(long, value_enum)]
        role: Option<Role>,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Workspaces: `workspace create` sets one up with its owner, who chooses a password
    /// through a single-use link this prints.
    Workspace {
        #[command(subcommand)]
        command: WorkspaceCommand,
    },
    /// Create the demo workspace "Acme" if it is missing, and print how to log in.
    Demo {
        /// Print one JSON object (base URL, users with passwords and fresh API tokens, channel ids).
        #[arg(long)]
        json: bool,
    },
    /// Check a webhook delivery's signature: exits 0 (valid) or 1, with a one-line reason.
    Verify {
        /// The destination's signing secret (whsec_...).
        #[arg(long)]
        secret: String,
        /// A ThereThere-Signature value (hex HMAC-SHA256 of the body).
        #[arg(long, conflicts_with = "headers", required_unless_present = "headers")]
        signature: Option<String>,
        /// A file of `Name: value` header lines (e.g. copied from a delivery's Details).
        #[arg(long)]
        headers: Option<std::path::PathBuf>,
        /// The raw body: a file, or - for standard input (the default).
        #[arg(long, default_value = "-")]
        body: String,
    },
    /// Re-seal every stored signing secret under SECRETS_KEY (after a rotation: start every
    /// instance with the new key and the old one as SECRETS_KEY_PREVIOUS first). In batches,
    /// safe while instances run, and idempotent.
    RotateSecretsKey,
    /// Print the event catalog: every webhook payload type with its JSON Schema (2020-12) and
    /// an example, as `GET /api/webhook-event-types` serves it and `docs/` keeps it.
    WebhookEventTypes,
}

#[derive(Subcommand)]
enum WorkspaceCommand {
    /// Create a workspace and its owner, and print the link (valid 24 hours, single-use)
    /// where the owner chooses a password. Run it again for another workspace.
    Create {
        /// The workspace's name.
        #[arg(long)]
        name: String,
        /// The owner's email: they sign in with it (an email belongs to one account).
        #[arg(long)]
        owner_email: String,
        /// The owner's name (default: the email's local part; they can't change it yet).
        #[arg(long)]
        owner_name: Option<String>,
    },
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    quiet_panics();
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// A panic is logged as one line through the log (a request's is answered 500 by the web
/// layer); the standard hook, with its backtrace, only when `RUST_BACKTRACE` asks for it:
/// symbolizing one cost the process ~120 MB of memory.
fn quiet_panics() {
    // Read here, not in Config: it is the standard library's own switch.
    let asked = std::env::var_os("RUST_BACKTRACE").is_some_and(|v| v != "0");
    if asked {
        return;
    }
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("(no message)");
        if tracing::dispatcher::has_been_set() {
            tracing::error!(panic = message, at = %location, "panicked");
        } else {
            eprintln!("panicked at {location}: {message}");
        }
    }));
}

/// Logs to standard error, as text for a terminal or one JSON object per line (`LOG_FORMAT`),
/// filtered by `RUST_LOG` (default `info,sqlx=warn`).
fn init_logging(format: LogFormat) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .flatten_event(true)
            .init(),
    }
}

fn verify(
    secret: &str,
    signature: Option<&str>,
    headers: Option<&std::path::Path>,
    body: &str,
) -> anyhow::Result<bool> {
    use std::io::Read;
    let body = if body == "-" {
        let mut bytes = Vec::new();
        std::io::stdin().read_to_end(&mut bytes)?;
        bytes
    } else {
        std::fs::read(body)?
    };
    let headers = headers.map(std::fs::read_to_string).transpose()?;
    let request = therethere::verify::VerifyRequest {
        secret,
        body: &body,
        signature,
        headers: headers.as_deref(),
        now: chrono::Utc::now().timestamp(),
    };
    match therethere::verify::verify(&request) {
        Ok(message) => {
            println!("{message}");
            Ok(true)
        }
        Err(reason) => {
            println!("{reason}");
            Ok(false)
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    if let Some(Command::Verify {
        secret,
        signature,
        headers,
        body,
    }) = &cli.command
    {
        return match verify(secret, signature.as_deref(), headers.as_deref(), body)? {
            true => Ok(()),
            false => std::process::exit(1),
        };
    }
    if let Some(Command::WebhookEventTypes) = &cli.command {
        print!("{}", therethere::webhooks::catalog::catalog_json());
        return Ok(());
    }
    let mut config = Config::from_env()?;
    init_logging(config.log_format);
    match cli.command.unwrap_or(Command::Serve { role: None }) {
        Command::Serve { role } => {
            config.role = role.unwrap_or(config.role);
            server::run(config).await
        }
        Command::Migrate => {
            let database = Database::open(&config).await?;
            eprintln!("migrations applied");
            database.close().await;
            Ok(())
        }
        Command::Workspace {
            command:
                WorkspaceCommand::Create {
                    name,
                    owner_email,
                    owner_name,
                },
        } => {
            let database = Database::open(&config).await?;
            let created = therethere::accounts::first_workspace::create_first_workspace(
                &database.pool,
                &config.accounts,
                &config.app_url,
                &name,
                &owner_email,
                owner_name.as_deref(),
            )
            .await;
            database.close().await;
            let created = created.map_err(|err| match err.field() {
                Some(field) => anyhow::anyhow!("{field}: {}", err.public_message()),
                None => anyhow::anyhow!("{err:#}"),
            })?;
            let hours = config.accounts.setup_validity.as_secs().div_ceil(3600);
            println!(
                "Created workspace \"{}\" (id {}) with owner {} ({}).\n\
                 The owner chooses a password here (the link works once, for {hours} hours):\n\n  {}\n\n\
                 Then they sign in at {} and invite their team under Settings > Team.",
                created.workspace.name,
                created.workspace.id,
                created.owner.name,
                created.owner.email,
                created.link,
                config.app_url.link("/login"),
            );
            Ok(())
        }
        Command::RotateSecretsKey => {
            let keyring = config.secrets.load()?;
            let database = Database::open(&config).await?;
            let outcome = async {
                use therethere::secrets::rotation::{self, Reseal};
                rotation::check_key(&database.pool, &keyring).await?;
                let resealed =
                    rotation::reseal(&database.pool, &keyring, Reseal::NotCurrent).await?;
                let erased = rotation::erase_retired_secrets(&database.pool).await?;
                anyhow::Ok((resealed, erased))
            }
            .await;
            database.close().await;
            let (resealed, erased) = outcome?;
            println!(
                "Re-sealed {resealed} signing secret{} under key {}; erased {erased} replaced secret{} past its grace period. \
                 Every stored secret now opens with SECRETS_KEY alone: SECRETS_KEY_PREVIOUS can be dropped.",
                if resealed == 1 { "" } else { "s" },
                keyring.current.id(),
                if erased == 1 { "" } else { "s" },
            );
            Ok(())
        }
        Command::Demo { json } => {
            let database = Database::open(&config).await?;
            let demo = therethere::demo::seed(&database.pool).await?;
            if json {
                let value = demo.to_json(&database.pool, &config).await?;
                println!("{}", serde_json::to_string_pretty(&value)?);
            } else {
                println!("{}", demo.describe(&config));
            }
            database.close().await;
            Ok(())
        }
        Command::Verify { .. } | Command::WebhookEventTypes => {
            unreachable!("handled before the configuration is read")
        }
    }
}
