//! The JSONPath subset web metrics use: `$.a.b[0].c`, optionally in `{}`.

use serde_json::Value;

pub fn select<'a>(value: &'a Value, path: &str) -> Result<&'a Value, String> {
    let path = path.trim();
    let path = path
        .strip_prefix('{')
        .and_then(|p| p.strip_suffix('}'))
        .unwrap_or(path)
        .trim();
    let rest = path
        .strip_prefix('$')
        .ok_or_else(|| format!("jsonPath `{path}` must start with $"))?;
    let mut node = value;
    let mut chars = rest;
    while !chars.is_empty() {
        if let Some(after) = chars.strip_prefix('.') {
            let end = after.find(['.', '[']).unwrap_or(after.len());
            let key = &after[..end];
            node = node
                .get(key)
                .ok_or_else(|| format!("jsonPath `{path}`: no field `{key}`"))?;
            chars = &after[end..];
        } else if let Some(after) = chars.strip_prefix('[') {
            let end = after
                .find(']')
                .ok_or_else(|| format!("jsonPath `{path}`: unclosed ["))?;
            let inner = after[..end].trim().trim_matches(['\'', '"']);
            node = match inner.parse::<usize>() {
                Ok(i) => node.get(i),
                Err(_) => node.get(inner),
            }
            .ok_or_else(|| format!("jsonPath `{path}`: nothing at [{inner}]"))?;
            chars = &after[end + 1..];
        } else {
            return Err(format!("jsonPath `{path}`: cannot read `{chars}`"));
        }
    }
    Ok(node)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let v: Value = serde_json::json!({"data": {"rates": [{"error": 0.2}], "x.y": 1}});
        assert_eq!(
            select(&v, "{$.data.rates[0].error}").unwrap(),
            &serde_json::json!(0.2)
        );
        assert_eq!(select(&v, "$.data['x.y']").unwrap(), &serde_json::json!(1));
        assert!(
            select(&v, "$.data.missing")
                .unwrap_err()
                .contains("no field `missing`")
        );
        assert!(select(&v, "data").is_err());
    }
}
