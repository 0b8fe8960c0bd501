//! One module per command; each takes the resolved global settings and its
//! own arguments.
pub mod dns;
pub mod init;
pub mod render;

use std::path::PathBuf;

use crate::cli::{Cli, Command};

/// Settings every command shares, resolved from the global flags.
#[derive(Debug, Clone)]
pub struct Global {
    pub dir: PathBuf,
    pub json: bool,
    pub yes: bool,
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    let global = Global {
        dir: cli.dir.clone().unwrap_or_else(|| PathBuf::from(".")),
        json: cli.json,
        yes: cli.yes,
    };
    match &cli.command {
        Command::Init(args) => init::run(&global, args),
        Command::Render(args) => render::run(&global, args),
        Command::Dns(args) => dns::run(&global, args),
    }
}
