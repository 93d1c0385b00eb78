//! The command line as a user meets it: `--help` never shows a secret from
//! the environment, and boolean environment variables read the usual
//! spellings.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Output};

const SECRET: &str = "s3cret-pw";

/// Every variable that may hold a URL with a password, set to one.
fn with_secrets(command: &mut Command) -> &mut Command {
    command
        .env("DATABASE_URL", format!("postgres://u:{SECRET}@db/events"))
        .env(
            "READ_DATABASE_URL",
            format!("postgres://u:{SECRET}@db/read"),
        )
        .env(
            "FULFILMENT_DATABASE_URL",
            format!("postgres://u:{SECRET}@db/fulfilment"),
        )
        .env(
            "BENCH_DATABASE_URL",
            format!("postgres://u:{SECRET}@db/bench"),
        )
        .env("NATS_URL", format!("nats://u:{SECRET}@nats:4222"))
        .env("KURRENTDB_URL", format!("kurrentdb://u:{SECRET}@kdb:2113"))
        .env("COMMAND_API_URL", format!("http://u:{SECRET}@api:8080"))
        .env("PAYMENT_WEBHOOK_SECRET", SECRET)
        .env("PAYMENT_PROVIDER_SECRET", SECRET)
        .env(
            "PAYMENT_PROVIDER_URL",
            format!("https://u:{SECRET}@psp.example"),
        )
}

fn orderflow(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_orderflow"));
    command.args(args).env("RUST_BACKTRACE", "0");
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().expect("run orderflow")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn help_never_prints_a_secret_from_the_environment() {
    let subcommands: &[&[&str]] = &[
        &["up"],
        &["command-api"],
        &["query-api"],
        &["relay"],
        &["projector"],
        &["projections", "status"],
        &["projections", "rebuild"],
        &["fulfilment"],
        &["sagas", "status"],
        &["sagas", "show"],
        &["migrate"],
        &["seed"],
        &["bench", "append"],
        &["bench", "commands"],
        &["bench", "lag"],
        &["bench", "rebuild"],
        &["bench", "queries"],
        &["bench", "checkout"],
    ];
    for subcommand in subcommands {
        let mut command = Command::new(env!("CARGO_BIN_EXE_orderflow"));
        with_secrets(&mut command).args(*subcommand).arg("--help");
        let output = command.output().expect("run orderflow");
        let help = text(&output);
        assert!(output.status.success(), "{subcommand:?}: {help}");
        assert!(
            !help.contains(SECRET),
            "{subcommand:?} --help shows a secret:\n{help}"
        );
    }
    // The variables are still named, only their values are hidden.
    let mut command = Command::new(env!("CARGO_BIN_EXE_orderflow"));
    with_secrets(&mut command).args(["up", "--help"]);
    let help = text(&command.output().expect("run orderflow"));
    for name in [
        "DATABASE_URL",
        "READ_DATABASE_URL",
        "FULFILMENT_DATABASE_URL",
        "NATS_URL",
        "KURRENTDB_URL",
    ] {
        assert!(help.contains(&format!("[env: {name}]")), "{name}: {help}");
    }
}

/// Parsing passed when the command got as far as Postgres (which is not
/// there: port 1); clap refuses a value with exit code 2 before that.
fn command_api_with(no_relay: Option<&str>, args: &[&str]) -> Output {
    let mut env = vec![("DATABASE_URL", "postgres://postgres@127.0.0.1:1/none")];
    if let Some(value) = no_relay {
        env.push(("NO_RELAY", value));
    }
    let mut all = vec!["command-api"];
    all.extend_from_slice(args);
    orderflow(&all, &env)
}

#[test]
fn no_relay_reads_1_0_true_false_yes_no_on_off() {
    for value in [
        "1", "0", "true", "false", "yes", "no", "on", "off", "YES", "True",
    ] {
        let output = command_api_with(Some(value), &[]);
        let said = text(&output);
        assert_eq!(output.status.code(), Some(1), "NO_RELAY={value}: {said}");
        assert!(!said.contains("invalid value"), "NO_RELAY={value}: {said}");
    }
    for args in [&["--no-relay"][..], &["--no-relay=yes"], &["--no-relay=0"]] {
        let output = command_api_with(None, args);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {}", text(&output));
    }

    let output = command_api_with(Some("maybe"), &[]);
    let said = text(&output);
    assert_eq!(output.status.code(), Some(2), "NO_RELAY=maybe: {said}");
    assert!(said.contains("invalid value 'maybe'"), "{said}");
}
