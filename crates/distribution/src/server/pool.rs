//! Store handles for the blocking pool. A `Store` is one SQLite
//! connection, used by one thread at a time; requests borrow an idle one
//! (or open another) on a blocking thread, so store work never stalls the
//! async workers and concurrent pulls read the database in parallel.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use layerstore::Store;

use crate::server::error::{ApiError, ApiResult, Code};

/// Idle handles kept for reuse; more may be open while busy.
const MAX_IDLE: usize = 16;

#[derive(Clone)]
pub struct Pool {
    root: PathBuf,
    idle: Arc<Mutex<Vec<Store>>>,
}

impl Pool {
    /// Opens the store once (creating it), so that errors surface at startup.
    pub fn open(root: PathBuf) -> layerstore::Result<Pool> {
        let first = Store::open(&root)?;
        Ok(Pool {
            root,
            idle: Arc::new(Mutex::new(vec![first])),
        })
    }

    pub fn root(&self) -> &std::path::Path {
        &self.root
    }

    /// Runs `f` with a store handle on the blocking pool.
    pub async fn run<T, F>(&self, f: F) -> ApiResult<T>
    where
        F: FnOnce(&mut Store) -> ApiResult<T> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.clone();
        tokio::task::spawn_blocking(move || {
            let taken = pool.idle.lock().expect("pool lock").pop();
            let mut store = match taken {
                Some(s) => s,
                None => Store::open(&pool.root)?,
            };
            let out = f(&mut store);
            let mut idle = pool.idle.lock().expect("pool lock");
            if idle.len() < MAX_IDLE {
                idle.push(store);
            }
            out
        })
        .await
        .map_err(|e| ApiError::msg(Code::Internal, e.to_string()))?
    }
}
