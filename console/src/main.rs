//! `idoctor`: the operator and admin console.

use clap::Parser;
use idoctor_console::cli::{self, Cli, Context};

#[tokio::main]
async fn main() {
    let args = Cli::parse();
    let ctx = Context::new(args.server);
    let outcome = match args.command {
        Some(command) => cli::run(&ctx, command).await,
        None => idoctor_console::tui::run(
            ctx,
            idoctor_console::tui::Options {
                readonly: args.readonly,
                theme: args.theme,
                config: args.tui_config,
            },
        )
        .await
        .map_err(|e| cli::CliError::Other(format!("terminal error: {e}"))),
    };
    if let Err(e) = outcome {
        eprintln!("idoctor: {e}");
        std::process::exit(e.exit_code());
    }
}
