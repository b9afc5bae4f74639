namespace Coiled.Remote.Security;

/// <summary>What a type's <c>ToString</c> prints in place of a token, a key or a credential: that it is set, not what it is.</summary>
internal static class Redacted
{
    public const string Text = "***";
}
