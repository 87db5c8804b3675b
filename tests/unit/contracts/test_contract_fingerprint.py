"""`content_fingerprint` tells the same batch resubmitted from a different one."""

from __future__ import annotations

from typing import Any

from contracts.manifest import Submission, content_fingerprint


def submission(**changes: Any) -> Submission:
    body: dict[str, Any] = {
        "batch_id": "6f1e0c1a-4a55-4d0f-9c2e-2f7f3b1c9a10",
        "tenant": "acme",
        "user_id": "depositor-7",
        "depositor_email": "depositor@example.org",
        "trace_id": "t-1",
        "tags": {"gdpr": True, "retention_days": 30},
        "jobs": [{"job_uuid": "0b6c6e2a-1f3d-4c7e-9a8b-5d4c3b2a1f00", "params": {"a": 1, "b": 2}}],
    }
    body.update(changes)
    return Submission.model_validate(body)


def test_the_same_content_resubmitted_has_the_same_fingerprint() -> None:
    assert content_fingerprint(submission()) == content_fingerprint(submission())


def test_a_new_trace_id_does_not_make_it_another_batch() -> None:
    assert content_fingerprint(submission(trace_id="t-2")) == content_fingerprint(submission())
    assert content_fingerprint(submission(trace_id=None)) == content_fingerprint(submission())


def test_key_order_and_spelled_out_defaults_do_not_matter() -> None:
    reordered = submission(
        jobs=[
            {
                "params": {"b": 2, "a": 1},
                "handler": "noop",
                "max_attempts": 1,
                "job_uuid": "0b6c6e2a-1f3d-4c7e-9a8b-5d4c3b2a1f00",
            }
        ]
    )
    assert content_fingerprint(reordered) == content_fingerprint(submission())


def test_other_content_has_another_fingerprint() -> None:
    original = content_fingerprint(submission())
    assert content_fingerprint(submission(depositor_email="other@example.org")) != original
    assert content_fingerprint(submission(tags={"gdpr": False})) != original
    changed_job = [{"job_uuid": "0b6c6e2a-1f3d-4c7e-9a8b-5d4c3b2a1f00", "max_attempts": 2}]
    assert content_fingerprint(submission(jobs=changed_job)) != original


def test_the_fingerprint_is_a_sha256_hex_digest() -> None:
    fingerprint = content_fingerprint(submission())
    assert len(fingerprint) == 64
    int(fingerprint, 16)
