"""Hash a password for RabbitMQ's definitions file (`rabbit_password_hashing_sha256`).

RabbitMQ stores base64(salt + sha256(salt + password)) with a 4-byte random salt; a user
entry in definitions.json carries that as `password_hash` with
`"hashing_algorithm": "rabbit_password_hashing_sha256"`.

    python deploy/rabbitmq/hash_password.py 'a long secret'

`verify` is used by tests/unit/test_deploy_files.py to check the shipped hashes.
"""

from __future__ import annotations

import base64
import hashlib
import os
import sys

ALGORITHM = "rabbit_password_hashing_sha256"


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = os.urandom(4) if salt is None else salt
    digest = hashlib.sha256(salt + password.encode()).digest()
    return base64.b64encode(salt + digest).decode()


def verify(password: str, password_hash: str) -> bool:
    decoded = base64.b64decode(password_hash)
    return hash_password(password, salt=decoded[:4]) == password_hash


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: hash_password.py PASSWORD", file=sys.stderr)
        return 2
    print(hash_password(argv[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
