using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace Pliers.Data.Events;

/// <summary>The stream version an append expects: a number, "no stream yet", or any version.</summary>
public readonly record struct ExpectedVersion
{
    private ExpectedVersion(long value) => Value = value;

    /// <summary>Gets the append that accepts whatever version the stream is at.</summary>
    public static ExpectedVersion Any { get; } = new(-1);

    /// <summary>Gets the append that requires the stream not to exist (version 0).</summary>
    public static ExpectedVersion NoStream { get; } = new(0);

    /// <summary>Gets the expected version, or -1 for <see cref="Any"/>.</summary>
    public long Value { get; }

    /// <summary>Gets a value indicating whether this is <see cref="Any"/>.</summary>
    public bool IsAny => Value < 0;

    /// <summary>Expects the stream to be at exactly <paramref name="version"/> before the append (0 = no stream).</summary>
    /// <param name="version">The stream version before the append.</param>
    /// <returns>The expected version.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="version"/> is negative.</exception>
    public static ExpectedVersion Exactly(long version)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(version);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(version, int.MaxValue);
        return new ExpectedVersion(version);
    }

    /// <summary>Converts a version number; see <see cref="Exactly(long)"/>.</summary>
    /// <param name="version">The stream version before the append.</param>
    public static implicit operator ExpectedVersion(long version) => Exactly(version);

    /// <summary>Converts a version number; see <see cref="Exactly(long)"/>.</summary>
    /// <param name="version">The stream version before the append.</param>
    /// <returns>The expected version.</returns>
    public static ExpectedVersion FromInt64(long version) => Exactly(version);

    /// <inheritdoc />
    public override string ToString() => IsAny ? "any" : Value.ToString(CultureInfo.InvariantCulture);
}

/// <summary>
/// A place in the global order of events: the writing transaction and the position. A subscriber stores
/// the whole pair as its checkpoint, never the position alone.
/// </summary>
/// <param name="TransactionId">The transaction id (<c>xid8</c>) that wrote the event.</param>
/// <param name="Position">The event's global position.</param>
public readonly record struct GlobalPosition(ulong TransactionId, long Position) : IComparable<GlobalPosition>
{
    /// <summary>Gets the position before every event.</summary>
    public static GlobalPosition Start { get; }

    /// <inheritdoc />
    public int CompareTo(GlobalPosition other)
    {
        var byTransaction = TransactionId.CompareTo(other.TransactionId);
        return byTransaction != 0 ? byTransaction : Position.CompareTo(other.Position);
    }

    /// <summary>Compares two positions in reading order.</summary>
    /// <param name="left">The first position.</param>
    /// <param name="right">The second position.</param>
    /// <returns><see langword="true"/> when <paramref name="left"/> comes first.</returns>
    public static bool operator <(GlobalPosition left, GlobalPosition right) => left.CompareTo(right) < 0;

    /// <summary>Compares two positions in reading order.</summary>
    /// <param name="left">The first position.</param>
    /// <param name="right">The second position.</param>
    /// <returns><see langword="true"/> when <paramref name="left"/> comes later.</returns>
    public static bool operator >(GlobalPosition left, GlobalPosition right) => left.CompareTo(right) > 0;

    /// <summary>Compares two positions in reading order.</summary>
    /// <param name="left">The first position.</param>
    /// <param name="right">The second position.</param>
    /// <returns><see langword="true"/> when <paramref name="left"/> does not come later.</returns>
    public static bool operator <=(GlobalPosition left, GlobalPosition right) => left.CompareTo(right) <= 0;

    /// <summary>Compares two positions in reading order.</summary>
    /// <param name="left">The first position.</param>
    /// <param name="right">The second position.</param>
    /// <returns><see langword="true"/> when <paramref name="left"/> does not come first.</returns>
    public static bool operator >=(GlobalPosition left, GlobalPosition right) => left.CompareTo(right) >= 0;

    /// <summary>Formats the position as <c>transaction:position</c>, the form <see cref="Parse"/> reads back.</summary>
    /// <returns>The text form.</returns>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{TransactionId}:{Position}");

    /// <summary>Reads a position written by <see cref="ToString"/>.</summary>
    /// <param name="text">The text form <c>transaction:position</c>.</param>
    /// <returns>The position.</returns>
    /// <exception cref="FormatException">The text is not a position.</exception>
    public static GlobalPosition Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var parts = text.Split(':');
        if (parts.Length == 2
            && ulong.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var transaction)
            && long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var position))
        {
            return new GlobalPosition(transaction, position);
        }

        throw new FormatException($"'{text}' is not a global position ('transaction:position').");
    }
}

/// <summary>An event to append. Its data is kept as JSON text, exactly as it will be sent to PostgreSQL.</summary>
public sealed record NewEvent
{
    /// <summary>Creates an event with a new UUIDv7 id from a JSON value.</summary>
    /// <param name="eventType">The event type, for example <c>form.submission.created</c>.</param>
    /// <param name="data">The event data.</param>
    public NewEvent(string eventType, JsonElement data)
        : this(eventType, data.ValueKind == JsonValueKind.Undefined ? string.Empty : data.GetRawText())
    {
    }

    private NewEvent(string eventType, string data)
    {
        EventType = eventType;
        Data = data;
    }

    /// <summary>Gets the event id; a retried append with the same ids is recognised and not written twice.</summary>
    public Guid Id { get; init; } = Guid.CreateVersion7();

    /// <summary>Gets the event type.</summary>
    public string EventType { get; init; }

    /// <summary>Gets the event data as JSON text.</summary>
    public string Data { get; }

    /// <summary>Gets the id of the business flow this event belongs to.</summary>
    public Guid? CorrelationId { get; init; }

    /// <summary>Gets the id of the message or event that caused this one.</summary>
    public Guid? CausationId { get; init; }

    /// <summary>Gets optional metadata: a JSON object.</summary>
    public JsonElement? Metadata { get; init; }

    /// <summary>Creates an event from JSON text, which is checked to be well-formed JSON.</summary>
    /// <param name="eventType">The event type.</param>
    /// <param name="json">The event data as JSON text.</param>
    /// <returns>The event.</returns>
    /// <exception cref="PliersValidationException"><paramref name="json"/> is not JSON.</exception>
    public static NewEvent FromJson(string eventType, string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        try
        {
            using var document = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 1000 });
        }
        catch (JsonException e)
        {
            throw new PliersValidationException(
                $"Event data of '{eventType}' is not JSON: {e.Message}",
                [new PliersValidationError(string.Empty, "json", e.Message)],
                e);
        }

        return new NewEvent(eventType, json);
    }

    /// <summary>Creates an event by serialising <paramref name="data"/> with System.Text.Json.</summary>
    /// <typeparam name="T">The data type.</typeparam>
    /// <param name="eventType">The event type.</param>
    /// <param name="data">The data to serialise.</param>
    /// <param name="options">Serializer options, or <see langword="null"/> for <see cref="JsonSerializerOptions.Web"/> (camelCase, like every JSON document the library writes).</param>
    /// <returns>The event.</returns>
    public static NewEvent Create<T>(string eventType, T data, JsonSerializerOptions? options = null) =>
        new(eventType, JsonSerializer.Serialize(data, options ?? JsonSerializerOptions.Web));

    /// <summary>Creates an event by serialising <paramref name="data"/> with source-generated metadata (trimming and AOT friendly).</summary>
    /// <typeparam name="T">The data type.</typeparam>
    /// <param name="eventType">The event type.</param>
    /// <param name="data">The data to serialise.</param>
    /// <param name="typeInfo">The source-generated type information of <typeparamref name="T"/>.</param>
    /// <returns>The event.</returns>
    public static NewEvent Create<T>(string eventType, T data, JsonTypeInfo<T> typeInfo) =>
        new(eventType, JsonSerializer.Serialize(data, typeInfo));
}

/// <summary>An event as stored.</summary>
/// <param name="Id">The event id.</param>
/// <param name="AggregateId">The stream.</param>
/// <param name="AggregateType">The stream's aggregate type.</param>
/// <param name="EventType">The event type.</param>
/// <param name="EventVersion">The version within the stream, from 1.</param>
/// <param name="Data">The event data.</param>
/// <param name="Metadata">The metadata, when any.</param>
/// <param name="CorrelationId">The business flow, when given.</param>
/// <param name="CausationId">The cause, when given.</param>
/// <param name="CreatedAt">When the event was written.</param>
/// <param name="Position">The global position.</param>
/// <param name="TransactionId">The writing transaction.</param>
public sealed record StoredEvent(
    Guid Id,
    Guid AggregateId,
    string AggregateType,
    string EventType,
    long EventVersion,
    JsonElement Data,
    JsonElement? Metadata,
    Guid? CorrelationId,
    Guid? CausationId,
    DateTimeOffset CreatedAt,
    long Position,
    ulong TransactionId)
{
    /// <summary>Deserialises <see cref="Data"/> with System.Text.Json.</summary>
    /// <typeparam name="T">The data type.</typeparam>
    /// <param name="options">Serializer options, or <see langword="null"/> for <see cref="JsonSerializerOptions.Web"/>.</param>
    /// <returns>The data, or <see langword="null"/> when the stored data is JSON <c>null</c>.</returns>
    /// <exception cref="JsonException">The data does not fit <typeparamref name="T"/>.</exception>
    public T? GetData<T>(JsonSerializerOptions? options = null) => Data.Deserialize<T>(options ?? JsonSerializerOptions.Web);

    /// <summary>Deserialises <see cref="Data"/> with source-generated metadata (trimming and AOT friendly).</summary>
    /// <typeparam name="T">The data type.</typeparam>
    /// <param name="typeInfo">The source-generated type information of <typeparamref name="T"/>.</param>
    /// <returns>The data, or <see langword="null"/> when the stored data is JSON <c>null</c>.</returns>
    /// <exception cref="JsonException">The data does not fit <typeparamref name="T"/>.</exception>
    public T? GetData<T>(JsonTypeInfo<T> typeInfo) => Data.Deserialize(typeInfo);

    /// <summary>Gets the checkpoint a reader of all events stores after handling this event.</summary>
    public GlobalPosition GlobalPosition => new(TransactionId, Position);

    /// <summary>Gets the tenant the event belongs to: the empty string for the default tenant.</summary>
    public string TenantId { get; init; } = string.Empty;
}

/// <summary>The outcome of an append.</summary>
/// <param name="StreamVersion">The stream version after the append (the expected version of the next one).</param>
/// <param name="Positions">The global positions of the appended events, in order.</param>
/// <param name="TransactionId">The transaction that wrote them.</param>
public sealed record AppendResult(long StreamVersion, IReadOnlyList<long> Positions, ulong TransactionId);

/// <summary>Narrows a read of all events to some aggregate or event types.</summary>
public sealed record EventFilter
{
    /// <summary>Gets the aggregate types to keep, or <see langword="null"/> for all.</summary>
    public IReadOnlyList<string>? AggregateTypes { get; init; }

    /// <summary>Gets the event types to keep, or <see langword="null"/> for all.</summary>
    public IReadOnlyList<string>? EventTypes { get; init; }
}
