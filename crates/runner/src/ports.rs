//! `-p [IP:][HOSTPORT:]CTRPORT[/PROTO]`: publishing a container's TCP or
//! UDP port on the host through a userspace proxy in the supervisor. The
//! supervisor listens in the host's network namespace; for each TCP
//! connection a thread enters the container's network namespace (`setns` of
//! one thread) and connects to the port on the container's loopback, then
//! copies both ways. UDP goes through per-client sessions (see
//! [`crate::udp_proxy`]). No bridge, no iptables, and nothing to clean up but
//! the supervisor itself.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A published port; `host_port` 0 asks for any free port, and the state
/// records the one the kernel gave.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct PortSpec {
    pub host_ip: IpAddr,
    pub host_port: u16,
    pub container_port: u16,
    /// Records written before UDP existed are TCP.
    #[serde(default)]
    pub protocol: Protocol,
}

/// The transport protocol of a published port.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    #[default]
    Tcp,
    Udp,
}

impl Protocol {
    /// `tcp` (also for an empty suffix) or `udp`; others are not proxied.
    fn parse(s: &str) -> Option<Protocol> {
        match s {
            "" | "tcp" => Some(Protocol::Tcp),
            "udp" => Some(Protocol::Udp),
            _ => None,
        }
    }
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        })
    }
}

fn port(s: &str, spec: &str) -> Result<u16> {
    s.parse()
        .map_err(|_| Error::invalid("port", spec, format!("{s:?} is not a port number")))
}

/// Parses `CTR`, `HOST:CTR` or `IP:HOST:CTR` (HOST may be empty: any
/// free port), each optionally ending in `/tcp` or `/udp`.
pub fn parse(spec: &str) -> Result<PortSpec> {
    let (body, proto) = spec.split_once('/').unwrap_or((spec, "tcp"));
    let protocol = Protocol::parse(proto)
        .ok_or_else(|| Error::invalid("port", spec, "only tcp and udp ports can be published"))?;
    let parts: Vec<&str> = body.rsplitn(3, ':').collect();
    let any = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    let (ip, host, ctr) = match parts.as_slice() {
        [c] => (any, 0, port(c, spec)?),
        [c, h] => (
            any,
            if h.is_empty() { 0 } else { port(h, spec)? },
            port(c, spec)?,
        ),
        [c, h, ip] => {
            let ip = ip.trim_start_matches('[').trim_end_matches(']');
            let ip = ip.parse().map_err(|_| {
                Error::invalid("port", spec, format!("{ip:?} is not an IP address"))
            })?;
            (
                ip,
                if h.is_empty() { 0 } else { port(h, spec)? },
                port(c, spec)?,
            )
        }
        _ => {
            return Err(Error::invalid(
                "port",
                spec,
                "expected [IP:][HOSTPORT:]CTRPORT",
            ))
        }
    };
    Ok(PortSpec {
        host_ip: ip,
        host_port: host,
        container_port: ctr,
        protocol,
    })
}

/// `EXPOSE` entries (`80/tcp`, `53/udp`, `8080`) as ports to publish on any
/// free host port (`-P`); other protocols (`sctp`) are skipped.
pub fn from_exposed(exposed: &[String]) -> Vec<PortSpec> {
    exposed
        .iter()
        .filter_map(|e| {
            let (p, proto) = e.split_once('/').unwrap_or((e, "tcp"));
            Some(PortSpec {
                host_ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                host_port: 0,
                container_port: p.parse().ok()?,
                protocol: Protocol::parse(proto)?,
            })
        })
        .collect()
}

/// A published port's socket on the host.
enum Socket {
    Tcp(TcpListener),
    Udp(UdpSocket),
}

/// Listening sockets of the published ports, bound on the host.
pub struct Listeners(Vec<(Socket, PortSpec)>);

impl Listeners {
    /// Binds every port now, so a port in use fails the start.
    pub fn bind(specs: &[PortSpec]) -> Result<Listeners> {
        let mut out = Vec::new();
        for s in specs {
            let addr = SocketAddr::new(s.host_ip, s.host_port);
            let err = |e| Error::sys(format!("publish {addr}/{}", s.protocol), e);
            let (socket, bound) = match s.protocol {
                Protocol::Tcp => {
                    let l = TcpListener::bind(addr).map_err(err)?;
                    let bound = l.local_addr().map_err(err)?;
                    (Socket::Tcp(l), bound)
                }
                Protocol::Udp => {
                    let u = UdpSocket::bind(addr).map_err(err)?;
                    let bound = u.local_addr().map_err(err)?;
                    (Socket::Udp(u), bound)
                }
            };
            out.push((
                socket,
                PortSpec {
                    host_port: bound.port(),
                    ..s.clone()
                },
            ));
        }
        Ok(Listeners(out))
    }

    /// The ports as bound.
    pub fn published(&self) -> Vec<PortSpec> {
        self.0.iter().map(|(_, s)| s.clone()).collect()
    }

    /// Serves every port on background threads, connecting inside the
    /// network namespace `netns` (an open `/proc/PID/ns/net`).
    pub fn serve(self, netns: OwnedFd) {
        let netns = Arc::new(netns);
        for (socket, spec) in self.0 {
            let netns = Arc::clone(&netns);
            let listener = match socket {
                Socket::Tcp(l) => l,
                Socket::Udp(u) => {
                    crate::udp_proxy::serve(u, netns, spec.container_port);
                    continue;
                }
            };
            std::thread::spawn(move || {
                for conn in listener.incoming().flatten() {
                    let netns = Arc::clone(&netns);
                    let port = spec.container_port;
                    std::thread::spawn(move || {
                        // A failed connection only closes the client's.
                        let _ = proxy(conn, &netns, port);
                    });
                }
            });
        }
    }
}

/// Connects to `port` on loopback inside `netns` and copies both ways.
fn proxy(client: TcpStream, netns: &OwnedFd, port: u16) -> io::Result<()> {
    nix::sched::setns(netns.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)?;
    let upstream = TcpStream::connect((Ipv4Addr::LOCALHOST, port))?;
    let (mut c_read, mut u_write) = (client.try_clone()?, upstream.try_clone()?);
    let back = std::thread::spawn(move || {
        let _ = io::copy(&mut c_read, &mut u_write);
        let _ = u_write.shutdown(Shutdown::Write);
    });
    let (mut u_read, mut c_write) = (upstream, client);
    let _ = io::copy(&mut u_read, &mut c_write);
    let _ = c_write.shutdown(Shutdown::Write);
    let _ = back.join();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs() {
        let p = parse("127.0.0.1:8080:80").unwrap();
        assert_eq!(
            (p.host_ip.to_string(), p.host_port, p.container_port),
            ("127.0.0.1".into(), 8080, 80)
        );
        let p = parse("8080:80/tcp").unwrap();
        assert_eq!(
            (p.host_ip.to_string(), p.host_port, p.container_port),
            ("0.0.0.0".into(), 8080, 80)
        );
        assert_eq!(parse("80").unwrap().host_port, 0);
        assert_eq!(parse("127.0.0.1::80").unwrap().host_port, 0);
        assert_eq!(parse("8080:80").unwrap().protocol, Protocol::Tcp);
        let p = parse("127.0.0.1:5353:53/udp").unwrap();
        assert_eq!(
            (p.host_port, p.container_port, p.protocol),
            (5353, 53, Protocol::Udp)
        );
        assert!(parse("53:53/sctp").is_err());
        assert!(parse("x:80").is_err());
        let e = from_exposed(&[
            "80/tcp".into(),
            "53/udp".into(),
            "8080".into(),
            "9/sctp".into(),
        ]);
        assert_eq!(
            e.iter()
                .map(|p| (p.container_port, p.protocol))
                .collect::<Vec<_>>(),
            [
                (80, Protocol::Tcp),
                (53, Protocol::Udp),
                (8080, Protocol::Tcp)
            ]
        );
    }
}
