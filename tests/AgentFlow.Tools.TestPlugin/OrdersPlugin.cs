using System.ComponentModel;
using Microsoft.SemanticKernel;

namespace AgentFlow.Tools.TestPlugin;

/// <summary>A plugin as .NET teams write them: [KernelFunction] instance methods with descriptions.</summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Performance", "CA1822:Mark members as static", Justification = "Semantic Kernel plugins are instances; the loader creates one.")]
public sealed class OrdersPlugin
{
    /// <summary>Answers the status of an order.</summary>
    [KernelFunction("order_status")]
    [Description("The status of an order.")]
    public string OrderStatus([Description("The order id.")] string orderId) => $"order {orderId} is shipped";

    /// <summary>Adds two numbers.</summary>
    [KernelFunction("add")]
    [Description("Adds two integers.")]
    public int Add(int a, int b) => a + b;
}
