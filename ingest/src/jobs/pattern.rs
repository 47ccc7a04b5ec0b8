//! The file name pattern of an ingest job's source: `*` matches any run of
//! characters, `?` one character, anything else itself (case-sensitive).
//! Patterns match a file's name, not its folder.

use crate::error::{IngestError, Result};

/// Longest pattern, in characters.
const MAX_PATTERN_CHARS: usize = 256;

/// A checked pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern(Vec<char>);

impl Pattern {
    /// Parses `text`; names the problem.
    pub fn parse(text: &str) -> Result<Self> {
        let chars: Vec<char> = text.chars().collect();
        if chars.is_empty() || chars.len() > MAX_PATTERN_CHARS {
            return Err(IngestError::InvalidArgument(format!(
                "'source.pattern' must have 1 to {MAX_PATTERN_CHARS} characters"
            )));
        }
        if chars
            .iter()
            .any(|c| *c == '/' || *c == '\\' || c.is_control())
        {
            return Err(IngestError::InvalidArgument(
                "'source.pattern' matches file names (e.g. '*.csv'): it may not hold '/', '\\' \
                 or control characters; choose folders with 'source.prefix'"
                    .into(),
            ));
        }
        Ok(Self(chars))
    }

    /// Whether `name` matches.
    pub fn matches(&self, name: &str) -> bool {
        let name: Vec<char> = name.chars().collect();
        // Classic wildcard matching with one backtrack point.
        let (p, n) = (&self.0, &name);
        let (mut pi, mut ni) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while ni < n.len() {
            match p.get(pi) {
                Some('*') => {
                    star = Some((pi, ni));
                    pi += 1;
                }
                Some(c) if *c == '?' || *c == n[ni] => {
                    pi += 1;
                    ni += 1;
                }
                _ => match star {
                    Some((sp, sn)) => {
                        pi = sp + 1;
                        ni = sn + 1;
                        star = Some((sp, sn + 1));
                    }
                    None => return false,
                },
            }
        }
        p[pi..].iter().all(|c| *c == '*')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_names() {
        let csv = Pattern::parse("*.csv").unwrap();
        assert!(csv.matches("a.csv") && csv.matches(".csv") && csv.matches("x.y.csv"));
        assert!(!csv.matches("a.csv.tmp") && !csv.matches("a.CSV"));
        let day = Pattern::parse("orders_2024-??-*.json").unwrap();
        assert!(day.matches("orders_2024-05-01.json"));
        assert!(!day.matches("orders_2024-5-01.json"));
        assert!(Pattern::parse("*").unwrap().matches("anything"));
        assert!(Pattern::parse("a*b*c").unwrap().matches("aXbYbZc"));
        assert!(!Pattern::parse("a*b*c").unwrap().matches("aXbYbZ"));
        assert!(
            Pattern::parse("exact.parquet")
                .unwrap()
                .matches("exact.parquet")
        );
    }

    #[test]
    fn folders_are_refused() {
        assert!(Pattern::parse("in/*.csv").is_err());
        assert!(Pattern::parse("").is_err());
    }
}
