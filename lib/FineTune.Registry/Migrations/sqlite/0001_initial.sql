-- The run registry's first schema, SQLite dialect: the same tables and columns as ../postgres/0001_initial.sql.
-- GUIDs are lower-case text; times are UTC ISO-8601 text of fixed width (yyyy-MM-ddTHH:mm:ss.fffffffZ), so they sort
-- and compare as times; booleans are 0/1; identities are integer primary keys.

create table processed_messages (
    consumer      text not null,
    message_id    text not null,
    processed_at  text not null,
    primary key (consumer, message_id)
);

create table runs (
    run_id         text primary key,
    project        text not null,
    status         text not null,
    triggered_by   text not null,
    source_bucket  text not null,
    source_key     text not null,
    error          text,
    decision       text,
    reasons        text not null default '[]',
    model_version  integer,
    created_at     text not null,
    updated_at     text not null,
    finished_at    text
);
create index runs_by_project on runs (project, created_at);

-- The run is inserted after the claim that creates it, hence the deferred foreign key.
create table raw_objects (
    bucket   text not null,
    key      text not null,
    etag     text not null,
    project  text not null,
    sha256   text not null,
    bytes    integer not null,
    run_id   text not null references runs (run_id) deferrable initially deferred,
    seen_at  text not null,
    primary key (bucket, key, etag)
);
create index raw_objects_by_project on raw_objects (project, seen_at);

-- output_json: what CompleteStageAsync stored (the event the stage published), republished on redelivery.
create table stage_executions (
    run_id       text not null references runs (run_id),
    stage        text not null,
    status       text not null,
    attempts     integer not null,
    started_at   text not null,
    finished_at  text,
    error        text,
    output_json  text,
    primary key (run_id, stage)
);

create table artifacts (
    run_id      text not null references runs (run_id),
    kind        text not null,
    bucket      text not null,
    key         text not null,
    sha256      text not null,
    bytes       integer not null,
    created_at  text not null,
    primary key (run_id, kind, bucket, key)
);

create table lineage (
    id           integer primary key autoincrement,
    run_id       text not null references runs (run_id),
    from_bucket  text not null,
    from_key     text not null,
    from_sha256  text not null,
    from_bytes   integer not null,
    to_bucket    text not null,
    to_key       text not null,
    to_sha256    text not null,
    to_bytes     integer not null,
    relation     text not null,
    created_at   text not null,
    unique (run_id, from_bucket, from_key, to_bucket, to_key, relation)
);

create table datasets (
    run_id             text primary key references runs (run_id),
    project            text not null,
    prepared_bucket    text not null,
    prepared_key       text not null,
    prepared_sha256    text not null,
    prepared_bytes     integer not null,
    data_card_bucket   text not null,
    data_card_key      text not null,
    data_card_sha256   text not null,
    data_card_bytes    integer not null,
    examples           integer not null,
    rejected           integer not null,
    created_at         text not null
);
create index datasets_by_project on datasets (project, created_at);

create table model_versions (
    project      text not null,
    version      integer not null,
    run_id       text not null unique references runs (run_id),
    model_bucket text not null,
    model_key    text not null,
    model_sha256 text not null,
    model_bytes  integer not null,
    base_bucket  text not null,
    base_key     text not null,
    base_sha256  text not null,
    base_bytes   integer not null,
    kind         text not null,
    created_at   text not null,
    primary key (project, version)
);

create table evaluations (
    project            text not null,
    version            integer not null,
    run_id             text not null references runs (run_id),
    baseline_version   integer,
    promote            integer not null,
    reasons            text not null,
    candidate_metrics  text not null,
    baseline_metrics   text not null,
    gate_bucket        text not null,
    gate_key           text not null,
    gate_sha256        text not null,
    gate_bytes         integer not null,
    created_at         text not null,
    primary key (project, version),
    foreign key (project, version) references model_versions (project, version)
);

create table aliases (
    project     text not null,
    alias       text not null,
    version     integer not null,
    updated_at  text not null,
    primary key (project, alias),
    foreign key (project, version) references model_versions (project, version)
);

-- The alias history, appended to by every alias change; run_id is whoever asked (a rollback need not be a pipeline run).
create table deployments (
    id                integer primary key autoincrement,
    project           text not null,
    alias             text not null,
    version           integer not null,
    previous_version  integer,
    run_id            text not null,
    reason            text not null,
    created_at        text not null
);
create index deployments_by_alias on deployments (project, alias, id);

create table training_jobs (
    run_id        text primary key references runs (run_id),
    status        text not null,
    request_json  text not null,
    worker_id     text,
    lease_until   text,
    attempts      integer not null,
    error         text,
    created_at    text not null,
    updated_at    text not null
);
create index training_jobs_claimable on training_jobs (status, created_at);

create table run_events (
    seq         integer primary key autoincrement,
    run_id      text not null references runs (run_id),
    created_at  text not null,
    level       text not null,
    type        text not null,
    message     text not null,
    data_json   text
);
create index run_events_by_run on run_events (run_id, seq);

create table checkpoints (
    run_id        text not null references runs (run_id),
    step          integer not null,
    bucket        text not null,
    key           text not null,
    sha256        text not null,
    bytes         integer not null,
    metrics_json  text not null,
    created_at    text not null,
    primary key (run_id, step)
);
