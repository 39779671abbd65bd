namespace Pliers.Data.Tests.Infrastructure;

/// <summary>
/// A reusable barrier for async code: every participant waits until all have arrived, phase after phase. Tests use
/// it to force a race (everyone has read the same version before anyone writes) instead of hoping for one.
/// </summary>
internal sealed class AsyncBarrier(int participants)
{
    private readonly Lock _lock = new();
    private int _arrived;
    private TaskCompletionSource _phase = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Task SignalAndWaitAsync(CancellationToken cancellationToken)
    {
        Task wait;
        lock (_lock)
        {
            wait = _phase.Task;
            if (++_arrived == participants)
            {
                _arrived = 0;
                var done = _phase;
                _phase = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                done.SetResult();
            }
        }

        return wait.WaitAsync(cancellationToken);
    }
}

/// <summary>Waits for a condition, bounded: never a sleep that hopes something has happened by then.</summary>
internal static class Eventually
{
    /// <summary>Polls <paramref name="condition"/> until it holds; fails the test with <paramref name="what"/> after <paramref name="bound"/> (default 30 s).</summary>
    public static async Task<T> WaitAsync<T>(Func<Task<T>> probe, Func<T, bool> condition, string what, TimeSpan? bound = null)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(bound ?? TimeSpan.FromSeconds(30));
        while (true)
        {
            var value = await probe();
            if (condition(value))
            {
                return value;
            }

            try
            {
                await Task.Delay(10, timeout.Token);
            }
            catch (OperationCanceledException) when (!TestContext.Current.CancellationToken.IsCancellationRequested)
            {
                Assert.Fail($"Gave up waiting for: {what} (last seen: {value})");
            }
        }
    }

    /// <summary>Waits until <paramref name="condition"/> holds; fails the test with <paramref name="what"/> after <paramref name="bound"/>.</summary>
    public static Task WaitAsync(Func<bool> condition, string what, TimeSpan? bound = null) =>
        WaitAsync(() => Task.FromResult(condition()), ok => ok, what, bound);
}
