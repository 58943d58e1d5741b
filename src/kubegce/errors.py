"""Errors a user can act on. The CLI prints them without a traceback."""

from __future__ import annotations


class UserError(Exception):
    """A mistake in input or environment that the user can fix; message says what and how."""

    exit_code = 2

    def __init__(self, message: str, *, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class SpecError(UserError):
    """The cluster or instance group spec is invalid. Carries one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid spec:\n" + "\n".join(f"  - {p}" for p in problems))


class ConflictError(UserError):
    """A conditional write lost against a concurrent writer."""

    exit_code = 3


class NotFoundError(UserError):
    exit_code = 4
