"""batchq's own value types in the store's JSON, beside the library's (UUID, datetime, ...).

Each is written as `{"_type_": NAME, "_data_": ...}` by `eventsourcing`'s JSON
transcoder; the relay, which reads stored JSON without the transcoder
(`envelopes.envelope_of_stored`), turns the same markers into wire values.
"""

from __future__ import annotations

import base64

from eventsourcing.persistence import JSONTranscoder, Transcoding

from domain.job_ids import JobIds

JOB_IDS = "job_ids_b64"


class JobIdsAsBase64(Transcoding):
    """A batch's job ids as one base64 string of their 16 bytes each: one JSON value instead of a
    marker per id. Base64, not hex: a third smaller, and PostgreSQL gives up compressing it at
    once, where it spent 80 ms failing to compress the 3.2 MB hex of 100,000 ids (measured:
    inserting that row took 77-93 ms as hex, 6-8 ms as base64)."""

    type = JobIds
    name = JOB_IDS

    def encode(self, obj: JobIds) -> str:
        return base64.b64encode(bytes.fromhex(obj.hex)).decode("ascii")

    def decode(self, data: str) -> JobIds:
        return JobIds(base64.b64decode(data, validate=True).hex())


def register_batchq_transcodings(transcoder: JSONTranscoder) -> None:
    """What every application that stores batchq events registers beside the library's own."""
    transcoder.register(JobIdsAsBase64())
