using FluentMigrator;

namespace Pliers.Data.Migrations;

/// <summary>
/// Tenants (issue 14): <c>tenant_id</c> on definitions, submissions, revisions and events; names (and "one active
/// version per name") unique per tenant; a submission's definition always in the submission's own tenant (composite
/// foreign key); the row-level security policies of the second wall. The calling session names its tenant in the
/// transaction-local setting <c>pliers.tenant</c> (<c>use_tenant</c>); <c>current_tenant()</c> reads it, the empty
/// string (the default tenant of a single-tenant host) when unset. Existing rows belong to the default tenant.
/// Policies are created here but row-level security is switched on per table only for multi-tenant hosts
/// (<see cref="PliersDataOptions.MultiTenant"/>): under a policy PostgreSQL evaluates non-leakproof operators
/// (<c>@&gt;</c>, <c>LIKE</c>) after it, so the GIN and prefix indexes cannot serve the application role's filters.
/// </summary>
[Migration(202612051400, "tenants: tenant_id everywhere, per-tenant names, row-level security policies")]
internal sealed class M202612051400Tenants(string schema) : PliersMigration(schema)
{
    /// <summary>The tables that carry a tenant and have a policy, in the order the policies are made.</summary>
    internal static readonly string[] Tables = ["form_definitions", "form_submissions", "form_submission_revisions", "events"];

    // The setting's name is written 'pliers' || '.tenant' (folded to a constant when the function is inlined): spelled
    // whole, the drift check's normalisation would take 'pliers.tenant' for a name qualified by the schema when the
    // schema is called pliers (the default) and report both functions as changed.
    public override IReadOnlyList<string> UpStatements(string s) =>
    [
        $$"""
        create function {{s}}.current_tenant() returns text
        language sql stable parallel safe
        as $fn$ select coalesce(nullif(current_setting('pliers' || '.tenant', true), ''), '') $fn$
        """,
        $$"""
        create procedure {{s}}.use_tenant(tenant text)
        language plpgsql
        as $fn$ begin perform set_config('pliers' || '.tenant', tenant, true); end $fn$
        """,
        .. Tables.SelectMany(t => new[]
        {
            // A constant default first (existing rows get '' without a rewrite), then the session's tenant for new rows.
            $"alter table {s}.{t} add column tenant_id text not null default ''",
            $"alter table {s}.{t} alter column tenant_id set default {s}.current_tenant()",
            $"alter table {s}.{t} add constraint {t}_tenant_id_check check (tenant_id <> '*' and char_length(tenant_id) <= 100)",
        }),

        // Names per tenant.
        $"alter table {s}.form_definitions drop constraint form_definitions_name_version_key",
        $"alter table {s}.form_definitions add constraint form_definitions_name_version_key unique (tenant_id, name, version)",
        $"drop index {s}.form_definitions_one_active_per_name",
        $"create unique index form_definitions_one_active_per_name on {s}.form_definitions (tenant_id, name) where status = 'active'",
        $"drop index {s}.form_definitions_status_name_idx",
        $"create index form_definitions_status_name_idx on {s}.form_definitions (tenant_id, status, name, version)",

        // A submission's definition is in the submission's tenant.
        $"alter table {s}.form_definitions add constraint form_definitions_tenant_id_version_key unique (tenant_id, id, version)",
        $"alter table {s}.form_submissions drop constraint form_submissions_form_definition_fkey",
        $"""
        alter table {s}.form_submissions add constraint form_submissions_form_definition_fkey
            foreign key (tenant_id, form_definition_id, form_version) references {s}.form_definitions (tenant_id, id, version)
            on update restrict on delete restrict
        """,
        $"alter table {s}.form_definitions drop constraint form_definitions_id_version_key",

        // A named tenant's queries across its forms (created range, containment, everything) walk this index newest
        // first. Partial: a single-tenant host's rows are not in it, and only the statements that say `tenant_id <> ''`
        // can use it, so a query by form never meets it in a BitmapAnd (docs/schema.md, "BitmapAnd lesson").
        $"create index form_submissions_tenant_created_idx on {s}.form_submissions (tenant_id, created_at desc, id desc) where tenant_id <> ''",

        // One tenant's events in the global order; a single-tenant host's events are not in it.
        $"create index events_tenant_order_idx on {s}.events (tenant_id, transaction_id, position) where tenant_id <> ''",

        // The second wall: a session sees and writes only its tenant's rows. Events may also be read across tenants
        // with the tenant '*' (subscriptions); no row can be written for '*' (the check constraints above).
        .. Tables.Select(t => $"create policy {t}_tenant on {s}.{t} using (tenant_id = {s}.current_tenant()) with check (tenant_id = {s}.current_tenant())"),
        $"create policy events_all_tenants_read on {s}.events for select using ({s}.current_tenant() = '*')",
    ];

    public override IReadOnlyList<string> DownStatements(string s) =>
    [
        .. Tables.Select(t => $"alter table {s}.{t} disable row level security"),
        $"drop policy events_all_tenants_read on {s}.events",
        .. Tables.Select(t => $"drop policy {t}_tenant on {s}.{t}"),
        $"drop index {s}.events_tenant_order_idx",
        $"drop index {s}.form_submissions_tenant_created_idx",
        $"alter table {s}.form_definitions add constraint form_definitions_id_version_key unique (id, version)",
        $"alter table {s}.form_submissions drop constraint form_submissions_form_definition_fkey",
        $"""
        alter table {s}.form_submissions add constraint form_submissions_form_definition_fkey
            foreign key (form_definition_id, form_version) references {s}.form_definitions (id, version)
            on update restrict on delete restrict
        """,
        $"alter table {s}.form_definitions drop constraint form_definitions_tenant_id_version_key",
        $"drop index {s}.form_definitions_status_name_idx",
        $"create index form_definitions_status_name_idx on {s}.form_definitions (status, name, version)",
        $"drop index {s}.form_definitions_one_active_per_name",
        $"create unique index form_definitions_one_active_per_name on {s}.form_definitions (name) where status = 'active'",
        $"alter table {s}.form_definitions drop constraint form_definitions_name_version_key",
        $"alter table {s}.form_definitions add constraint form_definitions_name_version_key unique (name, version)",
        .. Tables.Reverse().Select(t => $"alter table {s}.{t} drop column tenant_id"),
        $"drop procedure {s}.use_tenant(text)",
        $"drop function {s}.current_tenant()",
    ];
}
