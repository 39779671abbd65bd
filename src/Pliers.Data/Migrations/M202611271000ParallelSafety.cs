using FluentMigrator;

namespace Pliers.Data.Migrations;

/// <summary>
/// The two compiler functions that catch errors (<c>_jsv_path</c>, <c>_jsv_residual</c>) start a subtransaction for
/// their exception block, which nothing in a parallel query may do, in a worker or in the leader: labelled parallel
/// safe, a per-row-schema validation over a large table got a parallel plan and failed with "cannot start
/// subtransactions during a parallel operation". They and <c>jsonb_matches_schema</c>, which calls them (the planner
/// judges a query by the functions it names, before inlining), become parallel unsafe; "restricted" is not enough
/// (measured: the leader fails the same way while the workers run). <c>jsonb_schema_errors</c> has no such call and
/// stays parallel safe.
/// </summary>
[Migration(202611271000, "validation: functions that start subtransactions are parallel unsafe")]
internal sealed class M202611271000ParallelSafety(string schema) : PliersMigration(schema)
{
    private static readonly string[] Functions = ["_jsv_path(jsonb)", "_jsv_residual(jsonb)", "jsonb_matches_schema(jsonb, jsonb)", "jsonb_matches_schema(jsonb, jsonb, jsonb)"];

    public override IReadOnlyList<string> UpStatements(string s) =>
        Functions.Select(f => $"alter function {s}.{f} parallel unsafe").ToArray();

    public override IReadOnlyList<string> DownStatements(string s) =>
        Functions.Select(f => $"alter function {s}.{f} parallel safe").ToArray();
}
