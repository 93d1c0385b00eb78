//! `orderflow token`: a development bearer token, signed with the local
//! development key (created on first use), printed alone on stdout so
//! `TOKEN=$(orderflow token --role customer --sub customer-42)` works.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use orderflow_auth::{DEFAULT_DEV_KEY_FILE, DevKey, Role, TokenClaims, mint};

/// Longest lifetime a development token may have.
const MAX_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

#[derive(Debug, Args)]
pub struct TokenArgs {
    /// A role to grant (customer, staff, finance, operator); repeat the
    /// flag for several.
    #[arg(long = "role", required = true)]
    pub roles: Vec<Role>,
    /// The subject; for the customer role, also the customer id.
    #[arg(long)]
    pub sub: String,
    /// Lifetime: seconds, or a number with s, m, h or d (at most 30d).
    #[arg(long, default_value = "1h", value_parser = parse_ttl)]
    pub ttl: Duration,
    /// The development signing key (PKCS#8 PEM, Ed25519); created if
    /// missing. Services use it only when no JWKS is configured.
    #[arg(long, env = "AUTH_DEV_KEY_FILE", default_value = DEFAULT_DEV_KEY_FILE)]
    pub key_file: PathBuf,
}

pub fn run(args: TokenArgs) -> anyhow::Result<()> {
    if args.sub.trim().is_empty() {
        anyhow::bail!("--sub must not be empty");
    }
    let key = DevKey::load_or_create(&args.key_file)?;
    if key.created {
        tracing::warn!(
            path = %key.path.display(),
            "created a development signing key; services without AUTH_JWKS_URL / AUTH_JWKS_FILE accept tokens it signs"
        );
    }
    if std::env::var_os("AUTH_JWKS_URL").is_some() || std::env::var_os("AUTH_JWKS_FILE").is_some() {
        tracing::warn!(
            "a JWKS is configured in this environment: services using it will refuse development tokens"
        );
    }
    let claims = TokenClaims::development(args.sub, &args.roles, args.ttl);
    let token = mint(&key.key, &claims).context("sign the development token")?;
    println!("{token}");
    Ok(())
}

/// `3600`, `90s`, `15m`, `1h`, `7d`.
fn parse_ttl(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let n: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration like 90s, 15m, 1h or 7d"))?;
    let seconds = match unit {
        "s" => Some(n),
        "m" => n.checked_mul(60),
        "h" => n.checked_mul(3600),
        "d" => n.checked_mul(86_400),
        _ => None,
    }
    .ok_or_else(|| format!("`{text}` is not a duration like 90s, 15m, 1h or 7d"))?;
    let ttl = Duration::from_secs(seconds);
    if ttl.is_zero() || ttl > MAX_TTL {
        return Err(format!("`{text}` is outside 1s..30d"));
    }
    Ok(ttl)
}

#[cfg(test)]
mod tests {
    use super::parse_ttl;
    use std::time::Duration;

    #[test]
    fn ttls_take_a_unit_and_stay_within_bounds() {
        assert_eq!(parse_ttl("3600"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_ttl("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_ttl("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_ttl("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_ttl("7d"), Ok(Duration::from_secs(7 * 86_400)));
        for bad in [
            "",
            "h",
            "1w",
            "-5m",
            "1.5h",
            "0",
            "31d",
            "99999999999999999999d",
        ] {
            assert!(parse_ttl(bad).is_err(), "{bad}");
        }
    }
}
