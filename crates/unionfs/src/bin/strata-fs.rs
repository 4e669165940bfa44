//! `strata-fs`: the union filesystem with fuse-overlayfs's command line.

use unionfs::mount;
use unionfs::options::{Command, Options, USAGE};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opts = match Options::parse(args) {
        Ok(Command::Mount(o)) => o,
        Ok(Command::Help) => {
            println!("{USAGE}");
            return;
        }
        Ok(Command::Version) => {
            println!("strata-fs {}", env!("CARGO_PKG_VERSION"));
            return;
        }
        Err(e) => {
            eprintln!("strata-fs: {e}\n{USAGE}");
            std::process::exit(2);
        }
    };
    let level = if opts.debug { "debug" } else { "warn" };
    unionfs::logging::init(level);
    for w in &opts.warnings {
        eprintln!("{w}");
    }
    let result = if opts.foreground {
        mount::serve(&opts)
    } else {
        mount::daemonize(&opts)
    };
    if let Err(e) = result {
        eprintln!("strata-fs: {e}");
        std::process::exit(1);
    }
}
