using System.Net;

namespace AgentFlow.Tracking.MLflow;

/// <summary>
/// An MLflow operation failed. <see cref="ErrorCode"/> carries MLflow's own error code
/// (<c>INVALID_PARAMETER_VALUE</c>, <c>RESOURCE_ALREADY_EXISTS</c>, <c>RESOURCE_DOES_NOT_EXIST</c>, …),
/// from the server's <c>{error_code, message}</c> body or from the embedded store.
/// </summary>
public class MlflowException : AgentFlowException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="errorCode">MLflow error code, e.g. <see cref="MlflowErrorCodes.InvalidParameterValue"/>.</param>
    /// <param name="message">What went wrong, for a person.</param>
    /// <param name="statusCode">HTTP status of the response, when the error came from a server.</param>
    /// <param name="innerException">The cause, if any.</param>
    public MlflowException(string errorCode, string message, HttpStatusCode? statusCode = null, Exception? innerException = null)
        : base(message, innerException)
    {
        ErrorCode = errorCode;
        StatusCode = statusCode;
    }

    /// <summary>MLflow's error code (e.g. <c>RESOURCE_DOES_NOT_EXIST</c>).</summary>
    public string ErrorCode { get; }

    /// <summary>HTTP status of the failed response; null for the embedded store and for transport failures.</summary>
    public HttpStatusCode? StatusCode { get; }
}

/// <summary>A key, value, name or batch breaks one of MLflow's limits; nothing was written.</summary>
public sealed class MlflowValidationException : MlflowException
{
    /// <summary>Creates the exception with error code <c>INVALID_PARAMETER_VALUE</c>.</summary>
    public MlflowValidationException(string message) : base(MlflowErrorCodes.InvalidParameterValue, message) { }
}

/// <summary>The tracking URI or the store options cannot be used.</summary>
public sealed class MlflowConfigurationException : AgentFlowException
{
    /// <summary>Creates the exception.</summary>
    public MlflowConfigurationException(string message, Exception? innerException = null) : base(message, innerException) { }
}

/// <summary>MLflow error codes (from <c>databricks.proto</c>) that AgentFlow acts on.</summary>
public static class MlflowErrorCodes
{
    /// <summary>A request argument is invalid (400).</summary>
    public const string InvalidParameterValue = "INVALID_PARAMETER_VALUE";

    /// <summary>The entity already exists, e.g. an experiment name (400).</summary>
    public const string ResourceAlreadyExists = "RESOURCE_ALREADY_EXISTS";

    /// <summary>The entity does not exist (404).</summary>
    public const string ResourceDoesNotExist = "RESOURCE_DOES_NOT_EXIST";

    /// <summary>The entity is in a state that forbids the operation, e.g. a deleted experiment.</summary>
    public const string InvalidState = "INVALID_STATE";

    /// <summary>Too many requests (429).</summary>
    public const string RequestLimitExceeded = "REQUEST_LIMIT_EXCEEDED";

    /// <summary>The server failed (500).</summary>
    public const string InternalError = "INTERNAL_ERROR";

    /// <summary>The server is temporarily unavailable (502/503/504).</summary>
    public const string TemporarilyUnavailable = "TEMPORARILY_UNAVAILABLE";

    /// <summary>Credentials are missing or wrong (401).</summary>
    public const string Unauthenticated = "UNAUTHENTICATED";

    /// <summary>Credentials are valid but not allowed (403).</summary>
    public const string PermissionDenied = "PERMISSION_DENIED";

    /// <summary>The endpoint does not exist on the server (404 without an MLflow body).</summary>
    public const string EndpointNotFound = "ENDPOINT_NOT_FOUND";

    /// <summary>The request never got a response (connection refused, timeout, TLS failure).</summary>
    public const string TransportError = "TRANSPORT_ERROR";
}
