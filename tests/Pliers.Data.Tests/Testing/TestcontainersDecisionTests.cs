using Pliers.Data.Testing;

namespace Pliers.Data.Tests.Testing;

/// <summary>
/// No Docker engine runs on these machines, so the container itself is never started here; what is tested is the
/// decision to try Testcontainers and that a failed attempt is an error the fixture can fall back from.
/// </summary>
public sealed class TestcontainersDecisionTests
{
    [Theory]
    [InlineData(true, "unix:///var/run/docker.sock", false, true)]
    [InlineData(true, "tcp://127.0.0.1:2375", false, true)]
    [InlineData(true, null, true, true)]
    [InlineData(true, "", true, true)]
    [InlineData(true, null, false, false)]
    [InlineData(true, " ", false, false)]
    [InlineData(false, "tcp://127.0.0.1:2375", true, false)]
    public void Testcontainers_is_tried_only_when_allowed_and_a_docker_engine_may_answer(bool allowed, string? dockerHost, bool socketExists, bool expected) =>
        Assert.Equal(expected, TestPostgres.TriesTestcontainers(allowed, dockerHost, socketExists));

    [Fact]
    public async Task A_container_start_without_a_docker_engine_fails_with_an_exception_the_fixture_falls_back_from()
    {
        var socket = Path.Combine(Path.GetTempPath(), $"pliers-no-docker-{Guid.NewGuid():N}.sock");
        var error = await Assert.ThrowsAnyAsync<Exception>(() => TestPostgres.StartContainerAsync("unix://" + socket, TestContext.Current.CancellationToken));

        // StartAsync falls back on any exception but cancellation: a missing engine must not look like one.
        Assert.IsNotAssignableFrom<OperationCanceledException>(error);
    }
}
