"""A refused manifest names its manifest_url by origin only: the path and query are personal data (QUEUE-022)."""

from __future__ import annotations

import pytest

from services.dispatcher.manifests import shown_url

CASES = [
    ("http://127.0.0.1:8000/depositor-7/secret-manifest.json?token=abc", "http://127.0.0.1:8000/…"),
    ("https://files.example.org/u/jane.doe@example.org/m.json", "https://files.example.org/…"),
    ("ftp://files.example.org/m.json", "ftp://files.example.org/…"),
    ("not a url at all", "(no host)"),
]


@pytest.mark.parametrize(("url", "shown"), CASES)
def test_a_manifest_url_is_shown_by_its_origin_alone(url: str, shown: str) -> None:
    assert shown_url(url) == shown
