//! The one way the tests run the real binary: `mailctl` with no terminal,
//! `NO_COLOR`, no `MAILCTL_DIR` from the caller's environment, stdin as the
//! test says, both streams read on threads (a full pipe cannot stall the
//! child), and a time limit after which the child is killed and the test
//! fails naming the command.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

pub const BINARY: &str = env!("CARGO_BIN_EXE_mailctl");

/// Long enough for `up --timeout 300` and an image build; a command that
/// takes longer is stuck.
const DEFAULT_LIMIT: Duration = Duration::from_secs(600);

/// Where the child's stdin comes from.
#[derive(Debug, Clone)]
pub enum Input {
    /// `/dev/null`.
    Null,
    /// These bytes, then end of file.
    Text(String),
    /// A pipe that stays open and silent: a read would block.
    Silent,
}

/// One run of `mailctl`, built up and then run once.
pub struct Mailctl {
    command: Command,
    shown: Vec<String>,
    input: Input,
    limit: Duration,
}

impl Mailctl {
    /// `mailctl ARGS`, in no project.
    pub fn new(args: &[&str]) -> Mailctl {
        let mut command = Command::new(BINARY);
        command
            .args(args)
            .env_remove("MAILCTL_DIR")
            .env("NO_COLOR", "1");
        Mailctl {
            command,
            shown: args.iter().map(|arg| (*arg).to_owned()).collect(),
            input: Input::Null,
            limit: DEFAULT_LIMIT,
        }
    }

    /// `mailctl -C DIR ARGS`.
    pub fn in_dir(dir: &Path, args: &[&str]) -> Mailctl {
        let mut run = Mailctl::new(&[]);
        run.command.arg("-C").arg(dir).args(args);
        run.shown = args.iter().map(|arg| (*arg).to_owned()).collect();
        run
    }

    pub fn env(mut self, key: &str, value: &str) -> Mailctl {
        self.command.env(key, value);
        self
    }

    pub fn input(mut self, input: Input) -> Mailctl {
        self.input = input;
        self
    }

    /// `text` on stdin, then end of file.
    pub fn stdin(self, text: &str) -> Mailctl {
        self.input(Input::Text(text.to_owned()))
    }

    pub fn limit(mut self, limit: Duration) -> Mailctl {
        self.limit = limit;
        self
    }

    /// Starts the child with piped streams and its input written (a silent
    /// input is handed back, to be dropped when the child may see EOF).
    pub fn spawn(mut self) -> (Child, Option<std::process::ChildStdin>) {
        self.command
            .stdin(match self.input {
                Input::Null => Stdio::null(),
                Input::Text(_) | Input::Silent => Stdio::piped(),
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = self
            .command
            .spawn()
            .unwrap_or_else(|error| panic!("cannot run mailctl: {error}"));
        let mut open_stdin = None;
        match &self.input {
            Input::Text(text) => {
                let mut stdin = child.stdin.take().unwrap();
                // A child that exits without reading its input closes the
                // pipe: that is its answer, not the test's failure.
                let _ = stdin.write_all(text.as_bytes());
            }
            Input::Silent => open_stdin = child.stdin.take(),
            Input::Null => {}
        }
        (child, open_stdin)
    }

    /// Runs to the end; also how long it took. Panics when the limit passes.
    pub fn run_timed(self) -> (Output, Duration) {
        let limit = self.limit;
        let shown = self.shown.join(" ");
        let started = Instant::now();
        let (mut child, open_stdin) = self.spawn();
        let stdout = read_on_thread(child.stdout.take().unwrap());
        let stderr = read_on_thread(child.stderr.take().unwrap());
        let status: ExitStatus = loop {
            if let Some(status) = child.try_wait().expect("mailctl can be waited for") {
                break status;
            }
            if started.elapsed() > limit {
                let _ = child.kill();
                let _ = child.wait();
                panic!("`mailctl {shown}` ran for more than {limit:?}; is it waiting for input?");
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let elapsed = started.elapsed();
        drop(open_stdin);
        let output = Output {
            status,
            stdout: stdout.join().expect("stdout reader"),
            stderr: stderr.join().expect("stderr reader"),
        };
        (output, elapsed)
    }

    /// Runs to the end. Panics when the limit passes.
    pub fn output(self) -> Output {
        self.run_timed().0
    }
}

fn read_on_thread(mut stream: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buffer = Vec::new();
        let _ = stream.read_to_end(&mut buffer);
        buffer
    })
}
