//! `strata serve`: the OCI distribution API (v1.1) over a store, on tokio
//! and hyper. Paths are parsed and checked in [`route`] before anything
//! touches the store; store work (SQLite, imports, renames) runs on the
//! blocking pool ([`pool`]); blob bodies stream in ([`uploads`]) and out
//! ([`blobs`]) without being buffered.

mod auth;
mod blobs;
pub mod error;
mod importer;
mod listing;
mod manifests;
mod pool;
mod query;
pub mod route;
mod tls;
mod upload_api;
mod uploads;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderValue, Method, Request, Response, StatusCode};
use axum::response::IntoResponse;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use error::{ApiError, ApiResult, Code};
use route::Route;

/// How a server is run (`strata serve` flags).
#[derive(Clone, Debug)]
pub struct Config {
    pub addr: SocketAddr,
    pub root: PathBuf,
    /// Certificate chain and private key (PEM), for HTTPS.
    pub tls: Option<(PathBuf, PathBuf)>,
    pub htpasswd: Option<PathBuf>,
    pub read_only: bool,
    /// Largest blob accepted in one upload.
    pub max_upload: u64,
    /// An upload session idle this long is dropped.
    pub upload_timeout: Duration,
}

/// What every request handler shares.
pub(crate) struct App {
    pool: pool::Pool,
    uploads: uploads::Uploads,
    auth: Option<Arc<auth::Htpasswd>>,
    read_only: bool,
    /// Wakes the importer after a manifest is queued.
    importer: Arc<tokio::sync::Notify>,
}

/// A bound server, not yet accepting.
pub struct Server {
    listener: TcpListener,
    app: Arc<App>,
    tls: Option<TlsAcceptor>,
    importer_task: tokio::task::JoinHandle<()>,
}

/// Slow clients may not hold a connection open without sending headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);

impl Server {
    /// Opens the store, reads the htpasswd file and TLS material, and binds.
    pub async fn bind(config: Config) -> anyhow::Result<Server> {
        let root = config.root.clone();
        let pool = tokio::task::spawn_blocking(move || pool::Pool::open(root)).await??;
        let layout = layerstore::layout::Layout::create(pool.root())?;
        let uploads = uploads::Uploads::new(layout, config.upload_timeout, config.max_upload);
        uploads.remove_stale_files();
        let auth = config
            .htpasswd
            .as_deref()
            .map(auth::Htpasswd::load)
            .transpose()?
            .map(Arc::new);
        let tls = config
            .tls
            .as_ref()
            .map(|(c, k)| tls::acceptor(c, k))
            .transpose()?;
        let (importer, importer_task) = importer::spawn(pool.clone());
        let listener = TcpListener::bind(config.addr)
            .await
            .map_err(|e| anyhow::anyhow!("listening on {}: {e}", config.addr))?;
        Ok(Server {
            listener,
            app: Arc::new(App {
                pool,
                uploads,
                auth,
                read_only: config.read_only,
                importer,
            }),
            tls,
            importer_task,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("bound socket")
    }

    /// Serves until `shutdown` completes.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let app = self.app.clone();
        let expiry = tokio::spawn(async move {
            let period = (app.uploads.timeout / 4)
                .clamp(Duration::from_millis(100), Duration::from_secs(60));
            loop {
                tokio::time::sleep(period).await;
                app.uploads.expire();
            }
        });
        tokio::pin!(shutdown);
        loop {
            let (stream, peer) = tokio::select! {
                _ = &mut shutdown => break,
                r = self.listener.accept() => match r {
                    Ok(c) => c,
                    Err(e) => {
                        // EMFILE and friends: wait instead of spinning.
                        tracing::warn!("accept: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
            };
            let _ = stream.set_nodelay(true);
            let app = self.app.clone();
            let tls = self.tls.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let app = app.clone();
                    async move { Ok::<_, Infallible>(handle(app, req.map(Body::new)).await) }
                });
                let mut builder =
                    hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                builder
                    .http1()
                    .timer(TokioTimer::new())
                    .header_read_timeout(HEADER_TIMEOUT);
                let result = match tls {
                    Some(tls) => match tls.accept(stream).await {
                        Ok(s) => builder.serve_connection(TokioIo::new(s), service).await,
                        Err(e) => {
                            tracing::debug!(%peer, "TLS handshake: {e}");
                            return;
                        }
                    },
                    None => {
                        builder
                            .serve_connection(TokioIo::new(stream), service)
                            .await
                    }
                };
                if let Err(e) = result {
                    tracing::debug!(%peer, "connection: {e}");
                }
            });
        }
        expiry.abort();
        self.importer_task.abort();
        Ok(())
    }
}

/// Runs a server on its own runtime (two workers) until the process ends,
/// calling `ready` with the bound address first.
pub fn serve(config: Config, ready: impl FnOnce(SocketAddr)) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let server = Server::bind(config).await?;
        ready(server.local_addr());
        server.run_until(std::future::pending()).await
    })
}

async fn handle(app: Arc<App>, req: Request<Body>) -> Response<Body> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let mut resp = dispatch(app, req)
        .await
        .unwrap_or_else(|e| e.into_response());
    tracing::debug!(%method, %path, status = resp.status().as_u16(), "request");
    resp.headers_mut().insert(
        "Docker-Distribution-API-Version",
        HeaderValue::from_static("registry/2.0"),
    );
    resp
}

async fn dispatch(app: Arc<App>, req: Request<Body>) -> ApiResult<Response<Body>> {
    let Some(route) = route::parse(req.uri().path()) else {
        return Ok(StatusCode::NOT_FOUND.into_response());
    };
    if let Some(auth) = &app.auth {
        let auth = auth.clone();
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let ok = tokio::task::spawn_blocking(move || auth.check(given.as_deref()))
            .await
            .unwrap_or(false);
        if !ok {
            return Err(ApiError::new(Code::Unauthorized)
                .with_header("WWW-Authenticate", "Basic realm=\"strata\"".into()));
        }
    }
    let route = route?;
    let method = req.method().clone();
    let reads = method == Method::GET || method == Method::HEAD;
    if app.read_only && !reads {
        return Err(ApiError::msg(Code::Denied, "this registry is read-only"));
    }
    let head = method == Method::HEAD;
    let query = query::pairs(req.uri().query());
    match (route, method) {
        (Route::Base, Method::GET | Method::HEAD) => Ok(json_response("{}".into())),
        (Route::Catalog, Method::GET) => listing::catalog(&app, query).await,
        (Route::Tags(repo), Method::GET) => listing::tags(&app, repo, query).await,
        (Route::Referrers(repo, d), Method::GET) => listing::referrers(&app, repo, d, query).await,
        (Route::Manifest(repo, r), Method::GET | Method::HEAD) => {
            manifests::get(&app, repo, r, head).await
        }
        (Route::Manifest(repo, r), Method::PUT) => manifests::put(&app, repo, r, query, req).await,
        (Route::Manifest(repo, r), Method::DELETE) => manifests::delete(&app, repo, r).await,
        (Route::Blob(repo, d), Method::GET | Method::HEAD) => {
            blobs::get(&app, repo, d, head, req.headers()).await
        }
        (Route::Blob(repo, d), Method::DELETE) => blobs::delete(&app, repo, d).await,
        (Route::Uploads(repo), Method::POST) => upload_api::start(&app, repo, req).await,
        (Route::Upload(repo, id), Method::PATCH) => upload_api::patch(&app, repo, id, req).await,
        (Route::Upload(repo, id), Method::PUT) => upload_api::finish(&app, repo, id, req).await,
        (Route::Upload(repo, id), Method::GET) => upload_api::status(&app, repo, id).await,
        (Route::Upload(repo, id), Method::DELETE) => upload_api::cancel(&app, repo, id).await,
        _ => Err(ApiError::new(Code::Unsupported)),
    }
}

/// A response with no body and the given headers.
pub(crate) fn empty(status: StatusCode, headers: &[(&str, String)]) -> Response<Body> {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = status;
    for (k, v) in headers {
        if let (Ok(k), Ok(v)) = (
            header::HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            // Appended: a header may repeat (one `OCI-Tag` per tag).
            r.headers_mut().append(k, v);
        }
    }
    if !r.headers().contains_key(header::CONTENT_LENGTH) {
        r.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    }
    r
}

/// A 200 JSON response.
pub(crate) fn json_response(body: String) -> Response<Body> {
    let mut r = Response::new(Body::from(body));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}
