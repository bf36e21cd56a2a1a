//! `mra room …`: manage room accounts in the store from the shell (the
//! same store `mra run` uses, also while it runs).

use anyhow::Context;
use clap::Subcommand;

use media_api::Encryption;

use crate::config::Config;
use crate::store::{NewRoom, Store};

#[derive(Subcommand)]
pub enum RoomCommand {
    /// Create a room account.
    Add {
        #[arg(long)]
        user: String,
        #[arg(long)]
        password: String,
        /// Display name (default: the user).
        #[arg(long)]
        name: Option<String>,
        /// Transports it may register over (udp, tcp, tls, h323; default: udp,tcp,tls).
        #[arg(long, value_delimiter = ',')]
        transports: Option<Vec<String>>,
        /// The most its calls may use, kbit/s (default: media.max_call_rate_kbps).
        #[arg(long)]
        max_call_rate: Option<u32>,
        /// Its own encryption policy: required, optional or off (default:
        /// media.encryption).
        #[arg(long, value_parser = crate::parse_encryption)]
        encryption: Option<Encryption>,
    },
    /// List rooms with their registration status.
    List,
    /// Show one room and its registrations.
    Show { user: String },
    /// Delete a room and its registrations.
    Delete { user: String },
    /// Set a room's call rate, kbit/s ("default": the installation's).
    Rate { user: String, kbps: String },
    /// Set a room's encryption policy: required, optional, off, or
    /// "default" (the installation's).
    Encryption { user: String, policy: String },
    /// Set a room's password.
    Passwd {
        user: String,
        #[arg(long)]
        password: String,
    },
}

pub async fn run(cfg: &Config, command: RoomCommand) -> anyhow::Result<()> {
    let store = Store::open(&cfg.data_dir, cfg.database.url.as_deref()).await?;
    let realm = &cfg.registrar.realm;
    match command {
        RoomCommand::Add {
            user,
            password,
            name,
            transports,
            max_call_rate,
            encryption,
        } => {
            let account = NewRoom {
                user,
                password,
                name,
                transports,
                max_call_rate_kbps: max_call_rate,
                encryption,
            }
            .account(realm)?;
            store.create_room(&account).await?;
            show(&store, &account.user).await?;
        }
        RoomCommand::List => {
            for r in store.room_views(None).await? {
                let contact = r.contacts.first().map_or("", |c| c.source.as_str());
                println!("{}\t{}\t{}\t{contact}", r.user, r.name, r.status);
            }
        }
        RoomCommand::Show { user } => show(&store, &user).await?,
        RoomCommand::Delete { user } => {
            if !store.delete_room(&user).await? {
                anyhow::bail!("no room {user}");
            }
        }
        RoomCommand::Rate { user, kbps } => {
            let kbps = match kbps.as_str() {
                "default" => None,
                k => Some(k.parse().context("kbps: a number or \"default\"")?),
            };
            if !store.set_room_call_rate(&user, kbps).await? {
                anyhow::bail!("no room {user}");
            }
        }
        RoomCommand::Encryption { user, policy } => {
            let policy = match policy.as_str() {
                "default" => None,
                p => Some(crate::parse_encryption(p).map_err(anyhow::Error::msg)?),
            };
            if !store.set_room_encryption(&user, policy).await? {
                anyhow::bail!("no room {user}");
            }
        }
        RoomCommand::Passwd { user, password } => {
            if !store.set_room_password(&user, &password, realm).await? {
                anyhow::bail!("no room {user}");
            }
        }
    }
    Ok(())
}

async fn show(store: &Store, user: &str) -> anyhow::Result<()> {
    let room = store
        .room_views(Some(user))
        .await?
        .pop()
        .with_context(|| format!("no room {user}"))?;
    println!("{}", serde_json::to_string_pretty(&room)?);
    Ok(())
}
