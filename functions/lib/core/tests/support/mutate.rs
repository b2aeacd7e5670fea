//! Structure-aware JSON mutation for the fuzz targets: start from a real,
//! valid document and change a few places in it the way broken or hostile
//! input does (a value of another type, a missing key, an odd string, a huge
//! number, an emptied or repeated list), so most inputs get deep into the code
//! instead of failing at the first field.

use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// Random JSON of any shape, up to a few levels deep.
pub fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        odd_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(key(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Keys that the documents DriftGuard reads actually use, and others.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "detail",
            "detail-type",
            "userIdentity",
            "type",
            "arn",
            "eventName",
            "eventSource",
            "errorCode",
            "requestParameters",
            "responseElements",
            "resources",
            "address",
            "change",
            "actions",
            "before",
            "after",
            "after_unknown",
            "before_sensitive",
            "resource_changes",
            "resource_drift",
            "configuration",
            "format_version",
            "check",
            "run",
            "drift",
            "status",
            "execution_id",
            "Records",
            "managementEvent",
        ])
        .prop_map(str::to_string),
        "[a-zA-Z_]{1,12}",
    ]
}

fn odd_string() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,24}",
        Just(String::new()),
        Just("arn:aws:iam::111122223333:role/x".into()),
        Just("signin.amazonaws.com".into()),
        Just("Terraform/1.9.0 terraform-provider-aws/5.100.0".into()),
        Just("aws_security_group.web[\"a\"]".into()),
        Just("\u{0}\u{ffff}\u{10ffff}".into()),
        Just("9".repeat(400)),
        Just("x".repeat(70_000)),
    ]
}

/// One way to change one place of a document.
#[derive(Debug, Clone)]
enum Mutation {
    Replace(Value),
    Remove,
    EmptyContainer,
    RepeatElement,
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => arbitrary_json().prop_map(Mutation::Replace),
        2 => Just(Mutation::Remove),
        1 => Just(Mutation::EmptyContainer),
        1 => Just(Mutation::RepeatElement),
    ]
}

/// A seed document with one to four places changed.
pub fn mutated(seeds: Vec<Value>) -> impl Strategy<Value = Value> {
    assert!(!seeds.is_empty(), "no seed documents");
    (
        prop::sample::select(seeds),
        prop::collection::vec((any::<prop::sample::Index>(), mutation()), 1..5),
    )
        .prop_map(|(mut document, mutations)| {
            for (index, mutation) in mutations {
                let paths = paths(&document);
                let path = &paths[index.index(paths.len())];
                apply(&mut document, path, mutation);
            }
            document
        })
}

/// A step into a document: an object key or an array index.
#[derive(Debug, Clone)]
enum Step {
    Key(String),
    Index(usize),
}

/// Paths to (up to 4,096 of) the document's places, the root included.
fn paths(document: &Value) -> Vec<Vec<Step>> {
    let mut found = vec![Vec::new()];
    let mut queue = vec![(Vec::new(), document)];
    while let Some((path, value)) = queue.pop() {
        if found.len() >= 4_096 {
            break;
        }
        let children: Vec<(Step, &Value)> = match value {
            Value::Object(map) => map.iter().map(|(k, v)| (Step::Key(k.clone()), v)).collect(),
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, v)| (Step::Index(i), v))
                .collect(),
            _ => continue,
        };
        for (step, child) in children {
            let mut child_path = path.clone();
            child_path.push(step);
            found.push(child_path.clone());
            queue.push((child_path, child));
        }
    }
    found
}

fn apply(document: &mut Value, path: &[Step], mutation: Mutation) {
    let Some((last, parent_path)) = path.split_last() else {
        // The root itself.
        match mutation {
            Mutation::Replace(v) => *document = v,
            Mutation::Remove | Mutation::EmptyContainer => *document = empty_like(document),
            Mutation::RepeatElement => {}
        }
        return;
    };
    let mut parent = &mut *document;
    for step in parent_path {
        parent = match (step, parent) {
            (Step::Key(k), Value::Object(map)) => match map.get_mut(k) {
                Some(v) => v,
                None => return,
            },
            (Step::Index(i), Value::Array(items)) => match items.get_mut(*i) {
                Some(v) => v,
                None => return,
            },
            _ => return,
        };
    }
    match (last, parent) {
        (Step::Key(k), Value::Object(map)) => match mutation {
            Mutation::Replace(v) => {
                map.insert(k.clone(), v);
            }
            Mutation::Remove => {
                map.remove(k);
            }
            Mutation::EmptyContainer => {
                if let Some(v) = map.get_mut(k) {
                    *v = empty_like(v);
                }
            }
            Mutation::RepeatElement => {
                if let Some(Value::Array(items)) = map.get_mut(k)
                    && let Some(first) = items.first().cloned()
                {
                    items.extend(std::iter::repeat_n(first, 3));
                }
            }
        },
        (Step::Index(i), Value::Array(items)) if *i < items.len() => match mutation {
            Mutation::Replace(v) => items[*i] = v,
            Mutation::Remove => {
                items.remove(*i);
            }
            Mutation::EmptyContainer => items[*i] = empty_like(&items[*i]),
            Mutation::RepeatElement => {
                let again = items[*i].clone();
                items.insert(*i, again);
            }
        },
        _ => {}
    }
}

fn empty_like(value: &Value) -> Value {
    match value {
        Value::Object(_) => Value::Object(Map::new()),
        Value::Array(_) => Value::Array(Vec::new()),
        Value::String(_) => Value::String(String::new()),
        _ => Value::Null,
    }
}
