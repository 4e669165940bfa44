//! The command line of the supervisor program, `strata-shim --root ROOT
//! --id ID [--detach | --exec JSON]`, kept in the library so any binary
//! (the `strata-shim` one, or `strata` itself when started under that name)
//! can serve as the supervisor.

use crate::state::Store;

/// Parses the arguments (without the program name) and runs the supervisor
/// or an `exec`; the exit code.
pub fn main(args: impl IntoIterator<Item = String>) -> i32 {
    let mut args = args.into_iter();
    let (mut root, mut id, mut detach, mut exec) = (None, None, false, None);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--root" => root = args.next(),
            "--id" => id = args.next(),
            "--detach" => detach = true,
            "--exec" => exec = args.next(),
            other => {
                eprintln!("strata-shim: unknown argument {other:?}");
                return crate::init::EXIT_ERROR;
            }
        }
    }
    let (Some(root), Some(id)) = (root, id) else {
        eprintln!("usage: strata-shim --root ROOT --id ID [--detach | --exec JSON]");
        return crate::init::EXIT_ERROR;
    };
    let store = Store::new(root.into());
    match exec {
        Some(json) => match serde_json::from_str(&json) {
            Ok(opts) => crate::exec::main(&store, &id, &opts),
            Err(e) => {
                eprintln!("strata-shim: --exec: {e}");
                crate::init::EXIT_ERROR
            }
        },
        None => crate::supervisor::main(&store, &id, detach),
    }
}
