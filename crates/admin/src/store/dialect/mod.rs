//! Everything that depends on which engine is on the other end: placeholders, upserts, the cluster lock
//! statement, returning generated ids, paging, catalogue queries and DDL types ([`ddl`]). The rest of the
//! store writes one SQL text with `?` placeholders and passes it through [`Dialect::sql`].
//!
//! Time arithmetic is deliberately absent: every time bound is computed in Rust and bound as a
//! parameter, so no engine's date functions are needed.

pub(crate) mod ddl;

use std::borrow::Cow;
use std::fmt;

/// The database engines the store runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Engine {
    /// SQLite 3 (a local file).
    Sqlite,
    /// MySQL 5.7+/8 or MariaDB 10.5+; the engine upstream supports.
    MySql,
    /// PostgreSQL 12+.
    Postgres,
}

/// Which spelling of two renamed upstream columns the database uses.
///
/// Upstream 3.5 renamed `xxl_job_group.title` and `xxl_job_info.job_desc` to `name`. An adopted older
/// database keeps its columns (migrations here are additive), so the store reads and writes whichever
/// exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Naming {
    /// `name` in both tables (upstream 3.5 and every database this product creates).
    Current,
    /// `title` and `job_desc` (upstream 2.x to 3.4).
    Legacy,
}

/// The engine plus what was detected about the database at start.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Dialect {
    pub(crate) engine: Engine,
    pub(crate) naming: Naming,
    /// Whether a multi-row INSERT on MySQL gets consecutive auto-increment ids (InnoDB
    /// `innodb_autoinc_lock_mode` 0 or 1). With mode 2 ids of one statement may interleave with other
    /// sessions', so batch inserts fall back to one row per statement.
    pub(crate) consecutive_ids: bool,
}

impl Engine {
    /// The engine a connection URL names, by scheme.
    pub fn from_url(url: &str) -> Option<Engine> {
        let scheme = url.split_once(':')?.0;
        match scheme {
            "sqlite" => Some(Engine::Sqlite),
            "mysql" | "mariadb" => Some(Engine::MySql),
            "postgres" | "postgresql" => Some(Engine::Postgres),
            _ => None,
        }
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Engine::Sqlite => "SQLite",
            Engine::MySql => "MySQL",
            Engine::Postgres => "PostgreSQL",
        })
    }
}

impl Dialect {
    pub(crate) fn new(engine: Engine) -> Self {
        Dialect {
            engine,
            naming: Naming::Current,
            consecutive_ids: engine != Engine::MySql,
        }
    }

    /// Renders a statement written with `?` placeholders and the `{group_name}`/`{job_name}` column
    /// tokens for this database. PostgreSQL numbers its placeholders (`$1`, `$2`, …). No statement of the
    /// store has a `?` or a brace inside a string literal, so a plain scan is enough.
    pub(crate) fn sql<'a>(&self, text: impl Into<Cow<'a, str>>) -> Cow<'a, str> {
        let text = text.into();
        let needs_placeholders = self.engine == Engine::Postgres && text.contains('?');
        if !needs_placeholders && !text.contains('{') {
            return text;
        }
        let (group_name, job_name) = match self.naming {
            Naming::Current => ("name", "name"),
            Naming::Legacy => ("title", "job_desc"),
        };
        let text = text
            .replace("{group_name}", group_name)
            .replace("{job_name}", job_name);
        if !needs_placeholders {
            return Cow::Owned(text);
        }
        let mut rendered = String::with_capacity(text.len() + 16);
        let mut index = 0;
        for character in text.chars() {
            if character == '?' {
                index += 1;
                rendered.push('$');
                rendered.push_str(&index.to_string());
            } else {
                rendered.push(character);
            }
        }
        Cow::Owned(rendered)
    }

    /// The tail of an INSERT that turns it into an upsert on `key`, overwriting `columns` with the
    /// inserted values.
    pub(crate) fn upsert(&self, key: &[&str], columns: &[&str]) -> String {
        match self.engine {
            Engine::MySql => {
                let sets: Vec<String> = columns
                    .iter()
                    .map(|column| format!("{column} = VALUES({column})"))
                    .collect();
                format!(" ON DUPLICATE KEY UPDATE {}", sets.join(", "))
            }
            Engine::Sqlite | Engine::Postgres => {
                let sets: Vec<String> = columns
                    .iter()
                    .map(|column| format!("{column} = excluded.{column}"))
                    .collect();
                format!(
                    " ON CONFLICT ({}) DO UPDATE SET {}",
                    key.join(", "),
                    sets.join(", ")
                )
            }
        }
    }

    /// Like [`Dialect::upsert`], plus `keep_known` columns that take the inserted value only when it is not
    /// NULL, so a writer that does not know a value never erases one another writer stored.
    pub(crate) fn upsert_keeping(
        &self,
        table: &str,
        key: &[&str],
        columns: &[&str],
        keep_known: &[&str],
    ) -> String {
        let mut tail = self.upsert(key, columns);
        for column in keep_known {
            let set = match self.engine {
                Engine::MySql => format!(", {column} = COALESCE(VALUES({column}), {column})"),
                Engine::Sqlite | Engine::Postgres => {
                    format!(", {column} = COALESCE(excluded.{column}, {table}.{column})")
                }
            };
            tail.push_str(&set);
        }
        tail
    }

    /// `handle_msg = …` for recording a result: `new` (an expression), appended after `<br>` to a message
    /// already present (as upstream does), and cut to `max_chars` characters.
    pub(crate) fn append_handle_msg(&self, new: &str, max_chars: usize) -> String {
        let joined = match self.engine {
            Engine::MySql => format!("CONCAT(handle_msg, '<br>', COALESCE({new}, ''))"),
            Engine::Sqlite | Engine::Postgres => format!("handle_msg || '<br>' || COALESCE({new}, '')"),
        };
        format!(
            "handle_msg = CASE WHEN handle_msg IS NULL THEN {new} ELSE SUBSTR({joined}, 1, {max_chars}) END"
        )
    }

    /// The statement that takes the cluster lock inside the current transaction; it yields one row when
    /// the lock row exists.
    ///
    /// MySQL and PostgreSQL lock the row with `FOR UPDATE`. SQLite has no row locks: a write to the row
    /// takes the database's write lock until commit, which serialises scan transactions of every process
    /// on the file the same way (other writers wait out the busy timeout).
    pub(crate) fn lock_statement(&self) -> &'static str {
        match self.engine {
            Engine::MySql | Engine::Postgres => {
                "SELECT lock_name FROM xxl_job_lock WHERE lock_name = ? FOR UPDATE"
            }
            Engine::Sqlite => {
                "UPDATE xxl_job_lock SET lock_name = lock_name WHERE lock_name = ? RETURNING lock_name"
            }
        }
    }

    /// The tail appended to an INSERT so that it yields the generated `id`; empty on MySQL, which has
    /// no RETURNING and reports the id through [`Dialect::last_insert_id`] instead.
    pub(crate) fn returning_id(&self) -> &'static str {
        match self.engine {
            Engine::MySql => "",
            // The cast makes INT and BIGINT ids decode alike as `i64` (PostgreSQL types are strict).
            Engine::Sqlite | Engine::Postgres => " RETURNING CAST(id AS BIGINT)",
        }
    }

    /// The query that reads the first id generated by the previous INSERT on the same connection, where
    /// INSERT cannot return it.
    pub(crate) fn last_insert_id(&self) -> Option<&'static str> {
        match self.engine {
            Engine::MySql => Some("SELECT CAST(LAST_INSERT_ID() AS SIGNED)"),
            Engine::Sqlite | Engine::Postgres => None,
        }
    }

    /// A case-insensitive substring match of `column` against a pattern made by [`contains_pattern`].
    /// Lower-casing both sides gives the same answer on every engine and collation.
    pub(crate) fn contains(&self, column: &str) -> String {
        let escape = match self.engine {
            // MySQL reads a backslash in a string literal as an escape of its own.
            Engine::MySql => r"'\\'",
            Engine::Sqlite | Engine::Postgres => r"'\'",
        };
        format!("LOWER({column}) LIKE ? ESCAPE {escape}")
    }

    /// Rewrites `AS BIGINT)` casts for MySQL, which spells the 64-bit integer cast `AS SIGNED)`.
    pub(crate) fn integer_casts<'a>(&self, text: &'a str) -> Cow<'a, str> {
        match self.engine {
            Engine::MySql => Cow::Owned(text.replace("AS BIGINT)", "AS SIGNED)")),
            Engine::Sqlite | Engine::Postgres => Cow::Borrowed(text),
        }
    }

    /// Paging clause; binds limit then offset, both as `i64`.
    pub(crate) const PAGE: &'static str = " LIMIT ? OFFSET ?";

    /// A query yielding one row when `table` exists in the connected database/schema.
    pub(crate) fn table_exists(&self) -> &'static str {
        match self.engine {
            Engine::MySql => {
                "SELECT 1 FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?"
            }
            Engine::Postgres => {
                "SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = ?"
            }
            Engine::Sqlite => "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
        }
    }

    /// A query yielding one row when `table` has `column`.
    pub(crate) fn column_exists(&self) -> &'static str {
        match self.engine {
            Engine::MySql => {
                "SELECT 1 FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = ? AND column_name = ?"
            }
            Engine::Postgres => {
                "SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ? AND column_name = ?"
            }
            Engine::Sqlite => "SELECT 1 FROM pragma_table_info(?) WHERE name = ?",
        }
    }

    /// A query yielding one row per index of `table` that covers exactly `columns` in order, with its
    /// uniqueness as an integer (1 unique). Only MySQL needs it: adopted upstream databases live there.
    pub(crate) fn mysql_index_columns() -> &'static str {
        "SELECT index_name, CAST(MIN(non_unique) AS SIGNED), \
         CAST(GROUP_CONCAT(column_name ORDER BY seq_in_index SEPARATOR ',') AS CHAR) \
         FROM information_schema.statistics WHERE table_schema = DATABASE() AND table_name = ? GROUP BY index_name"
    }

    /// The statements that take and release the lock keeping two admins from migrating at once; the
    /// first yields 1 when the lock was taken. `None` on SQLite: a file is normally opened by one admin,
    /// and every migration step checks before it changes anything.
    pub(crate) fn migration_lock(&self) -> Option<(&'static str, &'static str)> {
        match self.engine {
            // GET_LOCK answers 0 after its 60 s timeout.
            Engine::MySql => Some((
                "SELECT CAST(GET_LOCK('xjob_migrate', 60) AS SIGNED)",
                "SELECT RELEASE_LOCK('xjob_migrate')",
            )),
            // pg_advisory_lock waits as long as it takes and returns void.
            Engine::Postgres => Some((
                "SELECT CAST(1 AS BIGINT) FROM (SELECT pg_advisory_lock(7355608)) AS locked",
                "SELECT pg_advisory_unlock(7355608)",
            )),
            Engine::Sqlite => None,
        }
    }
}

/// The LIKE pattern for a substring search: lower-cased, wildcards and the escape character escaped.
pub(crate) fn contains_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for character in text.to_lowercase().chars() {
        if matches!(character, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(character);
    }
    pattern.push('%');
    pattern
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_and_names() {
        let mut dialect = Dialect::new(Engine::Postgres);
        assert_eq!(
            dialect.sql("SELECT {job_name} FROM t WHERE a = ? AND b IN (?, ?)"),
            "SELECT name FROM t WHERE a = $1 AND b IN ($2, $3)"
        );
        dialect.engine = Engine::MySql;
        dialect.naming = Naming::Legacy;
        assert_eq!(
            dialect.sql("SELECT {group_name}, {job_name} WHERE a = ?"),
            "SELECT title, job_desc WHERE a = ?"
        );
        assert!(matches!(dialect.sql("SELECT 1 WHERE a = ?"), Cow::Borrowed(_)));
    }

    #[test]
    fn upserts() {
        let mysql = Dialect::new(Engine::MySql);
        assert_eq!(
            mysql.upsert(&["k"], &["a", "b"]),
            " ON DUPLICATE KEY UPDATE a = VALUES(a), b = VALUES(b)"
        );
        let sqlite = Dialect::new(Engine::Sqlite);
        assert_eq!(
            sqlite.upsert(&["k", "l"], &["a"]),
            " ON CONFLICT (k, l) DO UPDATE SET a = excluded.a"
        );
    }

    #[test]
    fn upserts_keeping_known_values() {
        let mysql = Dialect::new(Engine::MySql);
        assert_eq!(
            mysql.upsert_keeping("t", &["k"], &["a"], &["g"]),
            " ON DUPLICATE KEY UPDATE a = VALUES(a), g = COALESCE(VALUES(g), g)"
        );
        let postgres = Dialect::new(Engine::Postgres);
        assert_eq!(
            postgres.upsert_keeping("t", &["k"], &["a"], &["g"]),
            " ON CONFLICT (k) DO UPDATE SET a = excluded.a, g = COALESCE(excluded.g, t.g)"
        );
    }

    #[test]
    fn engines_from_urls() {
        assert_eq!(Engine::from_url("sqlite:///tmp/x.db"), Some(Engine::Sqlite));
        assert_eq!(
            Engine::from_url("mysql://root@127.0.0.1/xxl_job"),
            Some(Engine::MySql)
        );
        assert_eq!(
            Engine::from_url("postgres://postgres@localhost/x"),
            Some(Engine::Postgres)
        );
        assert_eq!(Engine::from_url("oracle://x"), None);
        assert_eq!(Engine::from_url("nonsense"), None);
    }
}
