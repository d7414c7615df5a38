//! Dependencies point inward (CONVENTIONS.md): core names no web, chat or Kubernetes crate,
//! the adapters never talk SQL, and the agent never links the engine: neither `janus-core`
//! nor sqlx is anywhere in its dependency graph, only the shared wire types (`janus-wire`).

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

fn cargo_metadata(extra: &[&str]) -> serde_json::Value {
    let output = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--offline"])
        .args(extra)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Direct dependency names of each workspace crate, from `cargo metadata`.
fn workspace_dependencies() -> BTreeMap<String, Vec<String>> {
    let metadata = cargo_metadata(&["--no-deps"]);
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

/// The resolved package graph: package id → name, and package id → the ids it depends on
/// as a normal dependency (what ends up linked; dev and build dependencies are left out).
#[derive(Debug, Default)]
struct Graph {
    names: BTreeMap<String, String>,
    normal: BTreeMap<String, Vec<String>>,
}

impl Graph {
    /// From `cargo metadata` with dependencies resolved (its `resolve` section).
    fn resolved() -> Graph {
        let metadata = cargo_metadata(&[]);
        let mut graph = Graph::default();
        for package in metadata["packages"].as_array().unwrap() {
            graph.names.insert(
                package["id"].as_str().unwrap().to_owned(),
                package["name"].as_str().unwrap().to_owned(),
            );
        }
        for node in metadata["resolve"]["nodes"].as_array().unwrap() {
            let normal = node["deps"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|dependency| {
                    dependency["dep_kinds"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|kind| kind["kind"].is_null())
                })
                .map(|dependency| dependency["pkg"].as_str().unwrap().to_owned())
                .collect();
            graph
                .normal
                .insert(node["id"].as_str().unwrap().to_owned(), normal);
        }
        graph
    }

    /// A graph written by hand: `(package, its normal dependencies)`, names as ids.
    fn of(edges: &[(&str, &[&str])]) -> Graph {
        let mut graph = Graph::default();
        for (package, dependencies) in edges {
            for name in std::iter::once(package).chain(dependencies.iter()) {
                graph.names.insert((*name).to_owned(), (*name).to_owned());
            }
            graph.normal.insert(
                (*package).to_owned(),
                dependencies.iter().map(|name| (*name).to_owned()).collect(),
            );
        }
        graph
    }

    /// Names of every package `package` links, directly or not (itself excluded).
    fn transitive_dependencies(&self, package: &str) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut pending: Vec<&String> = self
            .names
            .iter()
            .filter(|(_, name)| name.as_str() == package)
            .map(|(id, _)| id)
            .collect();
        assert!(!pending.is_empty(), "{package} is not in the graph");
        let roots: BTreeSet<&String> = pending.iter().copied().collect();
        while let Some(id) = pending.pop() {
            for dependency in self.normal.get(id).into_iter().flatten() {
                if seen.insert(dependency) {
                    pending.push(dependency);
                }
            }
        }
        seen.into_iter()
            .filter(|id| !roots.contains(id))
            .map(|id| self.names[id].clone())
            .collect()
    }

    /// Which of `forbidden` `package` links, directly or not.
    fn forbidden_in(&self, package: &str, forbidden: &[&str]) -> Vec<String> {
        let linked = self.transitive_dependencies(package);
        forbidden
            .iter()
            .filter(|name| linked.contains(**name))
            .map(|name| (*name).to_owned())
            .collect()
    }
}

/// What the agent, and the wire types it builds on, must never link: the engine and the
/// database driver.
const ENGINE: [&str; 5] = ["janus-core", "sqlx", "sqlx-core", "sqlx-sqlite", "sqlx-postgres"];

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
        "janus-wire",
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
        "janus-agent",
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
    }
    for adapter in ["janus-bot", "janus-web"] {
        assert!(
            crates[adapter].contains(&"janus-core".to_owned()),
            "{adapter} builds on janus-core"
        );
    }
    assert!(
        crates["janus-agent"].contains(&"janus-wire".to_owned()),
        "the agent builds on janus-wire"
    );
    assert!(
        !crates["janus-agent"].contains(&"janus-core".to_owned()),
        "the agent does not link the engine"
    );
    assert!(
        !crates["janus-agent"].contains(&"janus-web".to_owned()),
        "the agent talks to central over HTTP only"
    );
    assert!(
        crates["janus-core"].contains(&"janus-wire".to_owned()),
        "core re-exports the wire types"
    );
    let wire = &crates["janus-wire"];
    for forbidden in ["janus-core", "sqlx", "axum", "kube", "k8s-openapi"] {
        assert!(
            !wire.contains(&forbidden.to_owned()),
            "janus-wire must not depend on {forbidden}"
        );
    }
}

#[test]
fn the_agent_links_neither_the_engine_nor_sqlx() {
    let graph = Graph::resolved();
    for package in ["janus-agent", "janus-wire"] {
        assert_eq!(
            graph.forbidden_in(package, &ENGINE),
            Vec::<String>::new(),
            "{package} links the engine"
        );
    }
    // Not vacuous: the walk does reach the agent's real dependencies, deep ones included.
    let agent = graph.transitive_dependencies("janus-agent");
    for linked in ["janus-wire", "kube", "kube-client", "ed25519-dalek", "tokio"] {
        assert!(agent.contains(linked), "janus-agent should link {linked}");
    }
}

#[test]
fn the_check_itself_can_fail() {
    // Guard against a vacuous test: core does have dependencies and sqlx is one of them.
    let crates = workspace_dependencies();
    assert!(crates["janus-core"].contains(&"sqlx".to_owned()));

    // The transitive check reports the engine where it is reachable only indirectly: the web
    // crate names no sqlx itself but links it through janus-core.
    let graph = Graph::resolved();
    assert!(!crates["janus-web"].contains(&"sqlx".to_owned()));
    assert_eq!(
        graph.forbidden_in("janus-web", &["janus-core", "sqlx", "sqlx-core"]),
        ["janus-core", "sqlx", "sqlx-core"]
    );
    // An agent that reached janus-core through a middle crate would be caught.
    let broken = Graph::of(&[
        ("janus-agent", &["janus-wire", "helper"]),
        ("janus-wire", &["serde"]),
        ("helper", &["janus-core"]),
        ("janus-core", &["sqlx"]),
        ("sqlx", &["sqlx-core"]),
    ]);
    assert_eq!(
        broken.forbidden_in("janus-agent", &ENGINE),
        ["janus-core", "sqlx", "sqlx-core"]
    );
}
