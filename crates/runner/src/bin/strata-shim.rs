//! `strata-shim`: the supervisor of one container (see `runner::shim`).
//! Started by `strata run`/`start`/`exec`, never by hand.

fn main() {
    unionfs::logging::init("warn");
    std::process::exit(runner::shim::main(std::env::args().skip(1)));
}
