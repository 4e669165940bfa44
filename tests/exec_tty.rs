//! `strata exec -t` / `-it` through the CLI, with its stdio on a pty this
//! test opens (as a user's terminal would be): the process gets a terminal
//! of the container's devpts, with the user's window size, and `-i` passes
//! typed input through it.

use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::Path;
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

mod common;
use common::{busybox_rootfs, ok, require_root, strata};

/// Generous bound on each terminal session.
const LIMIT: Duration = Duration::from_secs(30);

/// Runs `strata exec ARGS` with stdio on a fresh 31x97 pty; its exit code
/// and everything it wrote to the terminal. `typed` is written to the
/// terminal first.
fn on_terminal(root: &Path, args: &[&str], typed: &str) -> (i32, String) {
    let size = nix::pty::Winsize {
        ws_row: 31,
        ws_col: 97,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    let pty = nix::pty::openpty(Some(&size), None).unwrap();
    let slave = |fd: &OwnedFd| Stdio::from(fd.try_clone().unwrap());
    let mut child = strata(root)
        .arg("exec")
        .args(args)
        .stdin(slave(&pty.slave))
        .stdout(slave(&pty.slave))
        .stderr(slave(&pty.slave))
        .spawn()
        .unwrap();
    drop(pty.slave);
    let mut master = std::fs::File::from(pty.master);
    master.write_all(typed.as_bytes()).unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut out = Vec::new();
        // Reading ends in EIO once the last slave (the CLI's stdio) is closed.
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = master.read(&mut buf) {
            out.extend_from_slice(&buf[..n]);
        }
        let _ = tx.send(out);
    });
    let out = match rx.recv_timeout(LIMIT) {
        Ok(out) => out,
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("exec on a terminal did not end within {LIMIT:?}");
        }
    };
    let code = child.wait().unwrap().code().unwrap_or(-1);
    (code, String::from_utf8_lossy(&out).replace("\r\n", "\n"))
}

#[test]
fn exec_t_gives_the_process_a_terminal_of_the_container() {
    require_root();
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("store");
    let rootfs = busybox_rootfs(t.path(), &["sh", "sleep", "tty", "stty", "read", "echo"]);
    let id = ok(strata(&root)
        .args(["run", "-d"])
        .arg(&rootfs)
        .args(["sleep", "100"]));
    let container = Removed(&root, id.trim().to_string());
    let id = container.1.as_str();

    let (code, out) = on_terminal(
        &root,
        &["-t", id, "sh", "-c", "tty; stty size; test -t 0 && exit 5"],
        "",
    );
    assert_eq!(code, 5, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines.len() == 2 && lines[0].starts_with("/dev/pts/"),
        "{out:?}"
    );
    assert_eq!(lines[1], "31 97");

    // -it: what is typed reaches the process through its terminal.
    let (code, out) = on_terminal(
        &root,
        &["-it", id, "sh", "-c", "read line; echo got:$line"],
        "hello\n",
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.ends_with("got:hello\n"), "{out:?}");

    // Without -t the process has no terminal, as before.
    let (code, out) = on_terminal(&root, &[id, "sh", "-c", "tty; true"], "");
    assert_eq!((code, out.as_str()), (0, "not a tty\n"));
}

/// Removes the container when the test ends, passed or failed.
struct Removed<'a>(&'a Path, String);

impl Drop for Removed<'_> {
    fn drop(&mut self) {
        let _ = strata(self.0).args(["rm", "-f", &self.1]).output();
    }
}
