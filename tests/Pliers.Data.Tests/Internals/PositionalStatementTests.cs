using Npgsql;
using NpgsqlTypes;
using Pliers.Data.Internal;
using Pliers.Data.Tests.Infrastructure;

namespace Pliers.Data.Tests.Internals;

/// <summary>
/// The rewrite of the hot statements from named (<c>@name</c>) to positional (<c>$n</c>) parameters: only real
/// parameters move, one position per name, and PostgreSQL runs the result with each value where its name was.
/// </summary>
public sealed class PositionalStatementTests(PostgresFixture postgres)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public void Names_become_positions_in_order_of_first_use_and_a_repeated_name_keeps_its_position()
    {
        var statement = new PositionalStatement("update t set a = @a, b = @b_2 where id = @id and a <> @a returning @b_2::text");

        Assert.Equal("update t set a = $1, b = $2 where id = $3 and a <> $1 returning $2::text", statement.Sql);
        Assert.Equal(["a", "b_2", "id"], statement.Names);
    }

    [Fact]
    public void Literals_quoted_identifiers_comments_operators_and_casts_are_left_as_they_are()
    {
        const string sql = """
            select '@a it''s @b' as "x@y", "q""@c" -- @d in a comment
            /* @e too */ from t where data @> @f::jsonb and tags @@ 'q' and e'@g' = @h::text and a@i = 1
            """;
        var statement = new PositionalStatement(sql);

        Assert.Equal(["f", "h"], statement.Names);
        Assert.Equal(sql.Replace("@f::jsonb", "$1::jsonb", StringComparison.Ordinal).Replace("@h::text", "$2::text", StringComparison.Ordinal), statement.Sql);
    }

    [Fact]
    public void A_statement_with_dollar_quoting_or_positional_parameters_is_refused()
    {
        Assert.Throws<ArgumentException>(() => new PositionalStatement("select $$@a$$"));
        Assert.Throws<ArgumentException>(() => new PositionalStatement("select $1, @a"));
    }

    [Fact]
    public void Every_parameter_must_be_bound_and_only_the_statement_s_own()
    {
        var statement = new PositionalStatement("select @a::int + @b::int");

        var unknown = Assert.Throws<ArgumentException>(() => statement.Command(p => p.Add("c", NpgsqlDbType.Integer, 1)));
        Assert.Contains("@c", unknown.Message, StringComparison.Ordinal);
        var unbound = Assert.Throws<InvalidOperationException>(() => statement.Command(p => p.Add("a", NpgsqlDbType.Integer, 1)));
        Assert.Contains("@b", unbound.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PostgreSQL_runs_the_rewritten_statement_with_each_value_where_its_name_was()
    {
        var statement = new PositionalStatement("""
            select @name::text as name, @count::int + 1 as next, @name::text || '@count' as tagged,
                   '{"a": 1, "b": 2}'::jsonb @> @probe::jsonb as contains
            """);
        var hostile = "$1 @count '; drop table x; -- Zoë 🦊";
        await using var connection = await postgres.OpenAsync();
        await using var batch = new NpgsqlBatch(connection);
        batch.BatchCommands.Add(statement.Command(p =>
        {
            p.Add("probe", NpgsqlDbType.Text, """{"b": 2}""");
            p.Add("count", NpgsqlDbType.Integer, 41);
            p.Add("name", NpgsqlDbType.Text, hostile);
        }));
        await batch.PrepareAsync(Ct);
        await using var reader = await batch.ExecuteReaderAsync(Ct);

        Assert.True(await reader.ReadAsync(Ct));
        Assert.Equal(hostile, reader.GetString(0));
        Assert.Equal(42, reader.GetInt32(1));
        Assert.Equal(hostile + "@count", reader.GetString(2));
        Assert.True(reader.GetBoolean(3));
    }
}
