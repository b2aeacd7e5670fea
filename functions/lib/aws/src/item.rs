//! JSON ⇄ DynamoDB attribute values, so records are stored as native maps
//! and lists (readable in the console) without a mapping crate.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Map, Number, Value};

use driftguard_core::error::{Error, Result};

/// A JSON object → a DynamoDB item. Nulls are dropped (absent = none).
pub fn to_item(value: &Value) -> Result<HashMap<String, AttributeValue>> {
    match value {
        Value::Object(map) => Ok(map
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| (k.clone(), to_attribute(v)))
            .collect()),
        _ => Err(Error::InvalidInput(
            "a DynamoDB item must be a JSON object".into(),
        )),
    }
}

pub fn to_attribute(value: &Value) -> AttributeValue {
    match value {
        Value::Null => AttributeValue::Null(true),
        Value::Bool(b) => AttributeValue::Bool(*b),
        Value::Number(n) => AttributeValue::N(n.to_string()),
        Value::String(s) => AttributeValue::S(s.clone()),
        Value::Array(items) => AttributeValue::L(items.iter().map(to_attribute).collect()),
        Value::Object(map) => AttributeValue::M(
            map.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), to_attribute(v)))
                .collect(),
        ),
    }
}

/// A DynamoDB item → a JSON object.
pub fn from_item(item: &HashMap<String, AttributeValue>) -> Value {
    Value::Object(
        item.iter()
            .map(|(k, v)| (k.clone(), from_attribute(v)))
            .collect::<Map<_, _>>(),
    )
}

pub fn from_attribute(value: &AttributeValue) -> Value {
    match value {
        AttributeValue::S(s) => Value::String(s.clone()),
        AttributeValue::N(n) => n
            .parse::<i64>()
            .map(Value::from)
            .ok()
            .or_else(|| {
                n.parse::<f64>()
                    .ok()
                    .and_then(Number::from_f64)
                    .map(Value::Number)
            })
            .unwrap_or(Value::Null),
        AttributeValue::Bool(b) => Value::Bool(*b),
        AttributeValue::L(items) => Value::Array(items.iter().map(from_attribute).collect()),
        AttributeValue::M(map) => from_item(map),
        AttributeValue::Ss(items) => {
            Value::Array(items.iter().cloned().map(Value::String).collect())
        }
        AttributeValue::Ns(items) => Value::Array(
            items
                .iter()
                .filter_map(|n| n.parse::<i64>().ok())
                .map(Value::from)
                .collect(),
        ),
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trips_nested_json_without_nulls() {
        let value = json!({"a": "x", "n": 3, "f": 1.5, "b": true, "l": [1, "two", {"k": false}], "m": {"z": []}, "gone": null});
        let item = to_item(&value).unwrap();
        assert!(!item.contains_key("gone"));
        let back = from_item(&item);
        let mut expected = value.clone();
        expected.as_object_mut().unwrap().remove("gone");
        assert_eq!(back, expected);
    }

    #[test]
    fn rejects_non_objects() {
        assert!(to_item(&json!([1])).is_err());
    }
}
