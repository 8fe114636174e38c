"""Name and label syntax checks (RFC 1123 / RFC 1035 names, qualified label keys, port names).

Each check returns a list of problems in words (empty when the value is fine), so validation can
attach them to a field path. Rules follow
`staging/src/k8s.io/apimachinery/pkg/util/validation/validation.go`.
"""

from __future__ import annotations

import re

DNS1123_LABEL_MAX = 63
DNS1123_SUBDOMAIN_MAX = 253
LABEL_VALUE_MAX = 63
QUALIFIED_NAME_MAX = 63
PORT_NAME_MAX = 15

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_PORT_NAME_CHARS = re.compile(r"^[-a-z0-9]+$")
_PORT_NAME_LETTER = re.compile(r"[a-z]")
_ENV_NAME = re.compile(r"^[ -<>-~]+$")  # printable ASCII except '=' (RelaxedEnvironmentVariable)


def _length_and_pattern(value: str, max_len: int, pattern: re.Pattern[str],
                        message: str) -> list[str]:
    """The shape of most checks: a length limit and a pattern, each with its own problem."""
    problems = []
    if len(value) > max_len:
        problems.append(f"must be no more than {max_len} characters")
    if not pattern.match(value):
        problems.append(message)
    return problems


def dns1123_label(value: str) -> list[str]:
    return _length_and_pattern(
        value, DNS1123_LABEL_MAX, _DNS1123_LABEL,
        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or "
        "'-', and must start and end with an alphanumeric character (e.g. 'my-name' or "
        "'123-abc')")


def dns1123_subdomain(value: str) -> list[str]:
    return _length_and_pattern(
        value, DNS1123_SUBDOMAIN_MAX, _DNS1123_SUBDOMAIN,
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
        "'-' or '.', and must start and end with an alphanumeric character (e.g. "
        "'example.com')")


def dns1035_label(value: str) -> list[str]:
    return _length_and_pattern(
        value, DNS1123_LABEL_MAX, _DNS1035_LABEL,
        "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start "
        "with an alphabetic character, and end with an alphanumeric character (e.g. "
        "'my-name' or 'abc-123')")


def qualified_name(value: str) -> list[str]:
    """A label or annotation key: an optional DNS subdomain prefix and `/`, then a name."""
    prefix, slash, name = value.rpartition("/")
    problems = []
    if slash and not prefix:
        problems.append("prefix part must be non-empty")
    elif slash:
        problems.extend("prefix part " + p for p in dns1123_subdomain(prefix))
    if not name:
        problems.append("name part must be non-empty")
        return problems
    problems.extend("name part " + p for p in _length_and_pattern(
        name, QUALIFIED_NAME_MAX, _QUALIFIED_NAME,
        "must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
        "with an alphanumeric character (e.g. 'MyName', 'my.name' or '123-abc')"))
    return problems


def label_value(value: str) -> list[str]:
    return _length_and_pattern(
        value, LABEL_VALUE_MAX, _LABEL_VALUE,
        "a valid label must be an empty string or consist of alphanumeric characters, '-', "
        "'_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue' "
        "or 'my_value')")


def port_name(value: str) -> list[str]:
    """An IANA service name (`IsValidPortName`): what named ports and targetPorts must be."""
    problems = []
    if len(value) > PORT_NAME_MAX:
        problems.append(f"must be no more than {PORT_NAME_MAX} characters")
    if not _PORT_NAME_CHARS.match(value):
        problems.append("must contain only alpha-numeric characters (a-z, 0-9), and "
                        "hyphens (-)")
    if not _PORT_NAME_LETTER.search(value):
        problems.append("must contain at least one letter (a-z)")
    if "--" in value:
        problems.append("must not contain consecutive hyphens")
    if value.startswith("-") or value.endswith("-"):
        problems.append("must not begin or end with a hyphen")
    return problems


def env_var_name(value: str) -> list[str]:
    if not _ENV_NAME.match(value):
        return ["a valid environment variable name must consist only of printable ASCII "
                "characters other than '='"]
    return []
