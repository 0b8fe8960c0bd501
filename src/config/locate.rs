//! Where each value sits in the YAML source: a map from a path such as
//! `domains[1].name` to its line and column, so that checks made after
//! deserialising can still point at the file position.

use std::collections::HashMap;

use serde_saphyr::granit_parser::{Event, Parser};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

#[derive(Debug, Default)]
pub struct Locations {
    positions: HashMap<String, Position>,
}

enum Frame {
    Mapping { path: String, key: Option<String> },
    Sequence { path: String, index: usize },
}

impl Locations {
    /// Builds the index. A source that does not parse yields an empty index;
    /// the deserialiser reports the syntax error with its own position.
    pub fn index(source: &str) -> Self {
        let mut positions = HashMap::new();
        let mut stack: Vec<Frame> = Vec::new();
        for item in Parser::new_from_str(source) {
            let Ok((event, span)) = item else { break };
            let position = Position {
                line: span.start.line(),
                column: span.start.col() + 1,
            };
            match event {
                Event::Scalar(value, ..) => {
                    if let Some(Frame::Mapping {
                        key: key @ None, ..
                    }) = stack.last_mut()
                    {
                        *key = Some(value.into_owned());
                        continue;
                    }
                    let path = value_path(&mut stack);
                    positions.entry(path).or_insert(position);
                }
                Event::MappingStart(..) | Event::SequenceStart(..) | Event::Alias(..) => {
                    let path = value_path(&mut stack);
                    positions.entry(path.clone()).or_insert(position);
                    match event {
                        Event::MappingStart(..) => stack.push(Frame::Mapping { path, key: None }),
                        Event::SequenceStart(..) => stack.push(Frame::Sequence { path, index: 0 }),
                        _ => {}
                    }
                }
                Event::MappingEnd | Event::SequenceEnd => {
                    stack.pop();
                }
                _ => {}
            }
        }
        Locations { positions }
    }

    /// The position of `path`, or of its nearest recorded ancestor.
    pub fn find(&self, path: &str) -> Option<Position> {
        let mut path = path.to_owned();
        loop {
            if let Some(position) = self.positions.get(&path) {
                return Some(*position);
            }
            let cut = path.rfind(['.', '['])?;
            path.truncate(cut);
        }
    }
}

/// The path of the value that the next event starts, advancing the parent.
fn value_path(stack: &mut [Frame]) -> String {
    match stack.last_mut() {
        None => String::new(),
        Some(Frame::Mapping { path, key }) => {
            let key = key.take().unwrap_or_default();
            join(path, &key)
        }
        Some(Frame::Sequence { path, index }) => {
            let current = format!("{path}[{index}]");
            *index += 1;
            current
        }
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
    fn finds_nested_values() {
        let source = "version: 1\ndomains:\n  - name: a.example\n  - name: b.example\n    dkim: []\nports:\n  smtp: 25\n";
        let locations = Locations::index(source);
        assert_eq!(
            locations.find("domains[1].name"),
            Some(Position {
                line: 4,
                column: 11
            })
        );
        assert_eq!(
            locations.find("ports.smtp"),
            Some(Position { line: 7, column: 9 })
        );
        assert_eq!(
            locations.find("domains[1].dmarc.policy"),
            Some(Position { line: 4, column: 5 })
        );
    }
}
