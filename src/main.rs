//! `mra`: the meeting-room connector. `mra run` starts every role in one
//! process; the other subcommands manage the store and show configuration.

mod addresses;
mod api;
mod config;
mod lb_command;
mod process;
mod room_command;
mod room_policies;
mod run;
mod store;

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use media_api::layout::{Layout, MeetingLayout};
use media_api::Encryption;
use meeting::NewMeeting;

use config::Config;
use store::Store;

#[derive(Parser)]
#[command(
    name = "mra",
    version,
    about = "Meeting-room connector: SIP/H.323 room systems into WebRTC meetings"
)]
struct Cli {
    /// Configuration file (default: ./mra.toml when present).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Directory holding the SQLite database (overrides data_dir).
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// Database URL, e.g. postgres://user:pass@host/db (overrides database.url).
    #[arg(long, global = true)]
    database_url: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run every role in one process.
    Run,
    /// Run the load balancer alone (`--config FILE`: its `[lb]` table).
    Lb,
    /// Configuration commands.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Manage meetings in the directory.
    Meeting {
        #[command(subcommand)]
        command: MeetingCommand,
    },
    /// Manage room accounts (SIP registration).
    Room {
        #[command(subcommand)]
        command: room_command::RoomCommand,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Print the effective configuration as TOML.
    Show,
}

#[derive(Subcommand)]
enum MeetingCommand {
    /// Create a meeting.
    Create {
        #[arg(long)]
        number: String,
        #[arg(long)]
        password: Option<String>,
        #[arg(long)]
        host_pin: Option<String>,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        locked: bool,
        /// Its layout (`1+7`, `2x2`, `automatic` …; default: the
        /// installation's media.layout).
        #[arg(long, value_parser = parse_layout)]
        layout: Option<Layout>,
        /// Turn the small tiles through those who do not fit, this often
        /// (5-300 s).
        #[arg(long)]
        polling_seconds: Option<u16>,
        /// `required`: only encrypted rooms are admitted (default: the
        /// installation's and room accounts' policies decide).
        #[arg(long, value_parser = parse_encryption)]
        encryption: Option<Encryption>,
    },
    /// List meetings.
    List,
    /// Show one meeting.
    Show { number: String },
    /// Delete a meeting.
    Delete { number: String },
}

fn parse_layout(name: &str) -> Result<Layout, String> {
    Layout::from_name(name).ok_or_else(|| format!("unknown layout {name:?}"))
}

/// An encryption policy by name (`required`, `optional`, `off`).
pub(crate) fn parse_encryption(name: &str) -> Result<Encryption, String> {
    Encryption::from_name(name)
        .ok_or_else(|| format!("unknown policy {name:?}: required, optional or off"))
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // `mra lb --config FILE` reads FILE as an LB configuration of its own.
    let file = match cli.command {
        Command::Lb => None,
        _ => cli.config.as_deref(),
    };
    let mut cfg = Config::load(file, std::env::vars())?;
    if let Some(dir) = cli.data_dir {
        cfg.data_dir = dir;
    }
    if let Some(url) = cli.database_url {
        cfg.database.url = Some(url);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.command {
        Command::Run => rt.block_on(run::run(cfg, lb_command::embedded_reader(cli.config))),
        Command::Lb => rt.block_on(lb_command::run(&cfg, lb_command::reader(cli.config))),
        Command::Config {
            command: ConfigCommand::Show,
        } => {
            print!("{}", toml::to_string_pretty(&cfg)?);
            Ok(())
        }
        Command::Meeting { command } => rt.block_on(meeting_command(&cfg, command)),
        Command::Room { command } => rt.block_on(room_command::run(&cfg, command)),
    }
}

async fn meeting_command(cfg: &Config, command: MeetingCommand) -> anyhow::Result<()> {
    let store = Store::open(&cfg.data_dir, cfg.database.url.as_deref()).await?;
    match command {
        MeetingCommand::Create {
            number,
            password,
            host_pin,
            name,
            locked,
            layout,
            polling_seconds,
            encryption,
        } => {
            let m = NewMeeting {
                number,
                password,
                host_pin,
                name,
                locked,
                layout: MeetingLayout {
                    layout,
                    polling_seconds,
                },
                encryption,
            }
            .validate()?;
            store.create_meeting(&m).await?;
            println!("{}", serde_json::to_string_pretty(&m)?);
        }
        MeetingCommand::List => {
            for m in store.meetings().await? {
                let pw = if m.password.is_some() {
                    "password"
                } else {
                    "open"
                };
                let lock = if m.locked { " locked" } else { "" };
                println!("{}\t{}\t{pw}{lock}", m.number, m.name);
            }
        }
        MeetingCommand::Show { number } => {
            let m = store
                .meeting(&number)
                .await?
                .with_context(|| format!("no meeting {number}"))?;
            println!("{}", serde_json::to_string_pretty(&m)?);
        }
        MeetingCommand::Delete { number } => {
            if !store.delete_meeting(&number).await? {
                anyhow::bail!("no meeting {number}");
            }
        }
    }
    Ok(())
}
