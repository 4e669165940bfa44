//! `strata-shim`: the supervisor of one container (see `runner::shim`).
//! Started by `strata run`/`start`/`exec`, never by hand.

fn main() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    std::process::exit(runner::shim::main(std::env::args().skip(1)));
}
