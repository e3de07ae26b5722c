//! The Prometheus text exposition format, as much as counters need.

use std::collections::BTreeMap;

/// One sample line: `name{label="value",...} 12.5 [timestamp]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// Parses every sample line; comments and blank lines are skipped. A
/// malformed line fails the whole scrape, naming its line number.
pub fn parse(text: &str) -> Result<Vec<Sample>, String> {
    let mut samples = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        samples.push(parse_line(line).map_err(|e| format!("line {}: {e}: `{line}`", i + 1))?);
    }
    Ok(samples)
}

fn parse_line(line: &str) -> Result<Sample, String> {
    let name_end = line
        .find(|c: char| c == '{' || c.is_whitespace())
        .ok_or("no value")?;
    let name = line[..name_end].to_owned();
    let mut rest = &line[name_end..];
    let mut labels = BTreeMap::new();
    if let Some(after) = rest.strip_prefix('{') {
        let mut chars = after.char_indices().peekable();
        let mut end = None;
        let mut key = String::new();
        let mut value = String::new();
        let mut in_value = false;
        while let Some((i, c)) = chars.next() {
            match (in_value, c) {
                (false, '}') => {
                    end = Some(i);
                    break;
                }
                (false, ',') | (false, ' ') => {}
                (false, '=') => {
                    if chars.next().map(|(_, q)| q) != Some('"') {
                        return Err("label value must be quoted".into());
                    }
                    in_value = true;
                }
                (false, c) => key.push(c),
                (true, '\\') => match chars.next().map(|(_, e)| e) {
                    Some('n') => value.push('\n'),
                    Some(e) => value.push(e),
                    None => return Err("dangling escape".into()),
                },
                (true, '"') => {
                    labels.insert(std::mem::take(&mut key), std::mem::take(&mut value));
                    in_value = false;
                }
                (true, c) => value.push(c),
            }
        }
        let end = end.ok_or("unclosed {")?;
        rest = &after[end + 1..];
    }
    let value_text = rest.split_whitespace().next().ok_or("no value")?;
    let value = match value_text {
        "NaN" => f64::NAN,
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v
            .parse()
            .map_err(|_| format!("value `{v}` is not a number"))?,
    };
    Ok(Sample {
        name,
        labels,
        value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_counters() {
        let text = "# HELP x\n# TYPE http_requests_total counter\nhttp_requests_total{method=\"GET\",route=\"/t\",code=\"500\"} 7\nup 1 1700000000000\nweird{a=\"q\\\"uote\"} 2.5e1\n";
        let samples = parse(text).unwrap();
        assert_eq!(samples.len(), 3);
        assert_eq!(samples[0].labels["code"], "500");
        assert_eq!(samples[0].value, 7.0);
        assert_eq!(samples[2].labels["a"], "q\"uote");
        assert_eq!(samples[2].value, 25.0);
        assert!(parse("bad{a=1} 2").unwrap_err().contains("line 1"));
    }
}
