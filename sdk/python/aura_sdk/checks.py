"""Checks with what was expected and what was found, as the reports show them."""

from wit_world.imports import types


def expect_eq(name: str, expected: object, actual: object) -> types.Check:
    """A check that passes when `actual` equals `expected` (as text), both recorded."""
    expected, actual = str(expected), str(actual)
    ok = expected == actual
    message = "" if ok else f"{name}: expected {expected}, found {actual}"
    return types.Check(name=name, passed=ok, expected=expected, actual=actual, message=message)


def expect(name: str, ok: bool, expected: str, actual: object, message: str) -> types.Check:
    """A check from a condition, with a message for when it fails."""
    return types.Check(
        name=name,
        passed=ok,
        expected=expected,
        actual=str(actual),
        message="" if ok else message,
    )


def reason(error: "types.HostError") -> str:
    """A host error in words: `denied: ...`, `unavailable: ...`, `invalid: ...`, `timeout: ...`."""
    kinds = {
        types.HostError_Denied: "denied",
        types.HostError_Unavailable: "unavailable",
        types.HostError_Invalid: "invalid",
        types.HostError_Timeout: "timeout",
    }
    return f"{kinds.get(type(error), 'error')}: {getattr(error, 'value', error)}"


def host_failure(name: str, expected: str, error: "types.HostError") -> types.Check:
    """A failed check for a host call that went wrong, so the result says why."""
    return expect(name, False, expected, "host error", reason(error))


def passed(result: types.ValidationResult) -> bool:
    return all(c.passed for c in result.checks)
