using System.Text.Json;
using Json.Schema;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using NpgsqlTypes;
using Pliers.Data.Forms;
using Pliers.Data.Submissions;
using Pliers.Data.Validation;

namespace Pliers.Data.Benchmarks;

/// <summary>
/// Form and submission scenarios on a seeded schema (10,000 forms with an active version each, 100,000
/// submissions with a busy form holding half of them): Pliers' repositories against the same SQL run by hand
/// with Npgsql, in alternating rounds.
/// </summary>
internal sealed class FormScenarios : IScenario
{
    public string Name => "forms";

    public async Task<IReadOnlyList<BenchmarkResult>> RunAsync(BenchmarkContext context, CancellationToken cancellationToken)
    {
        var schemaName = "bench_forms_" + Guid.NewGuid().ToString("N")[..10];
        var s = "\"" + schemaName + "\"";
        await using var services = await context.MigratedPliersAsync(schemaName, cancellationToken);
        var forms = services.GetRequiredService<IFormDefinitionRepository>();
        var submissions = services.GetRequiredService<IFormSubmissionRepository>();
        await using var raw = NpgsqlDataSource.Create(context.ConnectionString);
        var results = new List<BenchmarkResult>();
        try
        {
            var benchSchema = SharedData.BenchSchema;
            var benchInstance = SharedData.BenchInstance;
            var shape = context.SeederShape ? DataShape.Seeder : DataShape.Generated;
            if (context.SeederShape)
            {
                // The shape, written by the library's own seeder (what `pliers-data seed --forms 1000
                // --versions 100 --submissions N` writes): 1,000 forms, ten of them with ten archived versions
                // each, a tenth of the submissions in seed-form-000001 and the rest spread at random.
                context.Log.WriteLine($"  seeding with the library's seeder: 1,000 forms (100 archived versions) and {context.Submissions:N0} submissions...");
                await services.GetRequiredService<Pliers.Data.Seeding.PliersSeeder>().SeedAsync(new Pliers.Data.Seeding.SeedPlan(1000, context.Submissions, 0, 20261205, Versions: 100), cancellationToken);
            }
            else
            {
                context.Log.WriteLine($"  seeding 10,000 forms and {context.Submissions:N0} submissions...");
                await using var seed = raw.CreateCommand($$"""
                    insert into {{s}}.form_definitions (name, version, definition, status)
                    select 'form-' || i, 1, jsonb_build_object('schema', @schema::jsonb), 'active' from generate_series(1, 10000) i;
                    insert into {{s}}.form_submissions (form_definition_id, form_version, data, status, created_at)
                    select d.id, 1,
                           jsonb_set(jsonb_set(@instance::jsonb, '{title}', to_jsonb('Request ' || g)), '{category}', to_jsonb((array['housing','health','education','transport','other'])[1 + g % 5])),
                           (array['draft', 'submitted', 'approved', 'rejected'])[1 + g % 4], now() - make_interval(secs => g)
                    from generate_series(1, @submissions) g
                    join {{s}}.form_definitions d on d.name = 'form-' || case when g % 2 = 0 then 1 else 1 + g % 10000 end;
                    """);
                seed.Parameters.Add(new NpgsqlParameter("schema", NpgsqlDbType.Text) { Value = benchSchema });
                seed.Parameters.Add(new NpgsqlParameter("instance", NpgsqlDbType.Text) { Value = benchInstance });
                seed.Parameters.Add(new NpgsqlParameter<int>("submissions", context.Submissions));
                seed.CommandTimeout = 3600;
                await seed.ExecuteNonQueryAsync(cancellationToken);
            }

            await using (var analyze = raw.CreateCommand($"analyze {s}.form_definitions; analyze {s}.form_submissions"))
            {
                analyze.CommandTimeout = 3600;
                await analyze.ExecuteNonQueryAsync(cancellationToken);
            }

            var formInstance = shape.Instance ?? benchInstance;
            var busy = (await forms.GetActiveAsync(shape.Name(1), cancellationToken))!;
            var random = new Random(42);
            var ids = new List<Guid>();
            await using (var read = raw.CreateCommand($"select id from {s}.form_definitions order by random() limit 1000"))
            await using (var reader = await read.ExecuteReaderAsync(cancellationToken))
            {
                while (await reader.ReadAsync(cancellationToken))
                {
                    ids.Add(reader.GetGuid(0));
                }
            }

            var lookups = context.Quick ? 1500 : 6000;
            const string definitionColumns = "id, name, version, status, definition, created_at, updated_at, xmin";
            results.AddRange(await context.MeasureInterleavedAsync(
                "forms.get_by_id", 6, 100, lookups / 6,
                ("pliers", async i => { _ = await forms.GetByIdAsync(ids[Math.Abs(i) % ids.Count], cancellationToken) ?? throw new InvalidOperationException(); }, 1),
                ("raw", async i => await RawDefinitionAsync(raw, $"select {definitionColumns} from {s}.form_definitions where id = @p", ids[Math.Abs(i) % ids.Count], cancellationToken), 1)));
            results.AddRange(await context.MeasureInterleavedAsync(
                "forms.get_active_by_name", 6, 100, lookups / 6,
                ("pliers", async i => { _ = await forms.GetActiveAsync(shape.Name(1 + (Math.Abs(i) % shape.Forms)), cancellationToken) ?? throw new InvalidOperationException(); }, 1),
                ("raw", async i => await RawDefinitionAsync(raw, $"select {definitionColumns} from {s}.form_definitions where name = @p and status = 'active'", shape.Name(1 + (Math.Abs(i) % shape.Forms)), cancellationToken), 1)));

            var instance = JsonDocument.Parse(formInstance).RootElement;
            var creates = context.Quick ? 600 : 3000;

            // The single-row writes (~1 ms a call, each waiting for its own WAL flush) alternate in short rounds of 20
            // calls: on this machine the disk and the shared cores have slow spells of a second or more, and with six
            // rounds of 100 one spell in one implementation's round moved the ratio by ±0.07 between identical runs.

            // The same form in a named tenant (docs/tenants.md): what the tenant's CALL in the same round trip costs.
            var tenantForms = forms.ForTenant("bench-tenant");
            var tenantSubmissions = submissions.ForTenant("bench-tenant");
            var sameForm = (await forms.GetActiveAsync(shape.Name(2), cancellationToken))!;
            await tenantForms.PublishAsync((await tenantForms.CreateAsync(shape.Name(2), sameForm.Definition, null, cancellationToken)).Id, null, cancellationToken);
            results.AddRange(await context.MeasureInterleavedAsync(
                "submissions.create", creates / 20, 20, 20,
                ("pliers", async _ => await submissions.CreateAsync(shape.Name(2), instance, null, cancellationToken), 1),
                ("pliers.tenant", async _ => await tenantSubmissions.CreateAsync(shape.Name(2), instance, null, cancellationToken), 1),
                ("raw", async _ =>
                {
                    await using var insert = raw.CreateCommand($"insert into {s}.form_submissions (id, form_definition_id, form_version, data) values (@id, @form, @version, @data::jsonb)");
                    insert.Parameters.Add(new NpgsqlParameter<Guid>("id", Guid.CreateVersion7()));
                    insert.Parameters.Add(new NpgsqlParameter<Guid>("form", busy.Id));
                    insert.Parameters.Add(new NpgsqlParameter<int>("version", busy.Version));
                    insert.Parameters.Add(new NpgsqlParameter<string>("data", formInstance));
                    await insert.ExecuteNonQueryAsync(cancellationToken);
                }, 1)));

            // Status change: draft -> submitted, each call on a submission of its own (read with its row version
            // beforehand), against a raw single-row UPDATE of the status of other drafts.
            var changes = context.Quick ? 600 : 3000;
            var drafts = await DraftsAsync(raw, s, busy.Id, busy.Version, formInstance, 2 * (changes + 40), cancellationToken);
            var pliersDrafts = drafts[..(drafts.Count / 2)];
            var rawDrafts = drafts[(drafts.Count / 2)..];
            var nextPliers = 0;
            var nextRaw = 0;
            results.AddRange(await context.MeasureInterleavedAsync(
                "submissions.status", changes / 20, 20, 20,
                ("pliers", async _ =>
                {
                    var (id, version) = pliersDrafts[nextPliers++];
                    await submissions.ChangeStatusAsync(id, version, SubmissionStatus.Submitted, null, cancellationToken);
                }, 1),
                ("raw", async _ =>
                {
                    var (id, _) = rawDrafts[nextRaw++];
                    await using var update = raw.CreateCommand($"update {s}.form_submissions set status = 'submitted' where id = @id");
                    update.Parameters.Add(new NpgsqlParameter<Guid>("id", id));
                    if (await update.ExecuteNonQueryAsync(cancellationToken) != 1)
                    {
                        throw new InvalidOperationException("not updated");
                    }
                }, 1)));

            // Concurrent creates: 64 callers through a pool of 20 connections, a host's own and raw's own.
            var pooled = new NpgsqlConnectionStringBuilder(context.ConnectionString) { MaxPoolSize = 20, Timeout = 60 }.ConnectionString;
            await using (var host = new ServiceCollection().AddPliersData(o =>
                {
                    o.ConnectionString = pooled;
                    o.Schema = schemaName;
                }).BuildServiceProvider())
            await using (var rawPool = NpgsqlDataSource.Create(pooled))
            {
                var concurrent = host.GetRequiredService<IFormSubmissionRepository>();
                var form5 = (await forms.GetActiveAsync(shape.Name(5), cancellationToken))!;
                results.AddRange(await context.MeasureConcurrentInterleavedAsync(
                    "submissions.create_concurrent", 4, 64, context.Quick ? 8 : 40,
                    ("pliers", async (_, _) => await concurrent.CreateAsync(shape.Name(5), instance, null, cancellationToken)),
                    ("raw", async (_, _) =>
                    {
                        await using var insert = rawPool.CreateCommand($"insert into {s}.form_submissions (id, form_definition_id, form_version, data) values (@id, @form, @version, @data::jsonb)");
                        insert.Parameters.Add(new NpgsqlParameter<Guid>("id", Guid.CreateVersion7()));
                        insert.Parameters.Add(new NpgsqlParameter<Guid>("form", form5.Id));
                        insert.Parameters.Add(new NpgsqlParameter<int>("version", form5.Version));
                        insert.Parameters.Add(new NpgsqlParameter<string>("data", formInstance));
                        await insert.ExecuteNonQueryAsync(cancellationToken);
                    })));
            }

            var pages = context.Quick ? 600 : 3000;
            var pageQuery = new SubmissionQuery { FormDefinitionId = busy.Id, Status = SubmissionStatus.Approved, PageSize = 50 };
            var containsQuery = new SubmissionQuery { FormDefinitionId = busy.Id, DataContains = JsonDocument.Parse("""{"category": "health"}""").RootElement, PageSize = 50 };
            var repository = (PostgresFormSubmissionRepository)submissions;
            results.AddRange(await context.MeasureInterleavedAsync(
                "submissions.page", 6, 30, pages / 6,
                ("pliers", async _ => Check((await submissions.QueryAsync(pageQuery, cancellationToken)).Items.Count), 1),
                ("raw", async _ => Check(await RawPageAsync(raw, repository.PageCommand(pageQuery), cancellationToken)), 1)));
            results.AddRange(await context.MeasureInterleavedAsync(
                "submissions.contains", 6, 30, pages / 6,
                ("pliers", async _ => Check((await submissions.QueryAsync(containsQuery, cancellationToken)).Items.Count), 1),
                ("raw", async _ => Check(await RawPageAsync(raw, repository.PageCommand(containsQuery), cancellationToken)), 1)));

            // After the page scenarios: the rows these add are the busy form's newest, which the pages would walk first.
            // Data edit (issue 14): the library's update (validation against the submission's own version, the
            // replaced revision moved to the history, the row, the event) against a raw single-row UPDATE of the data.
            var edits = context.Quick ? 600 : 3000;
            var editable = await DraftsAsync(raw, s, busy.Id, busy.Version, formInstance, 2 * (edits + 40), cancellationToken);
            var pliersEdits = editable[..(editable.Count / 2)];
            var rawEdits = editable[(editable.Count / 2)..];
            var nextEdit = 0;
            var nextRawEdit = 0;
            var edited = JsonDocument.Parse(formInstance.Replace("Request for housing support", "Edited request", StringComparison.Ordinal)).RootElement;
            var editedText = edited.GetRawText();
            results.AddRange(await context.MeasureInterleavedAsync(
                "submissions.update", 6, 20, edits / 6,
                ("pliers", async _ =>
                {
                    var (id, version) = pliersEdits[nextEdit++];
                    await submissions.UpdateDataAsync(id, version, edited, null, cancellationToken);
                }, 1),
                ("raw", async _ =>
                {
                    var (id, _) = rawEdits[nextRawEdit++];
                    await using var update = raw.CreateCommand($"update {s}.form_submissions set data = @data::jsonb where id = @id");
                    update.Parameters.Add(new NpgsqlParameter<Guid>("id", id));
                    update.Parameters.Add(new NpgsqlParameter<string>("data", editedText));
                    if (await update.ExecuteNonQueryAsync(cancellationToken) != 1)
                    {
                        throw new InvalidOperationException("not updated");
                    }
                }, 1)));

            // Export (issue 14): the busy form's submissions as CSV and as NDJSON into a null stream, against a raw
            // COPY ... TO STDOUT of the same rows (id, version, status, times, data) read to the end.
            var busyRows = await CountAsync(raw, $"select count(*) from {s}.form_submissions where form_definition_id = '{busy.Id}' and deleted_at is null", cancellationToken);
            var exportRounds = context.Quick ? 3 : 6;
            foreach (var format in new[] { SubmissionExportFormat.Csv, SubmissionExportFormat.Ndjson })
            {
                results.AddRange(await context.MeasureInterleavedAsync(
                    "submissions.export." + format.ToString().ToLowerInvariant(), exportRounds, 1, 1,
                    ("pliers", async _ =>
                    {
                        if (await submissions.ExportAsync(shape.Name(1), format, Stream.Null, null, null, cancellationToken) < busyRows)
                        {
                            throw new InvalidOperationException("exported too few rows");
                        }
                    }, (int)busyRows),
                    ("raw", async _ =>
                    {
                        await using var connection = await raw.OpenConnectionAsync(cancellationToken);
                        using var reader = await connection.BeginTextExportAsync(
                            $"copy (select id, form_version, status, created_at, updated_at, data from {s}.form_submissions where form_definition_id = '{busy.Id}' and deleted_at is null order by created_at desc, id desc) to stdout (format csv)",
                            cancellationToken);
                        var buffer = new char[1 << 16];
                        while (await reader.ReadAsync(buffer, cancellationToken) > 0)
                        {
                        }
                    }, (int)busyRows)));
            }

            // Bulk: 1,000 validated rows per call (with their events) against a raw binary COPY of the same rows.
            var batch = Enumerable.Range(0, 1000).Select(i => JsonDocument.Parse(formInstance.Replace("Request for housing support", "Imported " + i, StringComparison.Ordinal)).RootElement).ToArray();
            var texts = batch.Select(b => b.GetRawText()).ToArray();
            // The sides alternate call by call, with twice the calls (12 each in rounds of 3 until 2026-12-05): single
            // calls of either side take up to twice the median (index and WAL housekeeping lands on whoever writes at
            // the time), and with 12 calls the ratio of the same build moved between 0.69x and 0.86x; in rounds of 3
            // it still moved between 0.78x and 0.91x.
            var bulkCalls = context.Quick ? 24 : 48;
            results.AddRange(await context.MeasureInterleavedAsync(
                "submissions.bulk", bulkCalls, 1, 1,
                ("pliers", async _ => await submissions.BulkImportAsync(shape.Name(3), batch, null, cancellationToken), 1000),
                ("raw", async _ =>
                {
                    await using var connection = await raw.OpenConnectionAsync(cancellationToken);
                    await using var writer = await connection.BeginBinaryImportAsync($"copy {s}.form_submissions (id, form_definition_id, form_version, data) from stdin (format binary)", cancellationToken);
                    foreach (var text in texts)
                    {
                        await writer.StartRowAsync(cancellationToken);
                        await writer.WriteAsync(Guid.CreateVersion7(), NpgsqlDbType.Uuid, cancellationToken);
                        await writer.WriteAsync(busy.Id, NpgsqlDbType.Uuid, cancellationToken);
                        await writer.WriteAsync(busy.Version, NpgsqlDbType.Integer, cancellationToken);
                        await writer.WriteAsync(text, NpgsqlDbType.Jsonb, cancellationToken);
                    }

                    await writer.CompleteAsync(cancellationToken);
                }, 1000)));

            // validation.app: JsonSchema.Net on the shared benchmark document (one field varies per call).
            var validator = new SchemaValidator();
            var schemaElement = JsonDocument.Parse(benchSchema).RootElement;
            var direct = JsonSchema.Build(schemaElement, new BuildOptions { SchemaRegistry = new SchemaRegistry() });
            var documents = Enumerable.Range(0, 2000).Select(i => JsonDocument.Parse(benchInstance.Replace("\"score\":87.5", $"\"score\":{i % 100}.5", StringComparison.Ordinal)).RootElement).ToArray();
            var definitionId = Guid.NewGuid();
            var validations = context.Quick ? 20000 : 100000;
            results.AddRange(await context.MeasureInterleavedAsync(
                "validation.app", 6, 2000, validations / 6,
                ("pliers", i =>
                {
                    validator.Validate(definitionId, 1, schemaElement, documents[Math.Abs(i) % documents.Length]);
                    return Task.CompletedTask;
                }, 1),
                ("raw", i =>
                {
                    if (!direct.Evaluate(documents[Math.Abs(i) % documents.Length], new EvaluationOptions { OutputFormat = OutputFormat.Flag }).IsValid)
                    {
                        throw new InvalidOperationException("invalid benchmark document");
                    }

                    return Task.CompletedTask;
                }, 1)));
            return results;
        }
        finally
        {
            await using var drop = raw.CreateCommand($"drop schema if exists {s} cascade");
            await drop.ExecuteNonQueryAsync(CancellationToken.None);
        }
    }

    /// <summary>Inserts <paramref name="count"/> drafts for a form and returns their ids and row versions.</summary>
    private static async Task<List<(Guid Id, uint Version)>> DraftsAsync(NpgsqlDataSource raw, string s, Guid form, int version, string data, int count, CancellationToken cancellationToken)
    {
        await using var insert = raw.CreateCommand($$"""
            insert into {{s}}.form_submissions (form_definition_id, form_version, data, status)
            select @form, @version, @data::jsonb, 'draft' from generate_series(1, @count) g
            returning id, xmin
            """);
        insert.Parameters.Add(new NpgsqlParameter<Guid>("form", form));
        insert.Parameters.Add(new NpgsqlParameter<int>("count", count));
        insert.Parameters.Add(new NpgsqlParameter<int>("version", version));
        insert.Parameters.Add(new NpgsqlParameter<string>("data", data));
        var drafts = new List<(Guid, uint)>();
        await using var reader = await insert.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            drafts.Add((reader.GetGuid(0), reader.GetFieldValue<uint>(1)));
        }

        return drafts;
    }

    private static async Task<long> CountAsync(NpgsqlDataSource raw, string sql, CancellationToken cancellationToken)
    {
        await using var command = raw.CreateCommand(sql);
        return (long)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    private static void Check(int count)
    {
        if (count == 0)
        {
            throw new InvalidOperationException("the page was empty");
        }
    }

    private static async Task RawDefinitionAsync<T>(NpgsqlDataSource raw, string sql, T key, CancellationToken cancellationToken)
    {
        await using var command = raw.CreateCommand(sql);
        command.Parameters.Add(new NpgsqlParameter<T>("p", key));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            throw new InvalidOperationException("not found");
        }

        _ = (reader.GetGuid(0), reader.GetString(1), reader.GetInt32(2), reader.GetString(3), reader.GetFieldValue<JsonElement>(4), reader.GetFieldValue<DateTimeOffset>(5), reader.GetFieldValue<DateTimeOffset>(6), reader.GetFieldValue<uint>(7));
    }

    private static async Task<int> RawPageAsync(NpgsqlDataSource raw, (string Sql, Dapper.DynamicParameters Parameters) page, CancellationToken cancellationToken)
    {
        await using var command = raw.CreateCommand(page.Sql);
        command.Parameters.AddRange(page.Parameters.ParameterNames.Select(n => new NpgsqlParameter(n, page.Parameters.Get<object>(n))).ToArray());
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var count = 0;
        while (await reader.ReadAsync(cancellationToken))
        {
            _ = reader.GetFieldValue<JsonElement>(4);
            count++;
        }

        return count;
    }
}

/// <summary>The data the forms scenarios run on: form names, how many, and a valid document for the busy form.</summary>
/// <param name="Forms">How many active forms the scenarios pick names from.</param>
/// <param name="Name">The name of form <c>i</c> (1-based); form 1 is the busy one.</param>
/// <param name="Instance">A document valid against every form's schema, or null for the shared benchmark document.</param>
internal sealed record DataShape(int Forms, Func<int, string> Name, string? Instance)
{
    /// <summary>10,000 one-version forms seeded with generate_series, half of the submissions in form-1.</summary>
    public static readonly DataShape Generated = new(10_000, i => "form-" + i, null);

    /// <summary>The library's seeder: 1,000 forms (seed-form-000001 ...), a tenth of the submissions in the first.</summary>
    public static readonly DataShape Seeder = new(
        1_000,
        i => $"seed-form-{i:D6}",
        """{"title":"Request for housing support","email":"ada@example.org","priority":3,"category":"housing","amount":120.5}""");
}
