using Dapper;
using Npgsql;
using Pliers.Data.Internal;

namespace Pliers.Data.Events;

/// <summary>
/// The one path of every write the repositories make: open a connection, begin a transaction, write the row(s) and
/// their domain events through <see cref="WriteScope"/>, commit, then announce the events to subscribers. Database
/// errors the library can name are translated on the way out (<see cref="PostgresErrors"/>).
/// </summary>
internal sealed class PliersWriter(PliersDatabase database, PostgresEventStore events, TenantScope tenant)
{
    public PliersWriter(PliersDatabase database, PostgresEventStore events)
        : this(database, events, database.DefaultTenant)
    {
    }

    /// <summary>This writer in another tenant.</summary>
    public PliersWriter For(TenantScope other) => new(database, events, other);

    /// <summary>
    /// Runs one write statement on its own (no BEGIN/COMMIT: a single statement is atomic by itself), so the write
    /// is one round trip; returns its single row or null. The caller announces the events it wrote.
    /// </summary>
    public async Task<T?> StatementAsync<T>(string sql, object parameters, CancellationToken cancellationToken)
    {
        var connection = await database.DataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            try
            {
                return await connection.QuerySingleOrDefaultAsync<T>(tenant.Command(sql, parameters, cancellationToken)).ConfigureAwait(false);
            }
            catch (PostgresException e) when (PostgresErrors.Translate(e) is { } translated)
            {
                throw translated;
            }
        }
    }

    /// <summary>
    /// <see cref="StatementAsync{T}"/> for the hot single-statement writes (a submission's create and status change), on
    /// raw Npgsql: the statement goes in positional form (Npgsql neither parses nor rewrites it), with parameters typed
    /// by hand, and is prepared explicitly per physical connection when the data source allows it (as the append is).
    /// A named tenant's <c>CALL</c> is the batch's first command, in the same implicit transaction. Measured: Dapper's
    /// command and parameter handling made the status change ~0.15 ms slower than a raw command, and named parameters
    /// another 10–65 µs (docs/performance.md). The row is still mapped by Dapper's row parser.
    /// </summary>
    public async Task<T?> PreparedStatementAsync<T>(PositionalStatement statement, Action<PositionalStatement.Parameters> bind, CancellationToken cancellationToken)
        where T : class
    {
        var connection = await database.DataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            var batch = tenant.Batch(connection, statement, bind);
            await using (batch.ConfigureAwait(false))
            {
                try
                {
                    T? row = null;
                    var reader = await Db.ExecuteAsync(batch, database.PrepareStatements, cancellationToken).ConfigureAwait(false);
                    await using (reader.ConfigureAwait(false))
                    {
                        await foreach (var each in Db.RowsAsync<T>(reader, cancellationToken).ConfigureAwait(false))
                        {
                            row = row is null ? each : throw new InvalidOperationException("A single-row write statement returned more than one row.");
                        }
                    }

                    return row;
                }
                catch (PostgresException e) when (PostgresErrors.Translate(e) is { } translated)
                {
                    throw translated;
                }
            }
        }
    }

    /// <summary>Counts and announces events a committed statement wrote.</summary>
    public void Announce(int eventCount) => events.Announce(eventCount);

    public async Task<T> WriteAsync<T>(Func<WriteScope, Task<T>> work, CancellationToken cancellationToken)
    {
        tenant.EnsureNamed();
        var connection = await database.DataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            await using (transaction.ConfigureAwait(false))
            {
                var scope = new WriteScope(connection, transaction, events.Table, database.MaxDocumentDepth, tenant, cancellationToken);
                T result;
                try
                {
                    result = await work(scope).ConfigureAwait(false);
                }
                catch (PostgresException e) when (PostgresErrors.Translate(e) is { } translated)
                {
                    throw translated;
                }

                await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
                if (scope.EventCount > 0)
                {
                    events.Announce(scope.EventCount);
                }

                return result;
            }
        }
    }
}

/// <summary>One write transaction: Dapper commands bound to it, and the domain events it appends.</summary>
internal sealed class WriteScope(NpgsqlConnection connection, NpgsqlTransaction transaction, EventsTable events, int maxDepth, TenantScope tenant, CancellationToken cancellationToken)
{
    /// <summary>Gets the transaction (for a COPY, which runs alone).</summary>
    public NpgsqlTransaction Transaction => transaction;

    /// <summary>Gets the transaction's connection (binary COPY needs it).</summary>
    public NpgsqlConnection Connection => connection;

    /// <summary>Gets how many events this transaction appended (announced after the commit).</summary>
    public int EventCount { get; private set; }

    /// <summary>A Dapper command in this transaction, carrying the write's cancellation token.</summary>
    public CommandDefinition Command(string sql, object? parameters = null) =>
        tenant.Command(sql, parameters, cancellationToken, transaction);

    /// <summary>Records events a statement of this transaction wrote itself (announced after the commit).</summary>
    public void Wrote(int eventCount) => EventCount += eventCount;

    /// <summary>Appends the library's own events to an aggregate's stream, after whatever it holds.</summary>
    public async Task AppendAsync(Guid aggregateId, string aggregateType, params NewEvent[] domainEvents)
    {
        var batch = AppendBatch.Create(aggregateType, domainEvents, maxDepth);
        var written = await connection.ExecuteAsync(Command(events.AppendAny.Named, EventsTable.AppendParameters(aggregateId, batch))).ConfigureAwait(false);
        if (written != batch.Count)
        {
            // The stream belongs to another aggregate type: only a write that bypassed the library can cause this.
            throw new PliersConflictException($"Stream {aggregateId} is not a '{aggregateType}' stream; nothing was written.", "events_stream_aggregate_type");
        }

        EventCount += batch.Count;
    }

    /// <summary>
    /// Appends the same first event to many new streams (bulk import) with one statement: the event's data, types and
    /// context are sent and checked once, the streams and the new event ids as two arrays.
    /// </summary>
    public async Task AppendFirstEventsAsync(Guid[] aggregateIds, string aggregateType, NewEvent domainEvent)
    {
        var batch = AppendBatch.Create(aggregateType, [domainEvent], maxDepth);
        var eventIds = new Guid[aggregateIds.Length];
        for (var i = 0; i < eventIds.Length; i++)
        {
            eventIds[i] = Guid.CreateVersion7();
        }

        var written = await connection.ExecuteAsync(Command(events.InsertFirstEvents, new
        {
            event_ids = eventIds,
            aggregate_ids = aggregateIds,
            aggregate_type = batch.AggregateType,
            event_type = batch.Types[0],
            event_data = batch.Data[0],
            correlation_id = batch.Correlations[0],
            causation_id = batch.Causations[0],
            metadata = batch.Metadata[0],
        })).ConfigureAwait(false);
        EventCount += written;
    }
}
