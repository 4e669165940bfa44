//! Measurement prototype for the issue "strata-fs: FUSE over io_uring and
//! fewer round trips": the same trivial in-memory filesystem served over the
//! classic /dev/fuse read/write loop or over FUSE-over-io_uring, so that
//! `benches/fuse-ops.sh` can compare the two transports' round trips on one
//! workload. Not part of strata: fuser 0.18 cannot speak io_uring, and the
//! prototype needs nothing of strata-fs.

pub mod abi;
pub mod devfuse;
pub mod fs;
pub mod ring;
