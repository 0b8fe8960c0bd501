//! The end-to-end tests: real stacks in Docker, driven by the real binary
//! and judged by real clients and peers. One binary with its own small
//! runner ([`harness`]) instead of libtest's, because a suite's scenarios
//! share one stack: a suite sets its stack up once (lazily, so a filter
//! that selects none of its scenarios builds nothing), runs its scenarios
//! in order, each reported as its own test, and takes the stack down at
//! the end, however the scenarios went. Suites run one after the other,
//! or side by side with `--jobs N`.
//!
//! ```sh
//! cargo test --test e2e                       # everything
//! cargo test --test e2e -- internet::         # one suite
//! cargo test --test e2e -- bans --jobs 2      # matching scenarios, two suites at a time
//! cargo test --test e2e -- --list
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../support/mod.rs"]
mod support;

mod harness;

mod accounts;
mod backup;
mod cert;
mod doctor;
mod internet;
mod lifecycle;
mod mail;
mod recovery;

use harness::Suite;

/// Every suite, the longest first, so that with `--jobs 2` or more the
/// last minutes are not one long suite running alone.
const SUITES: [Suite; 8] = [
    Suite::new("internet", internet::suite),
    Suite::new("cert", cert::suite),
    Suite::new("backup", backup::suite),
    Suite::new("recovery", recovery::suite),
    Suite::new("accounts", accounts::suite),
    Suite::new("lifecycle", lifecycle::suite),
    Suite::new("mail", mail::suite),
    Suite::new("doctor", doctor::suite),
];

fn main() -> std::process::ExitCode {
    harness::main(&SUITES, prepare)
}

/// Before any suite starts: the base image and every image of the stack,
/// built once here rather than by whichever suites get there first at the
/// same time.
fn prepare() {
    support::ensure_base_image();
    for service in mailctl::service::Service::ALL {
        support::ensure_image(service.name());
    }
}
