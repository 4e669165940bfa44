//! `strata`: the command line. It parses, calls the libraries, and prints.

fn main() {
    println!("strata {}", env!("CARGO_PKG_VERSION"));
}
