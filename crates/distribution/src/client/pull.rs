//! `strata pull`: manifest (an index resolved to this platform's image),
//! config, then the layers the store lacks, several at once, each
//! streamed once from the socket through digest and diff_id checks into
//! the store. The image becomes visible only when all of it is verified.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use layerstore::origins::{ImageOrigin, LayerBlob};
use layerstore::store::{DetachedLayer, LayerExpect};
use layerstore::{images, Digest, Reference, Store};

use super::blob_reader::BlobReader;
use super::error::{Error, Result};
use super::platform::{available, Platform};
use super::progress::{short, LayerLine, Progress};
use super::registry_api::{self, scope};
use super::transport::{Options, Registry};
use crate::manifest::{self, ImageManifest, Manifest};

/// More layers than any real image has (Docker's overlay2 stops at 125);
/// bounds what one manifest can make us do.
pub const MAX_LAYERS: usize = 256;

/// Layers downloaded at once by default, as Docker.
pub const DEFAULT_PARALLEL: usize = 3;

#[derive(Clone, Debug)]
pub struct PullOptions {
    pub platform: Platform,
    pub all_tags: bool,
    pub quiet: bool,
    pub parallel: usize,
}

/// Pulls `name` (every tag of its repository with `all_tags`). Returns
/// the fully qualified references pulled.
pub fn pull(
    store: &mut Store,
    name: &str,
    opts: &PullOptions,
    net: &Options,
) -> Result<Vec<String>> {
    let r: Reference = name.parse()?;
    if opts.all_tags && (r.tag().is_some() || r.digest().is_some()) {
        return Err(Error::msg(format!(
            "{name}: a tag or digest cannot be used with --all-tags"
        )));
    }
    let creds = super::credentials::lookup(r.domain())?;
    let reg = Registry::connect(r.domain(), net, creds)?;
    let scopes = [scope(r.path(), "pull")];
    let refs = if opts.all_tags {
        let tags = registry_api::tags(&reg, r.path(), &scopes)?;
        if tags.is_empty() {
            return Err(Error::msg(format!(
                "{}: the repository has no tags",
                r.familiar_repository()
            )));
        }
        tags.iter().map(|t| r.with_tag(t)).collect()
    } else {
        vec![r.with_default_tag()]
    };
    let progress = Progress::new(opts.quiet);
    let mut done = Vec::new();
    for r in &refs {
        done.push(pull_one(store, &reg, r, opts, &progress)?);
    }
    Ok(done)
}

/// One layer to place, bottom first.
struct Layer {
    desc: manifest::Descriptor,
    blob: Digest,
    diff_id: Digest,
    stored: bool,
}

fn pull_one(
    store: &mut Store,
    reg: &Registry,
    r: &Reference,
    opts: &PullOptions,
    progress: &Progress,
) -> Result<String> {
    let scopes = [scope(r.path(), "pull")];
    let reference = match (r.digest(), r.tag()) {
        (Some(d), _) => d.to_string(),
        (None, Some(t)) => t.to_string(),
        (None, None) => unreachable!("a default tag was added"),
    };
    progress.line(&format!("{reference}: Pulling from {}", r.path()));
    let top = registry_api::manifest(reg, r, &reference, &scopes)?;
    let image = match Manifest::parse(top.content_type.as_deref(), &top.bytes)? {
        Manifest::Image(m) => m,
        Manifest::Index(index) => {
            let d = opts.platform.select(&index).ok_or_else(|| {
                Error::msg(format!(
                    "{}: no image for {} in the manifest list (it has {})",
                    r.familiar(),
                    opts.platform,
                    available(&index)
                ))
            })?;
            let child = registry_api::manifest(reg, r, &d.digest, &scopes)?;
            match Manifest::parse(child.content_type.as_deref(), &child.bytes)? {
                Manifest::Image(m) => m,
                Manifest::Index(_) => {
                    return Err(Error::msg(format!(
                        "{}: the manifest list for {} names another list",
                        r.familiar(),
                        opts.platform
                    )))
                }
            }
        }
    };
    let config_digest = check_image(r, &image)?;
    let config =
        registry_api::small_blob(reg, r.path(), &config_digest, image.config.size, &scopes)?;
    let diff_ids = diff_ids(&config, image.layers.len(), r)?;
    let full = match r.tag() {
        Some(_) => r.to_string(),
        None => r.with_digest(top.digest.clone()).to_string(),
    };
    let before = images::resolve(store, &full).ok().map(|x| x.id);
    // Taken before asking which layers are stored, so gc cannot remove one
    // of them before the image is committed.
    let mut pending = store.begin()?;
    let mut layers = Vec::new();
    for (desc, diff_id) in image.layers.iter().zip(diff_ids) {
        layers.push(Layer {
            blob: desc.digest.parse()?,
            stored: store.has_layer(&diff_id)?,
            desc: desc.clone(),
            diff_id,
        });
    }

    let lines: Vec<LayerLine> = layers
        .iter()
        .map(|l| {
            let line = progress.layer(
                short(&l.blob),
                if l.stored {
                    "Already exists"
                } else {
                    "Pulling fs layer"
                },
            );
            if l.stored {
                line.done("Already exists");
            }
            line
        })
        .collect();
    let fetched = download(
        store,
        &pending,
        reg,
        r,
        &layers,
        &lines,
        opts.parallel.max(1),
    )?;
    for (l, got) in layers.iter().zip(fetched) {
        let label = label(r, &l.blob);
        match got {
            Some(d) => store.attach_layer(&mut pending, &label, d)?,
            None => {
                let expect = LayerExpect {
                    diff_id: Some(l.diff_id.clone()),
                    ..Default::default()
                };
                store.add_layer(&mut pending, &label, io::empty(), &expect)?
            }
        };
    }
    let tags: Vec<String> = r.tag().map(|_| full.clone()).into_iter().collect();
    let stored = store.commit(pending, &config, Some(&config_digest), &tags)?;
    let origin = ImageOrigin {
        repo_digest: Some((r.repository(), top.digest.clone())),
        layers: layers
            .iter()
            .map(|l| {
                (
                    l.diff_id.clone(),
                    LayerBlob {
                        registry: r.domain().to_string(),
                        repository: r.path().to_string(),
                        digest: l.blob.clone(),
                        size: l.desc.size,
                        media_type: l.desc.media_type.clone(),
                    },
                )
            })
            .collect(),
    };
    store.record_origin(&stored.id, &origin)?;
    progress.line(&format!("Digest: {}", top.digest));
    let shown = r.familiar();
    if before.as_ref() == Some(&stored.id) {
        progress.line(&format!("Status: Image is up to date for {shown}"));
    } else {
        progress.line(&format!("Status: Downloaded newer image for {shown}"));
    }
    Ok(full)
}

fn label(r: &Reference, blob: &Digest) -> String {
    format!("{blob} of {}", r.repository())
}

/// Refuses what strata cannot or will not pull, before any layer moves:
/// too many layers, foreign layers, unknown layer or config types.
fn check_image(r: &Reference, m: &ImageManifest) -> Result<Digest> {
    let name = r.familiar();
    if m.layers.len() > MAX_LAYERS {
        return Err(Error::msg(format!(
            "{name}: the manifest names {} layers, more than the {MAX_LAYERS} strata accepts",
            m.layers.len()
        )));
    }
    let cfg_type = m.config.media_type.as_str();
    if ![manifest::DOCKER_CONFIG, manifest::OCI_CONFIG, ""].contains(&cfg_type) {
        return Err(Error::msg(format!(
            "{name}: not a container image (config media type {cfg_type})"
        )));
    }
    for l in &m.layers {
        if manifest::is_foreign_layer(&l.media_type) {
            return Err(Error::msg(format!(
                "{name}: layer {} is foreign/non-distributable ({}): strata does not download such layers",
                l.digest, l.media_type
            )));
        }
        if ![
            manifest::DOCKER_LAYER_GZIP,
            manifest::OCI_LAYER_TAR,
            manifest::OCI_LAYER_GZIP,
            manifest::OCI_LAYER_ZSTD,
        ]
        .contains(&l.media_type.as_str())
        {
            return Err(Error::msg(format!(
                "{name}: layer {} has unsupported media type {:?}",
                l.digest, l.media_type
            )));
        }
        l.digest.parse::<Digest>()?;
    }
    Ok(m.config.digest.parse()?)
}

/// The config's `rootfs.diff_ids`, one per manifest layer.
fn diff_ids(config: &[u8], layers: usize, r: &Reference) -> Result<Vec<Digest>> {
    let v: serde_json::Value = serde_json::from_slice(config)
        .map_err(|e| Error::msg(format!("{}: image config: {e}", r.familiar())))?;
    let ids: Vec<Digest> = v
        .pointer("/rootfs/diff_ids")
        .and_then(|d| d.as_array())
        .into_iter()
        .flatten()
        .map(|d| d.as_str().unwrap_or("").parse::<Digest>())
        .collect::<Result<_, _>>()?;
    if ids.len() != layers {
        return Err(Error::msg(format!(
            "{}: the image config lists {} diff_ids for {layers} layers",
            r.familiar(),
            ids.len()
        )));
    }
    Ok(ids)
}

/// Downloads and imports the layers the store lacks, `parallel` at a time.
/// Returns, per layer, what was read (None for stored ones). The first
/// failure stops the others and is the one reported.
fn download(
    store: &Store,
    pending: &layerstore::store::Pending,
    reg: &Registry,
    r: &Reference,
    layers: &[Layer],
    lines: &[LayerLine],
    parallel: usize,
) -> Result<Vec<Option<DetachedLayer>>> {
    let importer = pending.importer(store);
    let todo: Vec<usize> = (0..layers.len()).filter(|&i| !layers[i].stored).collect();
    let next = AtomicUsize::new(0);
    let cancel = AtomicBool::new(false);
    let first_error: Mutex<Option<Error>> = Mutex::new(None);
    let results: Vec<Mutex<Option<DetachedLayer>>> =
        layers.iter().map(|_| Mutex::new(None)).collect();
    let scopes = [scope(r.path(), "pull")];
    std::thread::scope(|s| {
        for _ in 0..parallel.min(todo.len()) {
            s.spawn(|| loop {
                let Some(&i) = todo.get(next.fetch_add(1, Ordering::Relaxed)) else {
                    return;
                };
                if cancel.load(Ordering::Relaxed) {
                    return;
                }
                let l = &layers[i];
                let line = &lines[i];
                let got = (|| {
                    let reader = BlobReader::open(
                        reg,
                        r.path(),
                        &l.desc.digest,
                        l.desc.size,
                        &scopes,
                        &cancel,
                        line,
                    )?;
                    line.start("Downloading", l.desc.size);
                    let expect = LayerExpect {
                        diff_id: Some(l.diff_id.clone()),
                        blob_digest: Some(l.blob.clone()),
                        blob_size: Some(l.desc.size),
                    };
                    Ok::<_, Error>(importer.import(&label(r, &l.blob), reader, &expect)?)
                })();
                match got {
                    Ok(d) => {
                        line.done("Pull complete");
                        *results[i].lock().expect("results lock") = Some(d);
                    }
                    Err(e) => {
                        let mut first = first_error.lock().expect("error lock");
                        if first.is_none() && !cancel.swap(true, Ordering::Relaxed) {
                            *first = Some(e);
                        }
                        return;
                    }
                }
            });
        }
    });
    if let Some(e) = first_error.into_inner().expect("error lock") {
        return Err(e);
    }
    Ok(results
        .into_iter()
        .map(|m| m.into_inner().expect("results lock"))
        .collect())
}
