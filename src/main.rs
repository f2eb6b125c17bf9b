use clap::Parser;
use wvnr::cli::{self, Cli};

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log).unwrap_or_else(|_| {
        eprintln!("wvnr: --log {:?} is not a valid level or directive; using info", cli.log);
        tracing_subscriber::EnvFilter::new("info")
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match cli::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // One line a person can act on: the outermost context first, causes after it.
            eprintln!("wvnr: {e:#}");
            std::process::ExitCode::from(1)
        }
    }
}
