//! The playground in headless Chromium: starts the server and runs `tests/browser/playground.mjs`
//! (playwright-core driving Debian's `/usr/bin/chromium`). Screenshots are saved to
//! `target/playground/` as test artifacts.
//!
//! Needs `chromium` (apt) and `npm ci` in `tests/browser/`; `.ci/run` installs both. Where either
//! is missing (a user's clone) the test prints `SKIPPED: ...` and passes, unless
//! `OPTLAB_REQUIRE_BROWSER=1` (set by `.ci/run`) makes that a failure.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Server, temp_dir};

fn chromium() -> PathBuf {
    std::env::var_os("CHROMIUM").map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from)
}

/// Why the browser test cannot run here, if it cannot.
fn missing(dir: &Path) -> Option<String> {
    if !chromium().is_file() {
        return Some(format!(
            "no Chromium at {} (apt-get install chromium)",
            chromium().display()
        ));
    }
    if Command::new("node").arg("--version").output().is_err() {
        return Some("no `node` on PATH (apt-get install nodejs npm)".into());
    }
    if !dir.join("node_modules/playwright-core").is_dir() {
        return Some(format!(
            "no playwright-core (run `npm ci` in {})",
            dir.display()
        ));
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn playground_in_headless_chromium() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    if let Some(why) = missing(&dir) {
        assert!(
            std::env::var("OPTLAB_REQUIRE_BROWSER").as_deref() != Ok("1"),
            "OPTLAB_REQUIRE_BROWSER=1 but {why}"
        );
        println!("SKIPPED: browser test: {why}");
        return;
    }
    let base = temp_dir("browser");
    std::fs::create_dir_all(base.join("runs/demo")).expect("runs/");
    std::fs::write(base.join("runs/demo/summary.json"), r#"{"name": "demo"}"#).expect("file");
    let s = Server::start(base.clone()).await;
    let url = format!("http://{}/", s.addr);
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/playground");
    let script = dir.join("playground.mjs");
    let result = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(&script)
            .arg(&url)
            .arg(&out)
            .output()
    })
    .await
    .expect("join");
    let output = result.expect("run node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "browser test failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("browser test passed"), "{stdout}");
    s.stop().await;
    let _ = std::fs::remove_dir_all(base);
}
