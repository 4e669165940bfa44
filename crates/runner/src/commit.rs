//! `commit`: a container's changes (its upper dir) as a new image on top of
//! the image it runs, as `docker commit` makes one.
//!
//! The upper dir is written, without the runtime's mount points
//! ([`is_runtime_mount_point`]), as an OCI layer tar ([`Form::Layer`]) to an
//! anonymous temp file in the store, then imported by
//! [`layerstore::commit::commit`] like any layer; a failure anywhere leaves
//! the store as it was. A running container is refused rather than copied
//! mid-change: strata cannot pause it (Docker freezes its cgroup), and a
//! layer of half-written files would be stored for good.

use std::io::{Seek, Write};

use layerstore::commit::CommitOptions;
use layerstore::store::StoredImage;

use crate::config::RootfsSource;
use crate::error::{Error, Result};
use crate::lifecycle::Runtime;
use crate::rootfs::is_runtime_mount_point;
use crate::state::Status;
use crate::treetar::{write_tree, Form};

impl Runtime {
    /// Commits stopped container `id` as a new image tagged `reference`.
    /// `opts.created_by` defaults to the container's command.
    pub fn commit(
        &self,
        id: &str,
        reference: Option<&str>,
        mut opts: CommitOptions,
    ) -> Result<StoredImage> {
        let cfg = self.store().config(id)?;
        if self.store().state(id)?.status == Status::Running {
            return Err(Error::Refused {
                op: "commit",
                id: id.to_string(),
                why: "it is running: stop it first (strata cannot pause a container)".into(),
            });
        }
        let RootfsSource::Image { store, image } = &cfg.rootfs else {
            return Err(Error::Refused {
                op: "commit",
                id: id.to_string(),
                why: "its root filesystem is a directory, not a stored image".into(),
            });
        };
        if opts.created_by.is_empty() {
            opts.created_by = cfg.process.args.join(" ");
        }
        let mut s = layerstore::Store::open(store)?;
        let tmp = s.layout().tmp_dir();
        let upper = self.store().dir(id).join("upper");
        let mut file =
            tempfile::tempfile_in(&tmp).map_err(|e| Error::path("create temp file in", &tmp, e))?;
        if upper.exists() {
            let mut w = write_tree(
                &upper,
                Form::Layer,
                &is_runtime_mount_point,
                std::io::BufWriter::new(&mut file),
            )
            .map_err(|e| Error::sys(format!("layer of container {id}"), e))?;
            w.flush().map_err(|e| Error::sys("write layer", e))?;
        } else {
            // Never started: no changes, an empty layer as Docker makes.
            tar::Builder::new(&mut file)
                .finish()
                .map_err(|e| Error::sys("write layer", e))?;
        }
        file.rewind().map_err(|e| Error::sys("write layer", e))?;
        Ok(layerstore::commit::commit(
            &mut s,
            image,
            std::io::BufReader::new(file),
            reference,
            &opts,
        )?)
    }
}
