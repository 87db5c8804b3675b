"""API tokens: random 32-byte secrets of which only a SHA-256 hash is stored, with an expiry.

A token is high-entropy random data, so a fast unsalted hash is enough: there is
nothing to guess by brute force, and a lookup by hash is one indexed query.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql

from domain.access import EVERY_TENANT, ROLE_ACTIONS, Action, Grant, Role, allows


class TokenError(Exception):
    code = "NOT_FOUND"


class UnknownTokenError(TokenError):
    def __init__(self, token_id: str) -> None:
        super().__init__(f"no token {token_id}")
        self.reason = str(self)


@dataclass(frozen=True)
class Principal:
    """Who a request acts as, with the grants the store held when the request came in."""

    name: str
    token_id: str
    grants: frozenset[Grant] = frozenset()

    def may(self, action: Action, tenant: str | None = None) -> bool:
        return allows(self.grants, self.name, action, tenant)

    def readable_tenants(self) -> frozenset[str] | None:
        """The tenants it may read; None for every tenant (an operator, or a grant for `*`)."""
        mine = [g for g in self.grants if g.principal == self.name and Action.READ in ROLE_ACTIONS[g.role]]
        if any(g.role is Role.OPERATOR or g.tenant == EVERY_TENANT for g in mine):
            return None
        return frozenset(g.tenant for g in mine)


@dataclass(frozen=True)
class IssuedToken:
    token_id: str
    token: str
    principal: str
    expires_at: datetime


def digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class Tokens:
    def __init__(self, url: str, schema: str) -> None:
        self.url = url
        self.table = sql.Identifier(schema, "batchq_api_tokens")

    def _connect(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.url, connect_timeout=5, autocommit=True)

    def create(self, principal: str, ttl_days: float, now: datetime) -> IssuedToken:
        token_id = secrets.token_hex(6)
        token = f"bq_{secrets.token_urlsafe(32)}"
        expires_at = now + timedelta(days=ttl_days)
        with self._connect() as conn:
            conn.execute(
                sql.SQL(
                    "INSERT INTO {} (token_id, principal, token_hash, created_at, expires_at)"
                    " VALUES (%s, %s, %s, %s, %s)"
                ).format(self.table),
                (token_id, principal, digest(token), now, expires_at),
            )
        return IssuedToken(token_id, token, principal, expires_at)

    def revoke(self, token_id: str, now: datetime) -> None:
        with self._connect() as conn:
            done = conn.execute(
                sql.SQL("UPDATE {} SET revoked_at = %s WHERE token_id = %s AND revoked_at IS NULL").format(self.table),
                (now, token_id),
            )
            if done.rowcount == 0:
                raise UnknownTokenError(token_id)

    def principal(self, token: str, now: datetime) -> Principal | None:
        """The principal of a valid token; None for an unknown, expired or revoked one."""
        with self._connect() as conn:
            row = conn.execute(
                sql.SQL(
                    "SELECT principal, token_id FROM {}"
                    " WHERE token_hash = %s AND revoked_at IS NULL AND expires_at > %s"
                ).format(self.table),
                (digest(token), now),
            ).fetchone()
        return Principal(row[0], row[1]) if row else None
