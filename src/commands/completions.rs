//! `imagelock completions SHELL` and `imagelock man [COMMAND]`: shell
//! completion scripts (`clap_complete`) and roff man pages
//! (`clap_mangen`), both generated from the clap definitions in
//! [`crate::cli`]. Neither reads the lockfile or any manifest.

use std::io::Write;

use clap::CommandFactory;

use crate::cli::Cli;

/// Print the completion script for the shell.
pub fn completions(shell: clap_complete::Shell) -> anyhow::Result<i32> {
    let mut command = Cli::command();
    let name = command.get_name().to_string();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, name, &mut script);
    write_stdout(&script)?;
    Ok(crate::exit::CLEAN)
}

/// Print the man page of imagelock, or of one of its subcommands.
pub fn man(subcommand: Option<&str>) -> anyhow::Result<i32> {
    let mut root = Cli::command();
    root.build();
    let source = format!("{} {}", root.get_name(), env!("CARGO_PKG_VERSION"));
    let page = match subcommand {
        None => root,
        Some(name) => {
            let Some(sub) = root.find_subcommand(name) else {
                let names: Vec<&str> = root
                    .get_subcommands()
                    .map(clap::Command::get_name)
                    .collect();
                anyhow::bail!(
                    "no subcommand {name:?}; the man pages are of: {}",
                    names.join(", ")
                );
            };
            // Built, it carries the display name `imagelock-check`: the
            // page is `imagelock-check(1)`.
            sub.clone()
        }
    };
    let mut roff = Vec::new();
    clap_mangen::Man::new(page)
        .source(source)
        .render(&mut roff)?;
    write_stdout(&roff)?;
    Ok(crate::exit::CLEAN)
}

fn write_stdout(bytes: &[u8]) -> std::io::Result<()> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    out.write_all(bytes)?;
    out.flush()
}
