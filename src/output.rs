//! All output goes through here: data to stdout, status and warnings to
//! stderr with a prefix, quiet and verbose levels, JSON when asked.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicI8, Ordering};

static VERBOSITY: AtomicI8 = AtomicI8::new(0);

pub fn set_verbosity(level: i8) {
    VERBOSITY.store(level, Ordering::Relaxed);
}

pub fn quiet() -> bool {
    VERBOSITY.load(Ordering::Relaxed) < 0
}

pub fn verbose() -> bool {
    VERBOSITY.load(Ordering::Relaxed) > 0
}

/// A progress or status line on stderr, hidden with `-q`.
pub fn status(message: impl AsRef<str>) {
    if !quiet() {
        eprintln!("{}", message.as_ref());
    }
}

/// Detail shown only with `-v`.
pub fn detail(message: impl AsRef<str>) {
    if verbose() {
        eprintln!("  {}", message.as_ref());
    }
}

/// A warning on stderr; shown even with `-q`.
pub fn warning(message: impl AsRef<str>) {
    eprintln!("warning: {}", message.as_ref());
}

/// Data on stdout. A closed pipe (`mailctl dns | head`) ends output quietly.
pub fn data(text: impl AsRef<str>) {
    use std::io::Write;
    let text = text.as_ref();
    let mut stdout = std::io::stdout().lock();
    let result = if text.ends_with('\n') {
        stdout.write_all(text.as_bytes())
    } else {
        writeln!(stdout, "{text}")
    };
    if result.is_err() {
        // Nobody reads stdout any more: stop writing, as `head` expects.
        PIPE_CLOSED.store(true, Ordering::Relaxed);
    }
}

static PIPE_CLOSED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether stdout was closed by its reader.
pub fn stdout_closed() -> bool {
    PIPE_CLOSED.load(Ordering::Relaxed)
}

/// JSON data on stdout, pretty-printed.
pub fn json(value: &serde_json::Value) -> anyhow::Result<()> {
    data(serde_json::to_string_pretty(value)?);
    Ok(())
}

pub fn stdin_is_terminal() -> bool {
    std::io::stdin().is_terminal()
}

pub fn stderr_is_terminal() -> bool {
    std::io::stderr().is_terminal()
}
