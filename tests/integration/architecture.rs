//! Dependencies point inward (CONVENTIONS.md): core names no web, chat or Kubernetes crate,
//! and the adapters never talk SQL.

use std::collections::BTreeMap;
use std::process::Command;

/// Direct dependency names of each workspace crate, from `cargo metadata`.
fn workspace_dependencies() -> BTreeMap<String, Vec<String>> {
    let output = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--no-deps", "--offline"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|package| {
            let names = package["dependencies"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|dependency| dependency["kind"].is_null()) // normal, not dev/build
                .map(|dependency| dependency["name"].as_str().unwrap().to_owned())
                .collect();
            (package["name"].as_str().unwrap().to_owned(), names)
        })
        .collect()
}

#[test]
fn dependencies_point_inward() {
    let crates = workspace_dependencies();
    for name in [
        "janus",
        "janus-core",
        "janus-bot",
        "janus-web",
        "janus-agent",
        "janus-fixtures",
    ] {
        assert!(crates.contains_key(name), "workspace crate {name} is missing");
    }
    let core = &crates["janus-core"];
    for forbidden in [
        "axum",
        "slack-morphism",
        "serenity",
        "kube",
        "kube-client",
        "k8s-openapi",
        "janus-web",
        "janus-bot",
    ] {
        assert!(
            !core.contains(&forbidden.to_owned()),
            "janus-core must not depend on {forbidden}"
        );
    }
    for adapter in ["janus-bot", "janus-web", "janus-agent"] {
        assert!(
            !crates[adapter].contains(&"sqlx".to_owned()),
            "{adapter} must not depend on sqlx"
        );
        assert!(
            crates[adapter].contains(&"janus-core".to_owned()),
            "{adapter} builds on janus-core"
        );
    }
    assert!(
        !crates["janus-agent"].contains(&"janus-web".to_owned()),
        "the agent talks to central over HTTP only"
    );
}

#[test]
fn the_check_itself_can_fail() {
    // Guard against a vacuous test: core does have dependencies and sqlx is one of them.
    let crates = workspace_dependencies();
    assert!(crates["janus-core"].contains(&"sqlx".to_owned()));
}
