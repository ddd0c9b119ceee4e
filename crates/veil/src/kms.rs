//! `veil kms serve`: the key broker from its configuration file, over HTTP.

use std::path::Path;
use std::sync::Arc;

use anyhow::Result;

use crate::cli::{AuditCommand, KmsCommand};

/// Run `veil kms …`.
pub fn run(command: KmsCommand) -> Result<()> {
    match command {
        KmsCommand::Serve { config } => serve(&config),
        KmsCommand::TokenKey { url, token } => token_key(&url, token),
        KmsCommand::Audit { command: AuditCommand::Verify { log, head } } => audit_verify(&log, head),
    }
}

/// Run the broker until interrupted; prints `listening on http://ADDR` first.
fn serve(config_path: &Path) -> Result<()> {
    crate::init_tracing();
    crate::runtime()?.block_on(async move {
        let (cfg, broker) = veil_stack::kms::load(config_path, None).await?;
        veil_stack::kms::publish_before_serving(&cfg, config_path).await?;
        tracing::info!(audit_log = %cfg.audit_log.display(), "key broker starting");
        let app = veil_kms_http::router(Arc::new(broker), crate::unix_now);
        crate::serve(cfg.listen, app, false).await
    })
}

/// `veil kms token-key --url URL ID`: the key a token's data is sealed to.
fn token_key(url: &str, token: veil_protocol::TokenId) -> Result<()> {
    let key = crate::runtime()?.block_on(veil_kms_client::KmsClient::new(url).token_public_key(token))?;
    outln!("{key}");
    Ok(())
}

/// `veil kms audit verify LOG [--head H]`: exit 1 on any edited, dropped or
/// reordered entry.
fn audit_verify(log: &Path, expected: Option<veil_audit::Head>) -> Result<()> {
    let h = match veil_audit::verify(log, expected) {
        Ok(h) => h,
        Err(veil_audit::AuditError::Io(e)) => {
            return Err(anyhow::Error::new(e).context(format!("reading {}", log.display())));
        }
        Err(e) => return Err(e.into()),
    };
    outln!("audit log intact: {} entries, head {h}", h.len);
    Ok(())
}
