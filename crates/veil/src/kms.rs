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

/// `veil kms token-key --url URL ID`: the key a token's data is sealed to.
pub fn token_key(url: &str, token: &str) -> Result<()> {
    let token: veil_protocol::TokenId = token.parse()?;
    let key = crate::runtime()?.block_on(veil_kms_client::KmsClient::new(url).token_public_key(token))?;
    outln!("{key}");
    Ok(())
}

/// `veil kms audit verify LOG [--head H]`: exit 1 on any edited, dropped or
/// reordered entry.
pub fn audit_verify(log: &Path, head: Option<String>) -> Result<std::process::ExitCode> {
    let expected = head
        .map(|h| h.parse::<veil_audit::Head>())
        .transpose()
        .map_err(anyhow::Error::msg)?;
    match veil_audit::verify(log, expected) {
        Ok(h) => outln!("audit log intact: {} entries, head {h}", h.len),
        Err(veil_audit::AuditError::Io(e)) => {
            return Err(anyhow::Error::new(e).context(format!("reading {}", log.display())));
        }
        Err(e) => {
            eprintln!("veil: {e}");
            return Ok(std::process::ExitCode::FAILURE);
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}
