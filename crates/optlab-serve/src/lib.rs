//! `optlab serve`: an interactive optimization playground in the browser.
//!
//! A local web server ([axum](https://docs.rs/axum) on tokio) serving a single-page app whose
//! files are embedded in the binary ([`assets`]), and a JSON API that does the computation with
//! optlab itself:
//!
//! | endpoint | what |
//! |---|---|
//! | `GET /api/health` | `{"ok": true, "version": ...}` |
//! | `GET /api/catalog` | optimizers (registry: names, defaults, the page's controls), schedules, functions (domain, minimizers), the lecture's scalar stories, the caps |
//! | `POST /api/trajectory` | methods on a function from a start point: iterates and f(x_k) per method ([`trajectory`]) |
//! | `POST /api/contours` | the function on a grid with log-spaced contour lines (1-D: the curve) |
//! | `GET /api/files?path=runs/...` | list `runs/` and `reports/` of the current directory ([`files`]) |
//! | `GET /files/<path>` | a file from there (read-only) |
//!
//! Bad input — unknown function or optimizer, wrong dimensions, values beyond the caps, unknown
//! fields, malformed JSON, bodies over [`BODY_LIMIT`] — is answered with HTTP 400 and
//! `{"error": "..."}` naming the field; computations run on the blocking pool, so a failure in
//! one is a 500 for that request and the server keeps answering. The API is documented in
//! `docs/playground.md`.
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! let listener = optlab_serve::bind(([127, 0, 0, 1], 0).into()).await?;
//! println!("http://{}/", listener.local_addr()?);
//! optlab_serve::serve(listener, ".".into(), async {
//!     let _ = tokio::signal::ctrl_c().await;
//! })
//! .await
//! # }
//! ```

pub mod assets;
pub mod catalog;
pub mod error;
pub mod files;
pub mod functions;
pub mod server;
pub mod trajectory;

pub use error::ApiError;
pub use server::{BODY_LIMIT, bind, router, serve};
