//! Line numbers for YAML paths. serde_yaml reports where a parse failed but
//! keeps no positions on values; this index lets checks that run after
//! parsing (duplicates, references, merges) still point at a line.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser};

/// Maps a dotted path (`environments.production.clusters[1].name`) to the
/// 1-based line of its key, or of the item for sequence entries.
#[derive(Debug, Default, Clone)]
pub struct LineIndex {
    lines: HashMap<String, usize>,
    first_duplicate: Option<usize>,
}

enum Frame {
    Mapping {
        path: String,
        key: Option<String>,
    },
    Sequence {
        path: String,
        next: usize,
    },
    /// A mapping or sequence used as a key: its contents have no path.
    ComplexKey,
}

impl LineIndex {
    /// Indexes the first document of `text`. Malformed YAML yields the
    /// paths seen before the error; the parse error itself is reported by
    /// the deserializer, which has the better message.
    pub fn build(text: &str) -> Self {
        let mut lines = HashMap::new();
        let mut first_duplicate = None;
        let mut stack: Vec<Frame> = Vec::new();
        let last = last_content_line(text);
        for event in Parser::new_from_str(text) {
            let Ok((event, span)) = event else { break };
            // An empty value or key at the end of the input is placed where
            // the stream ends, which can be past the last line.
            let line = span.start.line().min(last);
            match event {
                Event::DocumentEnd => break,
                Event::Scalar(value, ..) => {
                    if let Some(Frame::Mapping {
                        path,
                        key: key @ None,
                    }) = stack.last_mut()
                    {
                        let full = join(path, &value);
                        if lines.insert(full, line).is_some() {
                            first_duplicate = first_duplicate.or(Some(line));
                        }
                        *key = Some(value.into_owned());
                    } else if let Some(path) = value_path(&mut stack) {
                        lines.entry(path).or_insert(line);
                    }
                }
                Event::Alias(_) => {
                    if let Some(path) = value_path(&mut stack) {
                        lines.entry(path).or_insert(line);
                    }
                }
                Event::MappingStart(..) | Event::SequenceStart(..) => {
                    let is_mapping = matches!(event, Event::MappingStart(..));
                    let frame = if matches!(
                        stack.last(),
                        Some(Frame::Mapping { key: None, .. }) | Some(Frame::ComplexKey)
                    ) {
                        Frame::ComplexKey
                    } else {
                        let path = value_path(&mut stack).unwrap_or_default();
                        if !path.is_empty() {
                            lines.entry(path.clone()).or_insert(line);
                        }
                        if is_mapping {
                            Frame::Mapping { path, key: None }
                        } else {
                            Frame::Sequence { path, next: 0 }
                        }
                    };
                    stack.push(frame);
                }
                Event::MappingEnd | Event::SequenceEnd => {
                    if let Some(Frame::ComplexKey) = stack.pop()
                        && let Some(Frame::Mapping {
                            key: key @ None, ..
                        }) = stack.last_mut()
                    {
                        *key = Some("<complex key>".to_owned());
                    }
                }
                _ => {}
            }
        }
        Self {
            lines,
            first_duplicate,
        }
    }

    /// Line of the first mapping key that repeats an earlier one.
    pub fn first_duplicate(&self) -> Option<usize> {
        self.first_duplicate
    }

    /// Line of `path`, or of its nearest indexed ancestor.
    pub fn line_of(&self, path: &str) -> Option<usize> {
        let mut candidate = path;
        loop {
            if let Some(line) = self.lines.get(candidate) {
                return Some(*line);
            }
            let cut = candidate.rfind(['.', '['])?;
            candidate = &candidate[..cut];
        }
    }
}

/// `line` of a parse error in `text`, moved back to the last line with
/// content when it is past it: a YAML parser finds an unclosed bracket or a
/// key cut short at the end of the input, which can be a line the file
/// does not have.
pub fn clamp_to_content(line: usize, text: &str) -> usize {
    line.min(last_content_line(text))
}

fn last_content_line(text: &str) -> usize {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .last()
        .map_or(1, |(i, _)| i + 1)
}

/// Path of the value about to be read in the innermost collection, and
/// advances that collection past it.
fn value_path(stack: &mut [Frame]) -> Option<String> {
    match stack.last_mut()? {
        Frame::Mapping { path, key } => key.take().map(|k| join(path, &k)),
        Frame::Sequence { path, next } => {
            let item = format!("{path}[{next}]");
            *next += 1;
            Some(item)
        }
        Frame::ComplexKey => None,
    }
}

fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_keys_and_sequence_items() {
        let text = "service: helpdesk\nenvironments:\n  production:\n    clusters:\n      - name: a\n        wave: 1\n      - name: b\n";
        let index = LineIndex::build(text);
        assert_eq!(index.line_of("service"), Some(1));
        assert_eq!(index.line_of("environments.production"), Some(3));
        assert_eq!(
            index.line_of("environments.production.clusters[0].wave"),
            Some(6)
        );
        assert_eq!(
            index.line_of("environments.production.clusters[1]"),
            Some(7)
        );
        assert_eq!(
            index.line_of("environments.production.clusters[1].name"),
            Some(7)
        );
        assert_eq!(
            index.line_of("environments.production.clusters[1].region"),
            Some(7),
            "falls back to the nearest ancestor"
        );
        assert_eq!(index.line_of("missing"), None);
    }

    #[test]
    fn flow_style_and_complex_keys_do_not_confuse_paths() {
        let text = "a: {b: 1, c: [x, y]}\n? [k1, k2]\n: v\nd: 2\n";
        let index = LineIndex::build(text);
        assert_eq!(index.line_of("a.c[1]"), Some(1));
        assert_eq!(index.line_of("d"), Some(4));
    }
}
