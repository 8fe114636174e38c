"""Label selectors: string and structured forms (apimachinery labels/selector.go rules)."""

import pytest

from probelab.k8s import labels

CASES = [
    ("", {"a": "b"}, True),
    ("app=web", {"app": "web"}, True),
    ("app==web", {"app": "web"}, True),
    ("app=web", {"app": "db"}, False),
    ("app!=web", {"app": "db"}, True),
    ("app!=web", {}, True),
    ("app", {"app": ""}, True),
    ("!app", {"app": "x"}, False),
    ("!app", {}, True),
    ("env in (a, b)", {"env": "b"}, True),
    ("env in (a,b)", {"env": "c"}, False),
    ("env notin (a,b)", {}, True),
    ("env notin (a,b),app=web", {"env": "c", "app": "web"}, True),
    ("env notin (a,b),app=web", {"env": "a", "app": "web"}, False),
]


@pytest.mark.parametrize(("text", "labels_", "expected"), CASES)
def test_parse_and_match(text: str, labels_: dict, expected: bool) -> None:
    assert labels.parse(text).matches(labels_) is expected


@pytest.mark.parametrize("bad", ["a=b=c", "in (x)", "!a in (x)", "a b"])
def test_bad_selector_strings(bad: str) -> None:
    with pytest.raises(labels.SelectorError):
        labels.parse(bad)


def test_structured_selector() -> None:
    sel = labels.from_label_selector(
        {"matchLabels": {"app": "web"},
         "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["db"]}]}
    )
    assert sel.matches({"app": "web", "tier": "fe"})
    assert not sel.matches({"app": "web", "tier": "db"})
    with pytest.raises(labels.SelectorError):
        labels.from_label_selector({"matchExpressions": [{"key": "x", "operator": "Near"}]})


def test_service_map_selector_and_string_form() -> None:
    assert labels.from_map({"app": "web"}).matches({"app": "web", "x": "y"})
    assert labels.to_string({"b": "2", "a": "1"}) == "a=1,b=2"
