//! The imagelock binary: parse arguments, run, map to an exit code.

use clap::Parser;

fn main() {
    let cli = imagelock::cli::Cli::parse();
    let code = match imagelock::commands::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            imagelock::exit::ERROR
        }
    };
    std::process::exit(code);
}
