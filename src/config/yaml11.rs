//! Reads values files the way Helm does. Helm parses YAML with go-yaml v2,
//! which follows YAML 1.1: plain `yes`, `off` and `y` are booleans, `0777`
//! is octal, `1_000` is a thousand. serde_yaml follows YAML 1.2 and would
//! show a developer `"yes"` where the chart receives `true`, so values are
//! built here from parser events with go-yaml v2's resolution rules.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Tag};
use serde_yaml::{Mapping, Number, Value};

/// A problem with its 1-based line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

enum Frame {
    Mapping {
        map: Mapping,
        key: Option<(Value, usize)>,
        anchor: usize,
    },
    Sequence {
        items: Vec<Value>,
        anchor: usize,
    },
}

/// Parses the first document of `text` into a value tree.
pub fn parse(text: &str) -> Result<Value, ParseError> {
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: HashMap<usize, Value> = HashMap::new();
    let mut root = Value::Null;
    let mut documents = 0;
    for event in Parser::new_from_str(text) {
        let (event, span) = event.map_err(|e| ParseError {
            line: e.marker().line(),
            message: e.info().to_owned(),
        })?;
        let line = span.start.line();
        let (value, anchor) = match event {
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    // Helm reads only the first document of a values file.
                    break;
                }
                continue;
            }
            Event::Scalar(text, style, anchor, tag) => {
                (resolve(&text, style, tag.as_deref()), anchor)
            }
            Event::Alias(id) => match anchors.get(&id) {
                Some(value) => (value.clone(), 0),
                None => {
                    return Err(ParseError {
                        line,
                        message: "alias to an unknown anchor".into(),
                    });
                }
            },
            Event::MappingStart(anchor, _) => {
                stack.push(Frame::Mapping {
                    map: Mapping::new(),
                    key: None,
                    anchor,
                });
                continue;
            }
            Event::SequenceStart(anchor, _) => {
                stack.push(Frame::Sequence {
                    items: Vec::new(),
                    anchor,
                });
                continue;
            }
            Event::MappingEnd | Event::SequenceEnd => match stack.pop() {
                Some(Frame::Mapping { map, anchor, .. }) => (Value::Mapping(map), anchor),
                Some(Frame::Sequence { items, anchor }) => (Value::Sequence(items), anchor),
                None => continue,
            },
            _ => continue,
        };
        if anchor != 0 {
            anchors.insert(anchor, value.clone());
        }
        match stack.last_mut() {
            None => root = value,
            Some(Frame::Sequence { items, .. }) => items.push(value),
            Some(Frame::Mapping { map, key, .. }) => match key.take() {
                None => *key = Some((value, line)),
                Some((name, key_line)) => {
                    let name = Value::String(key_string(&name));
                    if let Some(Value::String(shown)) =
                        map.contains_key(&name).then(|| name.clone())
                    {
                        return Err(ParseError {
                            line: key_line,
                            message: format!("duplicate key `{shown}`"),
                        });
                    }
                    map.insert(name, value);
                }
            },
        }
    }
    root.apply_merge().map_err(|e| ParseError {
        line: 1,
        message: e.to_string(),
    })?;
    Ok(root)
}

/// Helm reads values through JSON, where every key is a string.
pub fn key_string(key: &Value) -> String {
    match key {
        Value::String(s) => s.clone(),
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        other => serde_yaml::to_string(other)
            .unwrap_or_default()
            .trim()
            .to_owned(),
    }
}

fn resolve(text: &str, style: ScalarStyle, tag: Option<&Tag>) -> Value {
    let core = tag.filter(|t| t.handle == "tag:yaml.org,2002:" || t.handle == "!!");
    match (style, core.map(|t| t.suffix.as_str()), tag) {
        (_, Some("str"), _) => Value::String(text.to_owned()),
        (ScalarStyle::Plain, _, _) | (_, Some(_), _) => resolve_plain(text),
        _ => Value::String(text.to_owned()),
    }
}

/// go-yaml v2's `resolve` for an untagged plain scalar.
fn resolve_plain(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => Value::Null,
        "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            Value::Bool(true)
        }
        "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            Value::Bool(false)
        }
        ".nan" | ".NaN" | ".NAN" => Value::Number(Number::from(f64::NAN)),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            Value::Number(Number::from(f64::INFINITY))
        }
        "-.inf" | "-.Inf" | "-.INF" => Value::Number(Number::from(f64::NEG_INFINITY)),
        _ if text.starts_with(|c: char| "-+0123456789.".contains(c)) => {
            number(text).unwrap_or_else(|| Value::String(text.to_owned()))
        }
        _ => Value::String(text.to_owned()),
    }
}

fn number(text: &str) -> Option<Value> {
    let plain = text.replace('_', "");
    if let Some(n) = go_parse_int(&plain) {
        return Some(Value::Number(n));
    }
    if is_yaml_float(&plain) {
        return plain
            .parse::<f64>()
            .ok()
            .map(|f| Value::Number(Number::from(f)));
    }
    None
}

/// Go's `strconv.ParseInt(s, 0, 64)`, falling back to `ParseUint`: an
/// optional sign, then `0x`, `0o`, `0b` or a leading `0` (octal) prefix.
fn go_parse_int(text: &str) -> Option<Number> {
    let (negative, digits) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let lower = digits.to_ascii_lowercase();
    let (radix, body) = if let Some(rest) = lower.strip_prefix("0x") {
        (16, rest)
    } else if let Some(rest) = lower.strip_prefix("0o") {
        (8, rest)
    } else if let Some(rest) = lower.strip_prefix("0b") {
        (2, rest)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..])
    } else {
        (10, lower.as_str())
    };
    if body.is_empty() || !body.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = u64::from_str_radix(body, radix).ok()?;
    if negative {
        let value = i64::try_from(magnitude)
            .ok()
            .map(|m| -m)
            .or_else(|| (magnitude == i64::MIN.unsigned_abs()).then_some(i64::MIN))?;
        Some(Number::from(value))
    } else {
        Some(match i64::try_from(magnitude) {
            Ok(value) => Number::from(value),
            Err(_) => Number::from(magnitude),
        })
    }
}

/// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`
fn is_yaml_float(text: &str) -> bool {
    let s = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = match mantissa.split_once('.') {
        Some(("", fraction)) => digits(fraction),
        Some((whole, fraction)) => digits(whole) && (fraction.is_empty() || digits(fraction)),
        None => digits(mantissa),
    };
    let exponent_ok = exponent.is_none_or(|e| digits(e.strip_prefix(['-', '+']).unwrap_or(e)));
    mantissa_ok && exponent_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &str) -> Value {
        parse(&format!("v: {text}\n")).unwrap()["v"].clone()
    }

    #[test]
    fn yaml_1_1_scalars_resolve_as_helm_does() {
        assert_eq!(value("yes"), Value::Bool(true));
        assert_eq!(value("Off"), Value::Bool(false));
        assert_eq!(value("'yes'"), Value::String("yes".into()));
        assert_eq!(value("0777"), Value::Number(511.into()));
        assert_eq!(value("0x1F"), Value::Number(31.into()));
        assert_eq!(value("1_000"), Value::Number(1000.into()));
        assert_eq!(value("-12"), Value::Number((-12).into()));
        assert_eq!(value("1.5"), Value::Number(1.5.into()));
        assert_eq!(value("1e3"), Value::Number(1000.0.into()));
        assert_eq!(value("08"), Value::Number(8.0.into()));
        assert_eq!(value("1.2.3"), Value::String("1.2.3".into()));
        assert_eq!(value("~"), Value::Null);
        assert_eq!(value("!!str 12"), Value::String("12".into()));
        assert_eq!(value("\"12\""), Value::String("12".into()));
        assert_eq!(value("|\n  text"), Value::String("text\n".into()));
    }

    #[test]
    fn keys_become_strings_and_anchors_merge() {
        let v = parse("base: &b {a: 1, b: 2}\nuse:\n  <<: *b\n  b: 3\non: 1\n").unwrap();
        assert_eq!(v["use"]["a"], Value::Number(1.into()));
        assert_eq!(v["use"]["b"], Value::Number(3.into()));
        assert_eq!(v["true"], Value::Number(1.into()));
    }

    #[test]
    fn duplicate_keys_and_syntax_errors_have_lines() {
        let e = parse("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!((e.line, e.message.as_str()), (3, "duplicate key `a`"));
        let e = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(e.line >= 1 && !e.message.is_empty(), "{e:?}");
    }
}
