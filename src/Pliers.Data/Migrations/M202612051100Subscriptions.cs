using FluentMigrator;

namespace Pliers.Data.Migrations;

/// <summary>
/// Durable named subscriptions (issue 15): one checkpoint row per subscription and partition with the lease of the
/// member that handles it, the live members of each subscription, and the events a subscription parked after its
/// handler kept failing.
/// </summary>
[Migration(202612051100, "subscriptions: checkpoints with leases, members, parked events")]
internal sealed class M202612051100Subscriptions(string schema) : PliersMigration(schema)
{
    public override IReadOnlyList<string> UpStatements(string s) =>
    [
        $$"""
        create table {{s}}.subscriptions (
            name text not null,
            partition integer not null,
            partitions integer not null,
            transaction_id xid8 not null,
            position bigint not null,
            owner text,
            lease_until timestamptz,
            created_at timestamptz not null default now(),
            updated_at timestamptz not null default now(),
            failing_since timestamptz,
            last_error text,
            stopped_at timestamptz,
            constraint subscriptions_pkey primary key (name, partition),
            constraint subscriptions_name_check check (name ~ '^[^[:space:]](.*[^[:space:]])?$' and length(name) <= 200),
            constraint subscriptions_partition_check check (partition >= 0 and partition < partitions and partitions <= 1024)
        )
        """,
        $$"""
        create table {{s}}.subscription_members (
            name text not null,
            member text not null,
            lease_until timestamptz not null,
            started_at timestamptz not null default now(),
            constraint subscription_members_pkey primary key (name, member)
        )
        """,
        $$"""
        create table {{s}}.subscription_parked (
            id bigint generated always as identity,
            name text not null,
            partition integer not null,
            event_id uuid not null,
            transaction_id xid8 not null,
            position bigint not null,
            error text not null,
            attempts integer not null,
            parked_at timestamptz not null default now(),
            replay_requested_at timestamptz,
            constraint subscription_parked_pkey primary key (id),
            constraint subscription_parked_event_key unique (name, event_id)
        )
        """,
        $$"""
        create index subscription_parked_replay_idx
            on {{s}}.subscription_parked (name, partition, transaction_id, position) where replay_requested_at is not null
        """,
    ];

    public override IReadOnlyList<string> DownStatements(string s) =>
    [
        $"drop table {s}.subscription_parked",
        $"drop table {s}.subscription_members",
        $"drop table {s}.subscriptions",
    ];
}
