namespace Coiled.Remote.Scheduling;

/// <summary>Either kind of input a stream accepts, read one item at a time.</summary>
internal sealed class ItemSource<T>
{
    private readonly IEnumerable<T>? _items;
    private readonly IAsyncEnumerable<T>? _asyncItems;

    public ItemSource(IEnumerable<T> items) => _items = items ?? throw new ArgumentNullException(nameof(items));

    public ItemSource(IAsyncEnumerable<T> items) => _asyncItems = items ?? throw new ArgumentNullException(nameof(items));

    /// <summary>Whether the source is an <see cref="IEnumerable{T}"/>, whose <c>MoveNext</c> blocks the reader while it waits.</summary>
    public bool IsSynchronous => _items is not null;

    public async IAsyncEnumerable<T> ReadAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        if (_items is not null)
        {
            foreach (var item in _items)
            {
                cancellationToken.ThrowIfCancellationRequested();
                yield return item;
            }

            yield break;
        }

        await foreach (var item in _asyncItems!.WithCancellation(cancellationToken).ConfigureAwait(false))
        {
            yield return item;
        }
    }
}

/// <summary>Makes an <see cref="ItemSource{T}"/> with the item type inferred.</summary>
internal static class ItemSource
{
    public static ItemSource<T> From<T>(IEnumerable<T> items) => new(items);

    public static ItemSource<T> From<T>(IAsyncEnumerable<T> items) => new(items);
}
