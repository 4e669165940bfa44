//! `-u user[:group]` resolved against the image's own `/etc/passwd` and
//! `/etc/group` (never the host's), as Docker does: names must exist there,
//! numeric ids need not.

use crate::error::{Error, Result};

/// Who the container process runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups: those of /etc/group that list the user.
    pub groups: Vec<u32>,
    pub home: String,
}

struct PasswdEntry<'a> {
    name: &'a str,
    uid: u32,
    gid: u32,
    home: &'a str,
}

fn passwd_entries(passwd: &str) -> impl Iterator<Item = PasswdEntry<'_>> {
    passwd.lines().filter_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 7 {
            return None;
        }
        Some(PasswdEntry {
            name: f[0],
            uid: f[2].parse().ok()?,
            gid: f[3].parse().ok()?,
            home: f[5],
        })
    })
}

/// (name, gid, members) of each line of /etc/group.
fn group_entries(group: &str) -> impl Iterator<Item = (&str, u32, Vec<&str>)> {
    group.lines().filter_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 4 {
            return None;
        }
        let members = f[3].split(',').filter(|m| !m.is_empty()).collect();
        Some((f[0], f[2].parse().ok()?, members))
    })
}

/// Resolves `spec` (`""` = root) given the contents of the image's
/// /etc/passwd and /etc/group (empty if the image has none).
pub fn resolve(spec: &str, passwd: &str, group: &str) -> Result<Credentials> {
    let (user, grp) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let user = if user.is_empty() { "0" } else { user };
    let entry = passwd_entries(passwd).find(|e| match user.parse::<u32>() {
        Ok(uid) => e.uid == uid,
        Err(_) => e.name == user,
    });
    let (uid, mut gid, home, name) = match (entry, user.parse::<u32>()) {
        (Some(e), _) => (e.uid, e.gid, e.home.to_string(), Some(e.name)),
        (None, Ok(uid)) => (uid, 0, "/".to_string(), None),
        (None, Err(_)) => {
            return Err(Error::invalid(
                "user",
                user,
                "no matching entry in the image's /etc/passwd",
            ))
        }
    };
    if let Some(g) = grp {
        gid = match g.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => group_entries(group)
                .find(|(n, _, _)| *n == g)
                .map(|(_, gid, _)| gid)
                .ok_or_else(|| {
                    Error::invalid("group", g, "no matching entry in the image's /etc/group")
                })?,
        };
    }
    let mut groups = vec![gid];
    if let Some(name) = name {
        for (_, g, members) in group_entries(group) {
            if members.contains(&name) && !groups.contains(&g) {
                groups.push(g);
            }
        }
    }
    Ok(Credentials {
        uid,
        gid,
        groups,
        home,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str =
        "root:x:0:0:root:/root:/bin/sh\nwww:x:33:33:w:/var/www:/bin/false\nbad line\n";
    const GROUP: &str = "root:x:0:\nwww:x:33:\nstaff:x:50:www,other\n";

    #[test]
    fn names_and_ids() {
        let root = resolve("", PASSWD, GROUP).unwrap();
        assert_eq!((root.uid, root.gid, root.home.as_str()), (0, 0, "/root"));
        let www = resolve("www", PASSWD, GROUP).unwrap();
        assert_eq!(
            (www.uid, www.gid, www.groups.clone()),
            (33, 33, vec![33, 50])
        );
        let by_id = resolve("33:staff", PASSWD, GROUP).unwrap();
        assert_eq!((by_id.uid, by_id.gid), (33, 50));
        let unknown_id = resolve("1234:99", PASSWD, GROUP).unwrap();
        assert_eq!(
            (unknown_id.uid, unknown_id.gid, unknown_id.home.as_str()),
            (1234, 99, "/")
        );
    }

    #[test]
    fn unknown_names_fail() {
        assert!(resolve("nobody", PASSWD, GROUP).is_err());
        assert!(resolve("www:nogroup", PASSWD, GROUP).is_err());
        assert!(resolve("nobody", "", "").is_err());
    }
}
