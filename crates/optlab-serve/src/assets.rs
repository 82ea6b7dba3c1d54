//! The page's static files, embedded in the binary at build time (the playground works offline
//! and needs no files beside the executable).

/// One embedded file.
#[derive(Clone, Copy, Debug)]
pub struct Asset {
    /// URL path (`/app.js`).
    pub path: &'static str,
    /// Content type.
    pub content_type: &'static str,
    /// The file.
    pub body: &'static str,
}

/// Every embedded file; `/` serves `index.html`.
pub const ASSETS: &[Asset] = &[
    Asset {
        path: "/",
        content_type: "text/html; charset=utf-8",
        body: include_str!("../assets/index.html"),
    },
    Asset {
        path: "/app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../assets/app.js"),
    },
    Asset {
        path: "/style.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("../assets/style.css"),
    },
    Asset {
        path: "/favicon.svg",
        content_type: "image/svg+xml",
        body: include_str!("../assets/favicon.svg"),
    },
];

/// The asset served at `path` (`/index.html` is `/`).
pub fn get(path: &str) -> Option<&'static Asset> {
    let path = if path == "/index.html" { "/" } else { path };
    ASSETS.iter().find(|a| a.path == path)
}
