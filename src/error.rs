//! How failures reach the user: a hint attached anywhere in the chain,
//! printing of the whole cause chain, and the exit code, decided here only.

use std::fmt;
use std::process::ExitCode;

/// A suggestion of what to do next, carried as a link of the error chain.
#[derive(Debug)]
pub struct Hint(pub String);

impl fmt::Display for Hint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Hint {}

/// An error with a hint attached: a real link of the chain (a `.context()`
/// layer cannot be downcast from `anyhow::Error::chain`).
#[derive(Debug)]
struct Hinted {
    hint: Hint,
    source: anyhow::Error,
}

impl fmt::Display for Hinted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.hint.fmt(f)
    }
}

impl std::error::Error for Hinted {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(self.source.as_ref())
    }
}

/// Attaches `hint` to `error`.
pub fn attach(error: anyhow::Error, hint: String) -> anyhow::Error {
    anyhow::Error::new(Hinted {
        hint: Hint(hint),
        source: error,
    })
}

/// Attaches a hint to an error.
pub trait WithHint<T> {
    fn hint(self, hint: impl Into<String>) -> anyhow::Result<T>;
    fn with_hint<F: FnOnce() -> String>(self, hint: F) -> anyhow::Result<T>;
}

impl<T, E: Into<anyhow::Error>> WithHint<T> for Result<T, E> {
    fn hint(self, hint: impl Into<String>) -> anyhow::Result<T> {
        self.map_err(|error| attach(error.into(), hint.into()))
    }

    fn with_hint<F: FnOnce() -> String>(self, hint: F) -> anyhow::Result<T> {
        self.map_err(|error| attach(error.into(), hint()))
    }
}

/// An error with its own message and hint.
pub fn user_error(message: impl Into<String>, hint: impl Into<String>) -> anyhow::Error {
    attach(anyhow::Error::msg(message.into()), hint.into())
}

/// A command that ends with a non-zero exit code after printing what it
/// had to say (e.g. `render --check` finding stale files).
#[derive(Debug)]
pub struct Silent(pub u8);

impl fmt::Display for Silent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "exit {}", self.0)
    }
}

impl std::error::Error for Silent {}

/// Prints `error` with its causes and hints to stderr and returns the exit code.
pub fn report(error: &anyhow::Error) -> ExitCode {
    if let Some(Silent(code)) = error.downcast_ref::<Silent>() {
        return ExitCode::from(*code);
    }
    let mut hints = Vec::new();
    let mut messages = Vec::new();
    for link in error.chain() {
        if let Some(hinted) = link.downcast_ref::<Hinted>() {
            hints.push(hinted.hint.0.clone());
        } else if let Some(hint) = link.downcast_ref::<Hint>() {
            hints.push(hint.0.clone());
        } else if let Some(config_error) = link.downcast_ref::<crate::config::ConfigError>() {
            messages.push(config_error.to_string());
            hints.extend(config_error.hint());
        } else {
            let text = link.to_string();
            // Some libraries repeat their source's text in their own message.
            if !messages.iter().any(|seen: &String| seen.ends_with(&text)) {
                messages.push(text);
            }
        }
    }
    let mut out = String::new();
    let mut messages = messages.into_iter();
    if let Some(first) = messages.next() {
        out.push_str(&format!("error: {first}\n"));
    }
    for cause in messages {
        out.push_str(&format!("  Caused by: {}\n", cause.replace('\n', "\n    ")));
    }
    for hint in hints {
        out.push_str(&format!("hint: {hint}\n"));
    }
    eprint!("{out}");
    ExitCode::FAILURE
}
