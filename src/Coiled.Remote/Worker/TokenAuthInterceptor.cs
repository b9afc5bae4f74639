using System.Security.Cryptography;
using System.Text;
using Coiled.Remote.Transport;
using Grpc.Core;
using Grpc.Core.Interceptors;

namespace Coiled.Remote.Worker;

/// <summary>
/// Rejects every call that does not carry the cluster's bearer token, before any handler runs.
/// The comparison takes the same time wherever the first differing byte is.
/// </summary>
internal sealed class TokenAuthInterceptor(WorkerHostOptions options) : Interceptor
{
    private readonly byte[] _expected = Encoding.UTF8.GetBytes(WireLimits.BearerPrefix + options.Token);

    public override Task<TResponse> UnaryServerHandler<TRequest, TResponse>(
        TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        Authenticate(context);
        return continuation(request, context);
    }

    public override Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(
        IAsyncStreamReader<TRequest> requestStream, ServerCallContext context, ClientStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Authenticate(context);
        return continuation(requestStream, context);
    }

    public override Task ServerStreamingServerHandler<TRequest, TResponse>(
        TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Authenticate(context);
        return continuation(request, responseStream, context);
    }

    public override Task DuplexStreamingServerHandler<TRequest, TResponse>(
        IAsyncStreamReader<TRequest> requestStream, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, DuplexStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Authenticate(context);
        return continuation(requestStream, responseStream, context);
    }

    private void Authenticate(ServerCallContext context)
    {
        var header = context.RequestHeaders.GetValue(WireLimits.AuthorizationHeader);
        if (header is null)
        {
            throw new RpcException(new Status(
                StatusCode.Unauthenticated,
                "This worker requires the cluster token: send 'authorization: Bearer <token>' with every call."));
        }

        if (!CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(header), _expected))
        {
            throw new RpcException(new Status(
                StatusCode.Unauthenticated,
                "The cluster token does not match this worker's token. Connect with the token the worker was started with."));
        }
    }
}
