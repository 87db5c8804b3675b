"""Which addresses a manifest may be fetched from: by default public ones only; otherwise what is configured."""

from __future__ import annotations

import ipaddress

import pytest

from services.dispatcher.address_policy import AllowedNetworks, AllowedNetworksError

CASES = [
    ("public", "93.184.215.14", True),
    ("public", "2606:2800:21f:cb07:6820:80da:af6b:8b2c", True),
    ("public", "127.0.0.1", False),
    ("public", "::1", False),
    ("public", "169.254.169.254", False),  # cloud metadata
    ("public", "::ffff:169.254.169.254", False),  # the same, IPv4-mapped
    ("public", "10.0.0.5", False),
    ("public", "172.16.3.4", False),
    ("public", "192.168.1.1", False),
    ("public", "100.64.0.1", False),  # carrier-grade NAT
    ("public", "0.0.0.0", False),
    ("public", "fc00::1", False),
    ("public", "fe80::1", False),
    ("127.0.0.0/8", "127.0.0.1", True),
    ("127.0.0.0/8", "93.184.215.14", False),  # a list without `public` allows only itself
    ("127.0.0.0/8", "::ffff:127.0.0.1", True),
    ("public, 10.1.0.0/16", "10.1.2.3", True),
    ("public, 10.1.0.0/16", "10.2.0.1", False),
    ("public, 10.1.0.0/16", "93.184.215.14", True),
    ("::1/128", "::1", True),
    ("", "93.184.215.14", False),  # nothing configured: nothing allowed
]


@pytest.mark.parametrize(("configured", "address", "allowed"), CASES)
def test_an_address_is_allowed_only_by_the_configured_networks(configured: str, address: str, allowed: bool) -> None:
    assert AllowedNetworks.parse(configured).allows(ipaddress.ip_address(address)) is allowed


@pytest.mark.parametrize("configured", ["10.0.0.0/33", "localhost", "public,nonsense"])
def test_a_value_that_is_no_network_is_refused_naming_it(configured: str) -> None:
    with pytest.raises(AllowedNetworksError, match="BATCHQ_MANIFEST_ALLOWED_NETWORKS"):
        AllowedNetworks.parse(configured)
