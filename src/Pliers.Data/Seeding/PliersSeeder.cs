using System.Globalization;
using System.Text.Json;
using Npgsql;
using NpgsqlTypes;
using Pliers.Data.Internal;

namespace Pliers.Data.Seeding;

/// <summary>How much realistic data <see cref="PliersSeeder"/> writes.</summary>
/// <param name="Forms">Forms, each with an active version (1, or after its history).</param>
/// <param name="Submissions">Submissions of the active versions, spread over the forms (a tenth of them in the first form).</param>
/// <param name="Events">Extra events, in streams of ten.</param>
/// <param name="Seed">The random seed: the same seed writes the same data.</param>
/// <param name="Versions">Archived earlier versions, ten per form over the first forms (100: ten forms with versions 1-10 archived and 11 active).</param>
internal sealed record SeedPlan(int Forms, int Submissions, int Events, int Seed = 20261125, int Versions = 0);

/// <summary>
/// Fills a migrated Pliers schema with deterministic, realistic data through binary COPY, for development and
/// benchmarks. Submission data matches each form's schema (the database trigger checks every row).
/// </summary>
internal sealed class PliersSeeder(PliersDatabase database)
{
    internal const string Schema = """
        {"type": "object", "required": ["title", "email", "priority"], "additionalProperties": false,
         "properties": {"title": {"type": "string", "minLength": 3, "maxLength": 120},
                        "email": {"type": "string", "pattern": "^[^@\\s]+@[^@\\s]+$"},
                        "priority": {"type": "integer", "minimum": 1, "maximum": 5},
                        "category": {"enum": ["housing", "health", "education", "transport", "other"]},
                        "amount": {"type": "number", "minimum": 0}}}
        """;

    private static readonly string[] Categories = ["housing", "health", "education", "transport", "other"];
    private static readonly string[] Words = ["broken", "heating", "request", "permit", "refund", "visit", "school", "bus", "repair", "grant", "urgent", "renewal"];

    public async Task<(int Forms, int Submissions, int Events)> SeedAsync(SeedPlan plan, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(plan.Forms);
        ArgumentOutOfRangeException.ThrowIfNegative(plan.Submissions);
        ArgumentOutOfRangeException.ThrowIfNegative(plan.Events);
        if (plan.Submissions > 0 && plan.Forms == 0)
        {
            throw new ArgumentException("Submissions need at least one form.", nameof(plan));
        }

        var s = database.QuotedSchema;
        var definition = "{\"schema\": " + Schema + "}";
        var connection = await database.DataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            await using (transaction.ConfigureAwait(false))
            {
                // A database that holds data already: seeds take turns, and a later one continues the form numbering
                // (seed-form-000101 after 100) with identifiers drawn from the seed and that offset, so nothing collides
                // and the same seed on the same database state still writes the same data.
                int offset;
                await using (var command = new NpgsqlCommand(
                    $"select pg_advisory_xact_lock(hashtext('pliers.data/seed/' || @schema)), coalesce(max(substring(name from '^seed-form-([0-9]{{6,9}})$')::int), 0) from {s}.form_definitions",
                    connection,
                    transaction))
                {
                    command.Parameters.AddWithValue("schema", database.Schema);
                    await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
                    await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
                    offset = reader.GetInt32(1);
                }

                var random = new Random(offset == 0 ? plan.Seed : unchecked((plan.Seed * 1_000_003) + offset));
                Guid NextId()
                {
                    Span<byte> bytes = stackalloc byte[16];
                    random.NextBytes(bytes);
                    bytes[7] = (byte)((bytes[7] & 0x0F) | 0x40); // version 4 (random), deterministic from the seed
                    bytes[8] = (byte)((bytes[8] & 0x3F) | 0x80);
                    return new Guid(bytes);
                }

                // History: ten archived versions per form over the first forms, with identifiers from a generator of
                // their own, so that a plan without versions writes exactly what it wrote before.
                var history = new Random(unchecked((plan.Seed * 31) + offset + 7));
                var forms = Enumerable.Range(0, plan.Forms)
                    .Select(i => (Id: NextId(), Name: $"seed-form-{offset + i + 1:D6}", Archived: Math.Clamp(plan.Versions - (i * 10), 0, 10)))
                    .ToArray();
                await using (var writer = await ImportAsync(connection, $"copy {s}.form_definitions (id, name, version, definition, status) from stdin (format binary)", cancellationToken).ConfigureAwait(false))
                {
                    foreach (var (id, name, archived) in forms)
                    {
                        for (var v = 1; v <= archived; v++)
                        {
                            var bytes = new byte[16];
                            history.NextBytes(bytes);
                            bytes[7] = (byte)((bytes[7] & 0x0F) | 0x40);
                            bytes[8] = (byte)((bytes[8] & 0x3F) | 0x80);
                            await writer.WriteTypedRowAsync(cancellationToken, new Guid(bytes), name, v, new NpgsqlParameterValue(definition, NpgsqlDbType.Jsonb), "archived").ConfigureAwait(false);
                        }

                        await writer.WriteTypedRowAsync(cancellationToken, id, name, archived + 1, new NpgsqlParameterValue(definition, NpgsqlDbType.Jsonb), "active").ConfigureAwait(false);
                    }

                    await writer.CompleteAsync(cancellationToken).ConfigureAwait(false);
                }

                var start = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
                await using (var writer = await ImportAsync(connection, $"copy {s}.form_submissions (id, form_definition_id, form_version, data, status, created_at) from stdin (format binary)", cancellationToken).ConfigureAwait(false))
                {
                    for (var i = 0; i < plan.Submissions; i++)
                    {
                        var form = forms[i % 10 == 0 ? 0 : random.Next(forms.Length)];
                        var data = JsonSerializer.Serialize(new Dictionary<string, object>
                        {
                            ["title"] = $"{Words[random.Next(Words.Length)]} {Words[random.Next(Words.Length)]} #{i + 1}",
                            ["email"] = $"user{random.Next(100_000)}@example.org",
                            ["priority"] = 1 + random.Next(5),
                            ["category"] = Categories[random.Next(Categories.Length)],
                            ["amount"] = Math.Round(random.NextDouble() * 5000, 2),
                        });
                        var status = (random.Next(10)) switch { < 3 => "draft", < 7 => "submitted", < 9 => "approved", _ => "rejected" };
                        await writer.WriteTypedRowAsync(cancellationToken, NextId(), form.Id, form.Archived + 1, new NpgsqlParameterValue(data, NpgsqlDbType.Jsonb), status, start.AddSeconds(i * 30)).ConfigureAwait(false);
                    }

                    await writer.CompleteAsync(cancellationToken).ConfigureAwait(false);
                }

                await using (var writer = await ImportAsync(connection, $"copy {s}.events (id, aggregate_id, aggregate_type, event_type, event_data, event_version) from stdin (format binary)", cancellationToken).ConfigureAwait(false))
                {
                    var stream = Guid.Empty;
                    for (var i = 0; i < plan.Events; i++)
                    {
                        if (i % 10 == 0)
                        {
                            stream = NextId();
                        }

                        var data = string.Create(CultureInfo.InvariantCulture, $"{{\"step\": {i % 10 + 1}, \"note\": \"seeded event {i + 1}\"}}");
                        await writer.WriteTypedRowAsync(cancellationToken, NextId(), stream, "seed", "seed.happened", new NpgsqlParameterValue(data, NpgsqlDbType.Jsonb), i % 10 + 1).ConfigureAwait(false);
                    }

                    await writer.CompleteAsync(cancellationToken).ConfigureAwait(false);
                }

                await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
            }
        }

        return (plan.Forms, plan.Submissions, plan.Events);
    }

    /// <summary>
    /// Starts a binary COPY without the connection's command timeout: the database checks the rows at the end of the
    /// statement (the set-based validation trigger, the indexes), which takes minutes for millions of rows (10M
    /// submissions: the default 30 s ran out while the server was still validating). Cancel with the token.
    /// </summary>
    private static async Task<NpgsqlBinaryImporter> ImportAsync(NpgsqlConnection connection, string copy, CancellationToken cancellationToken)
    {
        var writer = await connection.BeginBinaryImportAsync(copy, cancellationToken).ConfigureAwait(false);
        writer.Timeout = TimeSpan.Zero;
        return writer;
    }
}

/// <summary>A value with an explicit PostgreSQL type for <see cref="NpgsqlBinaryImporterExtensions.WriteTypedRowAsync"/>.</summary>
internal readonly record struct NpgsqlParameterValue(object Value, NpgsqlDbType Type);

internal static class NpgsqlBinaryImporterExtensions
{
    public static async Task WriteTypedRowAsync(this NpgsqlBinaryImporter writer, CancellationToken cancellationToken, params object[] values)
    {
        await writer.StartRowAsync(cancellationToken).ConfigureAwait(false);
        foreach (var value in values)
        {
            switch (value)
            {
                case NpgsqlParameterValue typed:
                    await writer.WriteAsync(typed.Value, typed.Type, cancellationToken).ConfigureAwait(false);
                    break;
                case Guid g:
                    await writer.WriteAsync(g, NpgsqlDbType.Uuid, cancellationToken).ConfigureAwait(false);
                    break;
                case int n:
                    await writer.WriteAsync(n, NpgsqlDbType.Integer, cancellationToken).ConfigureAwait(false);
                    break;
                case string text:
                    await writer.WriteAsync(text, NpgsqlDbType.Varchar, cancellationToken).ConfigureAwait(false);
                    break;
                case DateTimeOffset at:
                    await writer.WriteAsync(at.UtcDateTime, NpgsqlDbType.TimestampTz, cancellationToken).ConfigureAwait(false);
                    break;
                default:
                    throw new ArgumentException($"No COPY mapping for {value.GetType()}.", nameof(values));
            }
        }
    }
}
