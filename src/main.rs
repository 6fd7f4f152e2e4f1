//! The `therethere` command: `serve` (the default), `migrate`, `demo`.

use clap::{Parser, Subcommand};
use therethere::config::Config;
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
    /// Run the web service (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Create the demo workspace "Acme" if it is missing, and print how to log in.
    Demo {
        /// Print one JSON object (base URL, users with passwords and fresh API tokens, channel ids).
        #[arg(long)]
        json: bool,
    },
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = Config::from_env()?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => server::run(config).await,
        Command::Migrate => {
            let database = Database::open(&config).await?;
            eprintln!("migrations applied");
            database.close().await;
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
    }
}
