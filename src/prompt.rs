//! Questions to a person, behind a trait: the terminal implementation uses
//! inquire; tests and non-interactive runs use a scripted one.

use std::collections::VecDeque;

/// Asks questions. Every question has a key, the text, an explanation and
/// an optional default.
pub trait Prompter {
    fn text(
        &mut self,
        key: &str,
        question: &str,
        help: &str,
        default: Option<&str>,
    ) -> anyhow::Result<String>;
    fn select(
        &mut self,
        key: &str,
        question: &str,
        help: &str,
        options: &[&str],
        default: usize,
    ) -> anyhow::Result<String>;
    /// A secret, read without echo and confirmed.
    fn password(&mut self, key: &str, question: &str) -> anyhow::Result<Option<String>>;
}

/// The interactive prompter for a terminal.
pub struct TerminalPrompter;

impl Prompter for TerminalPrompter {
    fn text(
        &mut self,
        _key: &str,
        question: &str,
        help: &str,
        default: Option<&str>,
    ) -> anyhow::Result<String> {
        let mut prompt = inquire::Text::new(question).with_help_message(help);
        if let Some(default) = default {
            prompt = prompt.with_default(default);
        }
        Ok(prompt.prompt()?)
    }

    fn select(
        &mut self,
        _key: &str,
        question: &str,
        help: &str,
        options: &[&str],
        default: usize,
    ) -> anyhow::Result<String> {
        Ok(inquire::Select::new(question, options.to_vec())
            .with_help_message(help)
            .with_starting_cursor(default)
            .prompt()?
            .to_owned())
    }

    fn password(&mut self, _key: &str, question: &str) -> anyhow::Result<Option<String>> {
        let password = inquire::Password::new(question)
            .with_help_message("leave empty to generate one; it is shown once")
            .with_display_mode(inquire::PasswordDisplayMode::Hidden)
            .with_custom_confirmation_message("Again:")
            .prompt()?;
        Ok((!password.is_empty()).then_some(password))
    }
}

/// Answers from a script, by key; a missing answer takes the default.
#[derive(Default)]
pub struct ScriptedPrompter {
    pub answers: VecDeque<(String, String)>,
    /// Every question asked, by key, for tests.
    pub asked: Vec<String>,
}

impl ScriptedPrompter {
    fn take(&mut self, key: &str) -> Option<String> {
        self.asked.push(key.to_owned());
        let position = self.answers.iter().position(|(k, _)| k == key)?;
        self.answers.remove(position).map(|(_, value)| value)
    }
}

impl Prompter for ScriptedPrompter {
    fn text(
        &mut self,
        key: &str,
        _question: &str,
        _help: &str,
        default: Option<&str>,
    ) -> anyhow::Result<String> {
        match (self.take(key), default) {
            (Some(answer), _) if !answer.is_empty() => Ok(answer),
            (_, Some(default)) => Ok(default.to_owned()),
            _ => anyhow::bail!("no answer for `{key}`"),
        }
    }

    fn select(
        &mut self,
        key: &str,
        _question: &str,
        _help: &str,
        options: &[&str],
        default: usize,
    ) -> anyhow::Result<String> {
        match self.take(key) {
            Some(answer) => Ok(answer),
            None => Ok(options.get(default).copied().unwrap_or_default().to_owned()),
        }
    }

    fn password(&mut self, key: &str, _question: &str) -> anyhow::Result<Option<String>> {
        Ok(self.take(key).filter(|answer| !answer.is_empty()))
    }
}

/// Asks before something destructive. `yes` (the global `--yes`) confirms
/// without asking; without a terminal the answer is no, with `no_terminal`
/// as the hint; a "no" on the terminal ends with `declined` as the hint.
pub fn confirm_destructive(
    yes: bool,
    what: &str,
    question: &str,
    no_terminal: &str,
    declined: &str,
) -> anyhow::Result<()> {
    if yes {
        return Ok(());
    }
    if !crate::output::stdin_is_terminal() {
        return Err(crate::error::user_error(
            format!("{what}, and needs confirmation"),
            no_terminal,
        ));
    }
    crate::output::status(what);
    let answer = TerminalPrompter.select(
        "confirm",
        question,
        "this cannot be undone",
        &["no", "yes, delete"],
        0,
    )?;
    if answer.starts_with("yes") {
        Ok(())
    } else {
        Err(crate::error::user_error("nothing was changed", declined))
    }
}
