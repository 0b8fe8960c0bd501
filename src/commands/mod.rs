//! One module per command; each takes the resolved global settings and its
//! own arguments.
pub mod alias;
pub mod backup;
pub mod ban;
pub mod cert;
pub mod dns;
pub mod dns_push;
pub mod doctor;
pub mod domain;
pub mod down;
pub mod import;
pub mod init;
pub mod logs;
pub mod password_input;
pub mod render;
pub mod restart;
pub mod restore;
pub mod status;
pub mod up;
pub mod upgrade;
pub mod user;

use std::path::PathBuf;

use crate::cli::{Cli, Command, DnsCommand, UserCommand};

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
        Command::Up(args) => up::run(&global, args),
        Command::Down(args) => down::run(&global, args),
        Command::Status(args) => status::run(&global, args),
        Command::Logs(args) => logs::run(&global, args),
        Command::Restart(args) => restart::run(&global, args),
        Command::Dns(args) => match &args.command {
            Some(DnsCommand::Push(push)) => dns_push::run(&global, push),
            None => dns::run(&global, args),
        },
        Command::Doctor(args) => doctor::run(&global, args),
        Command::Domain(command) => domain::run(&global, command),
        Command::User(UserCommand::Import {
            file,
            skip_invalid,
            format,
        }) => import::users(&global, file, *format, *skip_invalid),
        Command::User(command) => user::run(&global, command),
        Command::Alias(command) => alias::run(&global, command),
        Command::Ban(command) => ban::run(&global, command),
        Command::Import(command) => import::run(&global, command),
        Command::Cert(command) => cert::run(&global, command),
        Command::Backup(args) => backup::run(&global, args),
        Command::Restore(args) => restore::run(&global, args),
        Command::Upgrade(args) => upgrade::run(&global, args),
    }
}
