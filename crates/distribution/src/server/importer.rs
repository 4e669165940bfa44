//! Turns pushed image manifests into stored images, after the push is
//! acknowledged: the queue is in the database (`registry_imports`), so an
//! import interrupted by `kill -9` runs again when the server restarts. One
//! import runs at a time, on the blocking pool, holding the store lock
//! shared so gc keeps what it reads. An image whose layers the store
//! refuses (a diff_id mismatch, a `..` path) stays in the registry but is
//! not stored; the reason is logged.

use std::sync::Arc;

use layerstore::{blobs, registry, Digest, Store};
use tokio::sync::Notify;

use crate::manifest::Manifest;
use crate::names::parse_digest;
use crate::server::pool::Pool;

/// Runs queued imports whenever notified, and once at start.
pub fn spawn(pool: Pool) -> (Arc<Notify>, tokio::task::JoinHandle<()>) {
    let notify = Arc::new(Notify::new());
    let wake = notify.clone();
    let task = tokio::spawn(async move {
        loop {
            let ran = pool
                .run(|s| {
                    run_queue(s);
                    Ok(())
                })
                .await;
            if let Err(e) = ran {
                tracing::error!("importer: {}", e.message.unwrap_or_default());
            }
            wake.notified().await;
        }
    });
    (notify, task)
}

fn run_queue(s: &mut Store) {
    loop {
        let queue = match registry::pending_imports(s) {
            Ok(q) if !q.is_empty() => q,
            Ok(_) => return,
            Err(e) => {
                tracing::error!("importer: reading the queue: {e}");
                return;
            }
        };
        for (repo, d) in queue {
            let image = match import(s, &repo, &d) {
                Ok(id) => id,
                Err(e) => {
                    tracing::warn!(%repo, manifest = %d, "pushed image not stored: {e}");
                    None
                }
            };
            if let Err(e) = registry::finish_import(s, &repo, &d, image.as_ref()) {
                tracing::error!(%repo, manifest = %d, "importer: {e}");
                return;
            }
        }
    }
}

/// Imports manifest `d` of `repo`, if it is still there.
fn import(s: &mut Store, repo: &str, d: &Digest) -> anyhow::Result<Option<Digest>> {
    let _lock = s.layout().lock(false)?;
    let Some(row) = registry::manifest(s, repo, d)? else {
        return Ok(None);
    };
    let bytes = blobs::get(s.layout(), d)?;
    let Manifest::Image(m) = Manifest::parse(Some(&row.media_type), &bytes)? else {
        return Ok(None);
    };
    let digest = |s: &str| parse_digest(s).ok_or_else(|| anyhow::anyhow!("bad digest {s:?}"));
    let config_digest = digest(&m.config.digest)?;
    let layers = m
        .layers
        .iter()
        .map(|l| digest(&l.digest))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let config = registry::read_small_blob(s, &config_digest)?;
    let image = registry::import_image(s, &config, &config_digest, &layers)?;
    tracing::info!(%repo, manifest = %d, image = %image.id, "pushed image stored");
    Ok(Some(image.id))
}
