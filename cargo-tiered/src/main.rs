//! `cargo tiered`: parse the command line, run it through the `tiered`
//! library, print any error with a hint, exit with its documented code.
#![forbid(unsafe_code)]

mod cli;

fn main() -> std::process::ExitCode {
    let command = cli::parse();
    std::process::ExitCode::from(cli::execute(command))
}
