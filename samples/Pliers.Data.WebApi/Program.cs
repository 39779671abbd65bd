using Pliers.Data.Testing;
using Pliers.Data.WebApi;

// Uses Pliers:ConnectionString (or PLIERS_CONNECTION); without either, a throwaway local PostgreSQL.
var connectionString = Environment.GetEnvironmentVariable("PLIERS_CONNECTION");
await using var throwaway = string.IsNullOrWhiteSpace(connectionString) && !args.Any(a => a.Contains("Pliers:ConnectionString", StringComparison.Ordinal))
    ? await TestPostgres.StartAsync(new TestPostgresOptions { Log = Console.Out, ConnectionStringVariable = "PLIERS_CONNECTION" })
    : null;
var app = WebApiApp.Build(args, builder =>
{
    var cs = connectionString ?? throwaway?.ConnectionString;
    if (cs is not null)
    {
        builder.Configuration["Pliers:ConnectionString"] ??= cs;
    }
});
await app.RunAsync();
