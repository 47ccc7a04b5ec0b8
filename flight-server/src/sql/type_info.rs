//! GetXdbcTypeInfo: the SQL types the dialect offers, as JDBC/ODBC
//! drivers ask for them.

use std::sync::LazyLock;

use arrow_flight::sql::metadata::{XdbcTypeInfo, XdbcTypeInfoData, XdbcTypeInfoDataBuilder};
use arrow_flight::sql::{Nullable, Searchable, XdbcDataType, XdbcDatetimeSubcode};

use crate::error::{Error, Result};

/// One type: name, XDBC type, column size, literal quote, numeric radix.
struct Type {
    name: &'static str,
    xdbc: XdbcDataType,
    size: Option<i32>,
    quote: Option<&'static str>,
    radix: Option<i32>,
    subcode: Option<XdbcDatetimeSubcode>,
    scale: Option<(i32, i32)>,
}

const fn t(name: &'static str, xdbc: XdbcDataType, size: i32) -> Type {
    Type {
        name,
        xdbc,
        size: Some(size),
        quote: None,
        radix: None,
        subcode: None,
        scale: None,
    }
}

fn types() -> Vec<Type> {
    use XdbcDataType as X;
    vec![
        Type {
            radix: Some(2),
            ..t("BOOLEAN", X::XdbcBit, 1)
        },
        Type {
            radix: Some(10),
            ..t("TINYINT", X::XdbcTinyint, 3)
        },
        Type {
            radix: Some(10),
            ..t("SMALLINT", X::XdbcSmallint, 5)
        },
        Type {
            radix: Some(10),
            ..t("INTEGER", X::XdbcInteger, 10)
        },
        Type {
            radix: Some(10),
            ..t("BIGINT", X::XdbcBigint, 19)
        },
        Type {
            radix: Some(2),
            ..t("REAL", X::XdbcFloat, 24)
        },
        Type {
            radix: Some(2),
            ..t("DOUBLE", X::XdbcDouble, 53)
        },
        Type {
            radix: Some(10),
            scale: Some((0, 38)),
            ..t("DECIMAL", X::XdbcDecimal, 38)
        },
        Type {
            quote: Some("'"),
            ..t("VARCHAR", X::XdbcVarchar, i32::MAX)
        },
        Type {
            quote: Some("X'"),
            ..t("BYTEA", X::XdbcVarbinary, i32::MAX)
        },
        Type {
            quote: Some("DATE '"),
            // Code 1 is DATE (the proto's alias of YEAR, which prost drops).
            subcode: Some(XdbcDatetimeSubcode::XdbcSubcodeYear),
            ..t("DATE", X::XdbcDate, 10)
        },
        Type {
            quote: Some("TIME '"),
            subcode: Some(XdbcDatetimeSubcode::XdbcSubcodeTime),
            ..t("TIME", X::XdbcTime, 18)
        },
        Type {
            quote: Some("TIMESTAMP '"),
            subcode: Some(XdbcDatetimeSubcode::XdbcSubcodeTimestamp),
            ..t("TIMESTAMP", X::XdbcTimestamp, 29)
        },
    ]
}

static TYPE_INFO: LazyLock<Result<XdbcTypeInfoData, String>> = LazyLock::new(|| {
    let mut builder = XdbcTypeInfoDataBuilder::new();
    for ty in types() {
        let datetime = ty.subcode.is_some();
        builder.append(XdbcTypeInfo {
            type_name: ty.name.into(),
            data_type: ty.xdbc,
            column_size: ty.size,
            literal_prefix: ty.quote.map(Into::into),
            literal_suffix: ty.quote.map(|_| "'".into()),
            create_params: ty
                .scale
                .map(|_| vec!["precision".to_string(), "scale".to_string()]),
            nullable: Nullable::NullabilityNullable,
            case_sensitive: ty.quote == Some("'"),
            searchable: Searchable::Full,
            unsigned_attribute: ty.radix.map(|_| false),
            fixed_prec_scale: false,
            auto_increment: ty.radix.map(|_| false),
            local_type_name: Some(ty.name.into()),
            minimum_scale: ty.scale.map(|s| s.0),
            maximum_scale: ty.scale.map(|s| s.1),
            sql_data_type: if datetime {
                XdbcDataType::XdbcDatetime
            } else {
                ty.xdbc
            },
            datetime_subcode: ty.subcode,
            num_prec_radix: ty.radix,
            interval_precision: None,
        });
    }
    builder.build().map_err(|e| e.to_string())
});

/// The type info answer data.
pub fn type_info() -> Result<&'static XdbcTypeInfoData> {
    TYPE_INFO
        .as_ref()
        .map_err(|e| Error::Internal(format!("type info could not be built: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_flight::sql::CommandGetXdbcTypeInfo;

    #[test]
    fn every_type_is_listed_and_filterable() {
        let data = type_info().unwrap();
        let all = CommandGetXdbcTypeInfo { data_type: None }
            .into_builder(data)
            .build()
            .unwrap();
        assert_eq!(all.num_rows(), types().len());
        let ints = CommandGetXdbcTypeInfo {
            data_type: Some(XdbcDataType::XdbcInteger as i32),
        }
        .into_builder(data)
        .build()
        .unwrap();
        assert_eq!(ints.num_rows(), 1);
    }
}
