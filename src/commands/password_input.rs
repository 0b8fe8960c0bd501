//! Where a new mailbox password comes from: the first line of stdin
//! (`--password-stdin`), a hidden prompt on a terminal, or generated and
//! shown once. The password itself is never stored, only its hash.

use std::io::BufRead;

use anyhow::Context;

use crate::error::user_error;
use crate::output;
use crate::passwords;
use crate::prompt::{Prompter, TerminalPrompter};

/// A password and whether it was generated (and must be shown once).
pub struct NewPassword {
    pub password: String,
    pub generated: bool,
}

/// Obtains a password for `address`. `flag` names the stdin flag in errors.
pub fn obtain(address: &str, from_stdin: bool, flag: &str) -> anyhow::Result<NewPassword> {
    let entered = if from_stdin {
        read_stdin(flag)?
    } else if output::stdin_is_terminal() && output::stderr_is_terminal() {
        TerminalPrompter
            .password("password", &format!("Password for {address}:"))?
            .unwrap_or_default()
    } else {
        String::new()
    };
    if entered.is_empty() {
        return Ok(NewPassword {
            password: passwords::generate(20),
            generated: true,
        });
    }
    check_strength(&entered)?;
    Ok(NewPassword {
        password: entered,
        generated: false,
    })
}

/// Shows a generated password once: the data on stdout, the label on stderr.
pub fn show_generated(address: &str, password: &NewPassword) {
    if password.generated {
        output::status(format!(
            "password for {address} (shown once, store it now):"
        ));
        output::data(&password.password);
    }
}

fn read_stdin(flag: &str) -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the password from stdin")?;
    let password = line.trim_end_matches(['\n', '\r']).to_owned();
    if password.is_empty() {
        return Err(user_error(
            format!("`{flag}` was given but stdin held no password"),
            format!("pipe the password in, e.g. `printf '%s\\n' \"$PASSWORD\" | mailctl … {flag}`"),
        ));
    }
    Ok(password)
}

pub fn check_strength(password: &str) -> anyhow::Result<()> {
    if password.chars().count() < 10 {
        return Err(user_error(
            "the password is shorter than 10 characters",
            "choose a longer one, or leave it empty to have one generated",
        ));
    }
    Ok(())
}
