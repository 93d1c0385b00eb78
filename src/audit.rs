//! Who acts from the command line (`--actor`), and the audit log's latest
//! entries as `projections status` and `sagas status` print them. The
//! entries themselves are written by `orderflow_subscriptions` (retry,
//! skip) and `orderflow_projections` (rebuild), in the act's transaction.

use anyhow::Context;
use clap::Args;
use orderflow_subscriptions::Actor;
use orderflow_subscriptions::operator::recent_actions;
use sqlx::PgPool;

/// How many audit entries a status prints.
const SHOWN: i64 = 5;

#[derive(Debug, Clone, Args)]
pub struct ActorArgs {
    /// Who is acting, for the audit log (recorded as coming from the CLI);
    /// by default the shell user at this host (`$USER@hostname`).
    #[arg(long, env = "ORDERFLOW_ACTOR")]
    pub actor: Option<String>,
}

impl ActorArgs {
    pub fn actor(&self) -> anyhow::Result<Actor> {
        let name = match &self.actor {
            Some(name) => name.trim().to_owned(),
            None => default_name()?,
        };
        anyhow::ensure!(!name.is_empty(), "--actor must name someone");
        Ok(Actor::cli(name))
    }
}

/// `$USER@hostname`: the account as the shell knows it, else as the
/// system does (`whoami`, already in the tree through sqlx).
fn default_name() -> anyhow::Result<String> {
    let user = match std::env::var("USER") {
        Ok(u) if !u.is_empty() => u,
        _ => whoami::username().context("who is acting? pass --actor")?,
    };
    let host = whoami::hostname().context("this host's name; pass --actor")?;
    Ok(format!("{user}@{host}"))
}

/// Prints the latest audit entries of `pool`'s database.
pub async fn print_recent(pool: &PgPool) -> anyhow::Result<()> {
    let actions = recent_actions(pool, SHOWN)
        .await
        .context("reading the audit log")?;
    if actions.is_empty() {
        println!("audit log: no operator has acted yet");
        return Ok(());
    }
    println!("audit log (latest {}):", actions.len());
    for a in actions {
        let who = match a.via.as_str() {
            "console" => a.actor,
            via => format!("{via}:{}", a.actor),
        };
        println!(
            "  {}  {:<24} {:<8} {:<16} {}",
            a.at.format("%Y-%m-%d %H:%M:%SZ"),
            who,
            a.action,
            a.subscriber,
            a.detail
        );
    }
    Ok(())
}
