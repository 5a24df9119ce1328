//! The kubelet's `$(NAME)` expansion of container `command`, `args` and `env` values: a defined variable is
//! replaced, an undefined reference stays as written, and `$$` escapes a dollar sign. Pure functions only.

/// Expands `$(NAME)` references in `input` using `lookup`.
pub(crate) fn expand(input: &str, lookup: impl Fn(&str) -> Option<String>) -> String {
    let mut output = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(position) = rest.find('$') {
        output.push_str(&rest[..position]);
        let after = &rest[position + 1..];
        match after.chars().next() {
            // A trailing `$` is kept.
            None => {
                output.push('$');
                rest = "";
            }
            Some('$') => {
                output.push('$');
                rest = &after[1..];
            }
            Some('(') => match after.find(')') {
                Some(close) => {
                    let name = &after[1..close];
                    match lookup(name) {
                        Some(value) => output.push_str(&value),
                        None => {
                            output.push_str("$(");
                            output.push_str(name);
                            output.push(')');
                        }
                    }
                    rest = &after[close + 1..];
                }
                // An unterminated reference is kept as written.
                None => {
                    output.push('$');
                    output.push_str(after);
                    rest = "";
                }
            },
            Some(other) => {
                output.push('$');
                output.push(other);
                rest = &after[other.len_utf8()..];
            }
        }
    }
    output.push_str(rest);
    output
}

/// Builds a container environment in declaration order: each value may refer to variables declared before it.
pub(crate) fn expand_env(declared: &[(String, String)]) -> Vec<(String, String)> {
    let mut resolved: Vec<(String, String)> = Vec::with_capacity(declared.len());
    for (name, value) in declared {
        let expanded = expand(value, |key| {
            resolved
                .iter()
                .rev()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
        });
        resolved.push((name.clone(), expanded));
    }
    resolved
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: &str) {
        let lookup = |name: &str| match name {
            "VAR" => Some("value".to_owned()),
            "EMPTY" => Some(String::new()),
            "SHARD" => Some("3".to_owned()),
            _ => None,
        };
        assert_eq!(expand(input, lookup), expected, "{input:?}");
    }

    #[test]
    fn expansion_matches_the_kubelet() {
        check("", "");
        check("plain", "plain");
        check("$(VAR)", "value");
        check("--shard=$(SHARD)-of", "--shard=3-of");
        check("$(VAR)$(VAR)", "valuevalue");
        check("x$(EMPTY)y", "xy");
        check("$(UNDEFINED)", "$(UNDEFINED)");
        check("$$(VAR)", "$(VAR)");
        check("$$$(VAR)", "$value");
        check("$$", "$");
        check("a$", "a$");
        check("$VAR", "$VAR");
        check("${VAR}", "${VAR}");
        check("$(VAR", "$(VAR");
        check("$(", "$(");
        check("é$(VAR)é", "évalueé");
        check("$é", "$é");
    }

    #[test]
    fn env_values_see_earlier_entries_only() {
        let declared = vec![
            ("A".to_owned(), "a".to_owned()),
            ("B".to_owned(), "$(A)-b-$(C)".to_owned()),
            ("C".to_owned(), "c".to_owned()),
            ("A".to_owned(), "$(A)2".to_owned()),
        ];
        let resolved = expand_env(&declared);
        assert_eq!(resolved[1].1, "a-b-$(C)");
        assert_eq!(resolved[3].1, "a2");
    }
}
