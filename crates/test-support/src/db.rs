//! The storage-test database matrix: every storage test runs on SQLite (a temporary file) and, when
//! `TEST_MYSQL_URL` / `TEST_POSTGRES_URL` name a server, on MySQL/MariaDB and PostgreSQL too, each in a
//! freshly created database with a random name that is dropped again afterwards.
//!
//! An engine without a URL is skipped with one `skipping MySQL tests: TEST_MYSQL_URL not set` line per
//! test binary on standard error (written past the test harness's capture, so it is always visible).
//! The server URLs point at the server, e.g. `mysql://root@127.0.0.1:3306` and
//! `postgres://postgres@127.0.0.1:5432/postgres`; any database path in them is replaced.

use std::io::Write;
use std::sync::Once;

use sqlx::Connection;

/// A database engine of the matrix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Engine {
    /// SQLite, always tested.
    Sqlite,
    /// MySQL or MariaDB at `TEST_MYSQL_URL`.
    MySql,
    /// PostgreSQL at `TEST_POSTGRES_URL`.
    Postgres,
}

/// A database created for one test; dropped (or its directory removed) when this value is dropped.
pub struct TestDatabase {
    engine: Engine,
    url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    /// Holding the directory keeps it until the database is dropped.
    Directory {
        _directory: tempfile::TempDir,
    },
    Server {
        server_url: String,
        name: String,
    },
}

/// The environment variable naming each server engine's URL.
pub const MYSQL_URL_VAR: &str = "TEST_MYSQL_URL";
/// See [`MYSQL_URL_VAR`].
pub const POSTGRES_URL_VAR: &str = "TEST_POSTGRES_URL";

static MYSQL_SKIP: Once = Once::new();
static POSTGRES_SKIP: Once = Once::new();

/// The engines to run on: SQLite always, the servers whose URL is set. Prints the skip line for a
/// missing URL once per process.
pub fn engines() -> Vec<Engine> {
    let mut engines = vec![Engine::Sqlite];
    for (engine, variable, once, label) in [
        (Engine::MySql, MYSQL_URL_VAR, &MYSQL_SKIP, "MySQL"),
        (Engine::Postgres, POSTGRES_URL_VAR, &POSTGRES_SKIP, "PostgreSQL"),
    ] {
        if server_url(variable).is_some() {
            engines.push(engine);
        } else {
            once.call_once(|| {
                // Directly to the process's stderr: the harness captures only the print macros.
                let _ = writeln!(std::io::stderr(), "skipping {label} tests: {variable} not set");
            });
        }
    }
    engines
}

/// Whether the MySQL server is configured (for MySQL-only tests such as adopting upstream schemas).
pub fn mysql_enabled() -> bool {
    engines().contains(&Engine::MySql)
}

impl TestDatabase {
    /// Creates an empty database on `engine`.
    ///
    /// # Panics
    /// When the server cannot be reached or the database cannot be created: a test setup failure.
    pub async fn create(engine: Engine) -> TestDatabase {
        let name = format!("xjob_test_{}", &uuid::Uuid::new_v4().simple().to_string()[..16]);
        match engine {
            Engine::Sqlite => {
                let directory = tempfile::tempdir().expect("temporary directory for SQLite");
                let url = format!("sqlite://{}/{name}.db", directory.path().display());
                TestDatabase {
                    engine,
                    url,
                    cleanup: Cleanup::Directory {
                        _directory: directory,
                    },
                }
            }
            Engine::MySql | Engine::Postgres => {
                let variable = if engine == Engine::MySql {
                    MYSQL_URL_VAR
                } else {
                    POSTGRES_URL_VAR
                };
                let server_url = server_url(variable).expect("engine enabled only with its URL set");
                let create = match engine {
                    Engine::MySql => {
                        format!("CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
                    }
                    _ => format!("CREATE DATABASE {name}"),
                };
                execute(engine, &server_url, &create).await;
                TestDatabase {
                    engine,
                    url: with_database(&server_url, &name),
                    cleanup: Cleanup::Server { server_url, name },
                }
            }
        }
    }

    /// The engine.
    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// The URL of the new database.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Cleanup::Server { server_url, name } = &self.cleanup else {
            return;
        };
        let drop = match self.engine {
            Engine::Postgres => format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            _ => format!("DROP DATABASE IF EXISTS {name}"),
        };
        let (engine, server_url) = (self.engine, server_url.clone());
        // Drop runs inside the test's runtime, which must not be blocked on itself: use a private one.
        let worker = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
            if let Ok(runtime) = runtime {
                runtime.block_on(execute(engine, &server_url, &drop));
            }
        });
        let _ = worker.join();
    }
}

fn server_url(variable: &str) -> Option<String> {
    std::env::var(variable).ok().filter(|url| !url.trim().is_empty())
}

/// Runs one statement on the server connection.
async fn execute(engine: Engine, url: &str, statement: &str) {
    match engine {
        Engine::MySql => {
            let mut connection = sqlx::MySqlConnection::connect(url)
                .await
                .expect("connect to TEST_MYSQL_URL");
            sqlx::query(statement)
                .execute(&mut connection)
                .await
                .expect(statement);
            let _ = connection.close().await;
        }
        Engine::Postgres => {
            let mut connection = sqlx::PgConnection::connect(url)
                .await
                .expect("connect to TEST_POSTGRES_URL");
            sqlx::query(statement)
                .execute(&mut connection)
                .await
                .expect(statement);
            let _ = connection.close().await;
        }
        Engine::Sqlite => {}
    }
}

/// `url` with its database path replaced by `name` (query parameters kept).
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |index| index + 3);
    let host_end = base[authority_start..]
        .find('/')
        .map_or(base.len(), |index| authority_start + index);
    let mut result = format!("{}/{name}", &base[..host_end]);
    if let Some(query) = query {
        result.push('?');
        result.push_str(query);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_paths() {
        assert_eq!(
            with_database("mysql://root@127.0.0.1:3306", "x"),
            "mysql://root@127.0.0.1:3306/x"
        );
        assert_eq!(
            with_database("mysql://root@127.0.0.1:3306/", "x"),
            "mysql://root@127.0.0.1:3306/x"
        );
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", "x"),
            "postgres://postgres@127.0.0.1:5432/x?sslmode=disable"
        );
    }
}
