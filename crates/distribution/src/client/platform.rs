//! Choosing an image from a manifest list / OCI index for a platform, as
//! containers/image does: the OS and architecture must match, and the
//! variant is taken from a ladder of compatible ones, best first (an
//! `arm/v7` machine runs v7, then v6, then v5 images; an amd64 one runs
//! the highest x86-64 level it supports down to the baseline).

use std::fmt;
use std::str::FromStr;

use crate::manifest::{Descriptor, Index};

/// `os/arch[/variant]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub arch: String,
    pub variant: Option<String>,
}

impl FromStr for Platform {
    type Err = String;
    fn from_str(s: &str) -> Result<Platform, String> {
        let parts: Vec<&str> = s.split('/').collect();
        let bad = || format!("invalid platform {s:?}: expected os/arch[/variant]");
        if parts.iter().any(|p| p.is_empty()) || !(2..=3).contains(&parts.len()) {
            return Err(bad());
        }
        let (arch, variant) = normalise_arch(parts[1], parts.get(2).copied());
        Ok(Platform {
            os: parts[0].to_ascii_lowercase(),
            arch,
            variant,
        })
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.arch)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// GOARCH names, as registries use them; `aarch64/v8` is `arm64`.
fn normalise_arch(arch: &str, variant: Option<&str>) -> (String, Option<String>) {
    let arch = arch.to_ascii_lowercase();
    let variant = variant.map(str::to_ascii_lowercase);
    match arch.as_str() {
        "x86_64" | "x86-64" => ("amd64".into(), variant),
        "aarch64" => ("arm64".into(), variant),
        "armhf" => ("arm".into(), Some("v7".into())),
        "armel" => ("arm".into(), Some("v6".into())),
        "i386" | "i686" => ("386".into(), variant),
        _ => (arch, variant),
    }
}

impl Platform {
    /// This machine.
    pub fn host() -> Platform {
        let (arch, variant) = match std::env::consts::ARCH {
            "x86_64" => ("amd64", None),
            "aarch64" => ("arm64", Some("v8")),
            "arm" => ("arm", Some("v7")),
            "x86" => ("386", None),
            "powerpc64" if cfg!(target_endian = "little") => ("ppc64le", None),
            "riscv64" => ("riscv64", None),
            "s390x" => ("s390x", None),
            other => (other, None),
        };
        Platform {
            os: std::env::consts::OS.to_string(),
            arch: arch.into(),
            variant: variant.map(String::from),
        }
    }

    /// Variants this platform runs, best first; `""` stands for an entry
    /// that names none.
    fn ladder(&self) -> Vec<String> {
        let mut v: Vec<String> = match (self.arch.as_str(), self.variant.as_deref()) {
            ("arm", Some(x)) => match x.strip_prefix('v').and_then(|n| n.parse::<u32>().ok()) {
                Some(n) => (5..=n.min(8)).rev().map(|i| format!("v{i}")).collect(),
                None => vec![x.into()],
            },
            ("arm64", None | Some("v8")) => vec!["v8".into()],
            ("amd64", None) => (1..=amd64_level()).rev().map(|i| format!("v{i}")).collect(),
            ("amd64", Some(x)) => match x.strip_prefix('v').and_then(|n| n.parse::<u32>().ok()) {
                Some(n) => (1..=n).rev().map(|i| format!("v{i}")).collect(),
                None => vec![x.into()],
            },
            (_, Some(x)) => vec![x.into()],
            (_, None) => Vec::new(),
        };
        v.push(String::new());
        v
    }

    /// The index entry to pull: the best variant on the ladder, then the
    /// first such entry in the index's order.
    pub fn select<'a>(&self, index: &'a Index) -> Option<&'a Descriptor> {
        let candidates: Vec<(&Descriptor, Platform)> = index
            .manifests
            .iter()
            .filter_map(|d| {
                let p = d.platform.as_ref()?;
                let (arch, variant) = normalise_arch(&p.architecture, p.variant.as_deref());
                Some((
                    d,
                    Platform {
                        os: p.os.to_ascii_lowercase(),
                        arch,
                        variant,
                    },
                ))
            })
            .filter(|(_, p)| p.os == self.os && p.arch == self.arch)
            .collect();
        self.ladder().iter().find_map(|want| {
            candidates
                .iter()
                .find(|(_, p)| p.variant.as_deref().unwrap_or("") == want)
                .map(|(d, _)| *d)
        })
    }
}

/// The x86-64 microarchitecture level of this CPU (1 to 4).
fn amd64_level() -> u32 {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        let v2 = has!("sse4.2") && has!("popcnt") && has!("ssse3") && has!("cmpxchg16b");
        let v3 = v2
            && has!("avx2")
            && has!("bmi1")
            && has!("bmi2")
            && has!("fma")
            && has!("lzcnt")
            && has!("movbe");
        let v4 = v3
            && has!("avx512f")
            && has!("avx512bw")
            && has!("avx512cd")
            && has!("avx512dq")
            && has!("avx512vl");
        1 + v2 as u32 + v3 as u32 + v4 as u32
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        1
    }
}

/// `os/arch[/variant]` of every entry, for an error saying what there is.
pub fn available(index: &Index) -> String {
    let v: Vec<String> = index
        .manifests
        .iter()
        .filter_map(|d| d.platform.as_ref())
        .map(|p| {
            let mut s = format!("{}/{}", p.os, p.architecture);
            if let Some(v) = &p.variant {
                s.push('/');
                s.push_str(v);
            }
            s
        })
        .collect();
    if v.is_empty() {
        "no platforms".into()
    } else {
        v.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Platform as P;

    fn index(platforms: &[(&str, &str, Option<&str>)]) -> Index {
        Index {
            schema_version: 2,
            media_type: None,
            artifact_type: None,
            manifests: platforms
                .iter()
                .enumerate()
                .map(|(i, (os, arch, v))| Descriptor {
                    media_type: String::new(),
                    digest: format!("sha256:{i:064}"),
                    size: 1,
                    urls: vec![],
                    annotations: None,
                    platform: Some(P {
                        architecture: arch.to_string(),
                        os: os.to_string(),
                        variant: v.map(String::from),
                        os_version: None,
                    }),
                    artifact_type: None,
                })
                .collect(),
            subject: None,
            annotations: None,
        }
    }

    fn pick(i: &Index, want: &str) -> Option<usize> {
        let d = want.parse::<Platform>().unwrap().select(i)?;
        i.manifests.iter().position(|m| m.digest == d.digest)
    }

    #[test]
    fn variant_ladder() {
        let i = index(&[
            ("linux", "arm", Some("v5")),
            ("linux", "arm", Some("v6")),
            ("linux", "arm64", None),
            ("linux", "amd64", None),
            ("windows", "amd64", None),
            ("unknown", "unknown", None),
        ]);
        assert_eq!(pick(&i, "linux/arm/v7"), Some(1));
        assert_eq!(pick(&i, "linux/arm/v6"), Some(1));
        assert_eq!(pick(&i, "linux/arm/v5"), Some(0));
        assert_eq!(pick(&i, "linux/arm64"), Some(2));
        assert_eq!(pick(&i, "linux/aarch64/v8"), Some(2));
        assert_eq!(pick(&i, "linux/amd64"), Some(3));
        assert_eq!(pick(&i, "windows/amd64"), Some(4));
        assert_eq!(pick(&i, "linux/s390x"), None);
        assert!("linux".parse::<Platform>().is_err());
        assert!("linux//v7".parse::<Platform>().is_err());
    }
}
