//! `-p …/udp`: datagrams sent to the host port reach the container's port
//! and its replies come back from the published address, one session per
//! client. busybox has no UDP server applet, so the server is a socket this
//! test opens inside the container's network namespace (a thread `setns`es
//! into it), which is exactly what the proxy must reach.

mod common;

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::AsFd;
use std::time::Duration;

use common::Fixture;
use runner::NetworkMode;

const CTR_PORT: u16 = 5353;
const LIMIT: Duration = Duration::from_secs(10);

/// An echo server on the container's loopback: answers each datagram with
/// `SENDER_PORT:DATA`, for `count` datagrams or until `LIMIT` passes.
fn echo_in(pid: i32, count: usize) -> std::thread::JoinHandle<()> {
    let netns = std::fs::File::open(format!("/proc/{pid}/ns/net")).unwrap();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let server = std::thread::spawn(move || {
        nix::sched::setns(netns.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        let sock = UdpSocket::bind((Ipv4Addr::LOCALHOST, CTR_PORT)).unwrap();
        sock.set_read_timeout(Some(LIMIT)).unwrap();
        ready_tx.send(()).unwrap();
        let mut buf = [0u8; 512];
        for _ in 0..count {
            let Ok((n, from)) = sock.recv_from(&mut buf) else {
                return;
            };
            let reply = format!("{}:{}", from.port(), String::from_utf8_lossy(&buf[..n]));
            sock.send_to(reply.as_bytes(), from).unwrap();
        }
    });
    ready_rx.recv_timeout(LIMIT).unwrap();
    server
}

/// Sends `msg` from `client` to the published port; the reply and where it
/// came from.
fn ask(client: &UdpSocket, port: u16, msg: &str) -> (String, SocketAddr) {
    client.send_to(msg.as_bytes(), ("127.0.0.1", port)).unwrap();
    let mut buf = [0u8; 512];
    let (n, from) = client.recv_from(&mut buf).unwrap();
    (String::from_utf8_lossy(&buf[..n]).into_owned(), from)
}

#[test]
fn published_udp_port_answers_each_client_from_the_host_address() {
    let f = Fixture::new();
    let opts = runner::RunOptions {
        network: NetworkMode::Private,
        ports: vec![runner::ports::parse(&format!("127.0.0.1::{CTR_PORT}/udp")).unwrap()],
        ..f.opts(&["sleep", "100"])
    };
    let id = f.start(opts).unwrap();
    let inspect = f.rt.inspect(&id).unwrap();
    let port: u16 = inspect["NetworkSettings"]["Ports"][format!("{CTR_PORT}/udp")][0]["HostPort"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_ne!(port, 0);
    let pid = f.rt.store().state(&id).unwrap().pid.unwrap().pid;
    let server = echo_in(pid, 3);

    let client = |_| {
        let c = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        c.set_read_timeout(Some(LIMIT)).unwrap();
        c
    };
    let (a, b) = (client(0), client(1));
    let published: SocketAddr = ([127, 0, 0, 1], port).into();
    let (reply_a1, from) = ask(&a, port, "one");
    assert_eq!(from, published);
    let (reply_b, from) = ask(&b, port, "two");
    assert_eq!(from, published);
    let (reply_a2, _) = ask(&a, port, "three");
    let session = |r: &str| r.split_once(':').unwrap().0.to_string();
    assert!(
        reply_a1.ends_with(":one") && reply_a2.ends_with(":three") && reply_b.ends_with(":two")
    );
    // The same client keeps its session (one source port inside); another
    // client gets its own.
    assert_eq!(session(&reply_a1), session(&reply_a2));
    assert_ne!(session(&reply_a1), session(&reply_b));
    server.join().unwrap();

    let listed = f.rt.list().unwrap();
    let ps = runner::display::ports(listed.iter().find(|c| c.id == id).unwrap());
    assert_eq!(ps, format!("127.0.0.1:{port}->{CTR_PORT}/udp"));
    f.rt.remove(&id, true).unwrap();
    assert!(
        UdpSocket::bind(("127.0.0.1", port)).is_ok(),
        "port still bound after rm"
    );
}

#[test]
fn publish_all_includes_exposed_udp_ports() {
    let f = Fixture::new();
    let mut opts = runner::RunOptions {
        network: NetworkMode::Private,
        publish_all: true,
        ..f.opts(&["true"])
    };
    opts.image_config.exposed_ports = vec!["53/udp".into(), "80/tcp".into()];
    let id = f.rt.create(opts).unwrap();
    let cfg = f.rt.store().config(&id).unwrap();
    let ports: Vec<String> = cfg
        .ports
        .iter()
        .map(|p| format!("{}/{}", p.container_port, p.protocol))
        .collect();
    assert_eq!(ports, ["53/udp", "80/tcp"]);
    f.rt.remove(&id, false).unwrap();
}
