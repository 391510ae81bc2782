use thiserror::Error;

/// Bad input: an event or a step input that cannot be acted on. It always names the field
/// (as a JSON path, e.g. `detail.responseElements.versionId`) and says what is wrong with it.
/// Returning it means nothing was changed.
#[derive(Clone, PartialEq, Eq, Error)]
#[error("invalid input: `{field}` {problem}")]
pub struct InputError {
    pub field: String,
    pub problem: String,
}

/// The sentence, also where Rust prints errors with `{:?}`: a `main` that returns one at
/// start-up (a missing setting under `sam local invoke`) prints "Error: invalid input:
/// `SECRET_NAME_PREFIXES` names no secret: ...", never a struct.
impl std::fmt::Debug for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

impl InputError {
    pub fn new(field: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            problem: problem.into(),
        }
    }

    pub fn missing(field: impl Into<String>) -> Self {
        Self::new(field, "is missing")
    }
}

/// Reads a field that must be a non-empty string, naming the field when it is not.
pub fn required_str<'a>(
    value: &'a serde_json::Value,
    path: &[&str],
) -> Result<&'a str, InputError> {
    match optional_str(value, path)? {
        Some(s) => Ok(s),
        None => Err(InputError::missing(path.join("."))),
    }
}

/// Reads a field that may be absent or null, but when present must be a non-empty string.
pub fn optional_str<'a>(
    value: &'a serde_json::Value,
    path: &[&str],
) -> Result<Option<&'a str>, InputError> {
    let mut current = value;
    for (depth, key) in path.iter().enumerate() {
        match current {
            serde_json::Value::Object(map) => match map.get(*key) {
                Some(serde_json::Value::Null) | None => return Ok(None),
                Some(next) => current = next,
            },
            serde_json::Value::Null => return Ok(None),
            other => {
                return Err(InputError::new(
                    path[..depth].join("."),
                    format!("must be an object, found {}", json_kind(other)),
                ))
            }
        }
    }
    match current {
        serde_json::Value::String(s) if s.trim().is_empty() => {
            Err(InputError::new(path.join("."), "must not be empty"))
        }
        serde_json::Value::String(s) => Ok(Some(s)),
        other => Err(InputError::new(
            path.join("."),
            format!("must be a string, found {}", json_kind(other)),
        )),
    }
}

pub fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// Deserialises a step input into `T`, turning serde's message into an [`InputError`] that
/// names the offending field (serde_json reports the path only as text, so we keep its words).
pub fn from_step_input<T: serde::de::DeserializeOwned>(
    what: &str,
    value: serde_json::Value,
) -> Result<T, InputError> {
    if !value.is_object() {
        return Err(InputError::new(
            what,
            format!("must be a JSON object, found {}", json_kind(&value)),
        ));
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        // A missing field is reported at its parent: name the field itself.
        let missing = inner
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next());
        let mut field = what.to_string();
        if path != "." {
            field = format!("{field}.{path}");
        }
        if let Some(name) = missing {
            field = format!("{field}.{name}");
        }
        InputError::new(field, inner)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn required_str_names_the_missing_path() {
        let v = json!({"detail": {"responseElements": {}}});
        let err = required_str(&v, &["detail", "responseElements", "versionId"]).unwrap_err();
        assert_eq!(err.field, "detail.responseElements.versionId");
        assert_eq!(err.problem, "is missing");
    }

    #[test]
    fn optional_str_rejects_wrong_types_with_the_path() {
        let v = json!({"detail": "oops"});
        let err = optional_str(&v, &["detail", "eventName"]).unwrap_err();
        assert_eq!(err.field, "detail");
        let v = json!({"detail": {"eventName": 3}});
        let err = optional_str(&v, &["detail", "eventName"]).unwrap_err();
        assert_eq!(err.field, "detail.eventName");
        assert!(err.problem.contains("a number"));
    }

    #[test]
    fn step_input_errors_name_the_field() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct S {
            stack: String,
        }
        let err = from_step_input::<S>("input", json!({})).unwrap_err();
        assert_eq!(err.field, "input.stack");
        let err = from_step_input::<S>("input", json!([1])).unwrap_err();
        assert_eq!(err.field, "input");
    }
}
