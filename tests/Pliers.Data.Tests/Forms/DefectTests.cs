using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Pliers.Data.Forms;
using Pliers.Data.Submissions;
using Pliers.Data.Tests.Infrastructure;

namespace Pliers.Data.Tests.Forms;

/// <summary>Regression tests for the form and submission defects found when the library was tried from outside (issue 10).</summary>
public sealed class DefectTests(MigratedSchema schema) : IAsyncLifetime, IClassFixture<MigratedSchema>
{
    private PliersHost _host = null!;

    private IFormDefinitionRepository Forms => _host.Services.GetRequiredService<IFormDefinitionRepository>();

    private IFormSubmissionRepository Submissions => _host.Services.GetRequiredService<IFormSubmissionRepository>();

    private int Limit => _host.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<PliersDataOptions>>().Value.MaxDocumentDepth;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync() => _host = await schema.ResetAsync();

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private static JsonElement Json(string text) => JsonDocument.Parse(text, new JsonDocumentOptions { MaxDepth = 1000 }).RootElement;


    public static TheoryData<string> ForeignCursors => new()
    {
        "not-a-cursor",
        "!!!!",
        Convert.ToBase64String(Encoding.UTF8.GetBytes("only-one-part")),
        Convert.ToBase64String(Encoding.UTF8.GetBytes("intake\u001fnot-a-number")),
        Convert.ToBase64String(Encoding.UTF8.GetBytes("intake\u001f-1")),
        Convert.ToBase64String(Encoding.UTF8.GetBytes("638000000000000000\u001fnot-a-guid")),
        Convert.ToBase64String(Encoding.UTF8.GetBytes("a\u001fb\u001fc")),
        Convert.ToBase64String([0xff, 0xfe, 0x1f, 0x00]),
    };

    [Theory]
    [MemberData(nameof(ForeignCursors))]
    public async Task A_tampered_or_foreign_cursor_is_an_ArgumentException(string cursor)
    {
        var definitions = await Assert.ThrowsAsync<ArgumentException>(() => Forms.ListAsync(new FormDefinitionQuery { Cursor = cursor }, Ct));
        Assert.Equal("query", definitions.ParamName);
        var submissions = await Assert.ThrowsAsync<ArgumentException>(() => Submissions.QueryAsync(new SubmissionQuery { Cursor = cursor }, Ct));
        Assert.Equal("query", submissions.ParamName);
    }

    [Fact]
    public async Task A_definition_cursor_is_refused_by_the_submission_query_and_the_other_way_round()
    {
        for (var i = 0; i < 3; i++)
        {
            var draft = await Forms.CreateAsync($"form{i}", Json("""{"schema": {"type": "object"}}"""), cancellationToken: Ct);
            await Forms.PublishAsync(draft.Id, cancellationToken: Ct);
            await Submissions.CreateAsync(draft.Id, Json("""{"a": 1}"""), cancellationToken: Ct);
            await Submissions.CreateAsync(draft.Id, Json("""{"a": 2}"""), cancellationToken: Ct);
        }

        var definitionCursor = (await Forms.ListAsync(new FormDefinitionQuery { PageSize = 1 }, Ct)).NextCursor!;
        var submissionCursor = (await Submissions.QueryAsync(new SubmissionQuery { PageSize = 1 }, Ct)).NextCursor!;
        await Assert.ThrowsAsync<ArgumentException>(() => Submissions.QueryAsync(new SubmissionQuery { Cursor = definitionCursor }, Ct));
        await Assert.ThrowsAsync<ArgumentException>(() => Forms.ListAsync(new FormDefinitionQuery { Cursor = submissionCursor }, Ct));
    }

    [Fact]
    public async Task Definitions_and_submissions_at_the_depth_limit_are_stored_and_read_back_and_one_level_more_is_refused()
    {
        var limit = Limit;

        // A definition member (beside the schema) nested to the limit: stored, read back by every read path.
        var definition = Json($$"""{"schema": {"type": "object"}, "ui": {{TestJson.Nested(limit - 1)}}}""");
        var draft = await Forms.CreateAsync("deep", definition, cancellationToken: Ct);
        Assert.Equal(limit, Pliers.Data.Internal.JsonDepth.Of((await Forms.GetByIdAsync(draft.Id, Ct))!.Definition.GetRawText()));
        Assert.Single(await Forms.GetVersionsAsync("deep", Ct));

        var tooDeep = await Assert.ThrowsAsync<PliersValidationException>(() => Forms.CreateAsync("deeper", Json($$"""{"schema": {"type": "object"}, "ui": {{TestJson.Nested(limit)}}}"""), cancellationToken: Ct));
        Assert.Equal("maxDepth", Assert.Single(tooDeep.Errors).Keyword);
        Assert.Equal("/definition", tooDeep.Errors[0].Path);
        await Assert.ThrowsAsync<PliersValidationException>(() => Forms.UpdateDraftAsync(draft.Id, draft.RowVersion, Json($$"""{"schema": {"type": "object"}, "ui": {{TestJson.Nested(limit)}}}"""), cancellationToken: Ct));

        // Submission data nested to the limit: stored and read back; one more level refused.
        await Forms.PublishAsync(draft.Id, cancellationToken: Ct);
        var submission = await Submissions.CreateAsync("deep", Json(TestJson.Nested(limit)), cancellationToken: Ct);
        Assert.Equal(limit, Pliers.Data.Internal.JsonDepth.Of((await Submissions.GetByIdAsync(submission.Id, Ct))!.Data.GetRawText()));
        Assert.Single((await Submissions.QueryAsync(new SubmissionQuery { FormName = "deep" }, Ct)).Items);
        var deeper = await Assert.ThrowsAsync<PliersValidationException>(() => Submissions.CreateAsync("deep", Json(TestJson.Nested(limit + 1)), cancellationToken: Ct));
        Assert.Equal("maxDepth", Assert.Single(deeper.Errors).Keyword);
    }
}
