namespace Pliers.Data;

/// <summary>Correlation and causation ids recorded on the domain events a write appends.</summary>
/// <param name="CorrelationId">The business flow.</param>
/// <param name="CausationId">The command or event that caused the write.</param>
public sealed record EventContext(Guid? CorrelationId = null, Guid? CausationId = null);

/// <summary>A page of results with the cursor of the next page.</summary>
/// <typeparam name="T">The item type.</typeparam>
/// <param name="Items">The items of this page.</param>
/// <param name="NextCursor">The opaque cursor of the next page, or <see langword="null"/> on the last page.</param>
public sealed record Page<T>(IReadOnlyList<T> Items, string? NextCursor);
