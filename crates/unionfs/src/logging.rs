//! Logging for strata's programs: `tracing` to stderr, `RUST_LOG` when set,
//! else the level the program asks for.
//!
//! fuser logs an error whenever the kernel refuses a reply, which it does
//! for a request it stopped waiting for (interrupted, or in flight while
//! the mount goes away): nothing is lost then, so that message stays off
//! unless `RUST_LOG` asks for it.

pub fn init(default_level: &str) {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new(format!("{default_level},fuser::reply=off"))
            }),
        )
        .with_writer(std::io::stderr)
        .init();
}
