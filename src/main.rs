//! The `mailctl` executable: parse the command line, run, print errors with
//! their causes and hints, and exit with the code the error calls for.

fn main() -> std::process::ExitCode {
    mailctl::main()
}
