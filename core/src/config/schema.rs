//! The shape of the configuration tree, and the passes that work on the untyped YAML tree before it is
//! deserialized: environment overrides, `…File` secrets, and the unknown-key and type walk.
//!
//! The shape is read from the JSON Schema that `schemars` derives from the typed structs
//! (`config/json_schema.rs`), so it cannot drift from them. The walk reports every unknown key and
//! wrong type at once (serde stops at the first), and environment values are typed by the key they set.

use std::path::Path;
use std::sync::LazyLock;

use serde_norway::{Mapping, Value};

use super::Problems;
use super::json_schema::{self, FROM_FILE};

/// What a key holds.
#[derive(Debug)]
pub(super) enum Shape {
    Text,
    /// Text that may instead come from a sibling `<key>File`.
    Secret,
    /// A non-negative integer no larger than the bound.
    Whole(u64),
    Flag,
    OneOf(Vec<String>),
    List(Box<Shape>),
    Record(Vec<(String, Shape)>),
    /// A mapping with free-form keys.
    Dictionary(Box<Shape>),
    /// A schema form the walk does not know; anything passes, and deserialization decides
    /// (a test checks the configuration has none).
    Any,
}

static TEXT: Shape = Shape::Text;

static SHAPE: LazyLock<Shape> = LazyLock::new(|| Shape::from_json_schema(&json_schema::derived()));

/// The configuration's keys, read from the schema derived from the structs in `config.rs`.
pub(super) fn schema() -> &'static Shape {
    &SHAPE
}

impl Shape {
    /// The shape of `key` inside this one; `<secret>File` keys are text.
    pub(super) fn child(&self, key: &str) -> Option<&Shape> {
        match self {
            Shape::Record(fields) => fields
                .iter()
                .find(|(name, _)| name == key)
                .map(|(_, shape)| shape)
                .or_else(|| {
                    let secret = key.strip_suffix("File")?;
                    fields
                        .iter()
                        .any(|(name, shape)| name == secret && matches!(shape, Shape::Secret))
                        .then_some(&TEXT)
                }),
            Shape::Dictionary(item) => Some(item),
            _ => None,
        }
    }

    /// Reads one (inline) JSON Schema: enumerations of text become [`Shape::OneOf`], objects with
    /// `properties` records, objects with `additionalProperties` dictionaries, and integers are bounded
    /// by their format (`uint32`, `uint64`).
    pub(super) fn from_json_schema(schema: &serde_json::Value) -> Shape {
        if schema.get(FROM_FILE).and_then(serde_json::Value::as_bool) == Some(true) {
            return Shape::Secret;
        }
        if let Some(values) = text_values(schema) {
            return Shape::OneOf(values);
        }
        let field = |name: &str| schema.get(name);
        match field("type").and_then(serde_json::Value::as_str) {
            Some("string") => Shape::Text,
            Some("boolean") => Shape::Flag,
            Some("integer") => match field("format").and_then(serde_json::Value::as_str) {
                Some("uint32") => Shape::Whole(u64::from(u32::MAX)),
                Some("uint64" | "uint") => Shape::Whole(u64::MAX),
                _ => Shape::Any,
            },
            Some("array") => match field("items") {
                Some(items) => Shape::List(Box::new(Shape::from_json_schema(items))),
                None => Shape::Any,
            },
            Some("object") => match (field("properties"), field("additionalProperties")) {
                (Some(serde_json::Value::Object(properties)), _) => Shape::Record(
                    properties
                        .iter()
                        .map(|(name, property)| (name.clone(), Shape::from_json_schema(property)))
                        .collect(),
                ),
                (None, Some(item @ serde_json::Value::Object(_))) => {
                    Shape::Dictionary(Box::new(Shape::from_json_schema(item)))
                }
                _ => Shape::Any,
            },
            _ => Shape::Any,
        }
    }
}

/// The allowed values of a text enumeration, in order: `enum`, `const`, or `oneOf` branches of those
/// (schemars writes a documented variant as its own `const` branch).
fn text_values(schema: &serde_json::Value) -> Option<Vec<String>> {
    if let Some(serde_json::Value::Array(values)) = schema.get("enum") {
        return values
            .iter()
            .map(|value| value.as_str().map(str::to_owned))
            .collect();
    }
    if let Some(value) = schema.get("const") {
        return value.as_str().map(|value| vec![value.to_owned()]);
    }
    let Some(serde_json::Value::Array(branches)) = schema.get("oneOf") else {
        return None;
    };
    let mut values = Vec::new();
    for branch in branches {
        values.extend(text_values(branch)?);
    }
    Some(values)
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
                if let Some(child) = mapping.get_mut(name.as_str()) {
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
        (Shape::OneOf(allowed), Value::String(text)) if allowed.contains(text) => true,
        (Shape::OneOf(allowed), Value::String(text)) => {
            let message = match suggestion(text, allowed.iter().map(String::as_str)) {
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
                        let message = match suggestion(&name, fields.iter().map(|(field, _)| field.as_str()))
                        {
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
        (Shape::Any, _) => true,
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

    /// The derived shape lists exactly the keys the typed structs serialize, each of the kind its
    /// value has, and no key of a form the walk does not know.
    #[test]
    fn shape_matches_the_typed_configuration() {
        fn keys(value: &Value, shape: &Shape, path: &str, out: &mut Vec<String>) {
            match (value, shape) {
                (Value::Mapping(mapping), Shape::Record(fields)) => {
                    let mut names: Vec<&str> = mapping.keys().filter_map(Value::as_str).collect();
                    names.sort_unstable();
                    let mut field_names: Vec<&str> = fields.iter().map(|(name, _)| name.as_str()).collect();
                    field_names.sort_unstable();
                    assert_eq!(names, field_names, "keys of `{path}`");
                    for (name, field_shape) in fields {
                        keys(&mapping[name.as_str()], field_shape, &join(path, name), out);
                    }
                }
                (Value::Sequence(items), Shape::List(item)) => {
                    for child in items {
                        keys(child, item, &format!("{path}[]"), out);
                    }
                }
                (Value::Mapping(_), Shape::Dictionary(item)) => {
                    assert!(matches!(**item, Shape::Text), "`{path}`: {item:?}");
                }
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
        keys(&tree, schema(), "", &mut visited);
        assert!(visited.contains(&"clusters[].agent.issuerUrl".to_owned()));
        assert_eq!(visited.len(), 97, "{visited:#?}");
    }

    /// Spot checks of what the derivation gives the walk.
    #[test]
    fn the_shape_keeps_secrets_bounds_and_choices() {
        let shape = schema();
        let at = |path: &[&str]| {
            path.iter()
                .try_fold(shape, |node, key| node.child(key))
                .unwrap_or_else(|| panic!("no {path:?}"))
        };
        for secret in [
            &["slack", "botToken"][..],
            &["slack", "signingSecret"],
            &["discord", "botToken"],
            &["discord", "publicKey"],
            &["database", "url"],
            &["auth", "oidc", "clientSecret"],
            &["auth", "github", "clientSecret"],
        ] {
            assert!(matches!(at(secret), Shape::Secret), "{secret:?}");
        }
        assert!(matches!(at(&["slack", "botTokenFile"]), Shape::Text));
        assert!(at(&["slack"]).child("apiBaseUrlFile").is_none());
        assert!(
            matches!(at(&["janus", "limits", "requestsPerHour"]), Shape::Whole(max) if *max == u64::from(u32::MAX))
        );
        assert!(matches!(at(&["janus", "maxTtlSeconds"]), Shape::Whole(u64::MAX)));
        assert!(matches!(at(&["slack", "enabled"]), Shape::Flag));
        let Shape::OneOf(modes) = at(&["auth", "mode"]) else {
            panic!("auth.mode is not a choice");
        };
        assert_eq!(modes, &["local", "oidc", "github", "header"]);
        let Shape::OneOf(providers) = at(&["auth", "oidc", "provider"]) else {
            panic!("auth.oidc.provider is not a choice");
        };
        assert_eq!(providers, &["google", "entra", "okta", "gitlab", "custom"]);
        let Shape::List(keys) = at(&["links", "keys"]) else {
            panic!("links.keys is not a list");
        };
        assert!(matches!(keys.child("secret"), Some(Shape::Secret)));
        assert!(matches!(at(&["discord", "users"]), Shape::Dictionary(_)));
    }
}
