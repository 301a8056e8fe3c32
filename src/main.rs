//! The imagelock binary: parse arguments, run, map to an exit code.

use imagelock::interrupt;

fn main() {
    if let Err(e) = interrupt::install() {
        eprintln!("error: cannot install the SIGINT/SIGTERM handlers: {e}");
        std::process::exit(imagelock::exit::ERROR);
    }
    // An option error is also a JSON document when JSON was asked for.
    let cli = match imagelock::cli::parse_from(std::env::args_os().collect()) {
        Ok(cli) => cli,
        Err(e) => std::process::exit(imagelock::commands::option_error(&e)),
    };
    imagelock::logging::init(cli.verbose);
    // Settings are resolved once (command line over imagelock.toml over
    // defaults) and handed down; how to report is known before.
    let reporting = imagelock::settings::reporting(&cli);
    let settings = imagelock::settings::from_command_line(cli);
    let code = match imagelock::commands::run(&reporting, settings) {
        Ok(code) => code,
        // A closed pipe (`imagelock list | head -1`) is not an error.
        Err(e) if imagelock::logging::is_broken_pipe(&e) => imagelock::exit::CLEAN,
        Err(e) => {
            use std::io::Write as _;
            let message = imagelock::report::failure_message(&e);
            let _ = writeln!(imagelock::redact::stderr(), "error: {message}");
            imagelock::exit::ERROR
        }
    };
    // A run stopped by a signal exits 130 (SIGINT) or 143 (SIGTERM).
    std::process::exit(
        interrupt::requested().map_or(code, imagelock::interrupt::Signal::exit_code),
    );
}
