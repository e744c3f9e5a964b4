"""Outbound HTTP to addresses a tenant chose (webhooks): only to the public internet, never back inside.

A cooperative can type any URL into a webhook channel. Without a guard that URL can point at the installation's own
services (SeaweedFS' master and filer answer unauthenticated HTTP on loopback), at cloud metadata, or at the
private network, and the delivery log turns it into a port scanner. So:

* a destination is checked when the channel is saved (:func:`check_url`) **and** at send time, after DNS resolution
  (:func:`post`): the connection goes to the address that was checked (the URL's host is replaced by that IP, the
  ``Host`` header and TLS SNI/certificate check keep the name), so DNS rebinding between check and connect gains
  nothing;
* refused: loopback, private (RFC 1918, ULA), link-local (cloud metadata 169.254.169.254 included), CGNAT,
  multicast, reserved, unspecified and documentation ranges, IPv4 mapped or embedded in IPv6 with such an address,
  and URLs with user info; redirects are never followed;
* an operator may allow on-premise receivers by name (``CROPWATCH_NOTIFY_ALLOWED_HOSTS``) or by network
  (``CROPWATCH_NOTIFY_ALLOWED_CIDRS``), or send everything through an egress proxy (``CROPWATCH_NOTIFY_PROXY``),
  which then owns the policy for resolved addresses (the save-time check still applies).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# ranges that are not "the public internet" beyond what ipaddress' is_global already says
_EXTRA_BLOCKED = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",
        "100.64.0.0/10",
        "192.0.0.0/24",
        "198.18.0.0/15",
        "240.0.0.0/4",
        "255.255.255.255/32",
        "64:ff9b:1::/48",
        "2001:db8::/32",
        "fc00::/7",
        "fe80::/10",
        "fec0::/10",
        "ff00::/8",
    )
)


class EgressRefused(ValueError):
    """The destination is not allowed; ``reason`` is a fixed, short code shown to the tenant."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclass(frozen=True)
class EgressPolicy:
    allowed_hosts: frozenset[str] = frozenset()
    allowed_networks: tuple[IPNetwork, ...] = ()
    proxy: str | None = None

    @classmethod
    def from_settings(cls, settings) -> EgressPolicy:
        return cls(
            allowed_hosts=frozenset(h.strip().lower().rstrip(".") for h in _split(settings.notify_allowed_hosts)),
            allowed_networks=tuple(
                ipaddress.ip_network(n.strip(), strict=False) for n in _split(settings.notify_allowed_cidrs)
            ),
            proxy=settings.notify_proxy or None,
        )

    def host_allowed(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.allowed_hosts

    def address_allowed(self, ip: IPAddress) -> bool:
        return any(ip in n for n in self.allowed_networks if n.version == ip.version)


def _split(value: str | Iterable[str] | None) -> list[str]:
    if not value:
        return []
    items = value.split(",") if isinstance(value, str) else list(value)
    return [i for i in (x.strip() for x in items) if i]


def is_public(ip: IPAddress) -> bool:
    """True only for a globally routable unicast address (embedded IPv4 in IPv6 is judged as IPv4)."""
    if isinstance(ip, ipaddress.IPv6Address):
        for embedded in (ip.ipv4_mapped, ip.sixtofour, (ip.teredo or (None, None))[1]):
            if embedded is not None:
                return is_public(embedded)
        if ip in ipaddress.ip_network("::ffff:0:0:0/96") or ip in ipaddress.ip_network("64:ff9b::/96"):
            return is_public(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    if not ip.is_global or ip.is_multicast or ip.is_reserved or ip.is_loopback or ip.is_link_local:
        return False
    return not any(ip in n for n in _EXTRA_BLOCKED if n.version == ip.version)


def parse_url(url: str) -> httpx.URL:
    try:
        parsed = httpx.URL(str(url))
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise EgressRefused("invalid_url", str(exc)[:120]) from None
    if parsed.scheme not in ("http", "https"):
        raise EgressRefused("invalid_url", "the scheme must be http or https")
    if not parsed.host:
        raise EgressRefused("invalid_url", "no host")
    if parsed.userinfo:
        raise EgressRefused("invalid_url", "user info in a URL is not allowed")
    return parsed


def resolve(host: str, port: int) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise EgressRefused("unresolvable_host", host) from exc
    out: list[IPAddress] = []
    for *_, sockaddr in infos:
        ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if ip not in out:
            out.append(ip)
    if not out:
        raise EgressRefused("unresolvable_host", host)
    return out


def check_url(
    url: str, policy: EgressPolicy, *, resolve_host: bool = True, unresolvable_ok: bool = False
) -> tuple[httpx.URL, IPAddress | None]:
    """Refuse a URL whose host is, or resolves to, a non-public address (unless the operator allowed it).

    Returns the parsed URL and the address to connect to (None when the host is allowed by name, or when the
    egress proxy resolves it). *Every* resolved address must pass: a name with one private address is refused.
    ``unresolvable_ok`` (when a channel is saved): a name that does not resolve *now* is accepted, since it can
    reach nothing now and is checked again, after resolution, on every send.
    """
    parsed = parse_url(url)
    host = parsed.host
    if policy.host_allowed(host):
        return parsed, None
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    name = host.lower().rstrip(".")
    if literal is None and (name == "localhost" or name.endswith((".localhost", ".local", ".internal"))):
        raise EgressRefused("blocked_destination", host)
    if literal is None and not resolve_host:
        return parsed, None
    try:
        addresses = [literal] if literal is not None else resolve(host, port)
    except EgressRefused:
        if unresolvable_ok:
            return parsed, None
        raise
    for ip in addresses:
        if not (is_public(ip) or policy.address_allowed(ip)):
            raise EgressRefused("blocked_destination", host)
    return parsed, addresses[0]


def post(url: str, *, content: bytes, headers: dict[str, str], timeout: float, policy: EgressPolicy) -> httpx.Response:
    """POST to a tenant's URL, connected to the checked address; no redirects; the reply's body is never read."""
    parsed, ip = check_url(url, policy, resolve_host=policy.proxy is None)
    headers = dict(headers)
    extensions = {}
    target = parsed
    if ip is not None:
        headers["Host"] = parsed.netloc.decode("ascii")
        target = parsed.copy_with(host=str(ip))
        if parsed.scheme == "https":
            extensions["sni_hostname"] = parsed.host
    with httpx.Client(proxy=policy.proxy, follow_redirects=False, timeout=timeout, trust_env=False) as client:
        request = client.build_request("POST", target, content=content, headers=headers, extensions=extensions)
        response = client.send(request, stream=True)
        response.close()
        return response
