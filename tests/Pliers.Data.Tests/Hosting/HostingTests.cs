using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Configuration;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Pliers.Data.Events;
using Pliers.Data.Forms;
using Pliers.Data.Submissions;
using Pliers.Data.Tests.Infrastructure;

namespace Pliers.Data.Tests.Hosting;

public sealed class HostingTests(PostgresFixture postgres)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<HealthReport> CheckAsync(IServiceProvider services) =>
        await services.GetRequiredService<HealthCheckService>().CheckHealthAsync(Ct);

    private ServiceProvider Build(string schema, string? connectionString = null) =>
        new ServiceCollection()
            .AddLogging()
            .AddPliersData(o =>
            {
                o.ConnectionString = connectionString ?? postgres.ConnectionString;
                o.Schema = schema;
            })
            .AddPliersMigrationsOnStartup()
            .AddHealthChecks().AddPliersData(tags: ["ready"]).Services
            .BuildServiceProvider();

    [Fact]
    public async Task The_health_check_is_degraded_until_migrated_healthy_after_and_degraded_on_drift()
    {
        var schema = PostgresFixture.NewSchemaName("hc");
        await using var services = Build(schema);
        try
        {
            var pending = await CheckAsync(services);
            Assert.Equal(HealthStatus.Degraded, pending.Status);
            Assert.Contains("pending", pending.Entries["pliers-data"].Description, StringComparison.Ordinal);

            // The opt-in hosted service migrates when the host starts.
            foreach (var hosted in services.GetServices<IHostedService>())
            {
                await hosted.StartAsync(Ct);
            }

            Assert.Equal(HealthStatus.Healthy, (await CheckAsync(services)).Status);

            await postgres.ExecuteAsync($"drop index \"{schema}\".form_submissions_title_idx");
            await using var fresh = Build(schema); // a new check instance: no cached drift result
            var drifted = await CheckAsync(fresh);
            Assert.Equal(HealthStatus.Degraded, drifted.Status);
            Assert.Contains("form_submissions_title_idx", drifted.Entries["pliers-data"].Description, StringComparison.Ordinal);
        }
        finally
        {
            await postgres.ExecuteAsync($"drop schema if exists \"{schema}\" cascade");
        }
    }

    [Fact]
    public async Task The_health_check_is_unhealthy_when_the_server_is_unreachable_and_never_shows_the_password()
    {
        await using var services = Build("pliers", "Host=127.0.0.1;Port=1;Username=x;Password=very-secret;Timeout=2");
        var report = await CheckAsync(services);
        Assert.Equal(HealthStatus.Unhealthy, report.Status);
        Assert.DoesNotContain("very-secret", report.Entries["pliers-data"].Description, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Appends_validation_failures_and_conflicts_are_measured_and_traced()
    {
        var measurements = new List<(string Instrument, double Value)>();
        using var meterListener = new MeterListener();
        meterListener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == "Pliers.Data")
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        meterListener.SetMeasurementEventCallback<long>((instrument, value, _, _) => { lock (measurements) { measurements.Add((instrument.Name, value)); } });
        meterListener.SetMeasurementEventCallback<double>((instrument, value, _, _) => { lock (measurements) { measurements.Add((instrument.Name, value)); } });
        meterListener.Start();
        var activities = new List<string>();
        using var activityListener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == "Pliers.Data",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllData,
            ActivityStopped = a => { lock (activities) { activities.Add(a.DisplayName); } },
        };
        ActivitySource.AddActivityListener(activityListener);

        await using var host = await PliersHost.MigratedAsync(postgres);
        var store = host.Services.GetRequiredService<IEventStore>();
        var stream = Guid.NewGuid();
        await store.AppendAsync(stream, "t", 0, [NewEvent.FromJson("e", "{}"), NewEvent.FromJson("e", "{}")], Ct);
        await Assert.ThrowsAsync<PliersConcurrencyException>(() => store.AppendAsync(stream, "t", 0, [NewEvent.FromJson("e", "{}")], Ct));
        var forms = host.Services.GetRequiredService<IFormDefinitionRepository>();
        var draft = await forms.CreateAsync("measured", JsonDocument.Parse("""{"schema": {"type": "object", "required": ["a"]}}""").RootElement, null, Ct);
        await forms.PublishAsync(draft.Id, null, Ct);
        await Assert.ThrowsAsync<PliersValidationException>(() => host.Services.GetRequiredService<IFormSubmissionRepository>().CreateAsync("measured", JsonDocument.Parse("{}").RootElement, null, Ct));
        meterListener.RecordObservableInstruments();

        lock (measurements)
        {
            Assert.True(measurements.Where(m => m.Instrument == "pliers.events.appended").Sum(m => m.Value) >= 4); // 2 + created + published
            Assert.Contains(measurements, m => m.Instrument == "pliers.concurrency.conflicts");
            Assert.Contains(measurements, m => m.Instrument == "pliers.validation.failures");
            Assert.Contains(measurements, m => m.Instrument == "pliers.operation.duration");
        }

        lock (activities)
        {
            Assert.Contains("pliers events.append", activities);
            Assert.Contains("pliers submissions.create", activities);
        }
    }
}

public sealed class RegistrationTests(PostgresFixture postgres)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData("", 50)]
    [InlineData(";Max Auto Prepare=0", 0)]
    [InlineData(";Max Auto Prepare=7", 7)]
    public async Task A_data_source_the_library_builds_prepares_statements_unless_the_connection_string_says_otherwise(string suffix, int expected)
    {
        await using var services = new ServiceCollection()
            .AddPliersData(o => o.ConnectionString = postgres.ConnectionString + suffix)
            .BuildServiceProvider();
        var dataSource = services.GetRequiredService<Npgsql.NpgsqlDataSource>();
        Assert.Equal(expected, new Npgsql.NpgsqlConnectionStringBuilder(dataSource.ConnectionString).MaxAutoPrepare);
        await using var connection = await dataSource.OpenConnectionAsync(Ct);
        Assert.Equal(expected, new Npgsql.NpgsqlConnectionStringBuilder(connection.ConnectionString).MaxAutoPrepare);
    }

    /// <summary>
    /// A host's own data source is used as configured (Npgsql's automatic preparation stays off by default), but the
    /// measured hot paths (the append, a submission's create and status change) prepare themselves on it, unless the
    /// string turns preparation off explicitly.
    /// </summary>
    [Theory]
    [InlineData("", true)]
    [InlineData(";Max Auto Prepare=0", false)]
    public async Task The_hot_paths_prepare_themselves_on_a_host_data_source_unless_its_string_turns_preparation_off(string suffix, bool prepared)
    {
        var schema = PostgresFixture.NewSchemaName("prep");
        await using var hostSource = Npgsql.NpgsqlDataSource.Create(new Npgsql.NpgsqlConnectionStringBuilder(postgres.ConnectionString + suffix) { MaxPoolSize = 6 }.ConnectionString);
        await using var services = new ServiceCollection()
            .AddSingleton(hostSource)
            .AddPliersData(o =>
            {
                o.Schema = schema;
                o.MigrationConnectionString = postgres.ConnectionString; // the host's data source keeps no password to hand on
            })
            .BuildServiceProvider();
        try
        {
            await services.MigratePliersDatabaseAsync(Ct);
            var store = services.GetRequiredService<IEventStore>();
            var stream = Guid.NewGuid();
            for (var i = 0; i < 3; i++)
            {
                await store.AppendAsync(stream, "prep", i, [NewEvent.FromJson("e", "{}")], Ct);
            }

            var forms = services.GetRequiredService<IFormDefinitionRepository>();
            var draft = await forms.CreateAsync("prep-form", JsonDocument.Parse("""{"schema":{"type":"object"}}""").RootElement, null, Ct);
            await forms.PublishAsync(draft.Id, null, Ct);
            var submissions = services.GetRequiredService<IFormSubmissionRepository>();
            var submission = await submissions.CreateAsync("prep-form", JsonDocument.Parse("{}").RootElement, null, Ct);
            await submissions.ChangeStatusAsync(submission.Id, submission.RowVersion, SubmissionStatus.Submitted, null, Ct);

            // The writes ran one after another on the pool's working connection(s); the others are held by LISTEN.
            // Holding two connections at once sees every idle one (a second, new connection has none prepared).
            await using var first = await hostSource.OpenConnectionAsync(Ct);
            await using var second = await hostSource.OpenConnectionAsync(Ct);
            foreach (var pattern in new[] { "%with head as%insert into%events%", "%with definition as%insert into%form_submissions%", "%update%form_submissions%set status%" })
            {
                var found = false;
                foreach (var connection in new[] { first, second })
                {
                    await using var command = new Npgsql.NpgsqlCommand("select count(*) from pg_prepared_statements where statement like @pattern", connection);
                    command.Parameters.AddWithValue("pattern", pattern);
                    found |= (long)(await command.ExecuteScalarAsync(Ct))! > 0;
                }

                Assert.True(found == prepared, $"{pattern}: prepared {found}, expected {prepared}");
            }
        }
        finally
        {
            await postgres.ExecuteAsync($"drop schema if exists \"{schema}\" cascade");
        }
    }

    [Fact]
    public async Task A_keyed_data_source_the_host_registered_is_the_one_Pliers_uses()
    {
        var schema = PostgresFixture.NewSchemaName("keyed");
        await using var keyed = Npgsql.NpgsqlDataSource.Create(new Npgsql.NpgsqlConnectionStringBuilder(postgres.ConnectionString) { ApplicationName = "pliers-keyed" }.ConnectionString);
        await using var services = new ServiceCollection()
            .AddKeyedSingleton("forms-db", keyed)
            .AddPliersData(o =>
            {
                o.ConnectionString = postgres.ConnectionString; // FluentMigrator opens its own connections
                o.Schema = schema;
                o.DataSourceKey = "forms-db";
            })
            .BuildServiceProvider();
        try
        {
            await services.MigratePliersDatabaseAsync(Ct);
            var store = services.GetRequiredService<IEventStore>();
            await store.AppendAsync(Guid.NewGuid(), "t", 0, [NewEvent.FromJson("e", "{}")], Ct);
            // The pooled connection the append used stays open under the keyed source's application name.
            Assert.True(await postgres.ScalarAsync<long>("select count(*) from pg_stat_activity where application_name = 'pliers-keyed'") >= 1);
            Assert.Equal(1L, await postgres.ScalarAsync<long>($"select count(*) from \"{schema}\".events"));
        }
        finally
        {
            await postgres.ExecuteAsync($"drop schema if exists \"{schema}\" cascade");
        }
    }

    [Fact]
    public void Options_bind_from_configuration_and_are_validated_at_start_up()
    {
        var configuration = new Microsoft.Extensions.Configuration.ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Pliers:ConnectionString"] = "Host=127.0.0.1",
                ["Pliers:Schema"] = "forms_data",
                ["Pliers:MaxDocumentBytes"] = "2048",
            })
            .Build();
        using var services = new ServiceCollection().AddPliersData(configuration.GetSection("Pliers")).BuildServiceProvider();
        var options = services.GetRequiredService<Microsoft.Extensions.Options.IOptions<PliersDataOptions>>().Value;
        Assert.Equal("forms_data", options.Schema);
        Assert.Equal(2048, options.MaxDocumentBytes);

        var bad = new Microsoft.Extensions.Configuration.ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { ["Pliers:Schema"] = "Robert'); drop table students;--" })
            .Build();
        using var refused = new ServiceCollection().AddPliersData(bad.GetSection("Pliers")).BuildServiceProvider();
        Assert.Throws<Microsoft.Extensions.Options.OptionsValidationException>(() => refused.GetRequiredService<Microsoft.Extensions.Options.IOptions<PliersDataOptions>>().Value);
    }
}

public sealed class PoolTests(PostgresFixture postgres)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task An_exhausted_pool_is_a_clear_timeout_naming_the_pool_size_never_a_hang()
    {
        await using var host = await PliersHost.MigratedAsync(postgres);
        var tiny = new Npgsql.NpgsqlConnectionStringBuilder(postgres.ConnectionString) { MaxPoolSize = 1, Timeout = 1 }.ConnectionString;
        await using var dataSource = Npgsql.NpgsqlDataSource.Create(tiny);
        await using var services = new ServiceCollection()
            .AddSingleton(dataSource)
            .AddPliersData(o =>
            {
                o.ConnectionString = tiny;
                o.Schema = host.Schema;
            })
            .BuildServiceProvider();
        var store = services.GetRequiredService<IEventStore>();
        await using var held = await dataSource.OpenConnectionAsync(Ct); // the only connection

        // The call's own token would cancel only after a minute: the pool timeout, not the token, must end the wait.
        using var never = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        never.CancelAfter(TimeSpan.FromMinutes(1));
        var error = await Assert.ThrowsAnyAsync<Npgsql.NpgsqlException>(() => store.GetStreamVersionAsync(Guid.NewGuid(), never.Token));
        Assert.False(never.IsCancellationRequested, "the wait is bounded by the pool timeout");
        Assert.Contains("Max Pool Size", error.Message, StringComparison.Ordinal);
        Assert.Contains("1", error.Message, StringComparison.Ordinal);

        await held.CloseAsync();
        Assert.Equal(0, await store.GetStreamVersionAsync(Guid.NewGuid(), Ct));
    }
}

public sealed class LoggingTests(PostgresFixture postgres)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Migrations_and_conflicts_are_logged_and_no_log_line_carries_the_password()
    {
        var password = new Npgsql.NpgsqlConnectionStringBuilder(postgres.ConnectionString).Password!;
        var lines = new System.Collections.Concurrent.ConcurrentBag<(string Category, int EventId, string Message)>();
        var schema = PostgresFixture.NewSchemaName("log");
        await using var services = new ServiceCollection()
            .AddLogging(b => b.AddProvider(new CapturingProvider(lines)).SetMinimumLevel(Microsoft.Extensions.Logging.LogLevel.Trace))
            .AddPliersData(o =>
            {
                o.ConnectionString = postgres.ConnectionString;
                o.Schema = schema;
            })
            .BuildServiceProvider();
        try
        {
            await services.MigratePliersDatabaseAsync(Ct);
            var store = services.GetRequiredService<IEventStore>();
            var stream = Guid.NewGuid();
            await store.AppendAsync(stream, "t", 0, [NewEvent.FromJson("e", "{}")], Ct);
            await Assert.ThrowsAsync<PliersConcurrencyException>(() => store.AppendAsync(stream, "t", 0, [NewEvent.FromJson("e", "{}")], Ct));
            await services.RollbackPliersDatabaseAsync(0, Ct);

            Assert.Contains(lines, l => l.EventId == 1001);
            Assert.Contains(lines, l => l.EventId == 1002 && l.Message.Contains(schema, StringComparison.Ordinal));
            Assert.Contains(lines, l => l.EventId == 1003);
            Assert.Contains(lines, l => l.EventId == 2001 && l.Message.Contains(stream.ToString(), StringComparison.Ordinal));
            Assert.DoesNotContain(lines, l => l.Message.Contains(password, StringComparison.Ordinal));
        }
        finally
        {
            await postgres.ExecuteAsync($"drop schema if exists \"{schema}\" cascade");
        }
    }

    private sealed class CapturingProvider(System.Collections.Concurrent.ConcurrentBag<(string, int, string)> lines) : Microsoft.Extensions.Logging.ILoggerProvider
    {
        public Microsoft.Extensions.Logging.ILogger CreateLogger(string categoryName) => new Logger(categoryName, lines);

        public void Dispose()
        {
        }

        private sealed class Logger(string category, System.Collections.Concurrent.ConcurrentBag<(string, int, string)> lines) : Microsoft.Extensions.Logging.ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel logLevel) => true;

            public void Log<TState>(Microsoft.Extensions.Logging.LogLevel logLevel, Microsoft.Extensions.Logging.EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                lines.Add((category, eventId.Id, formatter(state, exception) + (exception?.ToString() ?? string.Empty)));
        }
    }
}
