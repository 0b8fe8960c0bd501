//! mailctl: one binary that turns a Docker host into a multi-domain mail
//! server and keeps it that way. The binary is a thin shell around `run`.

pub mod config;
pub mod dkim;
pub mod files;
pub mod names;
pub mod passwords;
pub mod project;
pub mod secrets;
pub mod tls;



pub fn main() -> std::process::ExitCode {
    std::process::ExitCode::SUCCESS
}
