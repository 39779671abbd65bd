using FluentMigrator;

namespace Pliers.Data.Migrations;

/// <summary>The append-only event store table.</summary>
[Migration(202611250920, "events: append-only streams with a global position and the writing transaction id")]
internal sealed class M202611250920Events(string schema) : PliersMigration(schema)
{
    public override IReadOnlyList<string> UpStatements(string s) =>
    [
        $$"""
        create table {{s}}.events (
            id uuid not null default gen_random_uuid(),
            aggregate_id uuid not null,
            aggregate_type varchar(100) not null,
            event_type varchar(200) not null,
            event_data jsonb not null,
            event_version integer not null,
            correlation_id uuid,
            causation_id uuid,
            created_at timestamptz not null default now(),
            position bigint generated always as identity,
            transaction_id xid8 not null default pg_current_xact_id(),
            metadata jsonb,
            constraint events_pkey primary key (id),
            constraint events_position_key unique (position),
            constraint events_stream_version_key unique (aggregate_id, event_version),
            constraint events_event_version_check check (event_version >= 1),
            constraint events_aggregate_type_check check (aggregate_type ~ '^[^[:space:]](.*[^[:space:]])?$'),
            constraint events_event_type_check check (event_type ~ '^[^[:space:]](.*[^[:space:]])?$'),
            constraint events_metadata_check check (metadata is null or jsonb_typeof(metadata) = 'object')
        )
        """,
        $$"""
        create index events_transaction_position_idx
            on {{s}}.events (transaction_id, position)
        """,
        $$"""
        create index events_correlation_idx
            on {{s}}.events (correlation_id) where correlation_id is not null
        """,
        $$"""
        create function {{s}}.events_refuse_change() returns trigger
        language plpgsql as $fn$
        begin
            raise exception 'events are append-only: % is not allowed on %.%', tg_op, tg_table_schema, tg_table_name
                using errcode = 'restrict_violation', constraint = 'events_append_only',
                      table = tg_table_name, schema = tg_table_schema;
        end
        $fn$
        """,
        $$"""
        create trigger events_append_only
            before update or delete on {{s}}.events
            for each row execute function {{s}}.events_refuse_change()
        """,
        $$"""
        create trigger events_no_truncate
            before truncate on {{s}}.events
            for each statement execute function {{s}}.events_refuse_change()
        """,
    ];

    public override IReadOnlyList<string> DownStatements(string s) =>
    [
        $"drop table {s}.events",
        $"drop function {s}.events_refuse_change()",
    ];
}
