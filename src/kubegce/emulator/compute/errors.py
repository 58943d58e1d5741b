"""The errors the emulated Compute API answers with, in GCE's JSON shape."""

from __future__ import annotations

from kubegce.emulator.api_error import ApiError

__all__ = ["ApiError", "injected_fault", "not_found", "rate_limited"]


def not_found(path: str) -> ApiError:
    return ApiError(404, "notFound", f"The resource '{path}' was not found")


def injected_fault(code: int) -> ApiError:
    if code == 429:
        return ApiError(429, "rateLimitExceeded", "Rate Limit Exceeded (injected by kubegce emulator)")
    if code == 503:
        return ApiError(503, "backendError", "Backend Error (injected by kubegce emulator)")
    return ApiError(code, "injected", f"HTTP {code} injected by kubegce emulator")


def rate_limited(mutating: bool) -> ApiError:
    """Over a rate quota: 403 rateLimitExceeded, as Compute answers (--write-quota, --read-quota)."""
    metric = "Write requests" if mutating else "Read requests"
    return ApiError(403, "rateLimitExceeded",
                    f"Quota exceeded for quota metric '{metric}' and limit '{metric} per minute' of service "
                    "'compute.googleapis.com' (kubegce emulator)")  # fmt: skip
