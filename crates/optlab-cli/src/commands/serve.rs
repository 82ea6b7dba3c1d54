//! `optlab serve`: the interactive playground in the browser (crates/optlab-serve).

use std::net::{IpAddr, SocketAddr};

use anyhow::Context;

/// Arguments of `optlab serve`.
#[derive(clap::Args)]
pub struct Args {
    /// Port to listen on (0: any free port).
    #[arg(long, default_value_t = 7870)]
    port: u16,
    /// Address to bind; the default only accepts connections from this machine.
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// Do not open the page in the default browser.
    #[arg(long)]
    no_open: bool,
}

/// Serves the playground until Ctrl-C; `runs/` and `reports/` of the current directory are
/// browsable read-only.
pub fn run(args: Args) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async move {
        let addr = SocketAddr::new(args.host, args.port);
        let listener = optlab_serve::bind(addr).await.map_err(|e| {
            let hint = if e.kind() == std::io::ErrorKind::AddrInUse {
                " (the port is in use: `--port 0` picks a free one)"
            } else {
                ""
            };
            anyhow::anyhow!("cannot listen on {addr}: {e}{hint}")
        })?;
        let local = listener.local_addr()?;
        let host = if local.ip().is_unspecified() {
            "127.0.0.1".to_string()
        } else if local.is_ipv6() {
            format!("[{}]", local.ip())
        } else {
            local.ip().to_string()
        };
        let url = format!("http://{host}:{}/", local.port());
        println!("optlab playground at {url}  (Ctrl-C stops it)");
        if !args.host.is_loopback() {
            println!(
                "note: listening on {}, reachable from other machines",
                args.host
            );
        }
        if !args.no_open {
            open_browser(&url);
        }
        let base = std::env::current_dir().context("cannot read the current directory")?;
        optlab_serve::serve(listener, base, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .context("server error")?;
        println!("stopped");
        Ok(())
    })
}

/// Opens `url` in the default browser (xdg-open, open, start); prints a note if none works.
fn open_browser(url: &str) {
    let cmd: &[&str] = if cfg!(target_os = "macos") {
        &["open"]
    } else if cfg!(windows) {
        &["cmd", "/C", "start", ""]
    } else {
        &["xdg-open"]
    };
    let spawned = std::process::Command::new(cmd[0])
        .args(&cmd[1..])
        .arg(url)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    match spawned {
        // reap it when it exits (xdg-open returns once the browser is asked)
        Ok(mut child) => {
            std::thread::spawn(move || child.wait());
        }
        Err(_) => println!("(could not open a browser; open the URL above yourself)"),
    }
}
