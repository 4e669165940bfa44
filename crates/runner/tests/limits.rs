//! cgroup limits on real containers: memory (OOM), pids, cpu quota.

mod common;

use std::time::{Duration, Instant};

use common::Fixture;
use runner::Resources;

#[test]
fn memory_limit_ends_in_an_oom_kill() {
    let f = Fixture::new();
    let res = Resources {
        memory: Some(32 << 20),
        ..Default::default()
    };
    let id = f
        .start(f.with_limits(
            &["dd", "if=/dev/zero", "of=/dev/null", "bs=256M", "count=1"],
            res,
        ))
        .unwrap();
    assert_eq!(f.rt.wait(&id).unwrap(), 137);
    let inspect = f.rt.inspect(&id).unwrap();
    assert_eq!(inspect["State"]["OOMKilled"], true);
    assert_eq!(inspect["HostConfig"]["Memory"], 32 << 20);
    let cgroups = f.rt.store().state(&id).unwrap().cgroups;
    assert!(!cgroups.is_empty());
    f.rt.remove(&id, false).unwrap();
    f.assert_gone(&id, &cgroups, &[]);
}

#[test]
fn fork_loop_hits_the_pids_limit_and_the_host_is_fine() {
    let f = Fixture::new();
    let res = Resources {
        pids_limit: Some(20),
        ..Default::default()
    };
    // The subshell forks until the kernel refuses (ash then gives up); the
    // count afterwards uses only builtins, as no fork is left.
    let script = "(i=0; while [ $i -lt 100 ]; do sleep 30 & i=$((i+1)); done) 2>/dev/null; set -- /proc/[0-9]*; echo $#";
    let (code, out, _) = f.run(f.with_limits(&["sh", "-c", script], res));
    assert_eq!(code, 0);
    let n: usize = out.trim().parse().unwrap();
    assert!((15..=20).contains(&n), "{n} processes under a limit of 20");
    assert!(std::process::Command::new("true")
        .status()
        .unwrap()
        .success());
}

/// User plus system CPU time of a process, in seconds.
fn cpu_seconds(pid: i32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let f: Vec<&str> = stat.rsplit(") ").next().unwrap().split(' ').collect();
    let ticks: u64 = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
    // SAFETY: sysconf with a constant name.
    ticks as f64 / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}

#[test]
fn half_a_cpu_keeps_a_busy_loop_near_half_a_core() {
    let f = Fixture::new();
    let res = Resources {
        cpus: Some(0.5),
        ..Default::default()
    };
    let id = f
        .start(f.with_limits(&["sh", "-c", "while :; do :; done"], res))
        .unwrap();
    let pid = f.rt.store().state(&id).unwrap().pid.unwrap().pid;
    std::thread::sleep(Duration::from_millis(500));
    let (c0, t0) = (cpu_seconds(pid), Instant::now());
    std::thread::sleep(Duration::from_secs(3));
    let ratio = (cpu_seconds(pid) - c0) / t0.elapsed().as_secs_f64();
    f.rt.remove(&id, true).unwrap();
    // Unthrottled it would be ~1.0; the other builds on this host may slow it.
    assert!(
        (0.2..0.7).contains(&ratio),
        "cpu/wall ratio {ratio:.2} under --cpus 0.5"
    );
}

#[test]
fn limits_are_written_to_the_cgroup() {
    let f = Fixture::new();
    let res = Resources {
        memory: Some(64 << 20),
        memory_swap: Some(96 << 20),
        cpuset_cpus: Some("0".into()),
        cpu_shares: Some(512),
        pids_limit: Some(50),
        ..Default::default()
    };
    let id = f.start(f.with_limits(&["sleep", "100"], res)).unwrap();
    let dirs = f.rt.store().state(&id).unwrap().cgroups;
    let read = |file: &str| -> String {
        let d = dirs
            .iter()
            .find(|d| d.join(file).exists())
            .unwrap_or_else(|| panic!("no {file}"));
        std::fs::read_to_string(d.join(file))
            .unwrap()
            .trim()
            .to_string()
    };
    assert_eq!(read("memory.limit_in_bytes"), (64u64 << 20).to_string());
    assert_eq!(
        read("memory.memsw.limit_in_bytes"),
        (96u64 << 20).to_string()
    );
    assert_eq!(read("cpu.shares"), "512");
    assert_eq!(read("cpuset.cpus"), "0");
    assert_eq!(read("pids.max"), "50");
    let pid = f.rt.store().state(&id).unwrap().pid.unwrap().pid;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert!(
        status
            .lines()
            .any(|l| l.starts_with("Cpus_allowed_list:") && l.ends_with("\t0")),
        "{status}"
    );
    f.rt.remove(&id, true).unwrap();
    f.assert_gone(&id, &dirs, &[]);
}

#[test]
fn cgroup_v2_module_on_a_real_cgroup2_mount() {
    use runner::cgroups::{self, Cgroup, Layout};
    // The unified hierarchy: all of /sys/fs/cgroup, or its cgroup2 part on a hybrid host.
    let mount = match cgroups::detect() {
        Layout::Unified => "/sys/fs/cgroup",
        Layout::Hybrid => "/sys/fs/cgroup/unified",
        Layout::Legacy => return, // no cgroup2 mounted at all
    };
    let id = format!("v2test-{}", std::process::id());
    let cg = Cgroup::V2(
        cgroups::v2::V2Cgroup::create(std::path::Path::new(mount), &id, &Resources::default())
            .unwrap(),
    );
    let dirs = cg.dirs();
    let mut child = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    cg.add(child.id() as i32).unwrap();
    let membership = std::fs::read_to_string(format!("/proc/{}/cgroup", child.id())).unwrap();
    assert!(
        membership
            .lines()
            .any(|l| l.starts_with("0::") && l.ends_with(&format!("/strata/{id}"))),
        "{membership}"
    );
    assert!(!cg.oom_killed());
    cgroups::destroy(&dirs).unwrap();
    assert!(
        !child.wait().unwrap().success(),
        "destroy kills what is left"
    );
    assert!(!dirs[0].exists());
}
