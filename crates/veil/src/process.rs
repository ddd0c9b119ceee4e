//! What the process owns and hands to the libraries: the async runtime, the clock,
//! its own executable, and serving a role's router until interrupted.

use std::net::SocketAddr;

use anyhow::{Context, Result};

/// Log to stderr; `RUST_LOG` (read here, in the binary only) sets the filter.
pub fn init_tracing() {
    // arkworks wraps every gadget call in a span on target `gr1cs`; recording them
    // makes a proof hundreds of times slower.
    let directives = std::env::var("RUST_LOG").unwrap_or_else(|_| "info".to_owned());
    let filter = tracing_subscriber::EnvFilter::new(format!("{directives},gr1cs=off"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Unix seconds now (the binary owns the clock; libraries are handed it).
pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// `DIR/veil/<sub>` in the user's data directory (`$XDG_DATA_HOME` or the platform's
/// equivalent); `flag` names the option that replaces it when there is no home.
pub fn data_dir(sub: &str, flag: &str) -> Result<std::path::PathBuf> {
    let dirs = directories::ProjectDirs::from("", "", "veil")
        .with_context(|| format!("cannot find a home directory; pass {flag}"))?;
    Ok(dirs.data_dir().join(sub))
}

pub fn current_exe() -> Result<std::path::PathBuf> {
    std::env::current_exe().context("finding this executable")
}

/// Serve `app` on `listen`, printing `listening on http://ADDR` first, until Ctrl-C
/// (or, with `exit_with_stdin`, until stdin closes: a supervisor holds its other end).
pub async fn serve(listen: SocketAddr, app: axum::Router, exit_with_stdin: bool) -> Result<()> {
    let listener =
        tokio::net::TcpListener::bind(listen).await.with_context(|| format!("listening on {listen}"))?;
    let addr = listener.local_addr()?;
    outln!("listening on http://{addr}");
    tracing::info!(%addr, "serving");
    let stdin_closed = async move {
        if exit_with_stdin {
            veil_stack::stack::supervisor_gone().await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    // Connect info: the broker's per-client limits key on the peer's address.
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(async move {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                () = stdin_closed => {}
            }
        })
        .await
        .context("serving")
}
