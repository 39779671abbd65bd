using System.Globalization;
using System.Text;
using System.Text.Json;
using CsvHelper;
using CsvHelper.Configuration;

namespace Pliers.Data.Submissions;

/// <summary>
/// Writes submissions as they stream from the database (constant memory): NDJSON, one object per line, or CSV
/// (RFC 4180, written by CsvHelper) with metadata columns first and one column per schema property across all the
/// form's versions.
/// </summary>
internal static class SubmissionExport
{
    /// <summary>The metadata columns of a CSV export; underscored so that no schema property can collide with them.</summary>
    internal static readonly string[] MetadataColumns = ["_id", "_form_version", "_status", "_revision", "_created_at", "_updated_at", "_deleted_at"];

    private static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false);

    /// <summary>
    /// The data columns of a CSV export: every property of every version's schema, in version order, then schema order;
    /// a property whose schema is an object with <c>properties</c> becomes its dotted sub-properties.
    /// </summary>
    public static IReadOnlyList<string[]> Columns(IEnumerable<JsonElement> schemas)
    {
        var columns = new List<string[]>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        void Walk(JsonElement schema, string[] prefix)
        {
            if (schema.ValueKind != JsonValueKind.Object || !schema.TryGetProperty("properties", out var properties) || properties.ValueKind != JsonValueKind.Object)
            {
                return;
            }

            foreach (var property in properties.EnumerateObject())
            {
                string[] path = [.. prefix, property.Name];
                if (property.Value.ValueKind == JsonValueKind.Object && property.Value.TryGetProperty("properties", out var nested) && nested.ValueKind == JsonValueKind.Object)
                {
                    Walk(property.Value, path);
                }
                else if (seen.Add(string.Join('\u001f', path)))
                {
                    columns.Add(path);
                }
            }
        }

        foreach (var schema in schemas)
        {
            Walk(schema, []);
        }

        return columns;
    }

    public static async Task<long> WriteAsync(IAsyncEnumerable<FormSubmission> rows, SubmissionExportFormat format, IReadOnlyList<string[]> columns, Stream output, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        long count = 0;
        if (format == SubmissionExportFormat.Ndjson)
        {
            var newline = "\n"u8.ToArray();
            var writer = new Utf8JsonWriter(output);
            await using (writer.ConfigureAwait(false))
            {
                await foreach (var s in rows.WithCancellation(cancellationToken).ConfigureAwait(false))
                {
                    writer.Reset(output);
                    writer.WriteStartObject();
                    writer.WriteString("id", s.Id);
                    writer.WriteNumber("formVersion", s.FormVersion);
                    writer.WriteString("status", s.Status.ToString().ToLowerInvariant());
                    writer.WriteNumber("revision", s.Revision);
                    writer.WriteString("createdAt", s.CreatedAt);
                    writer.WriteString("updatedAt", s.UpdatedAt);
                    if (s.DeletedAt is { } deleted)
                    {
                        writer.WriteString("deletedAt", deleted);
                    }

                    writer.WritePropertyName("data");
                    s.Data.WriteTo(writer);
                    writer.WriteEndObject();
                    await writer.FlushAsync(cancellationToken).ConfigureAwait(false);
                    await output.WriteAsync(newline, cancellationToken).ConfigureAwait(false);
                    Report(++count, progress);
                }
            }

            await output.FlushAsync(cancellationToken).ConfigureAwait(false);
            return count;
        }

        var text = new StreamWriter(output, Utf8, 1 << 16, leaveOpen: true);
        await using (text.ConfigureAwait(false))
        {
            var csv = new CsvWriter(text, new CsvConfiguration(CultureInfo.InvariantCulture) { NewLine = "\r\n" }, leaveOpen: true);
            await using (csv.ConfigureAwait(false))
            {
                foreach (var name in MetadataColumns.Concat(columns.Select(c => string.Join('.', c))))
                {
                    csv.WriteField(name);
                }

                await csv.NextRecordAsync().ConfigureAwait(false);
                await foreach (var s in rows.WithCancellation(cancellationToken).ConfigureAwait(false))
                {
                    csv.WriteField(s.Id.ToString());
                    csv.WriteField(s.FormVersion.ToString(CultureInfo.InvariantCulture));
                    csv.WriteField(s.Status.ToString().ToLowerInvariant());
                    csv.WriteField(s.Revision.ToString(CultureInfo.InvariantCulture));
                    csv.WriteField(s.CreatedAt.ToString("O", CultureInfo.InvariantCulture));
                    csv.WriteField(s.UpdatedAt.ToString("O", CultureInfo.InvariantCulture));
                    csv.WriteField(s.DeletedAt?.ToString("O", CultureInfo.InvariantCulture) ?? string.Empty);
                    foreach (var column in columns)
                    {
                        csv.WriteField(Cell(s.Data, column));
                    }

                    await csv.NextRecordAsync().ConfigureAwait(false);
                    if (++count % 1000 == 0)
                    {
                        await csv.FlushAsync().ConfigureAwait(false);
                    }

                    Report(count, progress);
                }

                await csv.FlushAsync().ConfigureAwait(false);
            }
        }

        return count;
    }

    /// <summary>A CSV cell: strings as they are, numbers and booleans as JSON writes them, missing and null empty, the rest as JSON text.</summary>
    private static string Cell(JsonElement data, string[] path)
    {
        var value = data;
        foreach (var name in path)
        {
            if (value.ValueKind != JsonValueKind.Object || !value.TryGetProperty(name, out value))
            {
                return string.Empty;
            }
        }

        return value.ValueKind switch
        {
            JsonValueKind.String => value.GetString()!,
            JsonValueKind.Null or JsonValueKind.Undefined => string.Empty,
            JsonValueKind.Object or JsonValueKind.Array => JsonSerializer.Serialize(value), // compact, whatever the stored spacing
            _ => value.GetRawText(),
        };
    }

    private static void Report(long count, IProgress<long>? progress)
    {
        if (progress is not null && count % 10_000 == 0)
        {
            progress.Report(count);
        }
    }
}
