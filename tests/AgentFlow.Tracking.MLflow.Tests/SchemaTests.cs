using System.Text.RegularExpressions;
using Microsoft.Data.Sqlite;

namespace AgentFlow.Tracking.MLflow.Tests;

/// <summary>What a fresh embedded store leaves in the database, against MLflow's schema at alembic head bf29a5ff90ea.</summary>
public sealed partial class SchemaTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    // (name, declared type, not null, primary key position) as PRAGMA table_info reports them, from MLflow's schema.
    private static readonly Dictionary<string, string[]> ColumnFacts = new()
    {
        ["experiments"] =
        [
            "experiment_id|INTEGER|1|1", "name|VARCHAR(256)|1|0", "artifact_location|VARCHAR(256)|0|0",
            "lifecycle_stage|VARCHAR(32)|0|0", "creation_time|BIGINT|0|0", "last_update_time|BIGINT|0|0",
        ],
        ["runs"] =
        [
            "run_uuid|VARCHAR(32)|1|1", "name|VARCHAR(250)|0|0", "source_type|VARCHAR(20)|0|0", "source_name|VARCHAR(500)|0|0",
            "entry_point_name|VARCHAR(50)|0|0", "user_id|VARCHAR(256)|0|0", "status|VARCHAR(9)|0|0", "start_time|BIGINT|0|0",
            "end_time|BIGINT|0|0", "source_version|VARCHAR(50)|0|0", "lifecycle_stage|VARCHAR(20)|0|0",
            "artifact_uri|VARCHAR(200)|0|0", "experiment_id|INTEGER|0|0", "deleted_time|BIGINT|0|0",
        ],
        ["metrics"] =
        [
            "key|VARCHAR(250)|1|1", "value|FLOAT|1|5", "timestamp|BIGINT|1|2", "run_uuid|VARCHAR(32)|1|4",
            "step|BIGINT|1|3", "is_nan|BOOLEAN|1|6",
        ],
        ["latest_metrics"] =
        [
            "key|VARCHAR(250)|1|1", "value|FLOAT|1|0", "timestamp|BIGINT|0|0", "step|BIGINT|1|0", "is_nan|BOOLEAN|1|0",
            "run_uuid|VARCHAR(32)|1|2",
        ],
        ["params"] = ["key|VARCHAR(250)|1|1", "value|VARCHAR(8000)|1|0", "run_uuid|VARCHAR(32)|1|2"],
        ["tags"] = ["key|VARCHAR(250)|1|1", "value|VARCHAR(8000)|0|0", "run_uuid|VARCHAR(32)|1|2"],
        ["experiment_tags"] = ["key|VARCHAR(250)|1|1", "value|VARCHAR(5000)|0|0", "experiment_id|INTEGER|1|2"],
        ["alembic_version"] = ["version_num|VARCHAR(32)|1|1"],
    };

    public static TheoryData<string> KeyTables => new(ColumnFacts.Keys);

    [Theory]
    [MemberData(nameof(KeyTables))]
    public async Task Open_FreshDatabase_KeyTableHasMlflowColumns(string table)
    {
        await using var store = Stores.Sqlite(_folder);
        using var connection = Connect(store);
        var actual = Rows(connection, $"SELECT name, type, \"notnull\", pk FROM pragma_table_info('{table}') ORDER BY cid;")
            .Select(r => string.Join('|', r)).ToArray();
        Assert.Equal(ColumnFacts[table], actual);
    }

    [Fact]
    public async Task Open_FreshDatabase_TableAndIndexCountsMatchReference()
    {
        await using var store = Stores.Sqlite(_folder);
        using var connection = Connect(store);
        var reference = File.ReadAllText(ReferencePath);

        var tables = Rows(connection, "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%';").Count;
        var indexes = Rows(connection, "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL;").Count;

        Assert.Equal(34, tables);
        Assert.Equal(CreateTable().Count(reference), tables);
        Assert.Equal(CreateIndex().Count(reference), indexes);
    }

    [Fact]
    public async Task Open_FreshDatabase_SqliteMasterTextEqualsReferenceStatements()
    {
        await using var store = Stores.Sqlite(_folder);
        using var connection = Connect(store);
        var expected = File.ReadAllText(ReferencePath).Split(";\n")
            .Select(s => string.Join('\n', s.Split('\n').Where(l => !l.StartsWith("--", StringComparison.Ordinal))).Trim())
            .Where(s => s.StartsWith("CREATE", StringComparison.Ordinal))
            .OrderBy(s => s, StringComparer.Ordinal)
            .ToList();
        var actual = Rows(connection, "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL;")
            .Select(r => r[0]).OrderBy(s => s, StringComparer.Ordinal).ToList();

        Assert.Equal(expected.Count, actual.Count);
        Assert.Equal(expected, actual);
    }

    [Fact]
    public async Task Open_FreshDatabase_AlembicVersionIsBf29a5ff90ea()
    {
        await using var store = Stores.Sqlite(_folder);
        using var connection = Connect(store);
        Assert.Equal(["bf29a5ff90ea"], Rows(connection, "SELECT version_num FROM alembic_version;").Select(r => r[0]));
        Assert.Equal("bf29a5ff90ea", MlflowSqliteStore.SchemaRevision);
    }

    [Fact]
    public async Task Open_FreshDatabase_InsertsDefaultExperimentZeroLikeMlflow()
    {
        await using var store = Stores.Sqlite(_folder);
        using var connection = Connect(store);
        var row = Assert.Single(Rows(connection,
            "SELECT experiment_id, name, artifact_location, lifecycle_stage, typeof(creation_time), creation_time = last_update_time FROM experiments;"));
        Assert.Equal("0", row[0]);
        Assert.Equal("Default", row[1]);
        Assert.Equal(Path.Combine(_folder.Path, ".agentflow", "mlartifacts") + "/0", row[2]);
        Assert.Equal("active", row[3]);
        Assert.Equal("integer", row[4]);
        Assert.Equal("1", row[5]);
    }

    [Fact]
    public async Task Open_FreshDatabase_UsesWalJournal()
    {
        await using var store = Stores.Sqlite(_folder);
        using var connection = Connect(store);
        Assert.Equal("wal", Rows(connection, "PRAGMA journal_mode;")[0][0]);
    }

    [Fact]
    public async Task Open_ExistingDatabase_KeepsDataAndDoesNotDuplicateDefault()
    {
        string experimentId;
        await using (var first = Stores.Sqlite(_folder))
        {
            experimentId = (await first.GetOrCreateExperimentAsync("kept")).ExperimentId;
        }

        await using var second = Stores.Sqlite(_folder);
        Assert.Equal(experimentId, (await second.GetExperimentByNameAsync("kept"))!.ExperimentId);
        using var connection = Connect(second);
        Assert.Equal("2", Rows(connection, "SELECT count(*) FROM experiments;")[0][0]);
        Assert.Equal("1", Rows(connection, "SELECT count(*) FROM alembic_version;")[0][0]);
    }

    private static string ReferencePath => Path.Combine(AppContext.BaseDirectory, "reference-schema.sql");

    internal static SqliteConnection Connect(MlflowSqliteStore store)
    {
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = store.DatabasePath, Pooling = false }.ToString());
        connection.Open();
        return connection;
    }

    internal static List<string[]> Rows(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        using var reader = command.ExecuteReader();
        var rows = new List<string[]>();
        while (reader.Read())
        {
            var row = new string[reader.FieldCount];
            for (var i = 0; i < reader.FieldCount; i++)
            {
                row[i] = reader.IsDBNull(i) ? "NULL" : Convert.ToString(reader.GetValue(i), System.Globalization.CultureInfo.InvariantCulture)!;
            }

            rows.Add(row);
        }

        return rows;
    }

    [GeneratedRegex(@"^CREATE TABLE ", RegexOptions.Multiline)]
    private static partial Regex CreateTable();

    [GeneratedRegex(@"^CREATE (UNIQUE )?INDEX ", RegexOptions.Multiline)]
    private static partial Regex CreateIndex();
}
