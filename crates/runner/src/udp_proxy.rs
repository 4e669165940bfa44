//! The UDP half of `-p`: UDP has no connections to proxy one by one, so the
//! supervisor keeps a session per client address. Each session is a socket
//! in the container's network namespace connected to the published port on
//! its loopback; what the client sends goes out through it, and what comes
//! back is sent to the client from the host socket, so the reply comes from
//! the address the client sent to. A session with no traffic either way for
//! [`IDLE`] is closed, as conntrack and Docker's userland proxy do.

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a session lives without traffic (Docker's proxy: 90 s).
const IDLE: Duration = Duration::from_secs(90);
/// How often an idle session's reply thread wakes to check its age.
const CHECK: Duration = Duration::from_secs(10);
/// The largest UDP payload.
const MAX_DATAGRAM: usize = 65_536;

/// One client's path into the container.
struct Session {
    upstream: UdpSocket,
    last_used: Mutex<Instant>,
}

impl Session {
    fn touch(&self) {
        *self.last_used.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
    }

    fn idle(&self) -> bool {
        self.last_used
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .elapsed()
            >= IDLE
    }
}

type Sessions = Arc<Mutex<HashMap<SocketAddr, Arc<Session>>>>;

/// Serves `host` (bound in the host's namespace) on a background thread,
/// forwarding to `port` on loopback inside `netns`.
pub fn serve(host: UdpSocket, netns: Arc<OwnedFd>, port: u16) {
    std::thread::spawn(move || {
        // Without the namespace no session can open: the port stays dead.
        let _ = forward(host, &netns, port);
    });
}

/// The client-to-container direction, for as long as the supervisor runs.
fn forward(host: UdpSocket, netns: &OwnedFd, port: u16) -> io::Result<()> {
    // Sockets belong to the namespace they were made in: the sessions'
    // sockets, made by this thread from now on, are the container's, while
    // `host` (bound before) stays in the host's.
    nix::sched::setns(netns.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)?;
    let sessions: Sessions = Arc::default();
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        // An error here is about one datagram (or an ICMP report): go on.
        let Ok((n, client)) = host.recv_from(&mut buf) else {
            continue;
        };
        // Touched under the map's lock, so an idle check cannot close it now.
        let existing = sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&client)
            .inspect(|s| s.touch())
            .cloned();
        let session = match existing {
            Some(s) => s,
            None => match open(&host, &sessions, client, port) {
                Ok(s) => s,
                Err(_) => continue,
            },
        };
        // Refused (nothing listens yet) or full: dropped, as UDP may be.
        let _ = session.upstream.send(&buf[..n]);
    }
}

/// A new session for `client`, with its reply thread.
fn open(
    host: &UdpSocket,
    sessions: &Sessions,
    client: SocketAddr,
    port: u16,
) -> io::Result<Arc<Session>> {
    let upstream = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
    upstream.connect((Ipv4Addr::LOCALHOST, port))?;
    upstream.set_read_timeout(Some(CHECK))?;
    let session = Arc::new(Session {
        upstream,
        last_used: Mutex::new(Instant::now()),
    });
    sessions
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(client, Arc::clone(&session));
    let (host, sessions, s) = (
        host.try_clone()?,
        Arc::clone(sessions),
        Arc::clone(&session),
    );
    std::thread::spawn(move || replies(&host, &sessions, &s, client));
    Ok(session)
}

/// The container-to-client direction of one session, until it is idle.
fn replies(host: &UdpSocket, sessions: &Sessions, session: &Session, client: SocketAddr) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        match session.upstream.recv(&mut buf) {
            Ok(n) => {
                session.touch();
                let _ = host.send_to(&buf[..n], client);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                // Checked under the map's lock, so the forwarding thread
                // cannot pick this session up while it goes.
                let mut map = sessions.lock().unwrap_or_else(|p| p.into_inner());
                if session.idle() {
                    map.remove(&client);
                    return;
                }
            }
            // An ICMP error from an earlier send (nothing listened then).
            Err(_) => {}
        }
    }
}
