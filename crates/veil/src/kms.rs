//! `veil kms serve`: the key broker from its configuration file, over HTTP.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};

/// Run the broker until interrupted; prints `listening on http://ADDR` first.
pub fn serve(config_path: &Path) -> Result<()> {
    let rt = crate::runtime()?;
    rt.block_on(async move {
        let (cfg, broker) = veil_stack::kms::load(config_path, None).await?;
        if broker.trusts_dev_roots() {
            tracing::warn!(
                roots = ?cfg.dev_roots,
                "trusting DEVELOPMENT roots: simulated TEEs will be accepted and every grant says dev_root: true; never do this in production"
            );
        }
        let listener = tokio::net::TcpListener::bind(cfg.listen)
            .await
            .with_context(|| format!("listening on {}", cfg.listen))?;
        let addr = listener.local_addr()?;
        outln!("listening on http://{addr}");
        tracing::info!(%addr, audit_log = %cfg.audit_log.display(), "key broker started");
        let app = veil_kms_http::router(Arc::new(broker), crate::unix_now);
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .context("serving")
    })
}
