//! The imagelock binary: parse arguments, run, map to an exit code.

use clap::Parser;

fn main() {
    let cli = imagelock::cli::Cli::parse();
    imagelock::logging::init(cli.verbose);
    let code = match imagelock::commands::run(cli) {
        Ok(code) => code,
        // A closed pipe (`imagelock list | head -1`) is not an error.
        Err(e) if imagelock::logging::is_broken_pipe(&e) => imagelock::exit::CLEAN,
        Err(e) => {
            eprintln!("error: {e:#}");
            imagelock::exit::ERROR
        }
    };
    std::process::exit(code);
}
