//! `strata` store commands: load, save, import, images, rmi, tag,
//! inspect, history, system df/prune, fsck. Parsing and printing only; every
//! operation is a `layerstore` library call.

use std::io::Write;
use std::path::PathBuf;

use clap::{Subcommand, ValueEnum};
use layerstore::archive::{self, Format, SaveItem};
use layerstore::display::{human_age, human_size, table};
use layerstore::rootfs::{self, ImportOptions};
use layerstore::{fsck, gc, images, Store};

/// Image store commands, named and shaped as Docker's.
#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Load images from a docker-archive, oci-archive or OCI layout directory
    Load {
        /// Archive file or layout directory; `-` reads stdin
        #[arg(short, long, default_value = "-")]
        input: PathBuf,
        /// Print only the loaded image references or IDs
        #[arg(short, long)]
        quiet: bool,
    },
    /// Save images to an archive (layers rebuilt byte-identically)
    Save {
        /// Write to this file (or directory for oci-dir); stdout if omitted
        #[arg(short, long)]
        output: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = SaveFormat::DockerArchive)]
        format: SaveFormat,
        #[arg(required = true)]
        images: Vec<String>,
    },
    /// Create an image from a flat root filesystem tarball
    Import {
        /// Tarball (plain, gzip or zstd); `-` reads stdin
        file: PathBuf,
        /// Tag for the new image
        reference: Option<String>,
        /// Dockerfile instruction to apply (CMD, ENTRYPOINT, ENV, EXPOSE,
        /// LABEL, ONBUILD, USER, VOLUME, WORKDIR, HEALTHCHECK)
        #[arg(short, long = "change")]
        change: Vec<String>,
        /// History comment for the imported layer
        #[arg(short, long)]
        message: Option<String>,
    },
    /// List images
    #[command(alias = "ls")]
    Images {
        /// Only show image IDs
        #[arg(short, long)]
        quiet: bool,
        /// Do not truncate image IDs
        #[arg(long)]
        no_trunc: bool,
        /// Show the registry manifest digest of each image
        #[arg(long)]
        digests: bool,
    },
    /// Remove images
    Rmi {
        #[arg(required = true)]
        images: Vec<String>,
        /// Remove an image by ID even when several tags point at it
        #[arg(short, long)]
        force: bool,
    },
    /// Create a tag TARGET that refers to SOURCE
    Tag { source: String, target: String },
    /// Show the history of an image
    History {
        image: String,
        /// Do not truncate output
        #[arg(long)]
        no_trunc: bool,
        /// Only show image IDs
        #[arg(short, long)]
        quiet: bool,
    },
    /// Store-wide commands
    #[command(subcommand)]
    System(SystemCommand),
    /// Re-hash every object and blob and rebuild every layer; exit 1 on damage
    Fsck,
}

/// `system` subcommands.
#[derive(Debug, Subcommand)]
pub enum SystemCommand {
    /// Show disk usage: logical bytes, bytes on disk, dedup ratio
    Df,
    /// Remove untagged images and everything nothing references
    Prune {
        /// Do not prompt (accepted for Docker compatibility; never prompts)
        #[arg(short, long)]
        force: bool,
    },
}

/// Archive formats of `save`.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum SaveFormat {
    DockerArchive,
    OciArchive,
    OciDir,
}

fn short(id: &layerstore::Digest, no_trunc: bool) -> String {
    if no_trunc {
        id.to_string()
    } else {
        id.hex()[..12].to_string()
    }
}

/// `strata image ...`: the store commands plus `image inspect` (top-level
/// `inspect` belongs to containers, and falls back to images there).
#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    #[command(flatten)]
    Store(StoreCommand),
    /// Show low-level information on images, as JSON
    Inspect {
        #[arg(required = true)]
        images: Vec<String>,
    },
    /// Write an image's merged root filesystem as a tar (top-level
    /// `export` takes a container first, then an image)
    Export {
        image: String,
        /// Write to this file; stdout if omitted
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
}

/// Runs `strata image ...`.
pub fn run_image(root: Option<PathBuf>, cmd: ImageCommand) -> anyhow::Result<i32> {
    match cmd {
        ImageCommand::Store(c) => run(root, c),
        ImageCommand::Inspect { images } => {
            let store = Store::open(&root.unwrap_or_else(Store::default_root))?;
            println!("{}", images::inspect_json(&store, &images)?);
            Ok(0)
        }
        ImageCommand::Export { image, output } => {
            let store = Store::open(&root.unwrap_or_else(Store::default_root))?;
            write_tar(
                output,
                |p| Ok(rootfs::export_to_file(&store, &image, p)?),
                |w| Ok(rootfs::export(&store, &image, w)?),
            )
        }
    }
}

/// Writes a tar to `output`: a file through `to_file` (which must leave
/// no partial tar on failure), or stdout through `to_stream` for none or
/// `-` (never a terminal).
pub fn write_tar(
    output: Option<PathBuf>,
    to_file: impl FnOnce(&std::path::Path) -> anyhow::Result<()>,
    to_stream: impl FnOnce(&mut dyn Write) -> anyhow::Result<()>,
) -> anyhow::Result<i32> {
    match output {
        Some(p) if p.as_os_str() != "-" => to_file(&p)?,
        _ => {
            let out = std::io::stdout().lock();
            if std::io::IsTerminal::is_terminal(&out) {
                anyhow::bail!(
                    "refusing to write a tar to a terminal: use -o FILE or redirect stdout"
                );
            }
            let mut w = std::io::BufWriter::new(out);
            to_stream(&mut w)?;
            w.flush()?;
        }
    }
    Ok(0)
}

/// Runs a store command against `root` (default: [`Store::default_root`]).
/// Returns the process exit code.
pub fn run(root: Option<PathBuf>, cmd: StoreCommand) -> anyhow::Result<i32> {
    let root = root.unwrap_or_else(Store::default_root);
    let mut store = Store::open(&root)?;
    let mut out = std::io::stdout().lock();
    match cmd {
        StoreCommand::Load { input, quiet } => {
            for img in archive::load(&mut store, &input)? {
                if img.tags.is_empty() {
                    writeln!(
                        out,
                        "{}{}",
                        if quiet { "" } else { "Loaded image ID: " },
                        img.id
                    )?;
                }
                for t in &img.tags {
                    let t = t.parse::<layerstore::Reference>()?.familiar();
                    writeln!(out, "{}{t}", if quiet { "" } else { "Loaded image: " })?;
                }
            }
        }
        StoreCommand::Save {
            output,
            format,
            images: names,
        } => {
            let items = names
                .iter()
                .map(|n| {
                    let r = images::resolve(&store, n)?;
                    Ok(SaveItem {
                        id: r.id,
                        tags: r.tag.into_iter().collect(),
                    })
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let format = match format {
                SaveFormat::DockerArchive => Format::DockerArchive,
                SaveFormat::OciArchive => Format::OciArchive,
                SaveFormat::OciDir => Format::OciDir,
            };
            let output = output.unwrap_or_else(|| PathBuf::from("-"));
            if output.as_os_str() == "-"
                && format != Format::OciDir
                && std::io::IsTerminal::is_terminal(&out)
            {
                anyhow::bail!(
                    "refusing to write an archive to a terminal: use -o FILE or redirect stdout"
                );
            }
            archive::save(&store, &items, format, &output)?;
        }
        StoreCommand::Import {
            file,
            reference,
            change,
            message,
        } => {
            let opts = ImportOptions {
                changes: change,
                message,
            };
            let img = rootfs::import(&mut store, &file, reference.as_deref(), &opts)?;
            writeln!(out, "{}", img.id)?;
        }
        StoreCommand::Images {
            quiet,
            no_trunc,
            digests,
        } => {
            let rows = images::list(&store)?;
            if quiet {
                let mut seen = std::collections::HashSet::new();
                for r in rows.iter().filter(|r| seen.insert(r.id.clone())) {
                    writeln!(out, "{}", short(&r.id, no_trunc))?;
                }
            } else {
                let cells: Vec<Vec<String>> = rows
                    .iter()
                    .map(|r| {
                        let mut row = vec![r.repository.clone(), r.tag.clone()];
                        if digests {
                            row.push(r.digest.as_ref().map_or("<none>".into(), |d| d.to_string()));
                        }
                        row.extend([
                            short(&r.id, no_trunc),
                            human_age(r.created.as_deref()),
                            human_size(r.size),
                        ]);
                        row
                    })
                    .collect();
                let mut header = vec!["REPOSITORY", "TAG"];
                if digests {
                    header.push("DIGEST");
                }
                header.extend(["IMAGE ID", "CREATED", "SIZE"]);
                write!(out, "{}", table(&header, &cells))?;
            }
        }
        StoreCommand::Rmi {
            images: names,
            force,
        } => {
            for line in images::remove(&mut store, &names, force)? {
                writeln!(out, "{line}")?;
            }
        }
        StoreCommand::Tag { source, target } => images::tag(&mut store, &source, &target)?,
        StoreCommand::History {
            image,
            no_trunc,
            quiet,
        } => {
            let rows = images::history(&store, &image)?;
            if quiet {
                for r in &rows {
                    writeln!(out, "{}", r.image)?;
                }
            } else {
                let cells: Vec<Vec<String>> = rows
                    .iter()
                    .map(|r| {
                        let image = match r.image.parse::<layerstore::Digest>() {
                            Ok(d) => short(&d, no_trunc),
                            Err(_) => r.image.clone(),
                        };
                        let by = if no_trunc || r.created_by.chars().count() <= 45 {
                            r.created_by.clone()
                        } else {
                            r.created_by.chars().take(44).collect::<String>() + "…"
                        };
                        vec![
                            image,
                            human_age(r.created.as_deref()),
                            by,
                            human_size(r.size),
                            r.comment.clone(),
                        ]
                    })
                    .collect();
                write!(
                    out,
                    "{}",
                    table(
                        &["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"],
                        &cells
                    )
                )?;
            }
        }
        StoreCommand::System(SystemCommand::Df) => {
            let d = gc::disk_usage_report(&store)?;
            let cells = vec![vec![
                d.images.to_string(),
                d.layers.to_string(),
                human_size(d.logical_bytes),
                human_size(d.unique_bytes),
                human_size(d.on_disk_bytes),
                format!("{:.2}x", d.dedup_ratio()),
            ]];
            write!(
                out,
                "{}",
                table(
                    &["IMAGES", "LAYERS", "LOGICAL", "UNIQUE", "ON DISK", "DEDUP"],
                    &cells
                )
            )?;
        }
        StoreCommand::System(SystemCommand::Prune { force: _ }) => {
            let r = gc::prune(&mut store)?;
            for id in &r.images {
                writeln!(out, "Deleted: {id}")?;
            }
            writeln!(
                out,
                "Removed {} layers, {} objects, {} blobs\nTotal reclaimed space: {}",
                r.layers,
                r.objects,
                r.blobs,
                human_size(r.bytes_freed)
            )?;
        }
        StoreCommand::Fsck => {
            let r = fsck::fsck(&store)?;
            for p in &r.problems {
                writeln!(out, "{p}")?;
            }
            writeln!(
                out,
                "checked {} objects, {} blobs, {} layers, {} images: {}",
                r.objects,
                r.blobs,
                r.layers,
                r.images,
                if r.is_clean() {
                    "ok".to_string()
                } else {
                    format!("{} problems", r.problems.len())
                }
            )?;
            return Ok(if r.is_clean() { 0 } else { 1 });
        }
    }
    Ok(0)
}
