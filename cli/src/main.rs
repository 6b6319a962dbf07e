//! `vigil`: the pipeline's libraries from the command line.

mod input;

use clap::{Parser, Subcommand};
use std::process::ExitCode;
use vigil_adapters::{ParseContext, SourceEvent};

#[derive(Parser)]
#[command(
    name = "vigil",
    version,
    about = "Container runtime-security findings for ECS and Fargate: normalize, map, replay"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args)]
struct EventArgs {
    /// The event file (an EventBridge event or a bare Falco / GuardDuty / Sysdig payload); `-` or
    /// nothing reads standard input.
    file: Option<String>,
    /// Account id for events that do not carry one (a bare Falco alert).
    #[arg(long, env = "VIGIL_ACCOUNT_ID")]
    account: Option<String>,
    /// Region for events that do not carry one.
    #[arg(long, env = "AWS_REGION")]
    region: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Print the canonical Finding (or ECS task lifecycle event) for one event, as JSON.
    Normalize(EventArgs),
    /// Print the ASFF finding Security Hub would receive for one event.
    Asff(EventArgs),
}

/// Exit status for input Vigil refuses (bad JSON, wrong types, unknown source, …).
const EXIT_INVALID: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(output) => {
            println!("{output}");
            ExitCode::SUCCESS
        }
        Err(reason) => {
            eprintln!("vigil: {reason}");
            ExitCode::from(EXIT_INVALID)
        }
    }
}

fn run(command: Command) -> Result<String, String> {
    match command {
        Command::Normalize(args) => match parse(&args)? {
            SourceEvent::Finding(f) => Ok(to_json(&f)),
            SourceEvent::TaskStateChange(t) => Ok(to_json(&t)),
        },
        Command::Asff(args) => match parse(&args)? {
            SourceEvent::Finding(f) => {
                let ctx = vigil_asff::MappingContext {
                    now: chrono::Utc::now(),
                };
                let record =
                    vigil_asff::to_asff(&f, &ctx).map_err(|e| format!("invalid event: {e}"))?;
                Ok(to_json(&record))
            }
            SourceEvent::TaskStateChange(_) => Err(
                "invalid event: $: an ECS task state change is not a finding and has no ASFF form"
                    .into(),
            ),
        },
    }
}

fn parse(args: &EventArgs) -> Result<SourceEvent, String> {
    let bytes = input::read(args.file.as_deref())?;
    let ctx = ParseContext {
        default_account: args.account.clone(),
        default_region: args.region.clone(),
    };
    vigil_adapters::parse_event(&bytes, &ctx).map_err(|e| format!("invalid event: {e}"))
}

fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}
