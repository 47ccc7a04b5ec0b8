//! A download spec checked once, wherever it came from: a descriptor, a
//! raw JSON ticket or a signed ticket.

use laker_catalog::DatasetName;
use laker_query::DownloadSpec;

use crate::error::Result;

/// A download spec that has been checked ([`DownloadSpec::validate`]:
/// everything that can be checked without the dataset's schema), with the
/// dataset it names. Planning takes only these, so nothing checks twice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedSpec {
    spec: DownloadSpec,
    name: DatasetName,
}

impl CheckedSpec {
    /// Checks `spec` (a signed ticket's, checked when it was signed under
    /// rules that may since have changed).
    pub fn check(spec: DownloadSpec) -> Result<Self> {
        spec.validate()?;
        Self::parsed(spec)
    }

    /// Parses and checks a JSON spec.
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        Self::parsed(DownloadSpec::from_json(bytes)?)
    }

    /// The whole of dataset `name` (nothing in it to check).
    pub fn whole(name: &DatasetName) -> Self {
        Self {
            spec: DownloadSpec::whole(name),
            name: name.clone(),
        }
    }

    /// A spec [`DownloadSpec::from_json`] returned, which checks what it
    /// parses (a raw JSON ticket, as the ticket codec decoded it).
    pub fn parsed(spec: DownloadSpec) -> Result<Self> {
        let name = spec.dataset_name()?;
        Ok(Self { spec, name })
    }

    /// The spec.
    pub fn spec(&self) -> &DownloadSpec {
        &self.spec
    }

    /// The dataset it reads.
    pub fn name(&self) -> &DatasetName {
        &self.name
    }

    /// The spec, to be pinned or signed.
    pub fn into_spec(self) -> DownloadSpec {
        self.spec
    }
}
