//! Embedded schema migrations, identical in content for every engine and rendered through
//! [`crate::store::dialect`].
//!
//! A fresh database gets upstream's tables with upstream's table and column names (upstream 3.5
//! spelling), this product's additions and extra indexes. A database created by upstream XXL-JOB (2.4.x
//! or 3.x, detected by `xxl_job_info` existing without our version table) is adopted: migration 1 is
//! recorded without running, and later migrations only add (nullable columns, tables, indexes); its rows
//! are never rewritten. Two steps go slightly further on such databases, both lossless and both what
//! upstream's own upgrade scripts do: 2.4.x registry duplicates are removed before the registration key
//! becomes unique (registrations are refreshed every 30 s anyway), and a 2.4.x `password` column is
//! widened from VARCHAR(50) to VARCHAR(100) so modern hashes fit.
//!
//! Applied migrations are recorded in `xjob_schema_version`. Every step checks before it changes
//! anything, so a migration interrupted half-way is simply run again at the next start. On MySQL and
//! PostgreSQL a server-side lock keeps two admins starting at once from migrating together.

use chrono::Utc;

use crate::store::dialect::ddl::{Column, Index, Table, Ty, col, def, req};
use crate::store::dialect::{Dialect, Engine, Naming};
use crate::store::{Result, Store, StoreError, on_pool, time};

/// The version this build migrates to.
pub const LATEST_VERSION: i32 = 4;

const VERSION_TABLE: Table = Table {
    name: "xjob_schema_version",
    columns: &[
        req("version", Ty::Int),
        req("description", Ty::Varchar(200)),
        req("applied_at", Ty::DateTime),
    ],
};

const GROUP: Table = Table {
    name: "xxl_job_group",
    columns: &[
        req("id", Ty::IntId),
        req("app_name", Ty::Varchar(64)),
        req("name", Ty::Varchar(64)),
        def("address_type", Ty::TinyInt, "0"),
        col("address_list", Ty::Text),
        col("access_token", Ty::Varchar(255)),
        col("update_time", Ty::DateTime),
    ],
};

const REGISTRY: Table = Table {
    name: "xxl_job_registry",
    columns: &[
        req("id", Ty::BigIntId),
        req("registry_group", Ty::Varchar(50)),
        req("registry_key", Ty::Varchar(255)),
        req("registry_value", Ty::Varchar(255)),
        col("update_time", Ty::DateTime),
    ],
};

const INFO: Table = Table {
    name: "xxl_job_info",
    columns: &[
        req("id", Ty::IntId),
        req("job_group", Ty::Int),
        req("name", Ty::Varchar(255)),
        col("author", Ty::Varchar(64)),
        col("alarm_email", Ty::Varchar(255)),
        def("schedule_type", Ty::Varchar(50), "'NONE'"),
        col("schedule_conf", Ty::Varchar(128)),
        def("misfire_strategy", Ty::Varchar(50), "'DO_NOTHING'"),
        col("executor_route_strategy", Ty::Varchar(50)),
        col("executor_handler", Ty::Varchar(255)),
        col("executor_param", Ty::Text),
        col("executor_block_strategy", Ty::Varchar(50)),
        def("executor_timeout", Ty::Int, "0"),
        def("executor_fail_retry_count", Ty::Int, "0"),
        req("glue_type", Ty::Varchar(50)),
        col("glue_source", Ty::MediumText),
        col("glue_remark", Ty::Varchar(128)),
        col("glue_updatetime", Ty::DateTime),
        col("child_jobid", Ty::Varchar(255)),
        def("trigger_status", Ty::TinyInt, "0"),
        def("trigger_last_time", Ty::BigInt, "0"),
        def("trigger_next_time", Ty::BigInt, "0"),
        col("add_time", Ty::DateTime),
        col("update_time", Ty::DateTime),
    ],
};

const LOGGLUE: Table = Table {
    name: "xxl_job_logglue",
    columns: &[
        req("id", Ty::IntId),
        req("job_id", Ty::Int),
        col("glue_type", Ty::Varchar(50)),
        col("glue_source", Ty::MediumText),
        req("glue_remark", Ty::Varchar(128)),
        col("add_time", Ty::DateTime),
        col("update_time", Ty::DateTime),
    ],
};

const LOG: Table = Table {
    name: "xxl_job_log",
    columns: &[
        req("id", Ty::BigIntId),
        req("job_group", Ty::Int),
        req("job_id", Ty::Int),
        col("executor_address", Ty::Varchar(255)),
        col("executor_handler", Ty::Varchar(255)),
        col("executor_param", Ty::Text),
        col("executor_sharding_param", Ty::Varchar(20)),
        def("executor_fail_retry_count", Ty::Int, "0"),
        col("trigger_time", Ty::DateTime),
        req("trigger_code", Ty::Int),
        col("trigger_msg", Ty::Text),
        col("handle_time", Ty::DateTime),
        req("handle_code", Ty::Int),
        col("handle_msg", Ty::Text),
        def("alarm_status", Ty::TinyInt, "0"),
    ],
};

const REPORT: Table = Table {
    name: "xxl_job_log_report",
    columns: &[
        req("id", Ty::IntId),
        col("trigger_day", Ty::DateTime),
        def("running_count", Ty::Int, "0"),
        def("suc_count", Ty::Int, "0"),
        def("fail_count", Ty::Int, "0"),
        col("update_time", Ty::DateTime),
    ],
};

const LOCK: Table = Table {
    name: "xxl_job_lock",
    columns: &[req("lock_name", Ty::Varchar(50))],
};

const USER: Table = Table {
    name: "xxl_job_user",
    columns: &[
        req("id", Ty::IntId),
        req("username", Ty::Varchar(50)),
        req("password", Ty::Varchar(100)),
        col("token", Ty::Varchar(100)),
        req("role", Ty::TinyInt),
        col("permission", Ty::Varchar(255)),
    ],
};

const API_TOKEN: Table = Table {
    name: "xjob_api_token",
    columns: &[
        req("id", Ty::BigIntId),
        req("name", Ty::Varchar(100)),
        req("token_hash", Ty::Varchar(255)),
        req("group_scope", Ty::Varchar(1024)),
        col("created_by", Ty::Int),
        req("add_time", Ty::DateTime),
        col("last_used_time", Ty::DateTime),
    ],
};

const PLANNED_TRIGGER: Table = Table {
    name: "xjob_planned_trigger",
    columns: &[
        req("id", Ty::BigIntId),
        req("job_id", Ty::Int),
        // Unix milliseconds, like `xxl_job_info.trigger_next_time`: compared with the scheduler's window.
        req("trigger_time", Ty::BigInt),
        col("executor_param", Ty::Text),
        col("address_list", Ty::Text),
        req("created_at", Ty::DateTime),
        req("created_by", Ty::Varchar(255)),
    ],
};

/// The indexes of migration 4: the scheduler's scan by time, and the per-job list and delete.
const PLANNED_TRIGGER_INDEXES: &[Index] = &[
    index(
        "i_xjob_planned_time",
        "xjob_planned_trigger",
        &["trigger_time"],
        false,
    ),
    index(
        "i_xjob_planned_job",
        "xjob_planned_trigger",
        &["job_id", "trigger_time"],
        false,
    ),
];

/// Upstream 3.5's indexes.
const UPSTREAM_INDEXES: &[Index] = &[
    index("i_app_name", "xxl_job_group", &["app_name"], true),
    index(
        "i_g_k_v",
        "xxl_job_registry",
        &["registry_group", "registry_key", "registry_value"],
        true,
    ),
    index("i_trigger_time", "xxl_job_log", &["trigger_time"], false),
    index("i_handle_code", "xxl_job_log", &["handle_code"], false),
    index("i_job_group", "xxl_job_log", &["job_group"], false),
    index("i_job_id", "xxl_job_log", &["job_id"], false),
    index("i_trigger_day", "xxl_job_log_report", &["trigger_day"], true),
    index("i_username", "xxl_job_user", &["username"], true),
];

/// Upstream indexes a fresh database does without, because an index of [`ADDED_INDEXES`] starts with
/// the same columns and serves every lookup they would. `i_job_id`: every log row is entered in each
/// index on `job_id` at a place set by its job, so with many jobs each insert writes its own page of
/// each such index; one index instead of two halves that. Adopted databases keep theirs.
const COVERED_BY_ADDED: &[&str] = &["i_job_id"];

/// Indexes upstream lacks: the scheduler's due-job scan, log pages by job and time, GLUE history by
/// job, token lookup.
const ADDED_INDEXES: &[Index] = &[
    index(
        "i_xjob_info_scan",
        "xxl_job_info",
        &["trigger_status", "trigger_next_time"],
        false,
    ),
    index(
        "i_xjob_log_job_time",
        "xxl_job_log",
        &["job_id", "trigger_time"],
        false,
    ),
    index("i_xjob_logglue_job", "xxl_job_logglue", &["job_id"], false),
    index("i_xjob_api_token_hash", "xjob_api_token", &["token_hash"], true),
];

/// Upstream 3.x log indexes that 2.4.x databases miss; only adopted (MySQL) databases can lack them,
/// and [`ensure_index`] skips them where an index on the same columns exists.
const LEGACY_INDEXES: &[Index] = &[index("i_xjob_log_group", "xxl_job_log", &["job_group"], false)];

/// Columns this product adds to upstream tables (all nullable), and upstream 3.x/3.5 columns an older
/// adopted database lacks.
const ADDED_COLUMNS: &[(&str, Column)] = &[
    ("xxl_job_group", col("access_token", Ty::Varchar(255))),
    ("xxl_job_user", col("token", Ty::Varchar(100))),
    ("xxl_job_info", col("schedule_time_zone", Ty::Varchar(64))),
    ("xxl_job_info", col("fail_retry_interval", Ty::Int)),
    ("xxl_job_info", col("fail_retry_backoff", Ty::TinyInt)),
];

/// The column of migration 3; values `g1`, `g2`, `g3`.
const REGISTRY_GENERATION: (&str, Column) = ("xxl_job_registry", col("protocol_generation", Ty::Varchar(8)));

const fn index(
    name: &'static str,
    table: &'static str,
    columns: &'static [&'static str],
    unique: bool,
) -> Index {
    Index {
        name,
        table,
        columns,
        unique,
    }
}

/// The migrations in order: version and description.
const MIGRATIONS: &[(i32, &str)] = &[
    (1, "upstream XXL-JOB tables and seed"),
    (2, "xjob columns, API tokens and indexes"),
    (3, "protocol generation of executor registrations"),
    (4, "planned triggers"),
];

/// Brings the database to [`LATEST_VERSION`].
pub(crate) async fn run(store: &Store) -> Result<()> {
    // The server-side lock is held by one connection for the whole run; the steps use other pool
    // connections, which the lock does not restrict — it only keeps other admins waiting.
    on_pool!(store, |pool| {
        let mut holder = match store.dialect.migration_lock() {
            Some((lock, _)) => {
                let mut connection = pool.acquire().await?;
                // 1 means taken (see `Dialect::migration_lock`).
                let taken: Option<i64> = sqlx::query_scalar(lock).fetch_one(&mut *connection).await?;
                if taken != Some(1) {
                    return Err(StoreError::MigrationLockTimeout);
                }
                Some(connection)
            }
            None => None,
        };
        let result = run_locked(store).await;
        if let (Some(connection), Some((_, unlock))) = (holder.as_mut(), store.dialect.migration_lock()) {
            sqlx::query(unlock).execute(&mut **connection).await?;
        }
        result
    })
}

/// Reads what the rest of the store must know about the schema: the column naming, and on MySQL whether
/// multi-row inserts get consecutive ids.
pub(crate) async fn detect(store: &Store) -> Result<Dialect> {
    let mut dialect = store.dialect;
    if exists(store, dialect.column_exists(), &["xxl_job_group", "title"]).await? {
        dialect.naming = Naming::Legacy;
    }
    if dialect.engine == Engine::MySql {
        let mode: Option<i64> = on_pool!(store, |pool| {
            sqlx::query_scalar("SELECT CAST(@@innodb_autoinc_lock_mode AS SIGNED)")
                .fetch_optional(pool)
                .await
                .ok()
                .flatten()
        });
        dialect.consecutive_ids = matches!(mode, Some(0 | 1));
    }
    Ok(dialect)
}

/// The versions recorded as applied, ascending.
pub async fn applied_versions(store: &Store) -> Result<Vec<i32>> {
    let sql = "SELECT version FROM xjob_schema_version ORDER BY version";
    Ok(on_pool!(store, |pool| sqlx::query_scalar::<_, i32>(sql)
        .fetch_all(pool)
        .await?))
}

async fn run_locked(store: &Store) -> Result<()> {
    let dialect = &store.dialect;
    if !exists(store, dialect.table_exists(), &[VERSION_TABLE.name]).await? {
        execute(store, &dialect.create_table(&VERSION_TABLE)).await?;
    }
    let applied = applied_versions(store).await?;
    let adopted = applied.is_empty() && exists(store, dialect.table_exists(), &[INFO.name]).await?;
    if adopted {
        tracing::info!("adopting an existing XXL-JOB database; only additive migrations run");
    }
    for &(version, description) in MIGRATIONS {
        if applied.contains(&version) {
            continue;
        }
        let outcome = match version {
            1 if adopted => Ok(()),
            1 => create_upstream_schema(store).await,
            2 => add_xjob_schema(store).await,
            3 => add_registry_generation(store).await,
            _ => add_planned_triggers(store).await,
        };
        outcome.map_err(|source| StoreError::Migration {
            version,
            description,
            source: Box::new(source),
        })?;
        let now = time::to_db(store.zone, Utc::now());
        let sql = dialect
            .sql("INSERT INTO xjob_schema_version (version, description, applied_at) VALUES (?, ?, ?)");
        on_pool!(store, |pool| {
            sqlx::query(&sql)
                .bind(version)
                .bind(description)
                .bind(now)
                .execute(pool)
                .await?;
        });
        tracing::info!(version, description, "migration applied");
    }
    Ok(())
}

/// Migration 1 on a fresh database: upstream's tables, indexes and seed (the sample executor group and
/// the lock row). Unlike upstream there is no sample job, no default user and no default access token:
/// the first administrator is created with a generated password, and tokens are set per group.
async fn create_upstream_schema(store: &Store) -> Result<()> {
    let dialect = &store.dialect;
    for table in [GROUP, REGISTRY, INFO, LOGGLUE, LOG, REPORT, LOCK, USER] {
        if !exists(store, dialect.table_exists(), &[table.name]).await? {
            execute(store, &dialect.create_table(&table)).await?;
        }
    }
    for index in UPSTREAM_INDEXES
        .iter()
        .filter(|index| !COVERED_BY_ADDED.contains(&index.name))
    {
        ensure_index(store, index).await?;
    }
    let sql = dialect.sql("SELECT COUNT(*) FROM xxl_job_group");
    let groups: i64 = on_pool!(store, |pool| sqlx::query_scalar(&sql).fetch_one(pool).await?);
    if groups == 0 {
        let now = time::to_db(store.zone, Utc::now());
        let sql = dialect.sql(
            "INSERT INTO xxl_job_group (app_name, name, address_type, address_list, update_time) VALUES (?, ?, 0, NULL, ?)",
        );
        on_pool!(store, |pool| {
            sqlx::query(&sql)
                .bind("xxl-job-executor-sample")
                .bind("通用执行器Sample")
                .bind(now)
                .execute(pool)
                .await?;
        });
    }
    Ok(())
}

/// Migration 2, on fresh and adopted databases alike.
async fn add_xjob_schema(store: &Store) -> Result<()> {
    let dialect = &store.dialect;
    for (table, column) in ADDED_COLUMNS {
        if !exists(store, dialect.column_exists(), &[table, column.name]).await? {
            execute(store, &dialect.add_column(table, column)).await?;
        }
    }
    if !exists(store, dialect.table_exists(), &[API_TOKEN.name]).await? {
        execute(store, &dialect.create_table(&API_TOKEN)).await?;
    }
    if dialect.engine == Engine::MySql {
        widen_legacy_password(store).await?;
        make_registry_key_unique(store).await?;
        for index in LEGACY_INDEXES {
            ensure_index(store, index).await?;
        }
    }
    for index in ADDED_INDEXES {
        ensure_index(store, index).await?;
    }
    let sql = dialect.sql("SELECT COUNT(*) FROM xxl_job_lock WHERE lock_name = ?");
    let locks: i64 = on_pool!(store, |pool| sqlx::query_scalar(&sql)
        .bind("schedule_lock")
        .fetch_one(pool)
        .await?);
    if locks == 0 {
        let sql = dialect.sql("INSERT INTO xxl_job_lock (lock_name) VALUES (?)");
        on_pool!(store, |pool| {
            sqlx::query(&sql).bind("schedule_lock").execute(pool).await?;
        });
    }
    Ok(())
}

/// Migration 3: the protocol generation each registration was last heard speaking, so every admin of a
/// cluster learns it from the table (nullable: upstream admins sharing the database never write it).
async fn add_registry_generation(store: &Store) -> Result<()> {
    let (table, column) = REGISTRY_GENERATION;
    if !exists(store, store.dialect.column_exists(), &[table, column.name]).await? {
        execute(store, &store.dialect.add_column(table, &column)).await?;
    }
    Ok(())
}

/// Migration 4: triggers planned for a later instant through the job API, in a table of their own (an
/// upstream admin sharing the database neither sees nor needs it).
async fn add_planned_triggers(store: &Store) -> Result<()> {
    if !exists(store, store.dialect.table_exists(), &[PLANNED_TRIGGER.name]).await? {
        execute(store, &store.dialect.create_table(&PLANNED_TRIGGER)).await?;
    }
    for index in PLANNED_TRIGGER_INDEXES {
        ensure_index(store, index).await?;
    }
    Ok(())
}

/// Upstream 2.4.x stored MD5 hex in VARCHAR(50); 3.2.0 widened it to VARCHAR(100) in its own upgrade
/// script. Widening keeps every value.
async fn widen_legacy_password(store: &Store) -> Result<()> {
    let sql = "SELECT CAST(character_maximum_length AS SIGNED) FROM information_schema.columns \
               WHERE table_schema = DATABASE() AND table_name = 'xxl_job_user' AND column_name = 'password'";
    let length: Option<i64> = on_pool!(store, |pool| sqlx::query_scalar(sql).fetch_optional(pool).await?);
    if length.is_some_and(|length| length < 100) {
        execute(
            store,
            "ALTER TABLE xxl_job_user MODIFY password VARCHAR(100) NOT NULL",
        )
        .await?;
    }
    Ok(())
}

/// Upstream 2.4.x has a non-unique registration key; the upsert needs a unique one. Duplicate rows
/// (possible only through concurrent heartbeats) are reduced to the newest before the unique index is
/// added under a name of this product; the old index stays.
async fn make_registry_key_unique(store: &Store) -> Result<()> {
    let key = ["registry_group", "registry_key", "registry_value"].join(",");
    let indexes = mysql_indexes(store, REGISTRY.name).await?;
    if indexes
        .iter()
        .any(|(_, unique, columns)| *unique && *columns == key)
    {
        return Ok(());
    }
    execute(
        store,
        "DELETE r FROM xxl_job_registry r JOIN xxl_job_registry newer \
         ON r.registry_group = newer.registry_group AND r.registry_key = newer.registry_key \
         AND r.registry_value = newer.registry_value AND r.id < newer.id",
    )
    .await?;
    let unique = index(
        "i_xjob_g_k_v",
        "xxl_job_registry",
        &["registry_group", "registry_key", "registry_value"],
        true,
    );
    execute(store, &store.dialect.create_index(&unique)).await
}

/// Creates an index unless one with the same name exists or, on MySQL, an index with the same leading
/// columns and at least the same uniqueness already serves (adopted databases name theirs differently).
async fn ensure_index(store: &Store, index: &Index) -> Result<()> {
    let dialect = &store.dialect;
    let present = match dialect.engine {
        Engine::MySql => {
            let wanted = index.columns.join(",");
            mysql_indexes(store, index.table)
                .await?
                .iter()
                .any(|(name, unique, columns)| {
                    name.eq_ignore_ascii_case(index.name)
                        || ((*unique || !index.unique)
                            && (*columns == wanted || columns.starts_with(&format!("{wanted},"))))
                })
        }
        Engine::Postgres => {
            exists(
                store,
                "SELECT 1 FROM pg_indexes WHERE schemaname = current_schema() AND indexname = ?",
                &[index.name],
            )
            .await?
        }
        Engine::Sqlite => {
            exists(
                store,
                "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?",
                &[index.name],
            )
            .await?
        }
    };
    if present {
        return Ok(());
    }
    execute(store, &dialect.create_index(index)).await
}

/// Name, uniqueness and comma-joined columns of every index of a MySQL table.
async fn mysql_indexes(store: &Store, table: &str) -> Result<Vec<(String, bool, String)>> {
    let rows: Vec<(String, i64, String)> =
        on_pool!(store, |pool| sqlx::query_as(Dialect::mysql_index_columns())
            .bind(table)
            .fetch_all(pool)
            .await?);
    Ok(rows
        .into_iter()
        .map(|(name, non_unique, columns)| (name, non_unique == 0, columns.to_ascii_lowercase()))
        .collect())
}

async fn exists(store: &Store, sql: &str, binds: &[&str]) -> Result<bool> {
    let sql = store.dialect.sql(sql);
    let found = on_pool!(store, |pool| {
        let mut query = sqlx::query(&sql);
        for bind in binds {
            query = query.bind(*bind);
        }
        query.fetch_optional(pool).await?.is_some()
    });
    Ok(found)
}

async fn execute(store: &Store, sql: &str) -> Result<()> {
    on_pool!(store, |pool| {
        sqlx::query(sql).execute(pool).await?;
    });
    Ok(())
}
