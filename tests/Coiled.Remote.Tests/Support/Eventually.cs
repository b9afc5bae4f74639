namespace Coiled.Remote.Tests.Support;

/// <summary>Waiting for something another thread or process brings about.</summary>
internal static class Eventually
{
    /// <summary>
    /// Waits (a generous safety net of 30 s, or <paramref name="within"/>, not a measurement) until
    /// <paramref name="condition"/> holds.
    /// </summary>
    public static async Task HoldsAsync(Func<bool> condition, string what, TimeSpan? within = null)
    {
        var deadline = DateTime.UtcNow + (within ?? TimeSpan.FromSeconds(30));
        while (!condition())
        {
            DateTime.UtcNow.Should().BeBefore(deadline, $"waiting for {what}");
            await Task.Delay(10);
        }
    }
}
