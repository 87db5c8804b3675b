"""batchq's own value types in the store's JSON, beside the library's (UUID, datetime, ...).

Each is written as `{"_type_": NAME, "_data_": ...}` by `eventsourcing`'s JSON
transcoder; the relay, which reads stored JSON without the transcoder
(`envelopes.envelope_of_stored`), turns the same markers into wire values.
"""

from __future__ import annotations

from eventsourcing.persistence import JSONTranscoder, Transcoding

from domain.job_ids import JobIds

JOB_IDS = "job_ids_hex"


class JobIdsAsHex(Transcoding):
    """A batch's job ids as one string of 32-digit hex ids: one JSON value instead of a marker per id."""

    type = JobIds
    name = JOB_IDS

    def encode(self, obj: JobIds) -> str:
        return obj.hex

    def decode(self, data: str) -> JobIds:
        return JobIds(data)


def register_batchq_transcodings(transcoder: JSONTranscoder) -> None:
    """What every application that stores batchq events registers beside the library's own."""
    transcoder.register(JobIdsAsHex())
