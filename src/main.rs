//! `strata`: the command line. It parses, calls the libraries, and prints;
//! every failure is one line on stderr and a non-zero exit.

mod registry_cmd;
mod run_cmd;
mod serve_cmd;
mod store_cmd;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "strata", version, about = "Userspace container image stack")]
struct Cli {
    /// Store root (default /var/lib/strata as root, ~/.local/share/strata otherwise)
    #[arg(long, global = true, env = "STRATA_ROOT")]
    root: Option<PathBuf>,
    /// More logging (repeat for more; `-v` belongs to `run --volume`)
    #[arg(long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    #[command(flatten)]
    Store(store_cmd::StoreCommand),
    #[command(flatten)]
    Container(Box<run_cmd::ContainerCommand>),
    #[command(flatten)]
    Registry(registry_cmd::RegistryCommand),
    /// Image commands under Docker's `image` group (`strata image ls`, ...)
    #[command(subcommand)]
    Image(store_cmd::ImageCommand),
    /// Mount an image's root filesystem straight from the store (nothing is
    /// extracted); read-only unless --upper and --work are given. Unmount
    /// with `umount` or `fusermount3 -u`.
    Mount {
        image: String,
        mountpoint: PathBuf,
        /// Writable layer (overlayfs format)
        #[arg(long, requires = "work")]
        upper: Option<PathBuf>,
        /// Scratch directory on the same filesystem as --upper
        #[arg(long, requires = "upper")]
        work: Option<PathBuf>,
    },
    Serve(serve_cmd::ServeArgs),
}

fn main() {
    let cli = Cli::parse();
    let level = match cli.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    unionfs::logging::init(level);
    let result = match cli.command {
        Command::Store(cmd) => store_cmd::run(cli.root, cmd),
        Command::Image(cmd) => store_cmd::run_image(cli.root, cmd),
        Command::Container(cmd) => run_cmd::run(cli.root, *cmd),
        Command::Serve(args) => serve_cmd::run(cli.root, args),
        Command::Registry(cmd) => registry_cmd::run(cli.root, cmd),
        Command::Mount {
            image,
            mountpoint,
            upper,
            work,
        } => {
            let root = cli.root.unwrap_or_else(layerstore::Store::default_root);
            imagefs::mount_image(&root, &image, &mountpoint, upper.zip(work))
                .map(|()| 0)
                .map_err(anyhow::Error::msg)
        }
    };
    match result {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            report(e);
            std::process::exit(1);
        }
    }
}

/// Prints a failure as one `strata: ` line. Messages can quote archive
/// member names, tar header bytes and arguments, so the line is escaped
/// whatever produced it.
fn report(e: impl std::fmt::Display) {
    eprintln!("strata: {}", layerstore::escape::Escaped(e.to_string()));
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Every subcommand's flags fit together (clap checks names and shorts).
    #[test]
    fn command_line_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
