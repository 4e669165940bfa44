//! `run` on a real busybox image: namespaces, root, identity, exit codes.

mod common;

use common::Fixture;
use runner::{ImageConfig, NetworkMode};

#[test]
fn exit_codes_follow_docker() {
    let f = Fixture::new();
    assert_eq!(f.run(f.opts(&["sh", "-c", "exit 3"])).0, 3);
    assert_eq!(f.run(f.opts(&["true"])).0, 0);
    assert_eq!(f.run(f.opts(&["no-such-command"])).0, 127);
    assert_eq!(f.run(f.opts(&["/no/such/path"])).0, 127);
    assert_eq!(f.run(f.opts(&["/etc/notes"])).0, 126);
    // A signal that kills pid 1 from outside: 128 + 9.
    let id = f.start(f.opts(&["sleep", "100"])).unwrap();
    f.rt.kill(&id, nix::sys::signal::Signal::SIGKILL).unwrap();
    assert_eq!(f.rt.wait(&id).unwrap(), 137);
    // A shell that dies of SIGTERM it handles by re-raising with the default.
    let (code, _, _) = f.run(f.opts(&["sh", "-c", "sh -c 'kill -TERM $$'; exit $?"]));
    assert_eq!(code, 143);
}

#[test]
fn attached_run_returns_the_exit_code_and_rm_removes() {
    let f = Fixture::new();
    let opts = runner::RunOptions {
        auto_remove: true,
        ..f.opts(&["sh", "-c", "exit 42"])
    };
    let id = f.rt.create(opts).unwrap();
    assert_eq!(f.rt.run_attached(&id, false).unwrap(), 42);
    assert!(!f.rt.store().dir(&id).exists(), "--rm left the container");
}

#[test]
fn pid_one_is_the_command_and_ps_sees_only_the_container() {
    let f = Fixture::new();
    let (code, out, _) = f.run(f.opts(&["sh", "-c", "echo pid=$$; ps -o pid,comm; true"]));
    assert_eq!(code, 0);
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("pid=1"));
    let procs: Vec<&str> = lines.skip(1).collect();
    assert_eq!(procs.len(), 2, "ps saw {procs:?}");
    assert_eq!(procs[0].split_whitespace().collect::<Vec<_>>(), ["1", "sh"]);
    assert!(procs[1].ends_with(" ps"), "{procs:?}");
}

#[test]
fn hostname_and_etc_files_come_from_the_container_dir() {
    let f = Fixture::new();
    let opts = runner::RunOptions {
        hostname: Some("box1".into()),
        ..f.opts(&[
            "sh",
            "-c",
            "hostname; cat /etc/hostname; grep -c localhost /etc/hosts",
        ])
    };
    let id = f.start(opts).unwrap();
    assert_eq!(f.rt.wait(&id).unwrap(), 0);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    f.rt.logs(&id, false, &mut out, &mut err).unwrap();
    assert_eq!(String::from_utf8(out).unwrap(), "box1\nbox1\n2\n");
    // The stub mount points in the writable layer carry no content.
    let upper = f.rt.store().dir(&id).join("upper/etc");
    for name in ["hosts", "hostname", "resolv.conf"] {
        let len = std::fs::metadata(upper.join(name))
            .map(|m| m.len())
            .unwrap_or(0);
        assert_eq!(len, 0, "{name} written into the layer");
    }
    f.rt.remove(&id, false).unwrap();
}

#[test]
fn network_none_has_only_loopback_and_it_is_up() {
    let f = Fixture::new();
    let (code, out, err) = f.run(f.opts(&["sh", "-c", "ls /sys/class/net; ip -o link show lo"]));
    assert_eq!(code, 0, "{err}");
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("lo"));
    let link = lines.next().unwrap();
    assert!(link.contains("UP"), "{link}");
    // The host network shows the host's interfaces instead.
    let host = runner::RunOptions {
        network: NetworkMode::Host,
        ..f.opts(&["ls", "/sys/class/net"])
    };
    let (_, out, _) = f.run(host);
    let host_ifaces = std::fs::read_dir("/sys/class/net").unwrap().count();
    assert_eq!(out.lines().count(), host_ifaces);
}

#[test]
fn user_workdir_env_and_entrypoint() {
    let f = Fixture::new();
    let opts = runner::RunOptions {
        user: Some("nobody".into()),
        workdir: Some("/work/dir".into()),
        env: vec!["FOO=bar".into()],
        ..f.opts(&["sh", "-c", "id -u; id -G; pwd; echo $FOO $HOME; umask"])
    };
    let (code, out, err) = f.run(opts);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "65534\n65534 50\n/work/dir\nbar /home/nobody\n0022\n");
    let (code, _, _) = f.run(runner::RunOptions {
        user: Some("nosuchuser".into()),
        ..f.opts(&["true"])
    });
    assert_eq!(code, 125);
    // ENTRYPOINT + CMD from the image; arguments replace CMD.
    let image_config = ImageConfig {
        entrypoint: Some(vec!["/bin/echo".into(), "a".into()]),
        cmd: Some(vec!["b".into()]),
        ..Default::default()
    };
    let mut opts = f.opts(&[]);
    opts.image_config = image_config.clone();
    assert_eq!(f.run(opts.clone()).1, "a b\n");
    opts.args = vec!["c".into()];
    assert_eq!(f.run(opts.clone()).1, "a c\n");
    opts.entrypoint = Some("/bin/echo".into());
    assert_eq!(f.run(opts).1, "c\n");
}

#[test]
fn root_capabilities_are_dockers_and_writes_stay_in_the_upper_layer() {
    let f = Fixture::new();
    let (code, out, _) = f.run(f.opts(&[
        "sh",
        "-c",
        "grep -E 'CapBnd|CapEff|NoNewPrivs' /proc/self/status; echo x > /etc/notes",
    ]));
    assert_eq!(code, 0);
    assert!(out.contains("CapBnd:\t00000000a80425fb"), "{out}");
    assert!(out.contains("CapEff:\t00000000a80425fb"), "{out}");
    // As in Docker, no_new_privs only with --security-opt no-new-privileges.
    assert!(out.contains("NoNewPrivs:\t0"), "{out}");
    assert_eq!(
        std::fs::read_to_string(f.image.join("etc/notes")).unwrap(),
        "from the image\n"
    );
    let ro = runner::RunOptions {
        read_only: true,
        ..f.opts(&["touch", "/x"])
    };
    assert_eq!(f.run(ro).0, 1);
}

#[test]
fn published_port_serves_httpd_to_the_host() {
    use std::io::{Read, Write};
    let f = Fixture::new();
    std::fs::create_dir(f.image.join("www")).unwrap();
    std::fs::write(f.image.join("www/index.html"), "hello from the container\n").unwrap();
    let opts = runner::RunOptions {
        network: NetworkMode::Private,
        ports: vec![runner::ports::parse("127.0.0.1::80").unwrap()],
        ..f.opts(&["httpd", "-f", "-p", "80", "-h", "/www"])
    };
    let id = f.start(opts).unwrap();
    let inspect = f.rt.inspect(&id).unwrap();
    let port: u16 = inspect["NetworkSettings"]["Ports"]["80/tcp"][0]["HostPort"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_ne!(port, 0);
    // httpd may still be starting: the proxy then closes the connection.
    let mut page = String::new();
    assert!(common::eventually(
        std::time::Duration::from_secs(5),
        || {
            page.clear();
            let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
                return false;
            };
            let _ = s.write_all(b"GET /index.html HTTP/1.0\r\n\r\n");
            let _ = s.read_to_string(&mut page);
            page.starts_with("HTTP/1.")
        }
    ));
    assert!(
        page.contains("200 OK") && page.ends_with("hello from the container\n"),
        "{page}"
    );
    f.rt.remove(&id, true).unwrap();
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "port still published after rm"
    );
    // Ports need the container's own network namespace.
    let host = runner::RunOptions {
        network: NetworkMode::Host,
        ports: vec![runner::ports::parse("80").unwrap()],
        ..f.opts(&["true"])
    };
    assert!(matches!(
        f.rt.create(host),
        Err(runner::Error::Invalid { .. })
    ));
}

#[test]
fn network_container_shares_another_containers_namespace() {
    let f = Fixture::new();
    std::fs::create_dir(f.image.join("www")).unwrap();
    std::fs::write(f.image.join("www/index.html"), "shared\n").unwrap();
    let server = runner::RunOptions {
        name: Some("server".into()),
        network: NetworkMode::Private,
        ..f.opts(&["httpd", "-f", "-p", "127.0.0.1:8080", "-h", "/www"])
    };
    let server = f.start(server).unwrap();
    let client = runner::RunOptions {
        network: NetworkMode::Container("server".into()),
        ..f.opts(&["sh", "-c", "for i in 1 2 3 4 5 6 7 8 9 10; do wget -q -O - http://127.0.0.1:8080/ && exit 0; sleep 0.2; done; exit 1"])
    };
    let (code, out, err) = f.run(client);
    assert_eq!((code, out.as_str()), (0, "shared\n"), "{err}");
    // Nobody else sees that loopback server.
    let probe = "nc 127.0.0.1 8080 </dev/null 2>/dev/null && echo connected || echo refused";
    assert_eq!(f.run(f.opts(&["sh", "-c", probe])).1, "refused\n");
    f.rt.remove(&server, true).unwrap();
    let orphan = runner::RunOptions {
        network: NetworkMode::Container("server".into()),
        ..f.opts(&["true"])
    };
    assert!(matches!(
        f.rt.create(orphan),
        Err(runner::Error::NoSuchContainer(_))
    ));
}

#[test]
fn tty_gives_the_container_its_own_terminal() {
    let f = Fixture::new();
    let opts = runner::RunOptions {
        tty: true,
        ..f.opts(&["sh", "-c", "tty; test -t 0 && test -t 2 && echo term; test -c /dev/console && echo console; echo $TERM"])
    };
    let (code, out, err) = f.run(opts);
    assert_eq!(code, 0, "{err}");
    // The terminal turns each newline into CR LF.
    assert_eq!(out, "/dev/pts/0\r\nterm\r\nconsole\r\nxterm\r\n");
}
