using System.Globalization;
using AgentFlow.Diagnostics;
using YamlDotNet.RepresentationModel;

namespace AgentFlow.Models;

public sealed partial class ModelRegistry
{
    /// <summary>The <c>embedders:</c> and <c>collections:</c> sections while the file is read.</summary>
    private sealed class Retrieval
    {
        public Dictionary<string, ModelSpec> Embedders { get; } = new(StringComparer.Ordinal) { [BuiltinEmbedder.Name] = BuiltinEmbedder };

        public Dictionary<string, CollectionSpec> Collections { get; } = new(StringComparer.Ordinal);

        public void ReadEmbedders(string path, YamlNode node, List<Diagnostic> diagnostics)
        {
            if (node is not YamlMappingNode map)
            {
                diagnostics.Add(new Diagnostic(At(path, node.Start), "AF0920", "'embedders' must map embedder names to their settings", "embedders: { bge: { provider: openai, endpoint: http://localhost:8000/v1, model: bge-small } }"));
                return;
            }

            foreach (var (nameNode, specNode) in map.Children)
            {
                ReadModel(path, (YamlScalarNode)nameNode, specNode, Embedders, diagnostics, "embedder");
            }
        }

        public void ReadCollections(string path, YamlNode node, List<Diagnostic> diagnostics)
        {
            if (node is not YamlMappingNode map)
            {
                diagnostics.Add(new Diagnostic(At(path, node.Start), "AF0921", "'collections' must map collection names to their settings", "collections: { kb: { store: embedded, embedder: minilm, dimensions: 384 } }"));
                return;
            }

            foreach (var (nameNode, specNode) in map.Children)
            {
                ReadCollection(path, (YamlScalarNode)nameNode, specNode, diagnostics);
            }
        }

        private void ReadCollection(string path, YamlScalarNode nameNode, YamlNode specNode, List<Diagnostic> diagnostics)
        {
            var name = nameNode.Value ?? string.Empty;
            var location = At(path, nameNode.Start);
            if (!CollectionSpec.IsValidName(name))
            {
                diagnostics.Add(new Diagnostic(location, "AF0922", $"invalid collection name '{name}'", "use up to 48 letters, digits, '-', '_' and '.', starting and ending with a letter or digit"));
                return;
            }

            if (specNode is not YamlMappingNode spec)
            {
                diagnostics.Add(new Diagnostic(At(path, specNode.Start), "AF0923", $"collection '{name}' must be a mapping of settings", "e.g. { store: embedded, embedder: minilm, dimensions: 384 }"));
                return;
            }

            var store = CollectionSpec.EmbeddedStore;
            var embedder = CollectionSpec.DefaultEmbedder;
            int? dimensions = null;
            var settings = new Dictionary<string, ModelSetting>(StringComparer.Ordinal);
            foreach (var (keyNode, valueNode) in spec.Children)
            {
                var key = ((YamlScalarNode)keyNode).Value ?? string.Empty;
                if (!CollectionKeys.Contains(key, StringComparer.Ordinal))
                {
                    diagnostics.Add(new Diagnostic(At(path, keyNode.Start), "AF0924", $"collection '{name}': unknown key '{key}'{NameSuggestion.DidYouMean(key, CollectionKeys)}", $"collection keys: {string.Join(", ", CollectionKeys)}"));
                    continue;
                }

                if (valueNode is not YamlScalarNode { Value: { } value })
                {
                    diagnostics.Add(new Diagnostic(At(path, valueNode.Start), "AF0924", $"collection '{name}': '{key}' must be a single value"));
                    continue;
                }

                var at = At(path, valueNode.Start);
                switch (key)
                {
                    case "store" when !CollectionSpec.Stores.Contains(value, StringComparer.Ordinal):
                        diagnostics.Add(new Diagnostic(at, "AF0925", $"collection '{name}': unknown store '{value}'{NameSuggestion.DidYouMean(value, CollectionSpec.Stores)}", $"stores: {string.Join(", ", CollectionSpec.Stores)}"));
                        break;
                    case "store":
                        store = value;
                        break;
                    case "embedder":
                        embedder = value;
                        settings["embedder"] = new ModelSetting(value, at);
                        break;
                    case "dimensions" when !int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var d) || d is < 1 or > 65_536:
                        diagnostics.Add(new Diagnostic(at, "AF0926", $"collection '{name}': 'dimensions' must be a whole number from 1 to 65536, got '{value}'", "the length of the embedder's vectors, e.g. 384 for minilm"));
                        break;
                    case "dimensions":
                        dimensions = int.Parse(value, CultureInfo.InvariantCulture);
                        break;
                    default:
                        settings[key] = new ModelSetting(value, at);
                        break;
                }
            }

            if (store == CollectionSpec.ChromaStore && !settings.ContainsKey("url"))
            {
                diagnostics.Add(new Diagnostic(location, "AF0927", $"collection '{name}' is on Chroma but has no 'url'", "add url: http://127.0.0.1:8000 (the Chroma server)"));
            }

            Collections[name] = new CollectionSpec(name, store, embedder, dimensions, settings, location);
        }

        // After the whole file: a collection may name an embedder declared below it.
        public void CheckCollections(List<Diagnostic> diagnostics)
        {
            foreach (var collection in Collections.Values)
            {
                if (!Embedders.ContainsKey(collection.Embedder))
                {
                    var at = collection.Settings.TryGetValue("embedder", out var setting) ? setting.Location : collection.Location;
                    diagnostics.Add(new Diagnostic(at, "AF0928", $"collection '{collection.Name}' names unknown embedder '{collection.Embedder}'{NameSuggestion.DidYouMean(collection.Embedder, Embedders.Keys)}", $"known embedders: {string.Join(", ", Embedders.Keys)}; declare it under embedders:"));
                }
            }
        }
    }
}
