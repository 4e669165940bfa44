//! Detached containers: they outlive their starter; logs, stop, kill, rm,
//! inspect, and cleanup after a crashed supervisor.

mod common;

use std::time::{Duration, Instant};

use common::{eventually, Fixture};
use runner::state::Status;

fn status(f: &Fixture, id: &str) -> Status {
    f.rt.store().state(id).unwrap().status
}

#[test]
fn detached_container_survives_its_starter_and_stops_with_sigkill_after_timeout() {
    let f = Fixture::new();
    let script = "echo hello; echo oops >&2; trap '' TERM; while true; do sleep 1; done";
    let id = f.start(f.opts(&["sh", "-c", script])).unwrap();
    let st = f.rt.store().state(&id).unwrap();
    let sup = st.supervisor.unwrap();
    // The starter (the shim we ran) has exited; the supervisor is not our child.
    let ppid = std::fs::read_to_string(format!("/proc/{}/stat", sup.pid)).unwrap();
    let ppid: i32 = ppid
        .rsplit(") ")
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert_ne!(ppid, std::process::id() as i32);
    assert_eq!(status(&f, &id), Status::Running);

    // logs -f follows until the container ends.
    let follower = {
        let rt = f.rt.clone();
        let id = id.clone();
        std::thread::spawn(move || {
            let (mut out, mut err) = (Vec::new(), Vec::new());
            rt.logs(&id, true, &mut out, &mut err).unwrap();
            (
                String::from_utf8(out).unwrap(),
                String::from_utf8(err).unwrap(),
            )
        })
    };
    assert!(eventually(Duration::from_secs(5), || {
        let mut out = Vec::new();
        f.rt.logs(&id, false, &mut out, &mut Vec::new()).unwrap();
        out == b"hello\n"
    }));

    let inspect = f.rt.inspect(&id).unwrap();
    assert_eq!(inspect["State"]["Running"], true);
    assert_eq!(inspect["State"]["Pid"], st.pid.unwrap().pid);

    let t = Instant::now();
    f.rt.stop(&id, Some(1)).unwrap();
    let took = t.elapsed();
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(8),
        "stop took {took:?}"
    );
    assert_eq!(f.rt.wait(&id).unwrap(), 137);
    assert_eq!(status(&f, &id), Status::Exited);
    let (out, err) = follower.join().unwrap();
    assert_eq!((out.as_str(), err.as_str()), ("hello\n", "oops\n"));

    let inspect = f.rt.inspect(&id).unwrap();
    assert_eq!(inspect["State"]["ExitCode"], 137);
    assert_eq!(inspect["State"]["OOMKilled"], false);
    f.rt.remove(&id, false).unwrap();
    f.assert_gone(&id, &st.cgroups, &[sup, st.pid.unwrap()]);
}

#[test]
fn stop_signal_ends_a_cooperative_container_quickly() {
    let f = Fixture::new();
    let script = "trap 'exit 5' TERM; echo ready; while true; do sleep 0.1; done";
    let id = f.start(f.opts(&["sh", "-c", script])).unwrap();
    // Until the trap is set, pid 1 ignores SIGTERM (as under Docker).
    assert!(eventually(Duration::from_secs(5), || {
        let mut out = Vec::new();
        f.rt.logs(&id, false, &mut out, &mut Vec::new()).unwrap();
        out == b"ready\n"
    }));
    let t = Instant::now();
    f.rt.stop(&id, Some(10)).unwrap();
    assert!(t.elapsed() < Duration::from_secs(5));
    assert_eq!(f.rt.wait(&id).unwrap(), 5);
}

#[test]
fn rm_refuses_a_running_container_unless_forced() {
    let f = Fixture::new();
    let opts = runner::RunOptions {
        name: Some("web".into()),
        ..f.opts(&["sleep", "100"])
    };
    let id = f.start(opts).unwrap();
    assert_eq!(f.rt.resolve("web").unwrap(), id);
    assert_eq!(f.rt.resolve(&id[..8]).unwrap(), id);
    assert!(matches!(
        f.rt.create(runner::RunOptions {
            name: Some("web".into()),
            ..f.opts(&["true"])
        }),
        Err(runner::Error::NameInUse(_))
    ));
    f.rt.rename(&id, "web2").unwrap();
    assert_eq!(f.rt.resolve("web2").unwrap(), id);
    let st = f.rt.store().state(&id).unwrap();
    assert!(matches!(
        f.rt.remove(&id, false),
        Err(runner::Error::Running(_))
    ));
    let listed = f.rt.list().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].name.as_str(), listed[0].status),
        ("web2", Status::Running)
    );
    f.rt.remove(&id, true).unwrap();
    f.assert_gone(&id, &st.cgroups, &[st.supervisor.unwrap(), st.pid.unwrap()]);
}

#[test]
fn crashed_supervisor_is_noticed_and_cleaned_up() {
    let f = Fixture::new();
    let id = f.start(f.opts(&["sleep", "100"])).unwrap();
    let st = f.rt.store().state(&id).unwrap();
    let sup = st.supervisor.unwrap();
    sup.signal(nix::sys::signal::Signal::SIGKILL).unwrap();
    assert!(eventually(Duration::from_secs(5), || status(&f, &id) == Status::Dead));
    assert_eq!(f.rt.list().unwrap()[0].status, Status::Dead);
    f.rt.remove(&id, false).unwrap();
    f.assert_gone(&id, &st.cgroups, &[sup, st.pid.unwrap()]);
}

#[test]
fn a_command_that_cannot_start_fails_start_with_dockers_code() {
    let f = Fixture::new();
    let id = f.rt.create(f.opts(&["nope"])).unwrap();
    let err = f.rt.start(&id).unwrap_err();
    assert_eq!(err.exit_code(), 127, "{err}");
    assert!(
        err.to_string().contains("executable file not found"),
        "{err}"
    );
    let st = f.rt.store().state(&id).unwrap();
    assert_eq!((st.status, st.exit_code), (Status::Exited, Some(127)));
    f.rt.remove(&id, false).unwrap();
    f.assert_gone(&id, &st.cgroups, &[]);
}

#[test]
fn exec_joins_the_running_container() {
    let f = Fixture::new();
    let out = f.tmp.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let mut opts = f.opts(&["sleep", "100"]);
    opts.hostname = Some("inside".into());
    opts.user = Some("nobody".into());
    opts.mounts = vec![runner::volumes::parse_volume(&format!("{}:/out", out.display())).unwrap()];
    let id = f.start(opts).unwrap();
    let exec = |args: &[&str], user: Option<&str>| {
        let opts = runner::exec::ExecOptions {
            args: args.iter().map(|s| s.to_string()).collect(),
            env: vec!["EXTRA=1".into()],
            user: user.map(str::to_string),
            workdir: Some("/tmp".into()),
            interactive: false,
            tty: false,
        };
        f.rt.exec(&id, &opts).unwrap()
    };
    let script = "hostname; id -u; pwd; echo $EXTRA; cat /proc/1/cmdline | tr '\\0' ' '";
    assert_eq!(
        exec(
            &["sh", "-c", &format!("({script}) > /out/report")],
            Some("root")
        ),
        0
    );
    let report = std::fs::read_to_string(out.join("report")).unwrap();
    assert_eq!(report, "inside\n0\n/tmp\n1\nsleep 100 ");
    assert_eq!(
        exec(&["sh", "-c", "[ \"$(id -u)\" = 65534 ] && exit 7"], None),
        7
    );
    assert_eq!(exec(&["no-such-command"], None), 127);
    f.rt.stop(&id, Some(0)).unwrap();
    assert!(matches!(
        f.rt.exec(&id, &Default::default()),
        Err(runner::Error::NotRunning(_))
    ));
}

#[test]
fn attached_supervisor_forwards_signals_to_pid_one() {
    let f = Fixture::new();
    let script = "trap 'exit 9' USR1; echo ready; while true; do sleep 0.1; done";
    let id = f.rt.create(f.opts(&["sh", "-c", script])).unwrap();
    let runner = {
        let (rt, id) = (f.rt.clone(), id.clone());
        std::thread::spawn(move || rt.run_attached(&id, false).unwrap())
    };
    assert!(eventually(Duration::from_secs(5), || {
        let mut out = Vec::new();
        let _ = f.rt.logs(&id, false, &mut out, &mut Vec::new());
        out == b"ready\n"
    }));
    let sup = f.rt.store().state(&id).unwrap().supervisor.unwrap();
    sup.signal(nix::sys::signal::Signal::SIGUSR1).unwrap();
    assert_eq!(runner.join().unwrap(), 9);
}

#[test]
fn a_container_starts_once_at_a_time_and_again_after_it_ended() {
    let f = Fixture::new();
    let id =
        f.rt.create(f.opts(&["sh", "-c", "echo run >> /count; cat /count; sleep 1"]))
            .unwrap();
    let racers: Vec<_> = (0..2)
        .map(|_| {
            let (rt, id) = (f.rt.clone(), id.clone());
            std::thread::spawn(move || rt.start(&id).is_ok())
        })
        .collect();
    let started = racers
        .into_iter()
        .map(|r| r.join().unwrap())
        .filter(|ok| *ok)
        .count();
    assert_eq!(started, 1);
    assert_eq!(f.rt.wait(&id).unwrap(), 0);
    // Started again, it keeps its writable layer.
    f.rt.start(&id).unwrap();
    assert_eq!(f.rt.wait(&id).unwrap(), 0);
    let mut out = Vec::new();
    f.rt.logs(&id, false, &mut out, &mut Vec::new()).unwrap();
    assert_eq!(String::from_utf8(out).unwrap(), "run\nrun\nrun\n");
}
