//! mailctl: one binary that turns a Docker host into a multi-domain mail
//! server and keeps it that way. The binary is a thin shell around `run`.

pub mod applied;
pub mod backup;
pub mod bans;
pub mod cert;
pub mod cli;
pub mod commands;
pub mod config;
pub mod dkim;
pub mod dns;
pub mod docker;
pub mod doctor;
pub mod error;
pub mod files;
pub mod images;
pub mod import;
mod layering;
pub mod live;
pub mod names;
pub mod net;
pub mod output;
pub mod passwords;
pub mod plan;
pub mod progress;
pub mod project;
pub mod prompt;
pub mod render;
pub mod rspamd_password;
pub mod secrets;
pub mod service;
pub mod sieve;
pub mod spec;
pub mod stack;
pub mod tls;
pub mod upgrade;

/// Parses the command line, runs the command and reports any error.
pub fn main() -> std::process::ExitCode {
    use clap::Parser;
    let cli = cli::Cli::parse();
    output::set_verbosity(if cli.quiet {
        -1
    } else if cli.verbose {
        1
    } else {
        0
    });
    match commands::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => error::report(&error),
    }
}
