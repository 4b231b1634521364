-- Production feedback: the answered requests of projects that opted in (PII redacted, kept for a retention period),
-- one row per choice, with the model version (and release variant) that answered; and the ratings, corrections and
-- comments people send back about them, which an export turns into training data.
create table served_requests (
    id             text not null,
    choice         integer not null,
    project        text not null,
    version        integer,
    release_id     text,
    variant        text,
    kind           text not null,
    prompt         text not null,
    answer         text not null,
    created_at     timestamptz not null,
    primary key (id, choice)
);
create index served_requests_by_project on served_requests (project, created_at);

create table feedback (
    id             bigint generated always as identity primary key,
    completion_id  text not null,
    choice         integer not null,
    project        text not null,
    rating         double precision not null,
    scale          text not null,
    correction     text,
    comment        text,
    created_at     timestamptz not null,
    exported_at    timestamptz,
    export_key     text,
    foreign key (completion_id, choice) references served_requests (id, choice) on delete cascade
);
create index feedback_by_project on feedback (project, exported_at);
