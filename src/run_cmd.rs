//! `strata` container commands: run, create, start, stop, kill, rm, ps, logs,
//! inspect, wait, rename, export, commit. Parsing and printing only; every
//! operation is a `runner` library call.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use runner::lifecycle::parse_signal;
use runner::{display, volumes};
use runner::{ImageConfig, NetworkMode, Resources, RootfsSource, RunOptions, Runtime};

/// Container commands, named and shaped as Docker's.
#[derive(Debug, Subcommand)]
pub enum ContainerCommand {
    /// Create and run a container; exits with the container's status
    Run(RunArgs),
    /// Create a container without starting it; prints its ID
    Create(RunArgs),
    /// Start created or stopped containers
    Start {
        /// Stay attached and exit with the container's status (one container)
        #[arg(short, long)]
        attach: bool,
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Stop running containers: the stop signal, then SIGKILL after a timeout
    Stop {
        /// Seconds to wait before SIGKILL (default: the container's, 10)
        #[arg(short = 't', long = "time")]
        time: Option<u64>,
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Send a signal to running containers
    Kill {
        #[arg(short, long, default_value = "KILL")]
        signal: String,
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Remove containers
    Rm {
        /// Kill running containers first
        #[arg(short, long)]
        force: bool,
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// List containers (running ones unless -a)
    Ps {
        #[arg(short, long)]
        all: bool,
        /// Only IDs
        #[arg(short, long)]
        quiet: bool,
        /// Full IDs and commands
        #[arg(long)]
        no_trunc: bool,
    },
    /// Show a container's output
    Logs {
        /// Keep following until the container ends
        #[arg(short, long)]
        follow: bool,
        container: String,
    },
    /// Run a command in a running container
    Exec {
        /// Keep stdin open
        #[arg(short, long)]
        interactive: bool,
        /// Give the process a terminal
        #[arg(short, long)]
        tty: bool,
        #[arg(short, long = "env")]
        env: Vec<String>,
        #[arg(short, long)]
        user: Option<String>,
        #[arg(short, long)]
        workdir: Option<String>,
        container: String,
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// Show containers as JSON, shaped as Docker's
    Inspect {
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Wait for containers to end and print their exit codes
    Wait {
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Rename a container
    Rename { container: String, new_name: String },
    /// Write a container's merged root filesystem as a flat tar (a name
    /// that is no container is exported as an image)
    Export {
        container: String,
        /// Write to this file; stdout if omitted
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Create an image from a stopped container's changes
    Commit {
        /// Author (e.g. "Name <email>")
        #[arg(short, long)]
        author: Option<String>,
        /// Commit message (history comment)
        #[arg(short, long)]
        message: Option<String>,
        /// Dockerfile instruction to apply (CMD, ENTRYPOINT, ENV, EXPOSE,
        /// LABEL, ONBUILD, USER, VOLUME, WORKDIR, HEALTHCHECK)
        #[arg(short, long = "change")]
        change: Vec<String>,
        container: String,
        /// REPO[:TAG] for the new image
        reference: Option<String>,
    },
    /// Manage named volumes
    #[command(subcommand)]
    Volume(VolumeCommand),
}

/// Named volumes (kept in ROOT/volumes/NAME/_data, across containers).
#[derive(Debug, Subcommand)]
pub enum VolumeCommand {
    /// Create a volume
    Create { name: String },
    /// List volumes
    Ls {
        #[arg(short, long)]
        quiet: bool,
    },
    /// Remove volumes no container uses
    Rm {
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Show volumes as JSON
    Inspect {
        #[arg(required = true)]
        names: Vec<String>,
    },
}

/// Options of `run` and `create`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Run in the background and print the container ID
    #[arg(short, long)]
    detach: bool,
    /// Remove the container when it ends
    #[arg(long)]
    rm: bool,
    /// Keep stdin open
    #[arg(short, long)]
    interactive: bool,
    /// Give the container a terminal
    #[arg(short, long)]
    tty: bool,
    #[arg(long)]
    name: Option<String>,
    /// KEY=VALUE, or KEY to pass this environment's value
    #[arg(short, long = "env")]
    env: Vec<String>,
    /// Files of KEY=VALUE lines
    #[arg(long)]
    env_file: Vec<PathBuf>,
    /// Working directory inside the container
    #[arg(short, long)]
    workdir: Option<String>,
    /// user[:group], names or ids of the image's /etc/passwd and /etc/group
    #[arg(short, long)]
    user: Option<String>,
    #[arg(long)]
    hostname: Option<String>,
    /// Replaces the image's ENTRYPOINT and clears its CMD
    #[arg(long)]
    entrypoint: Option<String>,
    /// private (own namespace, loopback; ports publish into it), none
    /// (loopback only), host, or container:NAME (share another's)
    #[arg(long, default_value = "private", value_parser = parse_network)]
    network: NetworkMode,
    /// Memory limit (bytes, or with b, k, m, g)
    #[arg(short, long, value_parser = parse_size)]
    memory: Option<i64>,
    /// Memory plus swap limit; -1 for unlimited swap
    #[arg(long, value_parser = parse_size, allow_negative_numbers = true)]
    memory_swap: Option<i64>,
    /// Number of CPUs (e.g. 0.5)
    #[arg(long)]
    cpus: Option<f64>,
    /// Relative CPU weight
    #[arg(short = 'c', long)]
    cpu_shares: Option<u64>,
    /// CPUs allowed (0-3, 0,1)
    #[arg(long)]
    cpuset_cpus: Option<String>,
    /// Maximum number of processes (-1 unlimited)
    #[arg(long, allow_negative_numbers = true)]
    pids_limit: Option<i64>,
    /// Mount the root filesystem read-only
    #[arg(long)]
    read_only: bool,
    /// Volume: /host:/ctr[:ro], NAME:/ctr[:ro] or /ctr (anonymous)
    #[arg(short, long = "volume")]
    volume: Vec<String>,
    /// Mount the volumes of another container: NAME[:ro|rw]
    #[arg(long)]
    volumes_from: Vec<String>,
    /// A tmpfs at /ctr[:OPTIONS]
    #[arg(long)]
    tmpfs: Vec<String>,
    /// Publish a port: [IP:][HOSTPORT:]CTRPORT[/tcp|/udp] (HOSTPORT empty: any free one)
    #[arg(short, long = "publish")]
    publish: Vec<String>,
    /// Publish every port the image exposes on free host ports
    #[arg(short = 'P', long)]
    publish_all: bool,
    /// Seconds stop waits before SIGKILL
    #[arg(long)]
    stop_timeout: Option<u64>,
    /// Run a minimal init as pid 1 that forwards signals and reaps zombies
    #[arg(long)]
    init: bool,
    /// Security options; supported: `no-new-privileges` (setuid binaries gain nothing)
    #[arg(long = "security-opt")]
    security_opt: Vec<String>,
    /// The image: for now a directory holding an unpacked root filesystem
    image: String,
    /// Command and arguments (replace the image's CMD)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

fn parse_network(s: &str) -> Result<NetworkMode, String> {
    match s {
        "none" => Ok(NetworkMode::None),
        "private" | "bridge" | "default" => Ok(NetworkMode::Private),
        "host" => Ok(NetworkMode::Host),
        _ => match s.strip_prefix("container:") {
            Some(c) if !c.is_empty() => Ok(NetworkMode::Container(c.to_string())),
            _ => Err(format!(
                "unknown network {s:?}: use none, private, host or container:NAME"
            )),
        },
    }
}

/// `512`, `64k`, `32m`, `1g` (binary units, as Docker).
fn parse_size(s: &str) -> Result<i64, String> {
    if s == "-1" {
        return Ok(-1);
    }
    let lower = s.to_ascii_lowercase();
    let (num, unit) = match lower.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => lower.split_at(i),
        None => (lower.as_str(), ""),
    };
    let mult: i64 = match unit.trim_end_matches('b') {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        _ => {
            return Err(format!(
                "invalid size {s:?}: use a number with b, k, m or g"
            ))
        }
    };
    let n: f64 = num.parse().map_err(|_| format!("invalid size {s:?}"))?;
    Ok((n * mult as f64) as i64)
}

/// The root filesystem and run defaults of `image`: an image in the store
/// (by reference or ID), or, given as a path (`/…` or `./…`), a directory
/// holding an unpacked root filesystem.
fn resolve_image(root: &Path, image: &str) -> anyhow::Result<(RootfsSource, ImageConfig)> {
    if image.starts_with('/') || image.starts_with("./") {
        let dir = Path::new(image);
        if !dir.is_dir() {
            anyhow::bail!("image {image:?}: not a root filesystem directory");
        }
        return Ok((
            RootfsSource::Dirs(vec![std::fs::canonicalize(dir)?]),
            ImageConfig::default(),
        ));
    }
    let store = layerstore::Store::open(root)?;
    let id = layerstore::images::resolve(&store, image)?.id.to_string();
    let config = layerstore::images::config(&store, &id)?;
    Ok((
        RootfsSource::Image {
            store: root.to_path_buf(),
            image: id,
        },
        ImageConfig::from(&config),
    ))
}

/// `--security-opt`: Docker's `no-new-privileges[:true|false]`; others are refused.
fn no_new_privileges(opts: &[String]) -> anyhow::Result<bool> {
    let mut on = false;
    for o in opts {
        on = match o.as_str() {
            "no-new-privileges" | "no-new-privileges:true" | "no-new-privileges=true" => true,
            "no-new-privileges:false" | "no-new-privileges=false" => false,
            _ => anyhow::bail!("unsupported --security-opt {o:?} (supported: no-new-privileges)"),
        };
    }
    Ok(on)
}

fn read_env_files(files: &[PathBuf]) -> anyhow::Result<Vec<String>> {
    let mut env = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(f)
            .map_err(|e| anyhow::anyhow!("env file {}: {e}", f.display()))?;
        env.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_string),
        );
    }
    Ok(env)
}

fn run_options(rt: &Runtime, a: RunArgs) -> anyhow::Result<RunOptions> {
    let (rootfs, image_config) = resolve_image(rt.store().root(), &a.image)?;
    let mut env = read_env_files(&a.env_file)?;
    env.extend(a.env);
    let mut mounts = Vec::new();
    for v in &a.volume {
        mounts.push(volumes::parse_volume(v)?);
    }
    for t in &a.tmpfs {
        mounts.push(volumes::parse_tmpfs(t)?);
    }
    let mut ports = Vec::new();
    for p in &a.publish {
        ports.push(runner::ports::parse(p)?);
    }
    Ok(RunOptions {
        name: a.name,
        image: a.image,
        rootfs: Some(rootfs),
        image_config,
        args: a.command,
        entrypoint: a.entrypoint,
        env,
        workdir: a.workdir,
        user: a.user,
        hostname: a.hostname,
        network: a.network,
        volumes_from: a.volumes_from,
        resources: Resources {
            memory: a.memory,
            memory_swap: a.memory_swap,
            cpus: a.cpus,
            cpu_shares: a.cpu_shares,
            cpuset_cpus: a.cpuset_cpus,
            pids_limit: a.pids_limit,
        },
        auto_remove: a.rm,
        interactive: a.interactive,
        tty: a.tty,
        read_only: a.read_only,
        stop_timeout: a.stop_timeout,
        mounts,
        ports,
        publish_all: a.publish_all,
        init: a.init,
        no_new_privileges: no_new_privileges(&a.security_opt)?,
    })
}

/// Runs a container command; the exit status `strata` should end with.
/// Failures are printed here as one line and give Docker's codes (125 for
/// strata's own errors, 126/127 for a command that cannot start), so
/// `strata run` exits exactly as `docker run` would.
pub fn run(root: Option<PathBuf>, cmd: ContainerCommand) -> anyhow::Result<i32> {
    let rt = Runtime::new(root);
    match dispatch(&rt, cmd) {
        Ok(code) => Ok(code),
        Err(e) => {
            let code = e
                .downcast_ref::<runner::Error>()
                .map_or(125, runner::Error::exit_code);
            crate::report(format_args!("{e:#}"));
            Ok(code)
        }
    }
}

fn dispatch(rt: &Runtime, cmd: ContainerCommand) -> anyhow::Result<i32> {
    let mut out = std::io::stdout().lock();
    match cmd {
        ContainerCommand::Run(a) => {
            let detach = a.detach;
            let id = rt.create(run_options(rt, a)?)?;
            if detach {
                for w in rt.start(&id)? {
                    eprintln!("{w}");
                }
                writeln!(out, "{id}")?;
                return Ok(0);
            }
            drop(out);
            Ok(rt.run_attached(&id, true)?)
        }
        ContainerCommand::Create(a) => {
            writeln!(out, "{}", rt.create(run_options(rt, a)?)?)?;
            Ok(0)
        }
        ContainerCommand::Start { attach, containers } => {
            if attach {
                anyhow::ensure!(containers.len() == 1, "start -a takes one container");
                drop(out);
                return Ok(rt.run_attached(&rt.resolve(&containers[0])?, true)?);
            }
            each(&containers, |c| {
                for w in rt.start(&rt.resolve(c)?)? {
                    eprintln!("{w}");
                }
                Ok(c.clone())
            })
        }
        ContainerCommand::Stop { time, containers } => each(&containers, |c| {
            rt.stop(&rt.resolve(c)?, time)?;
            Ok(c.clone())
        }),
        ContainerCommand::Kill { signal, containers } => {
            let sig = parse_signal(&signal)?;
            each(&containers, |c| {
                rt.kill(&rt.resolve(c)?, sig)?;
                Ok(c.clone())
            })
        }
        ContainerCommand::Rm { force, containers } => each(&containers, |c| {
            rt.remove(&rt.resolve(c)?, force)?;
            Ok(c.clone())
        }),
        ContainerCommand::Ps {
            all,
            quiet,
            no_trunc,
        } => {
            let list = rt.list()?;
            let shown = list
                .iter()
                .rev()
                .filter(|c| all || c.status == runner::state::Status::Running);
            if quiet {
                for c in shown {
                    writeln!(out, "{}", if no_trunc { &c.id[..] } else { &c.id[..12] })?;
                }
                return Ok(0);
            }
            let mut rows = vec![[
                "CONTAINER ID".to_string(),
                "IMAGE".into(),
                "COMMAND".into(),
                "CREATED".into(),
                "STATUS".into(),
                "PORTS".into(),
                "NAMES".into(),
            ]];
            for c in shown {
                let mut command = format!("\"{}\"", c.command);
                if !no_trunc && command.chars().count() > 22 {
                    command = format!("{}…\"", command.chars().take(20).collect::<String>());
                }
                rows.push([
                    if no_trunc {
                        c.id.clone()
                    } else {
                        c.id[..12].to_string()
                    },
                    c.image.clone(),
                    command,
                    display::ago(&c.created),
                    display::status(c),
                    display::ports(c),
                    c.name.clone(),
                ]);
            }
            let widths: Vec<usize> = (0..7)
                .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
                .collect();
            for r in rows {
                let line: Vec<String> = r
                    .iter()
                    .zip(&widths)
                    .map(|(cell, w)| format!("{cell:<w$}"))
                    .collect();
                writeln!(out, "{}", line.join("   ").trim_end())?;
            }
            Ok(0)
        }
        ContainerCommand::Logs { follow, container } => {
            let id = rt.resolve(&container)?;
            rt.logs(&id, follow, &mut out, &mut std::io::stderr())?;
            Ok(0)
        }
        ContainerCommand::Exec {
            interactive,
            tty,
            env,
            user,
            workdir,
            container,
            command,
        } => {
            let opts = runner::exec::ExecOptions {
                args: command,
                env,
                user,
                workdir,
                interactive,
                tty,
            };
            drop(out);
            Ok(rt.exec(&rt.resolve(&container)?, &opts)?)
        }
        ContainerCommand::Inspect { containers } => {
            let mut all = Vec::new();
            for c in &containers {
                match rt.resolve(c) {
                    Ok(id) => all.push(rt.inspect(&id)?),
                    // As `docker inspect`: a name that is no container may be an image.
                    Err(runner::Error::NoSuchContainer(_)) => {
                        let store = layerstore::Store::open(rt.store().root())?;
                        all.push(layerstore::images::inspect(&store, c)?);
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            writeln!(out, "{:#}", runner::inspect::to_array(all))?;
            Ok(0)
        }
        ContainerCommand::Wait { containers } => {
            for c in &containers {
                let code = rt.wait(&rt.resolve(c)?)?;
                writeln!(out, "{code}")?;
            }
            Ok(0)
        }
        ContainerCommand::Export { container, output } => match rt.resolve(&container) {
            Ok(id) => crate::store_cmd::write_tar(
                output,
                |p| Ok(rt.export_to_file(&id, p)?),
                |w| Ok(rt.export(&id, w)?),
            ),
            // As `inspect`: a name that is no container may be an image.
            Err(runner::Error::NoSuchContainer(_)) => {
                let store = layerstore::Store::open(rt.store().root())?;
                match layerstore::images::resolve(&store, &container) {
                    Err(layerstore::Error::ImageNotFound(_)) => {
                        anyhow::bail!("no such container or image: {container}")
                    }
                    Err(e) => return Err(e.into()),
                    Ok(_) => {}
                }
                crate::store_cmd::write_tar(
                    output,
                    |p| Ok(layerstore::rootfs::export_to_file(&store, &container, p)?),
                    |w| Ok(layerstore::rootfs::export(&store, &container, w)?),
                )
            }
            Err(e) => Err(e.into()),
        },
        ContainerCommand::Commit {
            author,
            message,
            change,
            container,
            reference,
        } => {
            let opts = layerstore::commit::CommitOptions {
                author,
                message,
                changes: change,
                created_by: String::new(),
            };
            let img = rt.commit(&rt.resolve(&container)?, reference.as_deref(), opts)?;
            writeln!(out, "{}", img.id)?;
            Ok(0)
        }
        ContainerCommand::Rename {
            container,
            new_name,
        } => {
            rt.rename(&rt.resolve(&container)?, &new_name)?;
            Ok(0)
        }
        ContainerCommand::Volume(cmd) => {
            let vols = volumes::NamedVolumes::new(rt.store());
            match cmd {
                VolumeCommand::Create { name } => {
                    vols.create(&name)?;
                    writeln!(out, "{name}")?;
                    Ok(0)
                }
                VolumeCommand::Ls { quiet } => {
                    if !quiet {
                        writeln!(out, "DRIVER    VOLUME NAME")?;
                    }
                    for name in vols.list()? {
                        if quiet {
                            writeln!(out, "{name}")?;
                        } else {
                            writeln!(out, "local     {name}")?;
                        }
                    }
                    Ok(0)
                }
                VolumeCommand::Rm { names } => each(&names, |n| {
                    vols.remove(n)?;
                    Ok(n.clone())
                }),
                VolumeCommand::Inspect { names } => {
                    let mut all = Vec::new();
                    for n in &names {
                        all.push(vols.inspect(n)?);
                    }
                    writeln!(out, "{:#}", runner::inspect::to_array(all))?;
                    Ok(0)
                }
            }
        }
    }
}

/// Applies `f` to each container, printing what it returns; a failure is
/// printed and the others still run (Docker's behaviour); status 1 if any failed.
fn each(
    containers: &[String],
    f: impl Fn(&String) -> anyhow::Result<String>,
) -> anyhow::Result<i32> {
    let mut code = 0;
    for c in containers {
        match f(c) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                crate::report(e);
                code = 1;
            }
        }
    }
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("512"), Ok(512));
        assert_eq!(parse_size("32m"), Ok(32 << 20));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("64kb"), Ok(64 << 10));
        assert_eq!(parse_size("-1"), Ok(-1));
        assert!(parse_size("3x").is_err());
    }
}
