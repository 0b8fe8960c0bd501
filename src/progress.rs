//! Progress on stderr (builds, starts and health waits, counted work such
//! as password hashing): one indicatif spinner or bar per task when stderr
//! is a terminal, plain status lines otherwise (or nothing with `-q`).
//! Words say what happened; nothing relies on color.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use crate::output;

/// Where progress goes for one command.
pub struct Progress {
    multi: Option<MultiProgress>,
    /// When the command started its work: plain lines with `-v` say how
    /// long after it each step happened (a timeline).
    started: Instant,
}

impl Progress {
    /// Spinners on a terminal, plain lines otherwise.
    pub fn new() -> Progress {
        let dumb = std::env::var("TERM").is_ok_and(|term| term == "dumb");
        let interactive = output::stderr_is_terminal() && !dumb && !output::quiet();
        Progress {
            multi: interactive.then(MultiProgress::new),
            started: Instant::now(),
        }
    }

    /// Plain lines only (for tests and `--json`).
    pub fn plain() -> Progress {
        Progress {
            multi: None,
            started: Instant::now(),
        }
    }

    pub fn is_interactive(&self) -> bool {
        self.multi.is_some()
    }

    /// A task shown as `<name>  <message>`.
    pub fn task(&self, name: &str) -> Task {
        let bar = self.multi.as_ref().map(|multi| {
            let style =
                ProgressStyle::with_template("{spinner} {prefix:<9} {wide_msg} {elapsed:>4}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner());
            let bar = multi.add(
                ProgressBar::new_spinner()
                    .with_style(style)
                    .with_prefix(name.to_owned()),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Task {
            bar,
            name: name.to_owned(),
            last: Mutex::new(String::new()),
            started: self.started,
        }
    }

    /// A bar counting `total` items of work (`<name> [###   ] 12/40`),
    /// advanced from any thread.
    pub fn counter(&self, name: &str, total: u64) -> Counter {
        let bar = self.multi.as_ref().map(|multi| {
            let style = ProgressStyle::with_template(
                "  {prefix:<9} [{bar:30}] {pos}/{len} {elapsed:>4}, {eta} left",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("#>-");
            multi.add(
                ProgressBar::new(total)
                    .with_style(style)
                    .with_prefix(name.to_owned()),
            )
        });
        Counter { bar }
    }

    /// A line above the spinners (or a plain status line).
    pub fn println(&self, line: impl AsRef<str>) {
        match &self.multi {
            Some(multi) => {
                if multi.println(line.as_ref()).is_err() {
                    eprintln!("{}", line.as_ref());
                }
            }
            None => output::status(line),
        }
    }
}

impl Default for Progress {
    fn default() -> Self {
        Progress::new()
    }
}

/// One line of progress: a build, or a service being started.
pub struct Task {
    bar: Option<ProgressBar>,
    name: String,
    last: Mutex<String>,
    started: Instant,
}

impl Task {
    /// A plain status line for this task; with `-v`, the seconds since the
    /// command started come first.
    fn line(&self, text: &str) -> String {
        if output::verbose() {
            format!(
                "{:>5.1}s {:<9} {text}",
                self.started.elapsed().as_secs_f64(),
                self.name
            )
        } else {
            format!("{:<9} {text}", self.name)
        }
    }

    /// What the task does now. Plain output prints only changes.
    pub fn message(&self, text: impl Into<String>) {
        let text = text.into();
        match &self.bar {
            Some(bar) => bar.set_message(text),
            None => {
                let mut last = self
                    .last
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                if *last != text {
                    output::status(self.line(&text));
                    *last = text;
                }
            }
        }
    }

    /// A line of the task's own output (build output): shown in the
    /// spinner, or with `-v` as a plain line.
    pub fn output(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.set_message(line.trim().chars().take(120).collect::<String>()),
            None => output::detail(format!("{:<9} | {line}", self.name)),
        }
    }

    /// The task ended well.
    pub fn finish(&self, text: impl Into<String>) {
        let text = text.into();
        match &self.bar {
            Some(bar) => {
                bar.set_style(
                    ProgressStyle::with_template("  {prefix:<9} {wide_msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar.finish_with_message(text);
            }
            None => output::status(self.line(&text)),
        }
    }

    /// The task failed; the line stays visible.
    pub fn fail(&self, text: impl Into<String>) {
        let text = text.into();
        match &self.bar {
            Some(bar) => {
                bar.set_style(
                    ProgressStyle::with_template("! {prefix:<9} {wide_msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar.abandon_with_message(text);
            }
            None => output::status(self.line(&text)),
        }
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            if !bar.is_finished() {
                bar.abandon();
            }
        }
    }
}

/// Counted work: a bar on a terminal, silent otherwise (the caller says
/// what was done when it is).
pub struct Counter {
    bar: Option<ProgressBar>,
}

impl Counter {
    /// One more item done.
    pub fn inc(&self) {
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
