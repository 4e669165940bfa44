//! `--init`: pid 1 is a minimal init that runs the command as its child,
//! forwards signals to it, reaps orphans and exits with its status.

mod common;

use std::time::Duration;

use common::{eventually, Fixture};

fn with_init(f: &Fixture, args: &[&str]) -> runner::RunOptions {
    runner::RunOptions {
        init: true,
        ..f.opts(args)
    }
}

#[test]
fn pid_one_is_the_init_and_the_command_its_child() {
    let f = Fixture::new();
    let script = "echo $$; cat /proc/1/comm; ps -o pid,comm | awk '$1 == 1 {print $2}'";
    let (code, out, err) = f.run(with_init(&f, &["sh", "-c", script]));
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert_eq!(lines[0], "2", "the command is pid 1's child");
    assert_eq!(lines[1], "strata-shim");
    assert_eq!(lines[2], "strata-shim", "ps shows the init as pid 1");
}

#[test]
fn orphaned_zombies_are_reaped() {
    let f = Fixture::new();
    // The inner shell exits at once, so its `sleep` is orphaned to pid 1;
    // once the sleep ends, only pid 1 can reap it. Polled within 10 s.
    let script = r#"sh -c 'sleep 0.2 &'
        i=0
        while [ $i -lt 100 ]; do
            ps -o comm | grep -q '^sleep$' || { echo reaped; exit 0; }
            sleep 0.1; i=$((i+1))
        done
        ps -o pid,ppid,stat,comm; exit 1"#;
    let (code, out, err) = f.run(with_init(&f, &["sh", "-c", script]));
    assert_eq!((code, out.as_str()), (0, "reaped\n"), "{err}");
}

#[test]
fn exit_status_and_start_failures_propagate() {
    let f = Fixture::new();
    assert_eq!(f.run(with_init(&f, &["sh", "-c", "exit 7"])).0, 7);
    assert_eq!(f.run(with_init(&f, &["sh", "-c", "kill -KILL $$"])).0, 137);
    assert_eq!(f.run(with_init(&f, &["sh", "-c", "kill -TERM $$"])).0, 143);
    assert_eq!(f.run(with_init(&f, &["no-such-command"])).0, 127);
}

#[test]
fn stop_delivers_sigterm_to_the_command() {
    let f = Fixture::new();
    let script = "trap 'echo got-term; exit 3' TERM; echo ready; while true; do sleep 0.1; done";
    let id = f.start(with_init(&f, &["sh", "-c", script])).unwrap();
    let logs = || {
        let mut out = Vec::new();
        let _ = f.rt.logs(&id, false, &mut out, &mut Vec::new());
        String::from_utf8(out).unwrap()
    };
    assert!(eventually(Duration::from_secs(10), || logs() == "ready\n"));
    // A generous timeout: the command ends on SIGTERM long before SIGKILL.
    f.rt.stop(&id, Some(30)).unwrap();
    assert_eq!(f.rt.wait(&id).unwrap(), 3);
    assert_eq!(logs(), "ready\ngot-term\n");
    f.rt.remove(&id, false).unwrap();
}

#[test]
fn with_a_terminal_the_command_is_its_foreground_group() {
    let f = Fixture::new();
    // Fields 5 and 8 of /proc/PID/stat: the process group, and the
    // terminal's foreground group. The command leads its own group and has
    // the foreground, so ^C reaches it once, not again through pid 1.
    let script = "tty; read -r _ _ _ _ pgrp _ _ fg _ < /proc/$$/stat; [ $pgrp = $$ ] && [ $fg = $$ ] && echo foreground";
    let opts = runner::RunOptions {
        tty: true,
        ..with_init(&f, &["sh", "-c", script])
    };
    let (code, out, err) = f.run(opts);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "/dev/pts/0\r\nforeground\r\n");
}
