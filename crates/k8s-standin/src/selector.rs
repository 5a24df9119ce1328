//! Label and field selectors: parsing the query-string syntax of the real API server and matching objects.
//! Which fields a resource supports is declared in `resource`; this module only evaluates.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::resource::Resource;
use crate::status::ApiError;

/// A parsed `labelSelector`: every requirement must hold.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct LabelSelector {
    requirements: Vec<LabelRequirement>,
}

#[derive(Debug, Clone, PartialEq)]
enum LabelRequirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, BTreeSet<String>),
    NotIn(String, BTreeSet<String>),
    Exists(String),
    DoesNotExist(String),
}

impl LabelSelector {
    pub(crate) fn parse(text: &str) -> Result<Self, ApiError> {
        let mut requirements = Vec::new();
        for part in split_top_level(text) {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            requirements.push(
                parse_requirement(part).map_err(|detail| {
                    ApiError::bad_request(format!("unable to parse requirement: {detail}"))
                })?,
            );
        }
        Ok(Self { requirements })
    }

    pub(crate) fn matches(&self, labels: Option<&Value>) -> bool {
        let label = |key: &str| labels.and_then(|l| l.get(key)).and_then(Value::as_str);
        self.requirements.iter().all(|requirement| match requirement {
            LabelRequirement::Equals(key, value) => label(key) == Some(value.as_str()),
            LabelRequirement::NotEquals(key, value) => label(key) != Some(value.as_str()),
            LabelRequirement::In(key, values) => label(key).is_some_and(|v| values.contains(v)),
            LabelRequirement::NotIn(key, values) => label(key).is_none_or(|v| !values.contains(v)),
            LabelRequirement::Exists(key) => label(key).is_some(),
            LabelRequirement::DoesNotExist(key) => label(key).is_none(),
        })
    }
}

/// Splits on commas that are not inside a `( ... )` value set.
fn split_top_level(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (index, ch) in text.char_indices() {
        match ch {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(&text[start..index]);
                start = index + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

fn parse_requirement(part: &str) -> Result<LabelRequirement, String> {
    if let Some(key) = part.strip_prefix('!') {
        let key = key.trim();
        check_key(key)?;
        return Ok(LabelRequirement::DoesNotExist(key.to_owned()));
    }
    for (operator, negated) in [("!=", true), ("==", false), ("=", false)] {
        if let Some((key, value)) = part.split_once(operator) {
            let (key, value) = (key.trim(), value.trim());
            check_key(key)?;
            check_value(value)?;
            return Ok(if negated {
                LabelRequirement::NotEquals(key.to_owned(), value.to_owned())
            } else {
                LabelRequirement::Equals(key.to_owned(), value.to_owned())
            });
        }
    }
    if part.contains('>') || part.contains('<') {
        return Err(format!(
            "{part}: numeric comparisons are not supported by this server"
        ));
    }
    let words: Vec<&str> = part.splitn(2, char::is_whitespace).collect();
    match words.as_slice() {
        [key] => {
            check_key(key)?;
            Ok(LabelRequirement::Exists((*key).to_owned()))
        }
        [key, rest] => {
            let rest = rest.trim();
            let (negated, set) = if let Some(set) = rest.strip_prefix("notin") {
                (true, set)
            } else if let Some(set) = rest.strip_prefix("in") {
                (false, set)
            } else {
                return Err(format!("{part}: found '{rest}', expected: in, notin, =, ==, !="));
            };
            let set = set.trim();
            let inner = set
                .strip_prefix('(')
                .and_then(|s| s.strip_suffix(')'))
                .ok_or_else(|| format!("{part}: found '{set}', expected: '(' ... ')'"))?;
            let mut values = BTreeSet::new();
            for value in inner.split(',') {
                let value = value.trim();
                check_value(value)?;
                values.insert(value.to_owned());
            }
            check_key(key)?;
            Ok(if negated {
                LabelRequirement::NotIn((*key).to_owned(), values)
            } else {
                LabelRequirement::In((*key).to_owned(), values)
            })
        }
        _ => Err(format!("{part}: empty requirement")),
    }
}

fn check_key(key: &str) -> Result<(), String> {
    crate::validation::label_key_errors(key).map_or(Ok(()), |detail| {
        Err(format!("key: Invalid value: \"{key}\": {detail}"))
    })
}

fn check_value(value: &str) -> Result<(), String> {
    crate::validation::label_value_errors(value).map_or(Ok(()), |detail| {
        Err(format!("values[0]: Invalid value: \"{value}\": {detail}"))
    })
}

/// A parsed `fieldSelector` for one resource.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct FieldSelector {
    requirements: Vec<(String, bool, String)>,
}

impl FieldSelector {
    pub(crate) fn parse(resource: Resource, text: &str) -> Result<Self, ApiError> {
        let mut requirements = Vec::new();
        for part in text.split(',') {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            let (field, negated, value) = if let Some((field, value)) = part.split_once("!=") {
                (field, true, value)
            } else if let Some((field, value)) = part.split_once("==") {
                (field, false, value)
            } else if let Some((field, value)) = part.split_once('=') {
                (field, false, value)
            } else {
                return Err(ApiError::bad_request(format!(
                    "invalid selector: '{text}'; can't understand '{part}'"
                )));
            };
            let field = field.trim();
            if field != "metadata.name"
                && field != "metadata.namespace"
                && !resource.extra_field_labels().contains(&field)
            {
                return Err(ApiError::bad_request(format!(
                    "\"{field}\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\""
                )));
            }
            requirements.push((field.to_owned(), negated, value.trim().to_owned()));
        }
        Ok(Self { requirements })
    }

    pub(crate) fn matches(&self, object: &Value) -> bool {
        self.requirements
            .iter()
            .all(|(field, negated, value)| (field_value(object, field) == *value) != *negated)
    }
}

/// The string a field selector compares against; absent fields compare as the empty string, as in the real
/// server's field sets.
fn field_value(object: &Value, field: &str) -> String {
    match field {
        "spec.hostNetwork" => object
            .pointer("/spec/hostNetwork")
            .and_then(Value::as_bool)
            .unwrap_or(false)
            .to_string(),
        "status.successful" => object
            .pointer("/status/succeeded")
            .and_then(Value::as_i64)
            .unwrap_or(0)
            .to_string(),
        "source" => object
            .pointer("/source/component")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        _ => {
            let pointer = format!("/{}", field.replace('.', "/"));
            match object.pointer(&pointer) {
                Some(Value::String(text)) => text.clone(),
                Some(Value::Null) | None => String::new(),
                Some(other) => other.to_string(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn check(selector: &str, labels: Value, expected: bool) {
        let parsed = LabelSelector::parse(selector).unwrap_or_else(|e| panic!("{selector}: {e:?}"));
        assert_eq!(parsed.matches(Some(&labels)), expected, "{selector} on {labels}");
    }

    #[test]
    fn label_selectors_match_like_the_api_server() {
        let labels = json!({"app": "web", "tier": "front", "xxl-job/job-id": "7"});
        check("", labels.clone(), true);
        check("app=web", labels.clone(), true);
        check("app==web", labels.clone(), true);
        check("app=api", labels.clone(), false);
        check("app!=api", labels.clone(), true);
        check("missing!=x", labels.clone(), true);
        check("app in (api, web)", labels.clone(), true);
        check("app in (api)", labels.clone(), false);
        check("app notin (api)", labels.clone(), true);
        check("missing notin (api)", labels.clone(), true);
        check("app notin (web,api)", labels.clone(), false);
        check("tier", labels.clone(), true);
        check("missing", labels.clone(), false);
        check("!missing", labels.clone(), true);
        check("!app", labels.clone(), false);
        check("app=web,tier=front,xxl-job/job-id=7", labels.clone(), true);
        check("app=web,tier in (back,middle)", labels.clone(), false);
        check(" app = web , !missing ", labels, true);
    }

    #[test]
    fn malformed_label_selectors_are_bad_requests() {
        for selector in [
            "app in web",
            "app=(x",
            "-bad=1",
            "app in (a b)",
            "x>1",
            "app exists",
        ] {
            let error = LabelSelector::parse(selector).expect_err(selector);
            assert_eq!(error.code, 400, "{selector}");
        }
    }

    #[test]
    fn field_selectors_compare_supported_fields() {
        let pod = json!({"metadata": {"name": "p", "namespace": "ns"}, "status": {"phase": "Running"}});
        let cases = [
            ("metadata.name=p", true),
            ("metadata.name==p", true),
            ("metadata.name!=p", false),
            ("metadata.namespace=ns,status.phase=Running", true),
            ("status.phase!=Running", false),
            ("status.phase=Succeeded", false),
            ("spec.nodeName=", true),
            ("spec.hostNetwork=false", true),
        ];
        for (selector, expected) in cases {
            let parsed = FieldSelector::parse(Resource::Pods, selector).expect(selector);
            assert_eq!(parsed.matches(&pod), expected, "{selector}");
        }
        let event =
            json!({"involvedObject": {"uid": "u1", "kind": "Pod"}, "source": {"component": "kubelet"}});
        let parsed = FieldSelector::parse(Resource::Events, "involvedObject.uid=u1,source=kubelet").unwrap();
        assert!(parsed.matches(&event));
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let error = FieldSelector::parse(Resource::Pods, "spec.image=x").expect_err("unknown field");
        assert_eq!(error.code, 400);
        assert!(
            error.message.contains("not a known field selector"),
            "{}",
            error.message
        );
        assert!(FieldSelector::parse(Resource::Jobs, "status.phase=x").is_err());
        assert!(FieldSelector::parse(Resource::Pods, "nonsense").is_err());
    }
}
