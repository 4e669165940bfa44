//! Docker's container verbs as library calls: the CLI parses and prints,
//! everything else is here.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::config::{ContainerConfig, NetworkMode, RunOptions};
use crate::error::{Error, PathContext, Result};
use crate::rootfs::ETC_FILES;
use crate::state::{now, State, Status, Store};

/// Seconds `stop` waits for the stop signal to work before SIGKILL.
pub const DEFAULT_STOP_TIMEOUT: u64 = 10;
const POLL: Duration = Duration::from_millis(20);

/// Parses `SIGTERM`, `TERM`, `term` or `15`.
pub fn parse_signal(s: &str) -> Result<Signal> {
    if let Ok(n) = s.parse::<i32>() {
        return Signal::try_from(n)
            .map_err(|_| Error::invalid("signal", s, "unknown signal number"));
    }
    let upper = s.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    name.parse()
        .map_err(|_| Error::invalid("signal", s, "unknown signal name"))
}

/// A line of `ps`.
#[derive(Debug, Clone)]
pub struct Summary {
    pub id: String,
    pub name: String,
    pub image: String,
    pub command: String,
    pub created: String,
    pub status: Status,
    pub exit_code: Option<i32>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// Published ports (as bound, while running).
    pub ports: Vec<crate::ports::PortSpec>,
}

/// Containers under one strata root.
#[derive(Debug, Clone)]
pub struct Runtime {
    store: Store,
    shim: PathBuf,
}

/// `strata-shim` beside the running program, else `STRATA_SHIM`, else PATH.
fn default_shim() -> PathBuf {
    if let Some(p) = std::env::var_os("STRATA_SHIM") {
        return PathBuf::from(p);
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.join("strata-shim")))
        .filter(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from("strata-shim"))
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

impl Runtime {
    /// The runtime of root `root` (see [`Store::default_root`]).
    pub fn new(root: Option<PathBuf>) -> Runtime {
        Runtime {
            store: Store::new(Store::default_root(root)),
            shim: default_shim(),
        }
    }

    /// Uses this supervisor program instead of the one found by default.
    pub fn with_shim(mut self, shim: PathBuf) -> Runtime {
        self.shim = shim;
        self
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The id of the container named or identified (or id-prefixed) `name`.
    pub fn resolve(&self, name: &str) -> Result<String> {
        self.store.resolve(name)
    }

    /// Records a new container (`create`) and returns its id.
    pub fn create(&self, opts: RunOptions) -> Result<String> {
        let rootfs = opts
            .rootfs
            .clone()
            .ok_or_else(|| Error::invalid("image", &opts.image, "no root filesystem"))?;
        let id = Store::new_id()?;
        let name = match &opts.name {
            Some(n) if !valid_name(n) => {
                return Err(Error::invalid(
                    "container name",
                    n,
                    "only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed",
                ))
            }
            Some(n) if self.store.name_taken(n, &id)? => return Err(Error::NameInUse(n.clone())),
            Some(n) => n.clone(),
            None => format!("strata_{}", &id[..12]),
        };
        let hostname = opts
            .hostname
            .clone()
            .unwrap_or_else(|| id[..12].to_string());
        let network = match &opts.network {
            NetworkMode::Container(other) => NetworkMode::Container(self.store.resolve(other)?),
            n => n.clone(),
        };
        let mut mounts = opts.mounts.clone();
        for from in &opts.volumes_from {
            let (name, read_only) = match from.rsplit_once(':') {
                Some((n, "ro")) => (n, Some(true)),
                Some((n, "rw")) => (n, Some(false)),
                _ => (from.as_str(), None),
            };
            let other = self.store.resolve(name)?;
            let inherited = crate::volumes::inherit(
                &self.store.config(&other)?.mounts,
                &self.store.dir(&other),
                read_only,
            );
            for m in inherited {
                if !mounts.iter().any(|have| have.target == m.target) {
                    mounts.push(m);
                }
            }
        }
        let process = crate::entrypoint::process(&opts, &hostname)?;
        let stop_signal = opts
            .image_config
            .stop_signal
            .clone()
            .unwrap_or_else(|| "SIGTERM".into());
        parse_signal(&stop_signal)?;
        let cfg = ContainerConfig {
            id: id.clone(),
            name,
            image: opts.image.clone(),
            created: now(),
            rootfs,
            image_config: opts.image_config.clone(),
            process,
            hostname,
            network,
            resources: opts.resources.clone(),
            auto_remove: opts.auto_remove,
            read_only: opts.read_only,
            stop_signal,
            stop_timeout: opts.stop_timeout.unwrap_or(DEFAULT_STOP_TIMEOUT),
            mounts: container_mounts(mounts, &opts.image_config.volumes),
            ports: container_ports(&opts)?,
            init: opts.init,
        };
        let dir = self.store.dir(&id);
        std::fs::create_dir_all(&dir).at("create", &dir)?;
        let made = self.write_container(&cfg, &dir);
        if made.is_err() {
            let _ = std::fs::remove_dir_all(&dir);
        }
        made.map(|_| id)
    }

    fn write_container(&self, cfg: &ContainerConfig, dir: &Path) -> Result<()> {
        for (name, content) in ETC_FILES.iter().zip(self.etc_files(cfg)) {
            let p = dir.join(name);
            std::fs::write(&p, content).at("write", &p)?;
        }
        self.store.save_state(&cfg.id, &State::created())?;
        self.store.save_config(cfg)
    }

    /// /etc/hosts, /etc/hostname and /etc/resolv.conf of a new container;
    /// sharing a network namespace means sharing its hosts and resolvers.
    fn etc_files(&self, cfg: &ContainerConfig) -> [String; 3] {
        let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
        let (hosts, resolv) = match &cfg.network {
            NetworkMode::Host => (read(Path::new("/etc/hosts")), read(Path::new("/etc/resolv.conf"))),
            NetworkMode::Container(other) => {
                let dir = self.store.dir(other);
                (read(&dir.join("hosts")), read(&dir.join("resolv.conf")))
            }
            NetworkMode::None | NetworkMode::Private => (
                format!(
                    "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t{}\n",
                    cfg.hostname
                ),
                read(Path::new("/etc/resolv.conf")),
            ),
        };
        [hosts, format!("{}\n", cfg.hostname), resolv]
    }

    fn shim(&self, id: &str) -> Command {
        let mut c = Command::new(&self.shim);
        c.arg("--root").arg(self.store.root()).arg("--id").arg(id);
        c
    }

    /// Starts a created or exited container in the background; returns once
    /// its command runs, with the warnings the supervisor gave (one line
    /// each, such as limits it could not apply). A command that cannot start
    /// is an error carrying Docker's exit code ([`Error::exit_code`]).
    pub fn start(&self, id: &str) -> Result<Vec<String>> {
        let state = self.store.state(id)?;
        if state.status == Status::Running {
            return Err(Error::AlreadyStarted(id.to_string()));
        }
        let out = self
            .shim(id)
            .arg("--detach")
            .stdin(Stdio::null())
            .output()
            .at("run", &self.shim)?;
        let report = String::from_utf8_lossy(&out.stdout);
        let warnings = String::from_utf8_lossy(&out.stderr)
            .lines()
            .map(str::to_string)
            .collect();
        match report.trim().split_once(' ') {
            None if report.trim() == "ok" => Ok(warnings),
            Some(("error", rest)) => {
                let f = crate::init::StartFailure::decode(rest);
                Err(Error::Start {
                    code: f.code,
                    message: f.message,
                })
            }
            _ => Err(Error::Supervisor(format!(
                "exited ({}) without reporting",
                out.status
            ))),
        }
    }

    /// Runs a created container attached to this process's stdio and
    /// returns its exit code. With `forward_signals`, SIGINT, SIGTERM, SIGHUP
    /// and SIGQUIT sent to this process go to the container (for the CLI;
    /// a library caller with other uses for signals passes false).
    pub fn run_attached(&self, id: &str, forward_signals: bool) -> Result<i32> {
        let mut child = self.shim(id).spawn().at("run", &self.shim)?;
        let _forwarding = forward_signals.then(|| forward::Forwarding::install(child.id() as i32));
        let status = child.wait().at("wait for", &self.shim)?;
        use std::os::unix::process::ExitStatusExt;
        Ok(match (status.code(), status.signal()) {
            (Some(c), _) => c,
            (None, Some(sig)) => 128 + sig,
            _ => crate::init::EXIT_ERROR,
        })
    }

    /// Runs another process in the running container, attached to this
    /// process's stdio; its exit code (or Docker's code for why it could not
    /// start: 125, 126, 127).
    pub fn exec(&self, id: &str, opts: &crate::exec::ExecOptions) -> Result<i32> {
        self.running_state(id)?;
        let json = serde_json::to_string(opts)
            .map_err(|e| Error::invalid("exec options", "", e.to_string()))?;
        let status = self
            .shim(id)
            .arg("--exec")
            .arg(json)
            .status()
            .at("run", &self.shim)?;
        use std::os::unix::process::ExitStatusExt;
        Ok(status
            .code()
            .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)))
    }

    fn running_state(&self, id: &str) -> Result<State> {
        let st = self.store.state(id)?;
        if st.status != Status::Running {
            return Err(Error::NotRunning(id.to_string()));
        }
        Ok(st)
    }

    /// Sends `sig` to the container's pid 1.
    pub fn kill(&self, id: &str, sig: Signal) -> Result<()> {
        let st = self.running_state(id)?;
        let pid = st.pid.ok_or_else(|| Error::NotRunning(id.to_string()))?;
        pid.signal(sig)
    }

    /// Waits until the container is no longer running, up to `limit`;
    /// whether it ended.
    fn wait_stopped(&self, id: &str, limit: Duration) -> bool {
        let end = Instant::now() + limit;
        loop {
            match self.store.state(id) {
                Ok(st) if st.status == Status::Running => {}
                _ => return true,
            }
            if Instant::now() >= end {
                return false;
            }
            std::thread::sleep(POLL);
        }
    }

    /// The stop signal, then SIGKILL after `timeout` seconds (default: the
    /// container's). Stopping a container that is not running does nothing.
    pub fn stop(&self, id: &str, timeout: Option<u64>) -> Result<()> {
        let cfg = self.store.config(id)?;
        if self.running_state(id).is_err() {
            return Ok(());
        }
        let timeout = Duration::from_secs(timeout.unwrap_or(cfg.stop_timeout));
        if self.kill(id, parse_signal(&cfg.stop_signal)?).is_ok() && self.wait_stopped(id, timeout)
        {
            return Ok(());
        }
        let _ = self.kill(id, Signal::SIGKILL);
        if self.wait_stopped(id, Duration::from_secs(10)) {
            Ok(())
        } else {
            Err(Error::Supervisor(format!(
                "container {id} did not stop after SIGKILL"
            )))
        }
    }

    /// Blocks until the container has ended; its exit code.
    pub fn wait(&self, id: &str) -> Result<i32> {
        loop {
            let st = match self.store.state(id) {
                Ok(st) => st,
                // Removed meanwhile (`--rm`, or `rm -f` from elsewhere).
                Err(_) if !self.store.dir(id).exists() => {
                    return Err(Error::NoSuchContainer(id.to_string()))
                }
                Err(e) => return Err(e),
            };
            match st.status {
                Status::Exited => return Ok(st.exit_code.unwrap_or(0)),
                Status::Dead => return Ok(st.exit_code.unwrap_or(-1)),
                Status::Created | Status::Running => std::thread::sleep(POLL),
            }
        }
    }

    /// Removes a container; `force` kills it first if it runs. Nothing is
    /// left: no process, cgroup, mount or directory, even after a crash of
    /// its supervisor.
    pub fn remove(&self, id: &str, force: bool) -> Result<()> {
        let st = self.store.state(id)?;
        match st.status {
            Status::Running if !force => return Err(Error::Running(id.to_string())),
            Status::Running => {
                let _ = self.kill(id, Signal::SIGKILL);
                if !self.wait_stopped(id, Duration::from_secs(10)) {
                    return Err(Error::Supervisor(format!(
                        "container {id} did not stop after SIGKILL"
                    )));
                }
            }
            Status::Dead => {
                if let Some(p) = st.supervisor {
                    let _ = p.signal(Signal::SIGKILL);
                }
                if let Some(p) = st.pid {
                    let _ = p.signal(Signal::SIGKILL);
                }
            }
            Status::Created | Status::Exited => {}
        }
        let dir = self.store.dir(id);
        if !dir.exists() {
            return Ok(()); // --rm got there first
        }
        let st = self.store.state(id).unwrap_or(st);
        // A supervisor that recorded the end may still be exiting.
        if let Some(sup) = st.supervisor {
            let end = Instant::now() + Duration::from_secs(5);
            while sup.alive() && Instant::now() < end {
                std::thread::sleep(POLL);
            }
        }
        crate::cgroups::destroy(&st.cgroups)?;
        let rootfs = dir.join("rootfs");
        let _ = nix::mount::umount2(&rootfs, nix::mount::MntFlags::MNT_DETACH);
        match std::fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(Error::path("remove", &dir, e))
            }
            _ => Ok(()),
        }
    }

    pub fn rename(&self, id: &str, new_name: &str) -> Result<()> {
        if !valid_name(new_name) {
            return Err(Error::invalid(
                "container name",
                new_name,
                "only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed",
            ));
        }
        if self.store.name_taken(new_name, id)? {
            return Err(Error::NameInUse(new_name.to_string()));
        }
        let mut cfg = self.store.config(id)?;
        cfg.name = new_name.to_string();
        self.store.save_config(&cfg)
    }

    /// All containers, oldest first.
    pub fn list(&self) -> Result<Vec<Summary>> {
        let mut out = Vec::new();
        for id in self.store.ids()? {
            let (Ok(cfg), Ok(st)) = (self.store.config(&id), self.store.state(&id)) else {
                continue; // removed meanwhile
            };
            out.push(Summary {
                id,
                name: cfg.name,
                image: cfg.image,
                command: cfg.process.args.join(" "),
                created: cfg.created,
                status: st.status,
                exit_code: st.exit_code,
                started_at: st.started_at,
                finished_at: st.finished_at,
                ports: if st.ports.is_empty() {
                    cfg.ports
                } else {
                    st.ports
                },
            });
        }
        Ok(out)
    }

    /// Docker-shaped `inspect` JSON.
    pub fn inspect(&self, id: &str) -> Result<serde_json::Value> {
        let cfg = self.store.config(id)?;
        let st = self.store.state(id)?;
        Ok(crate::inspect::inspect(&cfg, &st, &self.store.dir(id)))
    }

    /// Copies the container's output to `out` and `err`; with `follow`,
    /// until the container ends.
    pub fn logs(
        &self,
        id: &str,
        follow: bool,
        out: &mut dyn std::io::Write,
        err: &mut dyn std::io::Write,
    ) -> Result<()> {
        let store = self.store.clone();
        let id_owned = id.to_string();
        let running = move || {
            store
                .state(&id_owned)
                .is_ok_and(|s| s.status == Status::Running)
        };
        crate::logs::copy(
            &self.store.dir(id).join(crate::logs::LOG_FILE),
            follow,
            &running,
            out,
            err,
        )
    }
}

/// `-p` ports plus, with `-P`, the image's exposed ones; only a private
/// network namespace can have ports published into it.
fn container_ports(opts: &RunOptions) -> Result<Vec<crate::ports::PortSpec>> {
    let mut ports = opts.ports.clone();
    if opts.publish_all {
        ports.extend(crate::ports::from_exposed(&opts.image_config.exposed_ports));
    }
    if !ports.is_empty() && opts.network != NetworkMode::Private {
        return Err(Error::invalid(
            "network",
            opts.network.name(),
            "ports can only be published with --network private",
        ));
    }
    Ok(ports)
}

/// The run's mounts plus an anonymous volume for each image VOLUME no
/// mount covers; anonymous volumes get their names (`0`, `1`, …) here.
fn container_mounts(
    mut mounts: Vec<crate::volumes::MountSpec>,
    image_volumes: &[String],
) -> Vec<crate::volumes::MountSpec> {
    use crate::volumes::{MountSpec, Source};
    for v in image_volumes {
        if v.starts_with('/') && !mounts.iter().any(|m| Path::new(&m.target) == Path::new(v)) {
            mounts.push(MountSpec {
                source: Source::Anonymous(String::new()),
                target: v.clone(),
                read_only: false,
            });
        }
    }
    for (i, m) in mounts.iter_mut().enumerate() {
        if let Source::Anonymous(name) = &mut m.source {
            *name = i.to_string();
        }
    }
    mounts
}

/// Passing the CLI's signals to an attached container's supervisor.
mod forward {
    use std::sync::atomic::{AtomicI32, Ordering};

    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};

    const SIGNALS: [Signal; 4] = [
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGQUIT,
    ];
    static TARGET: AtomicI32 = AtomicI32::new(0);

    extern "C" fn pass_on(sig: libc::c_int) {
        let pid = TARGET.load(Ordering::Relaxed);
        if pid > 0 {
            // SAFETY: kill is async-signal-safe.
            unsafe { libc::kill(pid, sig) };
        }
    }

    /// Handlers installed while it lives; the previous ones come back on drop.
    pub struct Forwarding {
        old: Vec<(Signal, SigAction)>,
    }

    impl Forwarding {
        pub fn install(pid: i32) -> Forwarding {
            TARGET.store(pid, Ordering::Relaxed);
            let act = SigAction::new(
                SigHandler::Handler(pass_on),
                SaFlags::SA_RESTART,
                SigSet::empty(),
            );
            let old = SIGNALS
                .iter()
                // SAFETY: the handler only reads an atomic and calls kill.
                .filter_map(|&s| unsafe { sigaction(s, &act) }.ok().map(|o| (s, o)))
                .collect();
            Forwarding { old }
        }
    }

    impl Drop for Forwarding {
        fn drop(&mut self) {
            for (s, o) in &self.old {
                // SAFETY: restoring the disposition that was there before.
                let _ = unsafe { sigaction(*s, o) };
            }
            TARGET.store(0, Ordering::Relaxed);
        }
    }
}
