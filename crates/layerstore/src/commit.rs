//! `commit`: a new image made of a stored image plus one more layer (a
//! container's changes), with the parent's config carried over and updated
//! the way `docker commit` does (`--change`, author, history, diff_ids).
//!
//! The layer arrives as an uncompressed OCI layer tar; it goes through the
//! same streaming, verifying, deduplicating import as every other layer,
//! checked against the parent's layers (no writing through their symlinks).

use std::io::Read;

use serde_json::{json, Map, Value};

use crate::blobs;
use crate::changes;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::images;
use crate::reference::Reference;
use crate::store::{parse_config, LayerExpect, Store, StoredImage};

/// What `commit` records beside the layer.
#[derive(Clone, Debug, Default)]
pub struct CommitOptions {
    /// `author` of the image and its new history entry (`-a`).
    pub author: Option<String>,
    /// History comment of the new layer (`-m`).
    pub message: Option<String>,
    /// Dockerfile instructions applied to the parent's config (`-c`).
    pub changes: Vec<String>,
    /// History `created_by`: what made the layer (the container's command).
    pub created_by: String,
}

/// Stores `layer` (an uncompressed layer tar) on top of image `parent`'s
/// layers as a new image, tagged `reference` if given. Nothing is visible
/// unless every step succeeds.
pub fn commit(
    store: &mut Store,
    parent: &str,
    layer: impl Read,
    reference: Option<&str>,
    opts: &CommitOptions,
) -> Result<StoredImage> {
    let tag = reference
        .map(|r| Ok::<_, Error>(r.parse::<Reference>()?.with_default_tag().to_string()))
        .transpose()?;
    let parent_id = images::resolve(store, parent)?.id;
    let bytes = blobs::get(store.layout(), &parent_id)?;
    let what = format!("config of {parent_id}");
    // The parent is read as raw JSON so fields oci-spec does not model
    // (Docker's `OnBuild`, `Healthcheck`) survive; it is parsed once to
    // check it and to list the layers.
    let parsed = parse_config(&bytes, &what)?;
    let mut config: Value = serde_json::from_slice(&bytes).map_err(|e| Error::BadJson {
        path: what.clone(),
        reason: e.to_string(),
    })?;
    let Some(obj) = config.as_object_mut() else {
        return Err(Error::BadJson {
            path: what,
            reason: "not a JSON object".into(),
        });
    };

    let mut run_config = match obj.remove("config") {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    for c in &opts.changes {
        changes::apply(&mut run_config, c)?;
    }

    let mut pending = store.begin()?;
    for d in parsed.rootfs().diff_ids() {
        let diff_id: Digest = d.parse().map_err(|_| Error::BadJson {
            path: what.clone(),
            reason: format!("bad diff_id {d}"),
        })?;
        let expect = LayerExpect {
            diff_id: Some(diff_id),
            ..LayerExpect::default()
        };
        store.add_layer(&mut pending, d, std::io::empty(), &expect)?;
    }
    let new = store.add_layer(
        &mut pending,
        "container changes",
        layer,
        &LayerExpect::default(),
    )?;

    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    let mut entry = Map::new();
    entry.insert("created".into(), json!(now));
    entry.insert("created_by".into(), json!(opts.created_by));
    if let Some(a) = &opts.author {
        entry.insert("author".into(), json!(a));
        obj.insert("author".into(), json!(a));
    }
    // Docker keeps the message as the image's `comment` too (`inspect`).
    if let Some(m) = &opts.message {
        entry.insert("comment".into(), json!(m));
        obj.insert("comment".into(), json!(m));
    }
    obj.insert("created".into(), json!(now));
    if !run_config.is_empty() {
        obj.insert("config".into(), Value::Object(run_config));
    }
    push(obj, "history", Value::Object(entry));
    let rootfs = obj
        .entry("rootfs")
        .or_insert_with(|| json!({"type": "layers"}));
    if let Some(r) = rootfs.as_object_mut() {
        push(r, "diff_ids", json!(new.diff_id().to_string()));
    }
    let out = serde_json::to_vec(&config).expect("config serialises");
    store.commit(pending, &out, None, &tag.into_iter().collect::<Vec<_>>())
}

/// Appends `v` to the array `key` of `obj`, creating it if missing.
fn push(obj: &mut Map<String, Value>, key: &str, v: Value) {
    match obj.entry(key).or_insert_with(|| json!([])) {
        Value::Array(a) => a.push(v),
        other => *other = json!([v]),
    }
}
