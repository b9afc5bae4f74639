namespace Coiled.Remote.Dashboard;

/// <summary>An item that failed for good, as the dashboard lists it.</summary>
/// <param name="AtMs">When its failure arrived, in milliseconds since the dashboard started.</param>
/// <param name="Method">The method's display name.</param>
/// <param name="Item">The item's index in its call.</param>
/// <param name="Worker">The worker it failed on.</param>
/// <param name="Type">The remote exception's type name.</param>
/// <param name="Message">Its message, cut to <see cref="DashboardLimits.MessageChars"/> characters.</param>
/// <param name="Stack">Its first stack lines, at most <see cref="DashboardLimits.StackLines"/> of them.</param>
internal sealed record RecentError(double AtMs, string Method, int Item, string Worker, string Type, string Message, IReadOnlyList<string> Stack);
