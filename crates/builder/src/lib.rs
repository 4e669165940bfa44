//! strata's image builder (`strata build`). This first part is the
//! self-contained front half, each module following Docker's own rules:
//!
//! - [`parser`]: Dockerfile text to instructions with line numbers;
//! - [`expand`]: Docker's variable substitution and word splitting, and
//!   the table of instructions it applies to;
//! - [`dockerignore`]: which context paths `.dockerignore` excludes, and
//!   which directories a walker may skip.
//!
//! The executor (RUN through the runner, COPY/ADD, the cache) builds on
//! these; see README.md.

pub mod dockerignore;
pub mod expand;
pub mod keyword;
pub mod parser;

pub use keyword::Keyword;
