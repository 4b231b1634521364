-- Progressive releases: a version that passed the offline gate, served beside production (canary: a share of the
-- traffic, sticky per caller; shadow: every request, its answers recorded and never returned) until the analysis of
-- live traffic promotes it or rolls it back. One row per (project, version); status running, promoted, rolled_back.
create table releases (
    project           text not null,
    version           integer not null,
    baseline_version  integer not null,
    run_id            text not null,
    policy            text not null,
    settings          text not null,
    status            text not null,
    started_at        timestamptz not null,
    decided_at        timestamptz,
    reasons           text,
    numbers           text,
    primary key (project, version),
    foreign key (project, version) references model_versions (project, version)
);
create index releases_by_status on releases (status, project);
