//! Query-string parameters, parsed strictly: an unknown or repeated
//! parameter is refused by name, a malformed number says which it is.

use std::collections::HashMap;
use std::str::FromStr;

use laker_query::DownloadSpec;

use super::problem::Problem;
use crate::download::CheckedSpec;

/// Longest accepted query string, in bytes.
const MAX_QUERY_BYTES: usize = 128 * 1024;

/// Parameters of the slice a preview, check or download reads.
pub const SLICE: &[&str] = &["columns", "filter", "limit", "order_by", "version", "as_of"];

/// A request's query parameters.
#[derive(Debug, Default)]
pub struct Params(HashMap<String, String>);

impl Params {
    /// Parses `raw`, accepting only the parameters in `allowed`.
    pub fn parse(raw: Option<&str>, allowed: &[&str]) -> Result<Self, Problem> {
        let raw = raw.unwrap_or_default();
        if raw.len() > MAX_QUERY_BYTES {
            return Err(Problem::invalid(format!(
                "the query string is longer than {MAX_QUERY_BYTES} bytes"
            )));
        }
        let mut params = HashMap::new();
        for (key, value) in url::form_urlencoded::parse(raw.as_bytes()) {
            if !allowed.contains(&key.as_ref()) {
                let key: String = key.chars().take(64).collect();
                return Err(Problem::invalid(if allowed.is_empty() {
                    format!("unknown parameter '{key}': this call takes none")
                } else {
                    format!(
                        "unknown parameter '{key}'; expected one of: {}",
                        allowed.join(", ")
                    )
                }));
            }
            if params.insert(key.to_string(), value.into_owned()).is_some() {
                return Err(Problem::invalid(format!(
                    "parameter '{key}' is given twice"
                )));
            }
        }
        Ok(Self(params))
    }

    /// A text parameter; empty counts as absent.
    pub fn text(&self, key: &str) -> Option<&str> {
        self.0
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.trim().is_empty())
    }

    /// A number parameter.
    pub fn number<T: FromStr>(&self, key: &str) -> Result<Option<T>, Problem> {
        self.text(key)
            .map(|v| {
                v.trim().parse().map_err(|_| {
                    Problem::invalid(format!("parameter '{key}' must be a whole number"))
                })
            })
            .transpose()
    }

    /// A boolean parameter (`true`/`false`; absent is false).
    pub fn flag(&self, key: &str) -> Result<bool, Problem> {
        match self.text(key) {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(_) => Err(Problem::invalid(format!(
                "parameter '{key}' must be true or false"
            ))),
        }
    }

    /// A comma-separated list (items trimmed, empty items dropped).
    pub fn list(&self, key: &str) -> Option<Vec<String>> {
        self.text(key).map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
    }

    /// The download spec the slice parameters describe, checked.
    pub fn slice(&self, dataset: &str) -> Result<CheckedSpec, Problem> {
        self.slice_limited(dataset, self.number("limit")?)
    }

    /// [`Self::slice`] with `limit` in place of the parameter's (a preview's).
    pub fn slice_limited(&self, dataset: &str, limit: Option<u64>) -> Result<CheckedSpec, Problem> {
        let spec = DownloadSpec {
            dataset: dataset.to_string(),
            columns: self.list("columns"),
            filter: self.text("filter").map(str::to_string),
            limit,
            order_by: self.list("order_by").unwrap_or_default(),
            version: self.number("version")?,
            as_of: self.text("as_of").map(str::to_string),
        };
        Ok(CheckedSpec::check(spec)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_parsing() {
        let p = Params::parse(Some("columns=a,%20b,&limit=5&filter=x%20%3E%201"), SLICE).unwrap();
        assert_eq!(p.list("columns").unwrap(), ["a", "b"]);
        assert_eq!(p.number::<u64>("limit").unwrap(), Some(5));
        assert_eq!(p.text("filter"), Some("x > 1"));
        let spec = p.slice("demo.trips").unwrap();
        assert_eq!(spec.spec().limit, Some(5));

        let e = Params::parse(Some("colums=a"), SLICE).unwrap_err();
        assert!(
            format!("{e:?}").contains("unknown parameter 'colums'"),
            "{e:?}"
        );
        let e = Params::parse(Some("limit=1&limit=2"), SLICE).unwrap_err();
        assert!(format!("{e:?}").contains("given twice"), "{e:?}");
        let p = Params::parse(Some("limit=ten"), SLICE).unwrap();
        let e = p.number::<u64>("limit").unwrap_err();
        assert!(
            format!("{e:?}").contains("'limit' must be a whole number"),
            "{e:?}"
        );
        let e = Params::parse(Some("x=1"), &[]).unwrap_err();
        assert!(format!("{e:?}").contains("takes none"), "{e:?}");
    }
}
