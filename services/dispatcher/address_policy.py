"""Which addresses a manifest may be fetched from (no SSRF through `manifest_url`): a pure policy.

A `manifest_url` is chosen by whoever submits, and the dispatcher fetches it from
inside the deployment, so without a rule it would fetch cloud metadata
(169.254.169.254), the database's admin port, anything on loopback. The rule is
configuration, `BATCHQ_MANIFEST_ALLOWED_NETWORKS`: comma-separated CIDRs, and the
word `public` for every globally routable address (the default). The fetcher
applies it to every address a host resolves to, on every redirect hop, and then
connects to the address it checked, so a second DNS answer cannot slip past it.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from services.adapters.setup_errors import SetupError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

PUBLIC = "public"


class AllowedNetworksError(SetupError, ValueError):
    """BATCHQ_MANIFEST_ALLOWED_NETWORKS holds something that is neither a CIDR nor `public`."""


@dataclass(frozen=True)
class AllowedNetworks:
    public: bool
    networks: tuple[IPNetwork, ...]

    @classmethod
    def parse(cls, text: str) -> AllowedNetworks:
        public, networks = False, []
        for part in (p.strip() for p in text.split(",")):
            if not part:
                continue
            if part == PUBLIC:
                public = True
                continue
            try:
                networks.append(ipaddress.ip_network(part, strict=False))
            except ValueError:
                raise AllowedNetworksError(
                    f"BATCHQ_MANIFEST_ALLOWED_NETWORKS: {part!r} is neither a CIDR nor {PUBLIC!r}"
                ) from None
        return cls(public, tuple(networks))

    def allows(self, address: IPAddress) -> bool:
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped  # ::ffff:169.254.169.254 is 169.254.169.254
        if self.public and address.is_global:
            return True
        return any(address.version == net.version and address in net for net in self.networks)
