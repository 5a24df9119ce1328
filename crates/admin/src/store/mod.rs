//! Every SQL statement of the scheduling center, one file per table family, on SQLite, MySQL/MariaDB and
//! PostgreSQL. [`Store`] owns the connection pool; [`StoreTx`] is a transaction for the scheduler's
//! scan (optionally holding the cluster lock). Functions take and return [`crate::model`] types.
//!
//! Engine differences live only in [`dialect`]; migrations (embedded, per engine, additive on adopted
//! upstream databases) in [`migrate`]. No axum types, status codes or business rules here: the store
//! answers questions and applies writes, services decide.
//!
//! # Times
//!
//! Upstream keeps DATETIME columns in the admin's local time, without zone and without fractions. The
//! store does the same: every `DateTime<Utc>` is converted to the wall-clock time of the zone given in
//! [`StoreOptions::time_zone`] and truncated to whole seconds before it is written, and read back through
//! the same zone (an ambiguous local time resolves to the earlier instant). Truncating, where MySQL would
//! round, keeps a log's stored trigger time on the same calendar day as the millisecond value sent to the
//! executor. `trigger_last_time`/`trigger_next_time` are epoch milliseconds, as upstream.

pub mod dialect;
mod gate;
mod glue;
mod group;
mod job;
mod log;
pub mod migrate;
mod planned;
mod registry;
mod report;
mod schedule;
mod time;
mod token;
mod user;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use crate::store::gate::WriteGate;

use chrono::NaiveDateTime;
use chrono_tz::Tz;
use sqlx::FromRow;
use sqlx::mysql::{MySqlPool, MySqlPoolOptions, MySqlRow};
use sqlx::postgres::{PgPool, PgPoolOptions, PgRow};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};

pub use dialect::{Engine, Naming};
pub use glue::GLUE_HISTORY;
pub use job::{JobFilter, NewJob};
pub use log::{HANDLE_MSG_MAX_CHARS, LogFilter};
pub use schedule::{ScheduleRewind, ScheduleUpdate, StoreTx, UPDATE_BATCH};

use crate::store::dialect::Dialect;

/// How to reach the database.
///
/// A SQLite file is created on first start and opened in WAL mode (readers never wait for the writer)
/// with a 10 s busy timeout, so concurrent writers queue instead of failing.
#[derive(Clone)]
pub struct StoreOptions {
    /// `sqlite://path/to/file.db`, `mysql://user:pass@host:3306/db` or `postgres://user:pass@host/db`.
    pub url: String,
    /// The zone DATETIME columns are written in (upstream: the admin JVM's default zone).
    pub time_zone: Tz,
    /// Pool size; `None` picks 4 for SQLite (one writer at a time anyway) and 16 otherwise (at least 2
    /// there).
    pub max_connections: Option<u32>,
}

/// The storage of the scheduling center. Cloning shares the pool.
#[derive(Clone)]
pub struct Store {
    pool: Pool,
    dialect: Dialect,
    zone: Tz,
}

/// A page request: rows `offset..offset + limit` of an ordered result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Page {
    /// Rows to skip.
    pub offset: u32,
    /// Rows to return at most.
    pub limit: u32,
}

/// One page of rows plus the number of rows matching without paging.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Paged<T> {
    /// The page.
    pub rows: Vec<T>,
    /// All matching rows.
    pub total: i64,
}

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL names no supported engine (only the scheme is shown: URLs can carry passwords).
    #[error("unsupported database URL scheme `{0}` (expected sqlite, mysql or postgres)")]
    UnsupportedUrl(String),
    /// A unique key rejected a write (duplicate AppName, username, token…).
    #[error("duplicate value for a unique key")]
    Duplicate,
    /// A stored value this version cannot interpret.
    #[error("invalid stored value in {table}.{column}: {detail}")]
    Corrupt {
        /// Table.
        table: &'static str,
        /// Column.
        column: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// Another admin held the migration lock for longer than a minute.
    #[error("timed out waiting for another admin to finish migrating the database")]
    MigrationLockTimeout,
    /// The `xxl_job_lock` row `schedule_lock` is missing.
    #[error("the cluster lock row `schedule_lock` is missing from xxl_job_lock")]
    LockRowMissing,
    /// A migration failed; the database is left at the previous version.
    #[error("migration {version} ({description}) failed: {source}")]
    Migration {
        /// Version number.
        version: i32,
        /// What it does.
        description: &'static str,
        /// The cause.
        #[source]
        source: Box<StoreError>,
    },
    /// The driver failed (connection, syntax, constraint, …).
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
}

/// The store's result type.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Clone)]
enum Pool {
    /// SQLite takes one writer at a time, and a connection that finds the write lock taken sleeps in
    /// SQLite's busy handler (1 ms, then 2, 5, 10 … up to 100 ms) while the lock may long be free again.
    /// So every write goes through `writer`, a pool of one connection, where writers queue in order
    /// without sleeping; reads use `readers`, which WAL lets run beside the writer.
    Sqlite {
        readers: SqlitePool,
        writer: SqlitePool,
        /// Who gets `writer` next; see [`gate`].
        gate: Arc<WriteGate>,
    },
    MySql(MySqlPool),
    Postgres(PgPool),
}

/// Runs `$body` once per engine with `$pool` bound to that engine's pool; the body is compiled for
/// each engine, so every bound value and decoded row type must work on all three.
macro_rules! on_pool {
    ($store:expr, |$pool:ident| $body:expr) => {
        match &$store.pool {
            $crate::store::Pool::Sqlite { readers: $pool, .. } => $body,
            $crate::store::Pool::MySql($pool) => $body,
            $crate::store::Pool::Postgres($pool) => $body,
        }
    };
}

/// [`on_pool!`] for statements that write: on SQLite they run on the single writer connection (see
/// [`Pool::Sqlite`]); MySQL and PostgreSQL lock rows, not the database, and use their one pool.
macro_rules! on_write_pool {
    ($store:expr, |$pool:ident| $body:expr) => {
        on_write_pool!($store, $crate::store::gate::Urgency::Normal, |$pool| $body)
    };
    ($store:expr, $urgency:expr, |$pool:ident| $body:expr) => {
        match &$store.pool {
            $crate::store::Pool::Sqlite {
                writer: $pool, gate, ..
            } => {
                let _turn = gate.enter($urgency).await;
                $body
            }
            $crate::store::Pool::MySql($pool) => $body,
            $crate::store::Pool::Postgres($pool) => $body,
        }
    };
}

/// Executes an INSERT built by `$query` (an expression evaluated once) on connection `$conn` and yields
/// the generated id as `i64`. The statement must end with [`Dialect::returning_id`].
macro_rules! insert_id {
    ($dialect:expr, $conn:expr, $query:expr) => {{
        let query = $query;
        match $dialect.last_insert_id() {
            Some(last) => {
                query
                    .execute(&mut *$conn)
                    .await
                    .map_err($crate::store::StoreError::from)?;
                sqlx::query_scalar::<_, i64>(last)
                    .fetch_one(&mut *$conn)
                    .await
                    .map_err($crate::store::StoreError::from)?
            }
            None => {
                let row = query
                    .fetch_one(&mut *$conn)
                    .await
                    .map_err($crate::store::StoreError::from)?;
                sqlx::Row::try_get::<i64, _>(&row, 0).map_err($crate::store::StoreError::from)?
            }
        }
    }};
}

/// Binds a slice of [`Param`]s, in order, to a query of any engine.
macro_rules! bind_params {
    ($query:expr, $params:expr) => {{
        let mut query = $query;
        for param in $params {
            query = match param {
                $crate::store::Param::Int(value) => query.bind(*value),
                $crate::store::Param::BigInt(value) => query.bind(*value),
                $crate::store::Param::SmallInt(value) => query.bind(*value),
                $crate::store::Param::Text(value) => query.bind(value.as_str()),
                $crate::store::Param::Time(value) => query.bind(*value),
            };
        }
        query
    }};
}

pub(crate) use {bind_params, insert_id, on_pool, on_write_pool};

/// One bound value of a statement whose conditions are assembled at run time.
#[derive(Clone, Debug)]
pub(crate) enum Param {
    Int(i32),
    BigInt(i64),
    SmallInt(i16),
    Text(String),
    Time(NaiveDateTime),
}

/// A row type the store can decode on every engine.
pub(crate) trait EngineRow:
    for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, MySqlRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin
{
}

impl<T> EngineRow for T where
    T: for<'r> FromRow<'r, SqliteRow>
        + for<'r> FromRow<'r, MySqlRow>
        + for<'r> FromRow<'r, PgRow>
        + Send
        + Unpin
{
}

impl Store {
    /// Connects, brings the schema up to date (see [`migrate`]) and detects the column naming of an
    /// adopted upstream database.
    pub async fn open(options: &StoreOptions) -> Result<Store> {
        let engine = Engine::from_url(&options.url).ok_or_else(|| {
            StoreError::UnsupportedUrl(
                options
                    .url
                    .split_once(':')
                    .map_or("", |(scheme, _)| scheme)
                    .to_owned(),
            )
        })?;
        let pool = match engine {
            Engine::Sqlite => {
                let connect = SqliteConnectOptions::from_str(&options.url)?
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    // WAL makes NORMAL durable against application crashes; only a power loss may lose
                    // the last transactions, which the scheduler recomputes anyway.
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(10))
                    // Statement journals of multi-row statements stay in memory instead of temporary files.
                    .pragma("temp_store", "memory")
                    // Rows of a statement go from the connection's thread to the caller through a channel;
                    // at the default of 50 a batch's RETURNING rows stop that thread every 50 rows until
                    // the caller has caught up.
                    .row_buffer_size(4096);
                let readers = SqlitePoolOptions::new()
                    .max_connections(options.max_connections.unwrap_or(4))
                    .connect_with(connect.clone())
                    .await?;
                // An in-memory database exists once per connection; there all connections must be one.
                let in_memory = options.url.contains(":memory:") || options.url.contains("mode=memory");
                let writer = if in_memory {
                    readers.clone()
                } else {
                    // The writer touches the table's and every index's hot pages; 32 MiB of page cache (the
                    // default is 2) keeps them out of the read system call.
                    // A checkpoint (copying the WAL into the database file and syncing it) run by a commit
                    // stalls every queued write, and copies more the larger the database has grown. A task
                    // beside the writer copies the WAL every second; the writer's own checkpoint, once the
                    // WAL passes 16 MiB, then finds little left to copy, and completing it lets SQLite
                    // start the WAL over (a checkpoint that never catches up with a busy writer cannot).
                    let writer = SqlitePoolOptions::new()
                        .max_connections(1)
                        .connect_with(
                            connect
                                .pragma("cache_size", "-32768")
                                .pragma("wal_autocheckpoint", "4096"),
                        )
                        .await?;
                    tokio::spawn(checkpoint_wal(readers.clone()));
                    writer
                };
                Pool::Sqlite {
                    readers,
                    writer,
                    gate: Arc::new(WriteGate::new()),
                }
            }
            Engine::MySql => Pool::MySql(
                MySqlPoolOptions::new()
                    .max_connections(server_pool_size(options.max_connections))
                    .connect(&options.url)
                    .await?,
            ),
            Engine::Postgres => Pool::Postgres(
                PgPoolOptions::new()
                    .max_connections(server_pool_size(options.max_connections))
                    .after_connect(|connection, _| Box::pin(prefer_custom_plans(connection)))
                    .connect(&options.url)
                    .await?,
            ),
        };
        let mut store = Store {
            pool,
            dialect: Dialect::new(engine),
            zone: options.time_zone,
        };
        migrate::run(&store).await?;
        store.dialect = migrate::detect(&store).await?;
        tracing::info!(engine = %engine, naming = ?store.dialect.naming, "store ready");
        Ok(store)
    }

    /// The engine in use.
    pub fn engine(&self) -> Engine {
        self.dialect.engine
    }

    /// The column naming of the database (see [`Naming`]).
    pub fn naming(&self) -> Naming {
        self.dialect.naming
    }

    /// The zone DATETIME columns are written in.
    pub fn time_zone(&self) -> Tz {
        self.zone
    }

    /// All rows of a query written with `?` placeholders, bound to `params` in order.
    pub(crate) async fn fetch_all<R: EngineRow>(&self, sql: &str, params: &[Param]) -> Result<Vec<R>> {
        let sql = self.dialect.sql(sql);
        Ok(on_pool!(self, |pool| bind_params!(
            sqlx::query_as::<_, R>(&sql),
            params
        )
        .fetch_all(pool)
        .await?))
    }

    /// The first row of a query, if any (see [`Store::fetch_all`]).
    pub(crate) async fn fetch_optional<R: EngineRow>(
        &self,
        sql: &str,
        params: &[Param],
    ) -> Result<Option<R>> {
        let sql = self.dialect.sql(sql);
        Ok(on_pool!(self, |pool| bind_params!(
            sqlx::query_as::<_, R>(&sql),
            params
        )
        .fetch_optional(pool)
        .await?))
    }

    /// The single integer a `SELECT COUNT(*) …` yields.
    pub(crate) async fn count(&self, sql: &str, params: &[Param]) -> Result<i64> {
        let sql = self.dialect.sql(sql);
        Ok(on_pool!(self, |pool| bind_params!(
            sqlx::query_scalar::<_, i64>(&sql),
            params
        )
        .fetch_one(pool)
        .await?))
    }

    /// Runs one writing statement written with `?` placeholders, bound to `params` in order, on the
    /// writer; the number of rows it changed.
    pub(crate) async fn execute(&self, sql: &str, params: &[Param]) -> Result<u64> {
        let sql = self.dialect.sql(sql);
        Ok(on_write_pool!(self, |pool| bind_params!(
            sqlx::query(&sql),
            params
        )
        .execute(pool)
        .await?
        .rows_affected()))
    }

    /// One page of `SELECT {columns} {from_where} ORDER BY {order}` plus the count of all matching
    /// rows; `from_where` starts with ` FROM` and its placeholders take `params`.
    pub(crate) async fn fetch_page<R: EngineRow>(
        &self,
        columns: &str,
        from_where: &str,
        order: &str,
        params: &[Param],
        page: Page,
    ) -> Result<(Vec<R>, i64)> {
        let select = self.dialect.sql(format!(
            "SELECT {columns}{from_where} ORDER BY {order}{}",
            dialect::Dialect::PAGE
        ));
        let count = self.dialect.sql(format!("SELECT COUNT(*){from_where}"));
        Ok(on_pool!(self, |pool| {
            let rows = bind_params!(sqlx::query_as::<_, R>(&select), params)
                .bind(i64::from(page.limit))
                .bind(i64::from(page.offset))
                .fetch_all(pool)
                .await?;
            let total: i64 = bind_params!(sqlx::query_scalar(&count), params)
                .fetch_one(pool)
                .await?;
            (rows, total)
        }))
    }

    /// Runs a trivial statement: whether the database answers at all.
    pub async fn ping(&self) -> Result<()> {
        on_pool!(self, |pool| sqlx::query("SELECT 1")
            .execute(pool)
            .await
            .map(drop)?);
        Ok(())
    }

    /// Closes every connection; later calls fail.
    pub async fn close(&self) {
        on_pool!(self, |pool| pool.close().await);
        if let Pool::Sqlite { writer, .. } = &self.pool {
            writer.close().await;
        }
    }
}

/// Runs `body`, which issues `statements` statements, on one connection of `pool` so that they commit
/// together: in a transaction when there are several, alone when there is one (a single statement is
/// atomic by itself). On SQLite every command is a round trip to the connection's thread, and on the
/// busy writer each round trip waits for that thread to be scheduled; BEGIN and COMMIT around a single
/// statement would be two of three.
pub(crate) async fn atomically<DB, T>(
    pool: &sqlx::Pool<DB>,
    statements: usize,
    body: impl AsyncFnOnce(&mut DB::Connection) -> Result<T>,
) -> Result<T>
where
    DB: sqlx::Database,
{
    let mut connection = pool.acquire().await?;
    if statements <= 1 {
        return body(&mut connection).await;
    }
    let mut transaction = sqlx::Connection::begin(&mut *connection).await?;
    let output = body(&mut transaction).await?;
    transaction.commit().await?;
    Ok(output)
}

/// Has PostgreSQL plan each execution of a prepared statement for its values. After five executions it
/// may otherwise settle on a generic plan made without them, chosen while the log table was small: the
/// batched result UPDATE (`… WHERE handle_code = 0 AND id IN (…)`) then scanned the whole table, and an
/// end-to-end run fell from 4 300 to 1 600 triggers a second. Planning these statements costs far less
/// than one such scan. Servers before PostgreSQL 12 lack the setting and keep their default.
async fn prefer_custom_plans(connection: &mut sqlx::PgConnection) -> std::result::Result<(), sqlx::Error> {
    if let Err(error) = sqlx::query("SET plan_cache_mode = force_custom_plan")
        .execute(connection)
        .await
    {
        tracing::debug!(%error, "plan_cache_mode not set; the server's default applies");
    }
    Ok(())
}

/// How often the WAL of an SQLite database is copied into the database file.
const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(1);

/// Checkpoints the WAL of an SQLite database every [`CHECKPOINT_INTERVAL`] on a reader connection until
/// the pool closes. PASSIVE checkpoints wait for no one: the writer goes on appending to the WAL while
/// the pages before it are copied, and SQLite starts the WAL over once everything in it is copied.
async fn checkpoint_wal(readers: SqlitePool) {
    let mut ticks = tokio::time::interval(CHECKPOINT_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if readers.is_closed() {
            return;
        }
        if let Err(error) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&readers)
            .await
        {
            if readers.is_closed() {
                return;
            }
            tracing::warn!(%error, "checkpointing the SQLite write-ahead log failed");
        }
    }
}

// Neither the URL (it can carry a password) nor the pool's connect options are printed.
impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("engine", &self.dialect.engine)
            .field("naming", &self.dialect.naming)
            .field("zone", &self.zone)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for StoreOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = self.url.split_once(':').map_or("", |(scheme, _)| scheme);
        f.debug_struct("StoreOptions")
            .field("url", &format_args!("{scheme}:<redacted>"))
            .field("time_zone", &self.time_zone)
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

/// The pool size for MySQL and PostgreSQL: at least two, because migrations hold one connection for
/// their lock while the steps run on another.
fn server_pool_size(configured: Option<u32>) -> u32 {
    configured.unwrap_or(16).max(2)
}

impl Page {
    /// The first `limit` rows.
    pub fn first(limit: u32) -> Self {
        Page { offset: 0, limit }
    }
}

impl StoreError {
    /// A stored value this version cannot interpret.
    pub(crate) fn corrupt(table: &'static str, column: &'static str, detail: impl ToString) -> Self {
        StoreError::Corrupt {
            table,
            column,
            detail: detail.to_string(),
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::Database(database) if database.is_unique_violation() => StoreError::Duplicate,
            _ => StoreError::Database(error),
        }
    }
}
