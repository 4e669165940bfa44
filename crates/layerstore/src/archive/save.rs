//! Writing images out as docker-archive, oci-archive or an OCI layout
//! directory. Layers are rebuilt byte-identically from their indexes
//! (uncompressed), so diff_ids — and with them image IDs — never change.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use serde_json::json;

use crate::archive::docker::ManifestItem;
use crate::blobs;
use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};
use crate::progress::Progress;
use crate::rebuild::verified_tar;
use crate::store::Store;

/// Output format of `save`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    DockerArchive,
    OciArchive,
    OciDir,
}

/// Where archive members go.
trait Sink {
    fn add(&mut self, name: &str, size: u64, data: &mut dyn Read) -> Result<()>;
}

struct TarSink<W: Write> {
    b: tar::Builder<W>,
}

impl<W: Write> Sink for TarSink<W> {
    fn add(&mut self, name: &str, size: u64, data: &mut dyn Read) -> Result<()> {
        let mut h = tar::Header::new_gnu();
        h.set_size(size);
        h.set_mode(0o444);
        h.set_mtime(0);
        h.set_entry_type(tar::EntryType::Regular);
        self.b
            .append_data(&mut h, name, data)
            .ctx(|| format!("writing {name}"))
    }
}

struct DirSink {
    root: PathBuf,
}

impl Sink for DirSink {
    fn add(&mut self, name: &str, _size: u64, data: &mut dyn Read) -> Result<()> {
        let p = self.root.join(name);
        if let Some(parent) = p.parent() {
            fs::create_dir_all(parent).ctx(|| format!("creating {}", parent.display()))?;
        }
        let mut f = File::create(&p).ctx(|| format!("creating {}", p.display()))?;
        io::copy(data, &mut f).ctx(|| format!("writing {}", p.display()))?;
        Ok(())
    }
}

/// One image to save and the tags to record for it.
pub struct SaveItem {
    pub id: Digest,
    pub tags: Vec<String>,
}

fn add_bytes(sink: &mut dyn Sink, name: &str, bytes: &[u8]) -> Result<()> {
    sink.add(name, bytes.len() as u64, &mut &bytes[..])
}

fn write_layers(
    store: &Store,
    sink: &mut dyn Sink,
    items: &[SaveItem],
    name: impl Fn(&Digest) -> String,
) -> Result<()> {
    let mut done = BTreeSet::new();
    for it in items {
        for d in store.db().image_layers(&it.id)? {
            if done.insert(d.clone()) {
                let idx = store.layer(&d)?;
                let progress =
                    Progress::bytes(format!("Saving {}", &d.hex()[..12]), Some(idx.tar_size()));
                sink.add(
                    &name(&d),
                    idx.tar_size(),
                    &mut progress.wrap(verified_tar(store.layout(), &idx)),
                )?;
            }
        }
    }
    Ok(())
}

fn docker_archive(store: &Store, sink: &mut dyn Sink, items: &[SaveItem]) -> Result<()> {
    write_layers(store, sink, items, |d| format!("{}.tar", d.hex()))?;
    let mut manifest = Vec::new();
    for it in items {
        let config_name = format!("{}.json", it.id.hex());
        add_bytes(sink, &config_name, &blobs::get(store.layout(), &it.id)?)?;
        manifest.push(ManifestItem {
            config: config_name,
            repo_tags: (!it.tags.is_empty()).then(|| it.tags.clone()),
            layers: store
                .db()
                .image_layers(&it.id)?
                .iter()
                .map(|d| format!("{}.tar", d.hex()))
                .collect(),
        });
    }
    let m = serde_json::to_vec(&manifest).expect("manifest serialises");
    add_bytes(sink, "manifest.json", &m)
}

fn oci_layout(store: &Store, sink: &mut dyn Sink, items: &[SaveItem]) -> Result<()> {
    add_bytes(sink, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    write_layers(store, sink, items, |d| format!("blobs/sha256/{}", d.hex()))?;
    let mut manifests = Vec::new();
    for it in items {
        let row = store
            .db()
            .image(&it.id)?
            .ok_or_else(|| Error::ImageNotFound(it.id.to_string()))?;
        let config = blobs::get(store.layout(), &it.id)?;
        add_bytes(sink, &format!("blobs/sha256/{}", it.id.hex()), &config)?;
        let manifest = blobs::get(store.layout(), &row.manifest)?;
        add_bytes(
            sink,
            &format!("blobs/sha256/{}", row.manifest.hex()),
            &manifest,
        )?;
        let desc = |ann: Option<&String>| {
            let mut d = json!({
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": row.manifest.to_string(),
                "size": manifest.len(),
            });
            if let Some(t) = ann {
                d["annotations"] = json!({ "org.opencontainers.image.ref.name": t });
            }
            d
        };
        if it.tags.is_empty() {
            manifests.push(desc(None));
        }
        for t in &it.tags {
            manifests.push(desc(Some(t)));
        }
    }
    let index = json!({ "schemaVersion": 2, "manifests": manifests });
    add_bytes(
        sink,
        "index.json",
        &serde_json::to_vec(&index).expect("index serialises"),
    )
}

/// Writes `items` to `out` (`-` = stdout for the archive formats). Files
/// are written to a temporary name beside `out` and renamed, so a failed
/// save leaves no half archive.
pub fn save(store: &Store, items: &[SaveItem], format: Format, out: &Path) -> Result<()> {
    let write = |sink: &mut dyn Sink| match format {
        Format::DockerArchive => docker_archive(store, sink, items),
        Format::OciArchive | Format::OciDir => oci_layout(store, sink, items),
    };
    if format == Format::OciDir {
        if out.exists()
            && fs::read_dir(out)
                .ctx(|| format!("reading {}", out.display()))?
                .next()
                .is_some()
        {
            return Err(Error::Conflict(format!(
                "{}: directory exists and is not empty",
                out.display()
            )));
        }
        let parent = parent_dir(out);
        let tmp = tempfile::Builder::new()
            .prefix(".strata-save-")
            .tempdir_in(&parent)
            .ctx(|| format!("creating temp dir in {}", parent.display()))?;
        write(&mut DirSink {
            root: tmp.path().to_path_buf(),
        })?;
        if out.exists() {
            fs::remove_dir(out).ctx(|| format!("replacing {}", out.display()))?;
        }
        let tmp = tmp.keep();
        // Temp dirs are private; a saved layout is as readable as a file.
        fs::set_permissions(&tmp, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .ctx(|| format!("chmod {}", tmp.display()))?;
        return fs::rename(&tmp, out).ctx(|| format!("renaming into {}", out.display()));
    }
    if out == Path::new("-") {
        let mut sink = TarSink {
            b: tar::Builder::new(io::BufWriter::new(io::stdout().lock())),
        };
        write(&mut sink)?;
        return sink
            .b
            .into_inner()
            .and_then(|mut w| w.flush())
            .ctx(|| "writing to stdout".to_string());
    }
    let parent = parent_dir(out);
    let tmp = tempfile::Builder::new()
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))
        .tempfile_in(&parent)
        .ctx(|| format!("creating temp file in {}", parent.display()))?;
    let mut sink = TarSink {
        b: tar::Builder::new(io::BufWriter::new(tmp)),
    };
    write(&mut sink)?;
    let tmp = sink
        .b
        .into_inner()
        .and_then(|w| w.into_inner().map_err(|e| e.into_error()))
        .ctx(|| format!("writing {}", out.display()))?;
    tmp.persist(out)
        .map_err(|e| e.error)
        .ctx(|| format!("renaming into {}", out.display()))?;
    Ok(())
}

fn parent_dir(p: &Path) -> PathBuf {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}
