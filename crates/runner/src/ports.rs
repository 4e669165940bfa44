//! `-p [IP:][HOSTPORT:]CTRPORT`: publishing a container's TCP port on the
//! host through a userspace proxy in the supervisor. The supervisor listens
//! in the host's network namespace; for each connection a thread enters the
//! container's network namespace (`setns` of one thread) and connects to
//! the port on the container's loopback, then copies both ways. No bridge,
//! no iptables, and nothing to clean up but the supervisor itself.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
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
}

fn port(s: &str, spec: &str) -> Result<u16> {
    s.parse()
        .map_err(|_| Error::invalid("port", spec, format!("{s:?} is not a port number")))
}

/// Parses `CTR`, `HOST:CTR` or `IP:HOST:CTR` (HOST may be empty: any
/// free port), each optionally ending in `/tcp`.
pub fn parse(spec: &str) -> Result<PortSpec> {
    let (body, proto) = spec.split_once('/').unwrap_or((spec, "tcp"));
    if proto != "tcp" {
        return Err(Error::invalid(
            "port",
            spec,
            "only tcp ports can be published",
        ));
    }
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
    })
}

/// `EXPOSE` entries (`80/tcp`, `53/udp`, `8080`) as ports to publish on any
/// free host port (`-P`); non-TCP ones are skipped.
pub fn from_exposed(exposed: &[String]) -> Vec<PortSpec> {
    exposed
        .iter()
        .filter_map(|e| {
            let (p, proto) = e.split_once('/').unwrap_or((e, "tcp"));
            (proto == "tcp").then_some(())?;
            Some(PortSpec {
                host_ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                host_port: 0,
                container_port: p.parse().ok()?,
            })
        })
        .collect()
}

/// Listening sockets of the published ports, bound on the host.
pub struct Listeners(Vec<(TcpListener, PortSpec)>);

impl Listeners {
    /// Binds every port now, so a port in use fails the start.
    pub fn bind(specs: &[PortSpec]) -> Result<Listeners> {
        let mut out = Vec::new();
        for s in specs {
            let addr = SocketAddr::new(s.host_ip, s.host_port);
            let l =
                TcpListener::bind(addr).map_err(|e| Error::sys(format!("publish {addr}"), e))?;
            let bound = l
                .local_addr()
                .map_err(|e| Error::sys(format!("publish {addr}"), e))?;
            out.push((
                l,
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
        for (listener, spec) in self.0 {
            let netns = Arc::clone(&netns);
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
        assert!(parse("53:53/udp").is_err());
        assert!(parse("x:80").is_err());
        let e = from_exposed(&["80/tcp".into(), "53/udp".into(), "8080".into()]);
        assert_eq!(
            e.iter().map(|p| p.container_port).collect::<Vec<_>>(),
            [80, 8080]
        );
    }
}
