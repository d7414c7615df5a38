//! The shape of the configuration tree, and the passes that work on the untyped YAML tree before it is
//! deserialized: environment overrides, `…File` secrets, and the unknown-key and type walk.
//!
//! The schema is written out by hand so the walk can report every unknown key and wrong type at once
//! (serde stops at the first) and so environment values can be typed by the key they set. A test keeps
//! it identical to the keys that `Config::default()` serializes.

use std::path::Path;

use serde_norway::{Mapping, Value};

use super::Problems;

/// What a key holds.
#[derive(Debug)]
pub(super) enum Shape {
    Text,
    /// Text that may instead come from a sibling `<key>File`.
    Secret,
    /// A non-negative integer no larger than the bound.
    Whole(u64),
    Flag,
    OneOf(&'static [&'static str]),
    List(Box<Shape>),
    Record(Vec<(&'static str, Shape)>),
    /// A mapping with free-form keys.
    Dictionary(Box<Shape>),
}

static TEXT: Shape = Shape::Text;

impl Shape {
    /// The shape of `key` inside this one; `<secret>File` keys are text.
    pub(super) fn child(&self, key: &str) -> Option<&Shape> {
        match self {
            Shape::Record(fields) => fields
                .iter()
                .find(|(name, _)| *name == key)
                .map(|(_, shape)| shape)
                .or_else(|| {
                    let secret = key.strip_suffix("File")?;
                    fields
                        .iter()
                        .any(|(name, shape)| *name == secret && matches!(shape, Shape::Secret))
                        .then_some(&TEXT)
                }),
            Shape::Dictionary(item) => Some(item),
            _ => None,
        }
    }
}

fn list(item: Shape) -> Shape {
    Shape::List(Box::new(item))
}

const SECONDS: Shape = Shape::Whole(u64::MAX);
const COUNT: Shape = Shape::Whole(u32::MAX as u64);

/// The configuration's keys, mirroring the structs in `config.rs`.
pub(super) fn schema() -> Shape {
    use Shape::{Flag, OneOf, Record, Secret, Text};
    let janus = Record(vec![
        ("defaultTtlSeconds", SECONDS),
        ("maxTtlSeconds", SECONDS),
        ("approvalTtlOptions", list(SECONDS)),
        ("pendingExpirySeconds", SECONDS),
        ("grantTimeoutSeconds", SECONDS),
        ("idleTimeoutSeconds", SECONDS),
        ("retentionSeconds", SECONDS),
        ("displayTimezone", Text),
        ("adminEmails", list(Text)),
        ("excludedNamespaces", list(Text)),
        (
            "limits",
            Record(vec![("requestsPerHour", COUNT), ("liveRequestsPerUser", COUNT)]),
        ),
    ]);
    let oidc = Record(vec![
        (
            "provider",
            OneOf(&["google", "entra", "okta", "gitlab", "custom"]),
        ),
        ("issuerUrl", Text),
        ("tenantId", Text),
        ("clientId", Text),
        ("clientSecret", Secret),
        ("allowedDomains", list(Text)),
        ("groupsClaim", Text),
    ]);
    let github = Record(vec![
        ("clientId", Text),
        ("clientSecret", Secret),
        ("webBaseUrl", Text),
        ("apiBaseUrl", Text),
        ("allowedDomains", list(Text)),
    ]);
    let auth = Record(vec![
        ("mode", OneOf(&["local", "oidc", "github", "header"])),
        ("oidc", oidc),
        ("github", github),
        (
            "header",
            Record(vec![("name", Text), ("trustedProxyCidrs", list(Text))]),
        ),
    ]);
    let links = Record(vec![
        ("mode", OneOf(&["sso", "link"])),
        ("ttlSeconds", SECONDS),
        ("keys", list(Record(vec![("kid", Text), ("secret", Secret)]))),
    ]);
    let slack = Record(vec![
        ("enabled", Flag),
        ("botToken", Secret),
        ("signingSecret", Secret),
        ("apiBaseUrl", Text),
    ]);
    let discord = Record(vec![
        ("enabled", Flag),
        ("applicationId", Text),
        ("publicKey", Secret),
        ("botToken", Secret),
        ("apiBaseUrl", Text),
        ("users", Shape::Dictionary(Box::new(Text))),
    ]);
    let cluster = Record(vec![
        ("name", Text),
        ("displayName", Text),
        ("approvers", list(Text)),
        ("approverGroups", list(Text)),
        ("approvalsRequired", COUNT),
        ("slackChannel", Text),
        ("discordChannel", Text),
        (
            "agent",
            Record(vec![
                ("auth", OneOf(&["enrollment", "tokenreview", "issuer"])),
                ("issuerUrl", Text),
                ("serviceAccount", Text),
                ("audience", Text),
                ("apiServerUrl", Text),
                ("tokenFile", Text),
            ]),
        ),
    ]);
    let agent = Record(vec![
        ("centralUrl", Text),
        ("clusterName", Text),
        ("joinTokenFile", Text),
        ("kubeconfig", Text),
        ("auth", OneOf(&["enrollment", "serviceaccount"])),
        ("keyFile", Text),
        ("serviceAccountTokenFile", Text),
        ("apiServerUrl", Text),
        ("tokenFile", Text),
        ("embedded", Flag),
        ("sweepIntervalSeconds", SECONDS),
    ]);
    Record(vec![
        ("janus", janus),
        ("database", Record(vec![("url", Secret)])),
        ("webui", Record(vec![("listen", Text), ("baseUrl", Text)])),
        ("auth", auth),
        ("links", links),
        ("slack", slack),
        ("discord", discord),
        ("clusters", list(cluster)),
        ("agent", agent),
        (
            "terminal",
            Record(vec![("recordingMaxBytes", Shape::Whole(u64::MAX))]),
        ),
    ])
}

/// One step of a path into the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Segment {
    Key(String),
    Index(usize),
}

pub(super) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// Sets the value at `path` if every step already exists (used to blank unset secrets when printing).
pub(super) fn set_existing(tree: &mut Value, path: &[Segment], value: Value) {
    let mut node = tree;
    for segment in path {
        let next = match segment {
            Segment::Key(key) => node.get_mut(key.as_str()),
            Segment::Index(index) => node.get_mut(*index),
        };
        match next {
            Some(next) => node = next,
            None => return,
        }
    }
    *node = value;
}

/// `SIGNING_SECRET` → `signingSecret`; a segment with lower-case letters is kept as written.
fn camel_case(segment: &str) -> String {
    if segment.chars().any(|character| character.is_ascii_lowercase()) {
        return segment.to_owned();
    }
    let mut out = String::with_capacity(segment.len());
    for (index, word) in segment.split('_').filter(|word| !word.is_empty()).enumerate() {
        let word = word.to_ascii_lowercase();
        let mut characters = word.chars();
        if index > 0
            && let Some(first) = characters.next()
        {
            out.push(first.to_ascii_uppercase());
            out.push_str(characters.as_str());
        } else {
            out.push_str(&word);
        }
    }
    out
}

/// Applies every `JANUS_<A>__<B>` variable to the tree (see the module documentation of `config`).
pub(super) fn apply_env(tree: &mut Value, env: &[(String, String)], shape: &Shape, problems: &mut Problems) {
    for (variable, raw) in env {
        let Some(rest) = variable.strip_prefix("JANUS_") else {
            continue;
        };
        if !rest.contains("__") {
            continue;
        }
        let segments: Vec<String> = rest.split("__").map(camel_case).collect();
        if segments.iter().any(String::is_empty) {
            problems.add(
                variable.clone(),
                "does not name a configuration key; write JANUS_SECTION__KEY with non-empty parts.",
            );
            continue;
        }
        let mut setting = EnvSetting {
            variable,
            raw,
            problems,
        };
        setting.set(tree, &segments, Some(shape), String::new());
    }
}

struct EnvSetting<'a> {
    variable: &'a str,
    raw: &'a str,
    problems: &'a mut Problems,
}

impl EnvSetting<'_> {
    fn set(&mut self, node: &mut Value, segments: &[String], shape: Option<&Shape>, path: String) {
        let Some((first, rest)) = segments.split_first() else {
            *node = self.value_for(shape);
            self.problems.origins.insert(path, self.variable.to_owned());
            return;
        };
        let wants_list = matches!(shape, Some(Shape::List(_)));
        let is_index = first.bytes().all(|byte| byte.is_ascii_digit());
        if is_index && (node.is_sequence() || (wants_list && node.is_null())) {
            let item_shape = match shape {
                Some(Shape::List(item)) => Some(&**item),
                _ => None,
            };
            if node.is_null() {
                *node = Value::Sequence(Vec::new());
            }
            let Some(items) = node.as_sequence_mut() else {
                return;
            };
            let length = items.len();
            match first.parse::<usize>() {
                Ok(index) if index <= length => {
                    if index == length {
                        items.push(Value::Null);
                    }
                    if let Some(item) = items.get_mut(index) {
                        self.set(item, rest, item_shape, format!("{path}[{index}]"));
                    }
                }
                _ => {
                    let key = format!("{path}[{first}]");
                    self.problems
                        .origins
                        .insert(key.clone(), self.variable.to_owned());
                    let message = format!(
                        "index {first} is past the end of the list, which has {length} entries; use an index up to {length}."
                    );
                    self.problems.add(key, message);
                }
            }
            return;
        }
        if !node.is_mapping() {
            *node = Value::Mapping(Mapping::new());
        }
        let Some(mapping) = node.as_mapping_mut() else {
            return;
        };
        if rest.is_empty() {
            self.drop_file_sibling(mapping, shape, first, &path);
        }
        let child_shape = shape.and_then(|shape| shape.child(first));
        let child = mapping.entry(Value::String(first.clone())).or_insert(Value::Null);
        self.set(child, rest, child_shape, join(&path, first));
    }

    /// Text keys take the raw text; other keys read it as a YAML flow value.
    fn value_for(&self, shape: Option<&Shape>) -> Value {
        match shape {
            Some(Shape::Text | Shape::Secret | Shape::OneOf(_)) => Value::String(self.raw.to_owned()),
            _ => serde_norway::from_str(self.raw).unwrap_or_else(|_| Value::String(self.raw.to_owned())),
        }
    }

    /// Environment wins over the file: `x` from the environment drops the file's `xFile` and back.
    fn drop_file_sibling(&self, mapping: &mut Mapping, parent: Option<&Shape>, key: &str, path: &str) {
        let is_secret =
            |name: &str| matches!(parent.and_then(|shape| shape.child(name)), Some(Shape::Secret));
        let sibling = match key.strip_suffix("File") {
            Some(secret) if is_secret(secret) => secret.to_owned(),
            _ if is_secret(key) => format!("{key}File"),
            _ => return,
        };
        if !self.problems.origins.contains_key(&join(path, &sibling)) {
            mapping.remove(sibling.as_str());
        }
    }
}

/// Replaces every `<secret>File` key by the contents of the file it names.
pub(super) fn resolve_files(
    node: &mut Value,
    shape: &Shape,
    path: &str,
    read_file: &dyn Fn(&Path) -> std::io::Result<String>,
    problems: &mut Problems,
) {
    match (shape, node) {
        (Shape::Record(fields), Value::Mapping(mapping)) => {
            for (name, field_shape) in fields {
                if matches!(field_shape, Shape::Secret) {
                    resolve_file(mapping, name, path, read_file, problems);
                }
                if let Some(child) = mapping.get_mut(*name) {
                    resolve_files(child, field_shape, &join(path, name), read_file, problems);
                }
            }
        }
        (Shape::List(item), Value::Sequence(items)) => {
            for (index, child) in items.iter_mut().enumerate() {
                resolve_files(child, item, &format!("{path}[{index}]"), read_file, problems);
            }
        }
        (Shape::Dictionary(item), Value::Mapping(mapping)) => {
            for (key, child) in mapping.iter_mut() {
                let key = key.as_str().unwrap_or_default();
                resolve_files(child, item, &join(path, key), read_file, problems);
            }
        }
        _ => {}
    }
}

fn resolve_file(
    mapping: &mut Mapping,
    name: &str,
    path: &str,
    read_file: &dyn Fn(&Path) -> std::io::Result<String>,
    problems: &mut Problems,
) {
    let file_key = format!("{name}File");
    let Some(file_value) = mapping.remove(file_key.as_str()) else {
        return;
    };
    let file_path = join(path, &file_key);
    let file = match file_value {
        Value::Null => return,
        Value::String(file) if file.trim().is_empty() => return,
        Value::String(file) => file,
        _ => {
            problems.add(
                file_path,
                "must be the path of a file holding the secret, written as text.",
            );
            return;
        }
    };
    let value_is_set = match mapping.get(name) {
        None | Some(Value::Null) => false,
        Some(Value::String(text)) => !text.is_empty(),
        Some(_) => true,
    };
    if value_is_set {
        problems.add(
            join(path, name),
            format!("is set both directly and through `{file_key}`; keep only one of the two."),
        );
        return;
    }
    match read_file(Path::new(file.trim())) {
        Ok(contents) => {
            mapping.insert(
                Value::String(name.to_owned()),
                Value::String(contents.trim_end().to_owned()),
            );
        }
        Err(error) => problems.add(
            file_path,
            format!(
                "cannot read the secret file `{}`: {error}; mount the file there or remove the key.",
                file.trim()
            ),
        ),
    }
}

/// Checks the tree against the schema, reporting unknown keys and wrong types and dropping them.
/// Returns false when `node` itself must be dropped (the default then applies).
pub(super) fn check(node: &mut Value, shape: &Shape, path: &str, problems: &mut Problems) -> bool {
    let wrong = |problems: &mut Problems, expected: &str, node: &Value| {
        problems.add(path, format!("must be {expected}, not {}.", describe(node)));
        false
    };
    match (shape, &mut *node) {
        (_, Value::Null) => false,
        (Shape::Text | Shape::Secret, Value::String(_)) => true,
        (Shape::Text | Shape::Secret, Value::Number(number)) if number.is_i64() || number.is_u64() => {
            *node = Value::String(number.to_string());
            true
        }
        (Shape::Text | Shape::Secret, _) => wrong(problems, "text (put it in quotes)", node),
        (Shape::Whole(max), Value::Number(number)) => match number.as_u64() {
            Some(value) if value <= *max => true,
            Some(_) => {
                problems.add(path, format!("is larger than the maximum of {max}."));
                false
            }
            None => wrong(problems, "a whole number of 0 or more", node),
        },
        (Shape::Whole(_), _) => wrong(problems, "a whole number of 0 or more", node),
        (Shape::Flag, Value::Bool(_)) => true,
        (Shape::Flag, _) => wrong(problems, "true or false", node),
        (Shape::OneOf(allowed), Value::String(text)) if allowed.contains(&text.as_str()) => true,
        (Shape::OneOf(allowed), Value::String(text)) => {
            let message = match suggestion(text, allowed.iter().copied()) {
                Some(close) => format!(
                    "`{text}` is not one of {}; did you mean `{close}`?",
                    allowed.join(", ")
                ),
                None => format!("`{text}` is not one of {}.", allowed.join(", ")),
            };
            problems.add(path, message);
            false
        }
        (Shape::OneOf(allowed), _) => wrong(problems, &format!("one of {}", allowed.join(", ")), node),
        (Shape::List(item), Value::Sequence(items)) => {
            let mut index = 0;
            items.retain_mut(|child| {
                let child_path = format!("{path}[{index}]");
                index += 1;
                if child.is_null() {
                    problems.add(child_path, "is an empty list entry; fill it in or remove it.");
                    return false;
                }
                check(child, item, &child_path, problems)
            });
            true
        }
        (Shape::List(_), _) => wrong(problems, "a list such as [a, b]", node),
        (Shape::Record(fields), Value::Mapping(mapping)) => {
            mapping.retain(|key, child| {
                let name = key_text(key);
                let child_path = join(path, &name);
                match fields.iter().find(|(field, _)| *field == name) {
                    Some((_, field_shape)) => check(child, field_shape, &child_path, problems),
                    None => {
                        let message = match suggestion(&name, fields.iter().map(|(field, _)| *field)) {
                            Some(close) => format!("unknown key; did you mean `{close}`?"),
                            None => "unknown key; remove it or fix its spelling.".to_owned(),
                        };
                        problems.add(child_path, message);
                        false
                    }
                }
            });
            true
        }
        (Shape::Dictionary(item), Value::Mapping(mapping)) => {
            let entries = std::mem::take(mapping);
            for (key, mut child) in entries {
                let name = key_text(&key);
                if check(&mut child, item, &join(path, &name), problems) {
                    mapping.insert(Value::String(name), child);
                }
            }
            true
        }
        (Shape::Record(_) | Shape::Dictionary(_), _) => wrong(problems, "a mapping of keys to values", node),
    }
}

/// A mapping key as text: strings as written, integers in decimal, anything else as YAML.
fn key_text(key: &Value) -> String {
    match key {
        Value::String(text) => text.clone(),
        Value::Number(number) => number.to_string(),
        other => serde_norway::to_string(other)
            .map(|text| text.trim().to_owned())
            .unwrap_or_default(),
    }
}

/// What kind of value was found, without repeating the value (it may be a secret).
fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "empty",
        Value::Bool(_) => "true/false",
        Value::Number(number) if number.is_f64() => "a number with a fraction",
        Value::Number(number) if number.as_i64().is_some_and(i64::is_negative) => "a negative number",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

/// The closest candidate within a small edit distance, for a "did you mean" hint.
fn suggestion<'a>(input: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let input_lower = input.to_ascii_lowercase();
    candidates
        .map(|candidate| {
            (
                edit_distance(&input_lower, &candidate.to_ascii_lowercase()),
                candidate,
            )
        })
        .filter(|(distance, _)| *distance <= 2.max(input.len() / 4))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

fn edit_distance(left: &str, right: &str) -> usize {
    let right: Vec<char> = right.chars().collect();
    let mut previous: Vec<usize> = (0..=right.len()).collect();
    for (row, left_char) in left.chars().enumerate() {
        let mut current = vec![row + 1];
        for (column, right_char) in right.iter().enumerate() {
            let substitution = previous[column] + usize::from(left_char != *right_char);
            let best = substitution
                .min(previous[column + 1] + 1)
                .min(current[column] + 1);
            current.push(best);
        }
        previous = current;
    }
    previous.last().copied().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camel_case_converts_screaming_snake_segments() {
        assert_eq!(camel_case("SIGNING_SECRET"), "signingSecret");
        assert_eq!(camel_case("DEFAULT_TTL_SECONDS"), "defaultTtlSeconds");
        assert_eq!(camel_case("URL"), "url");
        assert_eq!(camel_case("SIGNING_SECRET_FILE"), "signingSecretFile");
        assert_eq!(camel_case("123456789"), "123456789");
        assert_eq!(camel_case("botToken"), "botToken");
    }

    #[test]
    fn suggestions_pick_close_keys_only() {
        let keys = ["signingSecret", "botToken", "enabled"];
        assert_eq!(
            suggestion("signingSecrt", keys.into_iter()),
            Some("signingSecret")
        );
        assert_eq!(suggestion("somethingElse", keys.into_iter()), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    /// The hand-written schema lists exactly the keys the typed structs serialize.
    #[test]
    fn schema_matches_the_typed_configuration() {
        fn keys(value: &Value, shape: &Shape, path: &str, out: &mut Vec<String>) {
            match (value, shape) {
                (Value::Mapping(mapping), Shape::Record(fields)) => {
                    let names: Vec<&str> = mapping.keys().filter_map(Value::as_str).collect();
                    let field_names: Vec<&str> = fields.iter().map(|(name, _)| *name).collect();
                    assert_eq!(names, field_names, "keys of `{path}`");
                    for (name, field_shape) in fields {
                        keys(&mapping[*name], field_shape, &join(path, name), out);
                    }
                }
                (Value::Sequence(items), Shape::List(item)) => {
                    for child in items {
                        keys(child, item, &format!("{path}[]"), out);
                    }
                }
                (Value::Mapping(_), Shape::Dictionary(_)) => {}
                (Value::String(_), Shape::Text | Shape::Secret | Shape::OneOf(_)) => {}
                (Value::Number(_), Shape::Whole(_)) | (Value::Bool(_), Shape::Flag) => {}
                (value, shape) => panic!("`{path}`: {value:?} does not fit {shape:?}"),
            }
            out.push(path.to_owned());
        }
        let mut config = crate::config::Config::default();
        config.clusters.push(crate::config::ClusterConfig::default());
        let tree = serde_norway::to_value(&config).unwrap();
        let mut visited = Vec::new();
        keys(&tree, &schema(), "", &mut visited);
        assert!(visited.contains(&"clusters[].agent.issuerUrl".to_owned()));
    }
}
