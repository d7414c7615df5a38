//! `janus audit verify`: walk the hash chain from the first event to the head.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use janus_core::audit::ChainVerifier;

const PAGE: i64 = 1_000;

pub async fn verify(config: Option<&Path>, database_url: Option<String>) -> anyhow::Result<ExitCode> {
    let (store, _) = super::open_store(config, database_url).await?;
    // Read the head first: events appended while we walk are beyond it and not checked.
    let (head_seq, head_hash) = store
        .audit_head()
        .await
        .context("cannot read the audit chain head")?;
    let mut verifier = ChainVerifier::default();
    let mut after = 0;
    let outcome = 'walk: loop {
        let page = store
            .audit_page(after, PAGE)
            .await
            .context("cannot read the audit log")?;
        let Some(last) = page.last() else {
            break 'walk verifier.finish(head_seq, &head_hash);
        };
        after = last.seq;
        for record in page.iter().take_while(|record| record.seq <= head_seq) {
            if let Err(broken) = verifier.push(record) {
                break 'walk Err(broken);
            }
        }
        if after >= head_seq {
            break verifier.finish(head_seq, &head_hash);
        }
    };
    store.close().await;
    match outcome {
        Ok(count) => {
            println!("audit chain intact: {count} events verified");
            Ok(ExitCode::SUCCESS)
        }
        Err(broken) => {
            println!("audit chain BROKEN at event {}: {broken}", broken.seq());
            Ok(ExitCode::from(1))
        }
    }
}
