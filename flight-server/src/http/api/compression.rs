//! The `compression` parameter of an HTTP download: the codec inside the
//! file. Parquet: `snappy` (default), `zstd`, `lz4` or `none` (fastest to
//! write; the largest file). Arrow IPC: `none` (default), `lz4` or `zstd`
//! (buffers compressed; every Arrow reader decodes them). CSV and JSON
//! lines take none (HTTP's own `Content-Encoding` is for those).

use arrow::ipc::CompressionType;

use super::format::Format;
use super::problem::Problem;

/// A codec a download's file is compressed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// Not compressed.
    None,
    /// Snappy (Parquet only).
    Snappy,
    /// Zstandard.
    Zstd,
    /// LZ4 (Parquet's `LZ4_RAW`; Arrow's LZ4 frame).
    Lz4,
}

impl Codec {
    /// The codec a `compression` parameter names for `format`, or the
    /// format's default when absent.
    pub fn parse(value: Option<&str>, format: Format) -> Result<Self, Problem> {
        let named = match value.map(str::to_ascii_lowercase).as_deref() {
            None => return Ok(Self::default_for(format)),
            Some("none" | "uncompressed") => Self::None,
            Some("snappy") => Self::Snappy,
            Some("zstd") => Self::Zstd,
            Some("lz4") => Self::Lz4,
            Some(other) => {
                return Err(Problem::invalid(format!(
                    "parameter 'compression' must be one of: none, snappy, zstd, lz4 (got '{}')",
                    other.chars().take(32).collect::<String>()
                )));
            }
        };
        match (format, named) {
            (Format::Parquet, _) | (Format::Arrow, Self::None | Self::Zstd | Self::Lz4) => {
                Ok(named)
            }
            (Format::Arrow, Self::Snappy) => Err(Problem::invalid(
                "parameter 'compression' for format=arrow must be none, lz4 or zstd",
            )),
            (Format::Csv | Format::Jsonl, _) => Err(Problem::invalid(
                "parameter 'compression' applies to format=parquet and format=arrow only",
            )),
        }
    }

    fn default_for(format: Format) -> Self {
        match format {
            Format::Parquet => Self::Snappy,
            _ => Self::None,
        }
    }

    /// The Parquet codec.
    pub fn parquet(self) -> parquet::basic::Compression {
        use parquet::basic::Compression;
        match self {
            Self::None => Compression::UNCOMPRESSED,
            Self::Snappy => Compression::SNAPPY,
            Self::Zstd => Compression::ZSTD(Default::default()),
            Self::Lz4 => Compression::LZ4_RAW,
        }
    }

    /// The Arrow IPC codec (`None` for snappy, which IPC lacks: refused by [`Self::parse`]).
    pub fn ipc(self) -> Option<CompressionType> {
        match self {
            Self::Zstd => Some(CompressionType::ZSTD),
            Self::Lz4 => Some(CompressionType::LZ4_FRAME),
            Self::None | Self::Snappy => None,
        }
    }

    /// Its name, as the parameter takes it.
    pub fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Snappy => "snappy",
            Self::Zstd => "zstd",
            Self::Lz4 => "lz4",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_format_takes_its_codecs() {
        assert_eq!(Codec::parse(None, Format::Parquet).unwrap(), Codec::Snappy);
        assert_eq!(Codec::parse(None, Format::Arrow).unwrap(), Codec::None);
        assert_eq!(Codec::parse(None, Format::Csv).unwrap(), Codec::None);
        assert_eq!(
            Codec::parse(Some("ZSTD"), Format::Parquet).unwrap(),
            Codec::Zstd
        );
        assert_eq!(
            Codec::parse(Some("none"), Format::Parquet).unwrap(),
            Codec::None
        );
        assert_eq!(
            Codec::parse(Some("lz4"), Format::Arrow).unwrap(),
            Codec::Lz4
        );
        for (value, format, says) in [
            ("brotli", Format::Parquet, "none, snappy, zstd, lz4"),
            ("snappy", Format::Arrow, "none, lz4 or zstd"),
            ("zstd", Format::Csv, "format=parquet and format=arrow only"),
        ] {
            let e = Codec::parse(Some(value), format).unwrap_err();
            assert!(format!("{e:?}").contains(says), "{value}: {e:?}");
        }
    }
}
