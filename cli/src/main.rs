//! `vigil`: the pipeline's libraries from the command line.

mod input;
mod local;
mod playbook;

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
    /// Run the whole pipeline locally on a realistic scenario: the AWS emulator provisioned from
    /// infra/template.yaml, the three functions' handlers fed by an SQS relay.
    Demo(RunArgs),
    /// Run your own events (JSON lines: one EventBridge event or bare Falco alert per line) through
    /// the local pipeline.
    Replay {
        #[arg(required = true)]
        files: Vec<String>,
        /// The playbook file (default: the shipped playbooks/vigil/playbooks.yaml).
        #[arg(long)]
        playbooks: Option<String>,
        /// Send the events to a pipeline deployed with SAM instead (AWS credentials, region and
        /// endpoint from the environment, as the AWS CLI takes them); nothing is provisioned.
        #[arg(long, requires = "stack", conflicts_with_all = ["endpoint", "playbooks"])]
        aws: bool,
        /// With --aws: the CloudFormation stack SAM deployed.
        #[arg(long, requires = "aws")]
        stack: Option<String>,
        /// With --aws: how long to wait for the deployed functions to empty their queues.
        #[arg(long, default_value_t = 300, value_name = "SECONDS")]
        timeout: u64,
        #[command(flatten)]
        run: RunArgs,
    },
    /// Which running tasks no runtime agent (or GuardDuty) watches: a table per cluster and service
    /// (tasks running, covered, uncovered, last heartbeat, agent versions). On the local pipeline
    /// the check runs now, as its schedule runs it; on a deployed stack, its last report is read.
    Coverage {
        /// The emulator the local pipeline runs on (`vigil demo --endpoint URL`).
        #[arg(
            long,
            value_name = "URL",
            required_unless_present = "aws",
            conflicts_with = "aws"
        )]
        endpoint: Option<String>,
        /// With --endpoint: the run's table (default: the latest run's, `vigil-…`).
        #[arg(long, requires = "endpoint")]
        table: Option<String>,
        /// Read the last report of a pipeline deployed with SAM (AWS credentials and region from
        /// the environment).
        #[arg(long, requires = "stack")]
        aws: bool,
        /// With --aws: the CloudFormation stack SAM deployed.
        #[arg(long, requires = "aws")]
        stack: Option<String>,
        /// The report as JSON instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Check a playbook file, or show what it decides for findings.
    #[command(subcommand)]
    Playbook(PlaybookCommand),
    /// Approve stops Vigil proposed (playbooks in mode approve), as an analyst does in Security
    /// Hub: put the "Vigil: approve stop" custom action's event on the selected findings on the
    /// default bus of a local emulator (local pipeline only; on AWS, use the Security Hub console).
    Approve {
        /// The Security Hub finding ids to approve (`vigil-<fingerprint>`, or a GuardDuty finding ARN).
        #[arg(required = true)]
        findings: Vec<String>,
        /// The emulator the local pipeline runs on.
        #[arg(long, value_name = "URL", required = true)]
        endpoint: String,
        /// The findings' ProductArn (default: GuardDuty's for GuardDuty finding ARNs, else Vigil's).
        #[arg(long)]
        product_arn: Option<String>,
        /// The findings' account (AwsAccountId).
        #[arg(long, default_value = "123456789012")]
        account: String,
        #[arg(long, default_value = "us-east-1")]
        region: String,
    },
}

#[derive(clap::Args)]
struct RunArgs {
    /// The deployment's REMEDIATION_MODE.
    #[arg(long, default_value = "enforce", value_parser = ["off", "dry_run", "enforce"])]
    mode: String,
    /// One JSON object instead of the readable summary.
    #[arg(long)]
    json: bool,
    /// Use an AWS API emulator that is already running (`moto_server`, or
    /// dev/testkit/python/vigil_emulator.py) instead of starting one; the run provisions a stack
    /// of its own there.
    #[arg(long, value_name = "URL")]
    endpoint: Option<String>,
}

#[derive(Subcommand)]
enum PlaybookCommand {
    /// Validate a playbook file; exit 2 with the line and the reason when it is refused.
    Check { file: String },
    /// Print the playbook file's JSON Schema (the committed `playbooks/playbook.schema.json`),
    /// generated from the types the remediate function reads playbooks with.
    Schema,
    /// For each finding (canonical or enriched JSON, a `Finding Enriched` event, or a raw source
    /// event): the playbook that matches, its actions and every guardrail's verdict. No AWS calls.
    Test {
        file: String,
        #[arg(required = true)]
        findings: Vec<String>,
        /// The deployment's REMEDIATION_MODE: `dry_run` caps every playbook, `enforce` lets
        /// each playbook's own mode stand.
        #[arg(long, default_value = "dry_run", value_parser = ["dry_run", "enforce"])]
        mode: String,
        #[arg(long, env = "VIGIL_ACCOUNT_ID")]
        account: Option<String>,
        #[arg(long, env = "AWS_REGION")]
        region: Option<String>,
        /// One JSON array instead of text.
        #[arg(long)]
        json: bool,
    },
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
            // Serializes with `"kind": "agent_telemetry"`: what it is, not a finding.
            SourceEvent::AgentStatus(s) => Ok(to_json(&s)),
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
            SourceEvent::AgentStatus(_) => Err(
                "invalid event: rule: an agent's status event (Falco internal) is telemetry, not a finding, and has no ASFF form"
                    .into(),
            ),
        },
        Command::Demo(run) => local::demo(&run.mode, run.endpoint, run.json),
        Command::Replay {
            files,
            stack: Some(stack),
            aws: true,
            timeout,
            run,
            ..
        } => local::replay_deployed(&files, &stack, timeout, run.json),
        Command::Replay {
            files,
            playbooks,
            run,
            ..
        } => local::replay(
            &files,
            playbooks.as_deref(),
            &run.mode,
            run.endpoint,
            run.json,
        ),
        Command::Approve {
            findings,
            endpoint,
            product_arn,
            account,
            region,
        } => local::approve(
            &findings,
            &endpoint,
            product_arn.as_deref(),
            &account,
            &region,
        ),
        Command::Coverage {
            endpoint,
            table,
            stack,
            json,
            ..
        } => local::coverage(endpoint, table, stack, json),
        Command::Playbook(PlaybookCommand::Check { file }) => playbook::check(&file),
        // Printed with a final newline, as committed.
        Command::Playbook(PlaybookCommand::Schema) => {
            Ok(vigil_playbook::playbook_schema_text().trim_end().to_owned())
        }
        Command::Playbook(PlaybookCommand::Test {
            file,
            findings,
            mode,
            account,
            region,
            json,
        }) => playbook::test(playbook::TestArgs {
            file: &file,
            findings: &findings,
            mode: if mode == "enforce" {
                vigil_playbook::Mode::Enforce
            } else {
                vigil_playbook::Mode::DryRun
            },
            ctx: ParseContext {
                default_account: account,
                default_region: region,
                ..Default::default()
            },
            json,
        }),
    }
}

fn parse(args: &EventArgs) -> Result<SourceEvent, String> {
    let bytes = input::read(args.file.as_deref())?;
    let ctx = ParseContext {
        default_account: args.account.clone(),
        default_region: args.region.clone(),
        ..Default::default()
    };
    vigil_adapters::parse_event(&bytes, &ctx).map_err(|e| format!("invalid event: {e}"))
}

fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}
