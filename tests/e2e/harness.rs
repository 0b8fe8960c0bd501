//! The end-to-end runner. A [`Suite`] is a function that sets up what its
//! scenarios share (lazily) and calls [`Scenarios::scenario`] for each; the
//! runner reports every scenario as a test (`test suite::name ... ok`),
//! keeps going after a failure, and runs several suites at once.
//!
//! Arguments, as libtest takes them: filters (a scenario runs when its full
//! name `suite::scenario` contains one), `--exact`, `--skip FILTER`,
//! `--list`, and `--jobs N` (or `--test-threads N`, or the environment
//! variable `MAILCTL_E2E_JOBS`): how many suites run at once, one unless
//! told. Output flags libtest knows (`--nocapture`, `--color`, …) are
//! accepted and change nothing: nothing is captured here.
//!
//! Scenarios of one suite run in order on one stack, and some build on what
//! an earlier one did (the suite's documentation says which); a filter
//! that selects such a scenario alone may see it fail for that reason.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One suite at a time unless told otherwise. Side by side they share the
/// machine's cores: on two cores, two suites took about as long as one
/// after the other (a stack's start, Rspamd and testssl.sh keep a core
/// busy), and assertions about timing and exactly-once delivery under load
/// met a machine busier than they were written for. With more cores,
/// `--jobs 2` or more pays.
const DEFAULT_JOBS: usize = 1;

/// A named group of scenarios on shared fixtures.
pub struct Suite {
    pub name: &'static str,
    run: fn(&mut Scenarios),
}

impl Suite {
    pub const fn new(name: &'static str, run: fn(&mut Scenarios)) -> Suite {
        Suite { name, run }
    }
}

/// What the command line asked for.
#[derive(Debug, Default)]
struct Options {
    filters: Vec<String>,
    skips: Vec<String>,
    exact: bool,
    list: bool,
    jobs: Option<usize>,
}

impl Options {
    fn parse(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
        let mut options = Options::default();
        while let Some(arg) = args.next() {
            let mut value =
                |flag: &str| args.next().ok_or_else(|| format!("`{flag}` needs a value"));
            match arg.as_str() {
                "--exact" => options.exact = true,
                "--list" => options.list = true,
                "--skip" => options.skips.push(value("--skip")?),
                "--jobs" | "--test-threads" => {
                    let jobs = value(&arg)?;
                    options.jobs = Some(parse_jobs(&jobs)?);
                }
                "--nocapture" | "--show-output" | "--quiet" | "-q" | "--include-ignored"
                | "--ignored" => {}
                "--color" | "--format" | "-Z" | "--logfile" => {
                    value(&arg)?;
                }
                flag if flag.starts_with("--test-threads=") || flag.starts_with("--jobs=") => {
                    let (_, jobs) = flag.split_once('=').unwrap_or_default();
                    options.jobs = Some(parse_jobs(jobs)?);
                }
                flag if flag.starts_with("--color=") || flag.starts_with("--format=") => {}
                flag if flag.starts_with('-') => return Err(format!("unknown flag `{flag}`")),
                _ => options.filters.push(arg),
            }
        }
        Ok(options)
    }

    fn selects(&self, full_name: &str) -> bool {
        let matches = |filter: &String| {
            if self.exact {
                full_name == filter
            } else {
                full_name.contains(filter.as_str())
            }
        };
        (self.filters.is_empty() || self.filters.iter().any(matches))
            && !self
                .skips
                .iter()
                .any(|skip| full_name.contains(skip.as_str()))
    }

    fn jobs(&self) -> Result<usize, String> {
        match (self.jobs, std::env::var("MAILCTL_E2E_JOBS")) {
            (Some(jobs), _) => Ok(jobs),
            (None, Ok(jobs)) => parse_jobs(&jobs),
            (None, Err(_)) => Ok(DEFAULT_JOBS),
        }
    }
}

fn parse_jobs(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(jobs) if jobs > 0 => Ok(jobs),
        _ => Err(format!("`{text}` is not a number of jobs (1 or more)")),
    }
}

/// One finished scenario.
struct Outcome {
    name: String,
    failure: Option<String>,
}

/// What every suite reports into, printed as it happens.
#[derive(Default)]
struct Report {
    outcomes: Mutex<Vec<Outcome>>,
    filtered_out: AtomicUsize,
    suite_times: Mutex<Vec<(&'static str, Duration)>>,
}

impl Report {
    fn record(&self, name: String, elapsed: Duration, failure: Option<String>) {
        let verdict = if failure.is_some() { "FAILED" } else { "ok" };
        println!("test {name} ... {verdict} ({:.1} s)", elapsed.as_secs_f64());
        self.outcomes
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(Outcome { name, failure });
    }
}

/// Handed to a suite: runs (or lists, or skips) its scenarios.
pub struct Scenarios<'a> {
    suite: &'static str,
    options: &'a Options,
    report: &'a Report,
}

impl Scenarios<'_> {
    /// Runs `body` as the scenario `name` of this suite when the command
    /// line selects it: a panic fails this scenario only, and the suite
    /// goes on with the next.
    pub fn scenario(&mut self, name: &str, body: impl FnOnce()) {
        let full_name = format!("{}::{name}", self.suite);
        if !self.options.selects(&full_name) {
            self.report.filtered_out.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if self.options.list {
            println!("{full_name}: test");
            return;
        }
        eprintln!("--- {full_name}: started");
        let started = Instant::now();
        let failure = catch_unwind(AssertUnwindSafe(body))
            .err()
            .map(|panic| panic_message(&*panic));
        self.report.record(full_name, started.elapsed(), failure);
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|text| (*text).to_owned()))
        .unwrap_or_else(|| "(a panic without a message)".to_owned())
}

/// Runs `suites` as the command line says; libtest's exit codes (101 when
/// a test failed).
pub fn main(suites: &[Suite], prepare: fn()) -> ExitCode {
    let options = match Options::parse(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    let jobs = match options.jobs() {
        Ok(jobs) => jobs,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    let report = Report::default();
    if options.list {
        for suite in suites {
            run_suite(suite, &options, &report);
        }
        return ExitCode::SUCCESS;
    }

    let started = Instant::now();
    if let Err(panic) = catch_unwind(prepare) {
        eprintln!(
            "error: the images for the end-to-end tests could not be prepared: {}",
            panic_message(&*panic)
        );
        return ExitCode::from(101);
    }
    eprintln!(
        "--- images ready in {:.1} s; running suites, {jobs} at a time",
        started.elapsed().as_secs_f64()
    );
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for worker in 0..jobs.min(suites.len()) {
            let (next, options, report) = (&next, &options, &report);
            std::thread::Builder::new()
                .name(format!("e2e-worker-{worker}"))
                .spawn_scoped(scope, move || {
                    while let Some(suite) = suites.get(next.fetch_add(1, Ordering::SeqCst)) {
                        // Each suite on a thread named after it, so a
                        // panic's "thread '…' panicked" names the suite.
                        std::thread::scope(|inner| {
                            std::thread::Builder::new()
                                .name(suite.name.to_owned())
                                .spawn_scoped(inner, || run_suite(suite, options, report))
                                .expect("cannot start a suite's thread")
                                .join()
                                .ok();
                        });
                    }
                })
                .expect("cannot start a worker thread");
        }
    });
    summarise(&report, started.elapsed())
}

/// One suite, start to end: a panic outside its scenarios (setting up,
/// taking down) is a failure of its own, named after the suite.
fn run_suite(suite: &Suite, options: &Options, report: &Report) {
    let started = Instant::now();
    let mut scenarios = Scenarios {
        suite: suite.name,
        options,
        report,
    };
    let outcome = catch_unwind(AssertUnwindSafe(|| (suite.run)(&mut scenarios)));
    if options.list {
        return;
    }
    if let Err(panic) = outcome {
        report.record(
            format!("{}::(outside its scenarios)", suite.name),
            started.elapsed(),
            Some(panic_message(&*panic)),
        );
    }
    let elapsed = started.elapsed();
    eprintln!(
        "--- suite {} done in {:.1} s",
        suite.name,
        elapsed.as_secs_f64()
    );
    report
        .suite_times
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .push((suite.name, elapsed));
}

fn summarise(report: &Report, elapsed: Duration) -> ExitCode {
    let outcomes = report
        .outcomes
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let failed: Vec<&Outcome> = outcomes
        .iter()
        .filter(|outcome| outcome.failure.is_some())
        .collect();
    println!();
    println!("suite times:");
    for (suite, time) in report
        .suite_times
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .iter()
    {
        println!("    {suite:<12} {:>6.1} s", time.as_secs_f64());
    }
    if !failed.is_empty() {
        println!();
        println!("failures:");
        for outcome in &failed {
            println!();
            println!("---- {} ----", outcome.name);
            println!("{}", outcome.failure.as_deref().unwrap_or_default());
        }
        println!();
        println!("failures:");
        for outcome in &failed {
            println!("    {}", outcome.name);
        }
    }
    println!();
    println!(
        "test result: {}. {} passed; {} failed; 0 ignored; 0 measured; {} filtered out; finished in {:.2}s",
        if failed.is_empty() { "ok" } else { "FAILED" },
        outcomes.len() - failed.len(),
        failed.len(),
        report.filtered_out.load(Ordering::Relaxed),
        elapsed.as_secs_f64()
    );
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(101)
    }
}

/// Run by the fast tests (this binary has no libtest to run them).
#[cfg(test)]
#[allow(dead_code)]
mod tests {
    use super::*;

    fn options(args: &[&str]) -> Options {
        Options::parse(args.iter().map(|arg| (*arg).to_owned())).unwrap()
    }

    #[test]
    fn filters_select_by_part_of_the_full_name() {
        let options = options(&["bans", "--skip", "by hand", "--nocapture"]);
        assert!(options.selects("internet::bans"));
        assert!(!options.selects("internet::bans by hand"));
        assert!(!options.selects("mail::inbound"));
        assert!(Options::default().selects("anything::at all"));
        let exact = self::options(&["--exact", "mail::inbound"]);
        assert!(exact.selects("mail::inbound"));
        assert!(!exact.selects("mail::inbound twice"));
    }

    #[test]
    fn jobs_come_from_the_flag_in_either_spelling() {
        assert_eq!(options(&["--jobs", "3"]).jobs, Some(3));
        assert_eq!(options(&["--test-threads=1"]).jobs, Some(1));
        assert!(Options::parse(["--jobs".to_owned(), "0".to_owned()].into_iter()).is_err());
        assert!(Options::parse(["--frobnicate".to_owned()].into_iter()).is_err());
    }
}
