//! `strata pull`, `push`, `login`, `logout`: parsing and printing; the work
//! is `distribution::client`.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use clap::{Subcommand, ValueEnum};
use distribution::client::auth::Credentials;
use distribution::client::platform::Platform;
use distribution::client::pull::{self, PullOptions, DEFAULT_PARALLEL};
use distribution::client::push::{self, PushOptions};
use distribution::client::{login, Options};
use layerstore::compression::Compression;
use layerstore::Store;

/// Registry commands, named and shaped as Docker's.
#[derive(Debug, Subcommand)]
pub enum RegistryCommand {
    /// Download an image from a registry
    Pull {
        /// NAME[:TAG|@DIGEST]
        name: String,
        /// Download every tagged image in the repository
        #[arg(short, long)]
        all_tags: bool,
        /// os/arch[/variant] to pick from a multi-platform image (default: this machine)
        #[arg(long)]
        platform: Option<String>,
        /// Print only the pulled reference
        #[arg(short, long)]
        quiet: bool,
        /// Layers downloaded at once
        #[arg(long, default_value_t = DEFAULT_PARALLEL)]
        max_concurrent_downloads: usize,
        #[command(flatten)]
        net: NetArgs,
    },
    /// Upload an image to a registry
    Push {
        /// NAME[:TAG]
        name: String,
        /// Compression of uploaded layers (blobs the registry has are reused)
        #[arg(long, value_enum)]
        compression_format: Option<CompressionFormat>,
        /// Print only the manifest digest
        #[arg(short, long)]
        quiet: bool,
        /// Layers uploaded at once
        #[arg(long, default_value_t = DEFAULT_PARALLEL)]
        max_concurrent_uploads: usize,
        #[command(flatten)]
        net: NetArgs,
    },
    /// Log in to a registry (Docker Hub by default)
    Login {
        server: Option<String>,
        #[arg(short, long)]
        username: Option<String>,
        #[arg(short, long, conflicts_with = "password_stdin")]
        password: Option<String>,
        /// Read the password from stdin
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        net: NetArgs,
    },
    /// Log out from a registry (Docker Hub by default)
    Logout { server: Option<String> },
}

/// Where plain HTTP and unverified TLS are allowed.
#[derive(Debug, clap::Args)]
pub struct NetArgs {
    /// Registry (HOST[:PORT]) to reach over plain HTTP or without TLS
    /// verification; also read from /etc/docker/daemon.json's
    /// "insecure-registries"
    #[arg(long = "insecure-registry", value_name = "HOST")]
    insecure: Vec<String>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum CompressionFormat {
    Gzip,
    Zstd,
}

pub fn run(root: Option<PathBuf>, cmd: RegistryCommand) -> anyhow::Result<i32> {
    let open = || Store::open(&root.clone().unwrap_or_else(Store::default_root));
    match cmd {
        RegistryCommand::Pull {
            name,
            all_tags,
            platform,
            quiet,
            max_concurrent_downloads,
            net,
        } => {
            let platform = match platform {
                Some(p) => p.parse::<Platform>().map_err(anyhow::Error::msg)?,
                None => Platform::host(),
            };
            let opts = PullOptions {
                platform,
                all_tags,
                quiet,
                parallel: max_concurrent_downloads,
            };
            let mut store = open()?;
            let pulled = pull::pull(&mut store, &name, &opts, &Options::new(net.insecure))?;
            let mut out = std::io::stdout().lock();
            for r in pulled {
                writeln!(out, "{r}")?;
            }
        }
        RegistryCommand::Push {
            name,
            compression_format,
            quiet,
            max_concurrent_uploads,
            net,
        } => {
            let opts = PushOptions {
                compression: compression_format.map(|c| match c {
                    CompressionFormat::Gzip => Compression::Gzip,
                    CompressionFormat::Zstd => Compression::Zstd,
                }),
                quiet,
                parallel: max_concurrent_uploads,
            };
            let mut store = open()?;
            let digest = push::push(&mut store, &name, &opts, &Options::new(net.insecure))?;
            if quiet {
                println!("{digest}");
            }
        }
        RegistryCommand::Login {
            server,
            username,
            password,
            password_stdin,
            net,
        } => {
            let host = login::normalise_host(server.as_deref());
            let username = match username {
                Some(u) => u,
                None => prompt("Username: ")?,
            };
            let password = match (password, password_stdin) {
                (Some(p), _) => {
                    eprintln!(
                        "WARNING! Using --password via the CLI is insecure. Use --password-stdin."
                    );
                    p
                }
                (None, true) => {
                    let mut line = String::new();
                    std::io::stdin().lock().read_line(&mut line)?;
                    line.trim_end_matches(['\n', '\r']).to_string()
                }
                (None, false) => prompt("Password: ")?,
            };
            if username.is_empty() || password.is_empty() {
                anyhow::bail!("login to {host}: username and password are required");
            }
            let creds = Credentials { username, password };
            let stored = login::login(&host, creds, &Options::new(net.insecure))?;
            println!("Credentials stored in {stored}");
            println!("Login Succeeded");
        }
        RegistryCommand::Logout { server } => {
            let host = login::normalise_host(server.as_deref());
            if login::logout(&host)? {
                println!("Removing login credentials for {host}");
            } else {
                println!("Not logged in to {host}");
            }
        }
    }
    Ok(0)
}

/// Reads one line from a terminal; a script must pass -u/-p or
/// --password-stdin instead.
fn prompt(what: &str) -> anyhow::Result<String> {
    if !std::io::stdin().is_terminal() {
        anyhow::bail!(
            "login: no terminal to ask for {}: use -u and --password-stdin",
            what.trim_end_matches(": ").to_lowercase()
        );
    }
    eprint!("{what}");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}
