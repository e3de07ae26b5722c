//! Field paths as an API server names them in server-side-apply
//! conflicts (`.spec.rules`, `.spec.template.spec.containers[name="app"].image`),
//! and removing such a field from an object about to be applied.
//!
//! A deploy yields the fields the controller sets at runtime (weights,
//! selectors, scale) instead of forcing them back: the conflict names them,
//! the deploy drops them from its body and applies the rest.

use serde_json::Value;

/// Removes the field `path` names from `object`; false when `object` does
/// not have it. Map keys may themselves contain dots (label keys), so each
/// step matches against the keys the object really has.
pub fn remove(object: &mut Value, path: &str) -> bool {
    remove_at(object, path)
}

fn remove_at(node: &mut Value, rest: &str) -> bool {
    if let Some(after_dot) = rest.strip_prefix('.') {
        let Value::Object(map) = node else {
            return false;
        };
        // Longest key first: `conductor.dev/hash` before `conductor`.
        let mut keys: Vec<String> = map
            .keys()
            .filter(|k| {
                after_dot.starts_with(k.as_str())
                    && matches!(after_dot.as_bytes().get(k.len()), None | Some(b'.' | b'['))
            })
            .cloned()
            .collect();
        keys.sort_by_key(|k| std::cmp::Reverse(k.len()));
        for key in keys {
            let remaining = &after_dot[key.len()..];
            if remaining.is_empty() {
                map.remove(&key);
                return true;
            }
            if let Some(child) = map.get_mut(&key)
                && remove_at(child, remaining)
            {
                return true;
            }
        }
        return false;
    }
    if let Some(after_bracket) = rest.strip_prefix('[') {
        let Some(close) = closing_bracket(after_bracket) else {
            return false;
        };
        let selector = &after_bracket[..close];
        let remaining = &after_bracket[close + 1..];
        let Value::Array(items) = node else {
            return false;
        };
        let index = match selector.parse::<usize>() {
            Ok(index) if index < items.len() => index,
            Ok(_) => return false,
            Err(_) => match items.iter().position(|item| selects(selector, item)) {
                Some(index) => index,
                None => return false,
            },
        };
        if remaining.is_empty() {
            items.remove(index);
            return true;
        }
        return remove_at(&mut items[index], remaining);
    }
    false
}

/// The `]` closing a selector, skipping those inside quoted values.
fn closing_bracket(text: &str) -> Option<usize> {
    let mut at = 0;
    while let Some(c) = text[at..].chars().next() {
        match c {
            ']' => return Some(at),
            '"' => at += closing_quote(&text[at + 1..])? + 2,
            _ => at += c.len_utf8(),
        }
    }
    None
}

/// `name="app",port=80` (a list-map key) or `=value` (a set member).
fn selects(selector: &str, item: &Value) -> bool {
    if let Some(value) = selector.strip_prefix('=') {
        return serde_json::from_str::<Value>(value).is_ok_and(|v| &v == item);
    }
    split_pairs(selector).is_some_and(|pairs| {
        pairs.iter().all(|(key, value)| {
            serde_json::from_str::<Value>(value).is_ok_and(|v| item.get(key) == Some(&v))
        })
    })
}

fn split_pairs(selector: &str) -> Option<Vec<(&str, &str)>> {
    let mut pairs = Vec::new();
    let mut rest = selector;
    while !rest.is_empty() {
        let eq = rest.find('=')?;
        let key = &rest[..eq];
        let value_text = &rest[eq + 1..];
        // The value is JSON: a quoted string or a bare number/bool.
        let end = if let Some(quoted) = value_text.strip_prefix('"') {
            closing_quote(quoted)? + 2
        } else {
            value_text.find(',').unwrap_or(value_text.len())
        };
        pairs.push((key, &value_text[..end]));
        rest = value_text[end..]
            .strip_prefix(',')
            .unwrap_or(&value_text[end..]);
    }
    Some(pairs)
}

fn closing_quote(text: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => return Some(i),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn removes_plain_and_dotted_keys() {
        let mut o = json!({"spec": {"rules": [1], "selector": {"app": "x", "conductor.dev/pod-template-hash": "abc"}}});
        assert!(remove(
            &mut o,
            ".spec.selector.conductor.dev/pod-template-hash"
        ));
        assert!(remove(&mut o, ".spec.rules"));
        assert_eq!(o, json!({"spec": {"selector": {"app": "x"}}}));
        assert!(!remove(&mut o, ".spec.replicas"));
    }

    #[test]
    fn removes_inside_list_maps() {
        let mut o = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "side", "image": "a"}, {"name": "app", "image": "b", "ports": [{"containerPort": 80, "protocol": "TCP"}]}
        ]}}}});
        assert!(remove(
            &mut o,
            ".spec.template.spec.containers[name=\"app\"].image"
        ));
        assert!(remove(
            &mut o,
            ".spec.template.spec.containers[name=\"app\"].ports[containerPort=80,protocol=\"TCP\"]"
        ));
        assert_eq!(
            o,
            json!({"spec": {"template": {"spec": {"containers": [{"name": "side", "image": "a"}, {"name": "app", "ports": []}]}}}})
        );
    }

    #[test]
    fn removes_set_members_and_ignores_garbage() {
        let mut o = json!({"metadata": {"finalizers": ["a", "b"]}});
        assert!(remove(&mut o, ".metadata.finalizers[=\"b\"]"));
        assert_eq!(o, json!({"metadata": {"finalizers": ["a"]}}));
        for garbage in [
            "",
            "spec",
            ".metadata.finalizers[",
            ".metadata.finalizers[x=]",
            "[",
        ] {
            assert!(!remove(&mut o, garbage), "{garbage}");
        }
    }
}
