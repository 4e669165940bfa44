//! Image-level operations on metadata: resolving names, listing, tagging,
//! removing, and the Docker-shaped `inspect` and `history` views.

use serde_json::{json, Value};

use crate::blobs;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::gc;
use crate::reference::Reference;
use crate::store::{parse_config, Store};

/// An image name resolved to an image ID.
#[derive(Clone, Debug)]
pub struct Resolved {
    pub id: Digest,
    /// The fully qualified tag, when the name was a reference to a tag.
    pub tag: Option<String>,
}

/// Resolves a name as Docker does: a full or `sha256:` ID, a tag reference
/// (`busybox` = `docker.io/library/busybox:latest`), a reference pinned by
/// the stored manifest digest, or a unique short ID prefix.
pub fn resolve(store: &Store, name: &str) -> Result<Resolved> {
    let db = store.db();
    let by_id = |hex: &str| -> Result<Option<Resolved>> {
        let ids = db.ids_with_prefix(hex)?;
        match ids.len() {
            0 => Ok(None),
            1 => Ok(Some(Resolved {
                id: ids[0].clone(),
                tag: None,
            })),
            _ => Err(Error::AmbiguousImage(name.to_string())),
        }
    };
    let is_hex = |s: &str| {
        !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    };
    if let Some(hex) = name.strip_prefix("sha256:") {
        if is_hex(hex) {
            return by_id(hex)?.ok_or_else(|| Error::ImageNotFound(name.to_string()));
        }
    }
    if let Ok(r) = name.parse::<Reference>() {
        if let Some(d) = r.digest() {
            if let Some(id) = store.image_by_repo_digest(&r.repository(), d)? {
                return Ok(Resolved { id, tag: None });
            }
            let found = db
                .images()?
                .into_iter()
                .find(|i| i.manifest == *d || i.id == *d);
            return found
                .map(|i| Resolved {
                    id: i.id,
                    tag: None,
                })
                .ok_or_else(|| Error::ImageNotFound(name.to_string()));
        }
        let full = r.with_default_tag().to_string();
        if let Some(id) = db.tag_target(&full)? {
            return Ok(Resolved {
                id,
                tag: Some(full),
            });
        }
    }
    if is_hex(name) {
        if let Some(r) = by_id(name)? {
            return Ok(r);
        }
    }
    Err(Error::ImageNotFound(name.to_string()))
}

/// One row of `images`.
#[derive(Clone, Debug)]
pub struct ImageSummary {
    /// Familiar repository (`busybox`), or `<none>`.
    pub repository: String,
    pub tag: String,
    pub id: Digest,
    /// The manifest digest this repository knows the image by, if it was
    /// pulled from or pushed to it.
    pub digest: Option<Digest>,
    pub created: Option<String>,
    pub size: u64,
}

/// The OCI configuration of an image (what a container of it runs with).
pub fn config(store: &Store, name: &str) -> Result<oci_spec::image::ImageConfiguration> {
    let id = resolve(store, name)?.id;
    let bytes = blobs::get(store.layout(), &id)?;
    parse_config(&bytes, &format!("config of {id}"))
}

/// Rows for `images`: one per tag; an untagged image has one row per
/// repository digest (tag `<none>`), or a single `<none>` row.
pub fn list(store: &Store) -> Result<Vec<ImageSummary>> {
    let mut out = Vec::new();
    for img in store.db().images()? {
        let digests = store.repo_digests(&img.id)?;
        let row = |repository: String, tag: String, digest: Option<Digest>| ImageSummary {
            repository,
            tag,
            id: img.id.clone(),
            digest,
            created: img.created.clone(),
            size: img.size,
        };
        if img.tags.is_empty() && digests.is_empty() {
            out.push(row("<none>".into(), "<none>".into(), None));
        }
        if img.tags.is_empty() {
            for (repo, d) in &digests {
                let r: Reference = repo.parse()?;
                out.push(row(
                    r.familiar_repository(),
                    "<none>".into(),
                    Some(d.clone()),
                ));
            }
        }
        for t in &img.tags {
            let r: Reference = t.parse()?;
            let repo = r.repository();
            let digest = digests
                .iter()
                .find(|(n, _)| *n == repo)
                .map(|(_, d)| d.clone());
            out.push(row(
                r.familiar_repository(),
                r.tag().unwrap_or("<none>").to_string(),
                digest,
            ));
        }
    }
    Ok(out)
}

/// Points `target` (a reference; `:latest` by default) at `source`'s image.
pub fn tag(store: &mut Store, source: &str, target: &str) -> Result<()> {
    let id = resolve(store, source)?.id;
    let r: Reference = target.parse()?;
    if r.digest().is_some() {
        return Err(Error::InvalidReference(
            target.to_string(),
            "cannot tag with a digest",
        ));
    }
    store
        .db_mut()
        .set_tag(&r.with_default_tag().to_string(), &id)
}

/// Removes images as `docker rmi` does and reclaims what nothing else uses.
/// A tag name untags (deleting the image when it was its last tag); an ID
/// deletes the image, refusing when it has several tags unless `force`.
/// Returns Docker's `Untagged:`/`Deleted:` lines.
pub fn remove(store: &mut Store, names: &[String], force: bool) -> Result<Vec<String>> {
    let mut lines = Vec::new();
    for name in names {
        let r = resolve(store, name)?;
        let tags = store.db().tags_of(&r.id)?;
        let untag: Vec<String> = match &r.tag {
            Some(t) => vec![t.clone()],
            None if tags.len() > 1 && !force => {
                return Err(Error::Conflict(format!(
                    "conflict: unable to delete {name}: image is referenced in multiple repositories (use --force)"
                )))
            }
            None => tags.clone(),
        };
        for t in &untag {
            store.db_mut().remove_tag(t)?;
            lines.push(format!("Untagged: {}", t.parse::<Reference>()?.familiar()));
        }
        if store.db().tags_of(&r.id)?.is_empty() {
            store.db_mut().delete_image(&r.id)?;
            lines.push(format!("Deleted: {}", r.id));
        }
    }
    gc::collect(store)?;
    Ok(lines)
}

fn config_value(store: &Store, id: &Digest) -> Result<Value> {
    let bytes = blobs::get(store.layout(), id)?;
    serde_json::from_slice(&bytes).map_err(|e| Error::BadJson {
        path: format!("config {id}"),
        reason: e.to_string(),
    })
}

/// `docker image inspect`-shaped JSON for one image.
pub fn inspect(store: &Store, name: &str) -> Result<Value> {
    let id = resolve(store, name)?.id;
    let row = store
        .db()
        .image(&id)?
        .ok_or_else(|| Error::ImageNotFound(name.to_string()))?;
    let cfg = config_value(store, &id)?;
    let get = |k: &str| cfg.get(k).cloned().unwrap_or(Value::Null);
    let tags: Vec<String> = row
        .tags
        .iter()
        .map(|t| t.parse::<Reference>().map(|r| r.familiar()))
        .collect::<Result<_>>()?;
    let repo_digests: Vec<String> = store
        .repo_digests(&id)?
        .iter()
        .map(|(repo, d)| Ok(format!("{repo}@{d}").parse::<Reference>()?.familiar()))
        .collect::<Result<_>>()?;
    let layers: Vec<String> = store
        .db()
        .image_layers(&id)?
        .iter()
        .map(|d| d.to_string())
        .collect();
    Ok(json!({
        "Id": id.to_string(),
        "RepoTags": tags,
        "RepoDigests": repo_digests,
        "Parent": "",
        "Comment": cfg.get("comment").cloned().unwrap_or(json!("")),
        "Created": get("created"),
        "DockerVersion": cfg.get("docker_version").cloned().unwrap_or(json!("")),
        "Author": cfg.get("author").cloned().unwrap_or(json!("")),
        "Config": get("config"),
        "Architecture": get("architecture"),
        "Variant": cfg.get("variant").cloned(),
        "Os": get("os"),
        "Size": row.size,
        "GraphDriver": { "Name": "strata", "Data": null },
        "RootFS": { "Type": "layers", "Layers": layers },
        "Metadata": { "LastTagTime": "0001-01-01T00:00:00Z" },
    }))
}

/// One row of `history`, newest first.
#[derive(Clone, Debug)]
pub struct HistoryRow {
    /// The image ID for the top row, `<missing>` below (as Docker prints).
    pub image: String,
    pub created: Option<String>,
    pub created_by: String,
    pub size: u64,
    pub comment: String,
}

/// The image's history from its config, with each non-empty step's layer
/// size.
pub fn history(store: &Store, name: &str) -> Result<Vec<HistoryRow>> {
    let id = resolve(store, name)?.id;
    let cfg = parse_config(&blobs::get(store.layout(), &id)?, &format!("config {id}"))?;
    let layers = store.db().image_layers(&id)?;
    let mut sizes = layers
        .iter()
        .map(|d| store.layer(d).map(|l| l.content_size()));
    let mut rows = Vec::new();
    for h in cfg.history() {
        let size = if h.empty_layer().unwrap_or(false) {
            0
        } else {
            sizes.next().transpose()?.unwrap_or(0)
        };
        rows.push(HistoryRow {
            image: "<missing>".into(),
            created: h.created().clone(),
            created_by: h.created_by().clone().unwrap_or_default(),
            size,
            comment: h.comment().clone().unwrap_or_default(),
        });
    }
    rows.reverse();
    if let Some(top) = rows.first_mut() {
        top.image = id.to_string();
    }
    Ok(rows)
}

/// `inspect` of several images: the JSON array Docker prints, indented
/// with four spaces as `docker inspect` does.
pub fn inspect_json(store: &Store, names: &[String]) -> Result<String> {
    let all = names
        .iter()
        .map(|n| inspect(store, n))
        .collect::<Result<Vec<_>>>()?;
    let mut out = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    serde::Serialize::serialize(&all, &mut ser).expect("JSON values serialise");
    Ok(String::from_utf8(out).expect("serde_json writes UTF-8"))
}
