using System.Text;
using Npgsql;
using NpgsqlTypes;

namespace Pliers.Data.Internal;

/// <summary>
/// A statement written with named parameters (<c>@name</c>, as every statement of the library is), rewritten once, when
/// its table is built, into PostgreSQL's own positional form (<c>$1</c>, <c>$2</c>, ...) for the prepared hot paths.
/// Npgsql sends a positional statement as it is, while it parses and rewrites a named one on every execution: measured
/// on the status change, ~3.4 KB allocated and 10–65 µs a call more (docs/performance.md). A name used twice gets one
/// position. Quoted identifiers, standard string literals (an <c>E''</c> literal's backslash escapes are not read),
/// comments and operators that start with <c>@</c> (<c>@&gt;</c>) are left as they are; a statement with dollar
/// quoting is refused (none of the library's has any).
/// </summary>
internal sealed class PositionalStatement
{
    private readonly string[] _names;

    public PositionalStatement(string namedSql)
    {
        var (sql, names) = Rewrite(namedSql);
        Named = namedSql;
        Sql = sql;
        _names = names;
    }

    /// <summary>Gets the statement as it was written, with <c>@name</c> parameters (for Dapper: the plan tests EXPLAIN it).</summary>
    public string Named { get; }

    /// <summary>Gets the statement with <c>$n</c> in place of each <c>@name</c>.</summary>
    public string Sql { get; }

    /// <summary>Gets the parameter names in position order (<c>$1</c> first), without the <c>@</c>.</summary>
    public IReadOnlyList<string> Names => _names;

    /// <summary>A batch command of this statement, its parameters bound by name through <paramref name="bind"/> and sent by position.</summary>
    public NpgsqlBatchCommand Command(Action<Parameters> bind)
    {
        var parameters = new Parameters(this);
        bind(parameters);
        var command = new NpgsqlBatchCommand(Sql);
        for (var i = 0; i < _names.Length; i++)
        {
            command.Parameters.Add(parameters.Values[i] ?? throw new InvalidOperationException($"The statement's parameter @{_names[i]} was not bound."));
        }

        return command;
    }

    private static (string Sql, string[] Names) Rewrite(string sql)
    {
        var names = new List<string>();
        var text = new StringBuilder(sql.Length);
        var i = 0;
        while (i < sql.Length)
        {
            var c = sql[i];
            if (c is '\'' or '"')
            {
                // A literal or a quoted identifier, to its closing quote (a doubled quote stays inside).
                var end = i + 1;
                while (end < sql.Length && !(sql[end] == c && (end + 1 == sql.Length || sql[end + 1] != c)))
                {
                    end += sql[end] == c ? 2 : 1;
                }

                text.Append(sql, i, Math.Min(end + 1, sql.Length) - i);
                i = end + 1;
            }
            else if (c == '-' && i + 1 < sql.Length && sql[i + 1] == '-')
            {
                var end = sql.IndexOf('\n', i);
                end = end < 0 ? sql.Length : end;
                text.Append(sql, i, end - i);
                i = end;
            }
            else if (c == '/' && i + 1 < sql.Length && sql[i + 1] == '*')
            {
                var end = sql.IndexOf("*/", i + 2, StringComparison.Ordinal);
                end = end < 0 ? sql.Length : end + 2;
                text.Append(sql, i, end - i);
                i = end;
            }
            else if (c == '$')
            {
                throw new ArgumentException("A statement with dollar quoting or positional parameters cannot be rewritten.", nameof(sql));
            }
            else if (c == '@' && i + 1 < sql.Length && IsNameStart(sql[i + 1]) && (i == 0 || !IsNamePart(sql[i - 1])))
            {
                var end = i + 1;
                while (end < sql.Length && IsNamePart(sql[end]))
                {
                    end++;
                }

                var name = sql[(i + 1)..end];
                var position = names.IndexOf(name);
                if (position < 0)
                {
                    names.Add(name);
                    position = names.Count - 1;
                }

                text.Append('$').Append(position + 1);
                i = end;
            }
            else
            {
                text.Append(c);
                i++;
            }
        }

        return (text.ToString(), [.. names]);
    }

    private static bool IsNameStart(char c) => char.IsAsciiLetter(c) || c == '_';

    private static bool IsNamePart(char c) => char.IsAsciiLetterOrDigit(c) || c == '_';

    /// <summary>The values of one execution, bound by name and sent by position; every name must be bound once.</summary>
    internal sealed class Parameters(PositionalStatement statement)
    {
        internal NpgsqlParameter?[] Values { get; } = new NpgsqlParameter?[statement._names.Length];

        /// <summary>Binds <c>@<paramref name="name"/></c> to <paramref name="value"/> as <paramref name="type"/>.</summary>
        public void Add<T>(string name, NpgsqlDbType type, T value)
        {
            var position = Array.IndexOf(statement._names, name);
            if (position < 0)
            {
                throw new ArgumentException($"The statement has no parameter @{name}.", nameof(name));
            }

            Values[position] = new NpgsqlParameter<T> { NpgsqlDbType = type, TypedValue = value };
        }
    }
}
