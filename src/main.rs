//! `cognigy-warden`: the command line. Everything of substance lives in the library.

use clap::{Parser, Subcommand};
use cognigy_warden::config::{Config, LogFormat};
use cognigy_warden::{app, demo, sandbox, telemetry};
use std::path::PathBuf;
use std::process::ExitCode;

/// Exit status for configuration errors.
const EXIT_CONFIG: u8 = 2;

#[derive(Parser, Debug)]
#[command(
    name = "cognigy-warden",
    version,
    about = "Keeps an organisation-wide Cognigy.AI Super API-Key fresh and runs organisation-wide jobs with it"
)]
struct Cli {
    /// Configuration file (TOML). Environment variables WARDEN_<SECTION>__<KEY> override it.
    #[arg(long, global = true, env = "WARDEN_CONFIG", value_name = "PATH")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the daemon: keeper, scheduled jobs and the admin server, until SIGTERM or Ctrl-C.
    Run,
    /// Start the built-in sandbox and run the daemon against it, printing what happens.
    Demo(demo::DemoOptions),
    /// Serve the built-in stand-in Cognigy API.
    Sandbox(sandbox::SandboxOptions),
    /// Print the effective configuration (secrets redacted); exit 0 if valid, 2 if not.
    CheckConfig,
    /// List or run the configured jobs.
    #[command(subcommand)]
    Jobs(JobsCommand),
}

#[derive(Subcommand, Debug)]
enum JobsCommand {
    /// Each job with its schedule, timezone and next three run times.
    List,
    /// Run one job now against the configured install and print where its report went.
    Run(app::JobsRunOptions),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(dispatch(cli))
}

async fn dispatch(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Sandbox(opts) => {
            telemetry::init(telemetry::Format::detect(), "info");
            report(sandbox::run_foreground(opts).await)
        }
        Command::Demo(opts) => {
            telemetry::init(telemetry::Format::Pretty, "warn");
            report(demo::run(opts).await)
        }
        Command::CheckConfig => match load(cli.config.as_deref()) {
            Ok(config) => {
                print!("{}", config.to_redacted_toml());
                ExitCode::SUCCESS
            }
            Err(code) => code,
        },
        Command::Run => match load(cli.config.as_deref()) {
            Ok(config) => {
                init_logs(&config);
                report(app::run_daemon(config).await)
            }
            Err(code) => code,
        },
        Command::Jobs(JobsCommand::List) => match load(cli.config.as_deref()) {
            Ok(config) => report(app::list_jobs(&config)),
            Err(code) => code,
        },
        Command::Jobs(JobsCommand::Run(opts)) => match load(cli.config.as_deref()) {
            Ok(config) => {
                init_logs(&config);
                match app::run_job_once(config, opts).await {
                    Ok(code) => ExitCode::from(code),
                    Err(e) => report(Err(e)),
                }
            }
            Err(code) => code,
        },
    }
}

fn load(path: Option<&std::path::Path>) -> Result<Config, ExitCode> {
    Config::load(path).map_err(|e| {
        eprintln!("{e}");
        ExitCode::from(EXIT_CONFIG)
    })
}

fn init_logs(config: &Config) {
    let format = match config.log.format {
        Some(LogFormat::Json) => telemetry::Format::Json,
        Some(LogFormat::Pretty) => telemetry::Format::Pretty,
        None => telemetry::Format::detect(),
    };
    telemetry::init(format, &config.log.level);
}

fn report(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
