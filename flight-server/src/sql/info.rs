//! GetSqlInfo: what the server is and which SQL it speaks — the facts BI
//! tools and drivers read before they generate SQL.

use std::time::Duration;

use arrow_flight::sql::metadata::{SqlInfoData, SqlInfoDataBuilder};
use arrow_flight::sql::{
    SqlInfo, SqlNullOrdering, SqlOuterJoinsSupportLevel, SqlSupportedTransaction,
    SupportedSqlGrammar,
};

use crate::error::{Error, Result};

/// Keywords of the dialect beyond SQL-92 that clients may want to quote.
const KEYWORDS: &[&str] = &[
    "ANTI", "ARRAY", "EXCLUDE", "EXPLAIN", "FILTER", "ILIKE", "LIMIT", "OFFSET", "QUALIFY",
    "REPLACE", "SEMI", "STRUCT", "UNNEST", "WINDOW",
];

const NUMERIC_FUNCTIONS: &[&str] = &[
    "abs", "acos", "asin", "atan", "atan2", "cbrt", "ceil", "cos", "degrees", "exp", "floor", "ln",
    "log", "log10", "log2", "mod", "pi", "power", "radians", "random", "round", "sign", "sin",
    "sqrt", "tan", "trunc",
];

const STRING_FUNCTIONS: &[&str] = &[
    "ascii",
    "btrim",
    "char_length",
    "chr",
    "concat",
    "concat_ws",
    "initcap",
    "left",
    "length",
    "lower",
    "lpad",
    "ltrim",
    "md5",
    "regexp_replace",
    "repeat",
    "replace",
    "reverse",
    "right",
    "rpad",
    "rtrim",
    "split_part",
    "starts_with",
    "strpos",
    "substr",
    "substring",
    "translate",
    "trim",
    "upper",
];

const DATETIME_FUNCTIONS: &[&str] = &[
    "current_date",
    "current_time",
    "date_bin",
    "date_part",
    "date_trunc",
    "extract",
    "from_unixtime",
    "make_date",
    "now",
    "to_char",
    "to_date",
    "to_timestamp",
];

const SYSTEM_FUNCTIONS: &[&str] = &["arrow_typeof", "current_user", "principal_attribute"];

/// The SQL info of a server whose statements time out after `timeout`.
pub fn sql_info(timeout: Option<Duration>) -> Result<SqlInfoData> {
    let mut b = SqlInfoDataBuilder::new();
    b.append(SqlInfo::FlightSqlServerName, "Laker");
    b.append(SqlInfo::FlightSqlServerVersion, env!("CARGO_PKG_VERSION"));
    b.append(SqlInfo::FlightSqlServerArrowVersion, "1.5");
    b.append(SqlInfo::FlightSqlServerReadOnly, true);
    b.append(SqlInfo::FlightSqlServerSql, true);
    b.append(SqlInfo::FlightSqlServerSubstrait, false);
    b.append(
        SqlInfo::FlightSqlServerTransaction,
        SqlSupportedTransaction::None as i32,
    );
    b.append(SqlInfo::FlightSqlServerCancel, true);
    b.append(SqlInfo::FlightSqlServerBulkIngestion, true);
    let timeout_ms = timeout.map_or(0, |t| t.as_millis().min(i32::MAX as u128) as i32);
    b.append(SqlInfo::FlightSqlServerStatementTimeout, timeout_ms);
    b.append(SqlInfo::SqlDdlCatalog, false);
    b.append(SqlInfo::SqlDdlSchema, false);
    b.append(SqlInfo::SqlDdlTable, false);
    b.append(SqlInfo::SqlIdentifierQuoteChar, "\"");
    // Unquoted identifiers fold to lower case; quoted ones keep their case.
    b.append(SqlInfo::SqlIdentifierCase, 2_i32);
    b.append(SqlInfo::SqlQuotedIdentifierCase, 3_i32);
    b.append(SqlInfo::SqlAllTablesAreSelectable, true);
    b.append(
        SqlInfo::SqlNullOrdering,
        SqlNullOrdering::SqlNullsSortedHigh as i32,
    );
    b.append(SqlInfo::SqlKeywords, KEYWORDS);
    b.append(SqlInfo::SqlNumericFunctions, NUMERIC_FUNCTIONS);
    b.append(SqlInfo::SqlStringFunctions, STRING_FUNCTIONS);
    b.append(SqlInfo::SqlDatetimeFunctions, DATETIME_FUNCTIONS);
    b.append(SqlInfo::SqlSystemFunctions, SYSTEM_FUNCTIONS);
    b.append(SqlInfo::SqlSearchStringEscape, "\\");
    b.append(SqlInfo::SqlExtraNameCharacters, "");
    b.append(SqlInfo::SqlSupportsColumnAliasing, true);
    b.append(SqlInfo::SqlNullPlusNullIsNull, true);
    b.append(SqlInfo::SqlSupportsTableCorrelationNames, true);
    b.append(SqlInfo::SqlSupportsDifferentTableCorrelationNames, false);
    b.append(SqlInfo::SqlSupportsExpressionsInOrderBy, true);
    b.append(SqlInfo::SqlSupportsOrderByUnrelated, true);
    b.append(SqlInfo::SqlSupportsLikeEscapeClause, true);
    b.append(SqlInfo::SqlSupportsNonNullableColumns, true);
    b.append(
        SqlInfo::SqlSupportedGrammar,
        (1 << SupportedSqlGrammar::SqlMinimumGrammar as i32)
            | (1 << SupportedSqlGrammar::SqlCoreGrammar as i32),
    );
    b.append(
        SqlInfo::SqlOuterJoinsSupportLevel,
        SqlOuterJoinsSupportLevel::SqlFullOuterJoins as i32,
    );
    b.append(SqlInfo::SqlSchemaTerm, "namespace");
    b.append(SqlInfo::SqlCatalogTerm, "catalog");
    b.append(SqlInfo::SqlProcedureTerm, "procedure");
    b.append(SqlInfo::SqlCatalogAtStart, true);
    b.append(SqlInfo::SqlSelectForUpdateSupported, false);
    b.append(SqlInfo::SqlStoredProceduresSupported, false);
    // Subqueries in comparisons, EXISTS, IN and quantified comparisons.
    b.append(SqlInfo::SqlSupportedSubqueries, 0b1111_i32);
    b.append(SqlInfo::SqlCorrelatedSubqueriesSupported, true);
    // UNION and UNION ALL.
    b.append(SqlInfo::SqlSupportedUnions, 0b11_i32);
    b.append(
        SqlInfo::SqlMaxStatementLength,
        laker_query::sql::sandbox::MAX_SQL_BYTES as i64,
    );
    b.append(SqlInfo::SqlTransactionsSupported, false);
    b.append(SqlInfo::SqlBatchUpdatesSupported, false);
    b.append(SqlInfo::SqlSavepointsSupported, false);
    b.append(SqlInfo::SqlNamedParametersSupported, false);
    b.build()
        .map_err(|e| Error::Internal(format!("SQL info could not be built: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_flight::sql::CommandGetSqlInfo;

    #[test]
    fn info_builds_and_answers_the_timeout() {
        let data = sql_info(Some(Duration::from_secs(30))).unwrap();
        let batch = CommandGetSqlInfo {
            info: vec![SqlInfo::FlightSqlServerStatementTimeout as u32],
        }
        .into_builder(&data)
        .build()
        .unwrap();
        assert_eq!(batch.num_rows(), 1);
        let all = CommandGetSqlInfo::default()
            .into_builder(&data)
            .build()
            .unwrap();
        assert!(all.num_rows() > 40, "{}", all.num_rows());
    }
}
