//! The SQLite settings every connection of a file database runs with.

use sqlx::Executor;

/// Per-connection settings of every SQLite connection. WAL lets reads run
/// beside a write; with WAL, `synchronous = NORMAL` is durable across a
/// crash of this process (not of the machine).
pub(super) const SQLITE_PRAGMAS: [(&str, &str); 4] = [
    ("journal_mode", "WAL"),
    ("foreign_keys", "ON"),
    ("busy_timeout", "5000"),
    ("synchronous", "NORMAL"),
];

pub(super) async fn set_pragmas(
    conn: &mut sqlx::AnyConnection,
    pragmas: &[(&'static str, &'static str)],
) -> Result<(), sqlx::Error> {
    for (name, value) in pragmas {
        // Names and values are this module's constants, not input.
        conn.execute(sqlx::AssertSqlSafe(format!("PRAGMA {name} = {value}")))
            .await?;
    }
    Ok(())
}
