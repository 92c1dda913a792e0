"""What the server takes from a client's offer before aiortc sees it (docs/security.md).

An offer is the one place where a client tells the server where to send packets: each remote
ICE candidate becomes STUN checks aimed at that address. So the offer is screened first:

- every media section that is not rejected must carry a DTLS fingerprint and a setup role
  (without them aiortc answers, then fails an assertion in a background task);
- at most `max_candidates` remote candidates are kept, in the offer's order; the rest are
  ignored (one offer listing 500 made the server send STUN to all of them);
- candidates whose address can never be a peer (unspecified, multicast, broadcast, port 0)
  are dropped, and with `networks` set only addresses inside those ranges are kept (a
  host name, e.g. a browser's mDNS `.local` one, cannot be checked then and is dropped).

An offer that named candidates and has none left is refused: it could only aim checks at
addresses the operator ruled out.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Remote ICE candidates taken from one offer. A browser lists one or two per network
# interface and address family; ten leaves room for a machine with several.
MAX_REMOTE_CANDIDATES = 10
# Seconds an answered peer has to connect (ICE and DTLS) before the server closes it.
CONNECT_TIMEOUT = 10.0

_CANDIDATE = "a=candidate:"
_BROADCAST = ipaddress.IPv4Address("255.255.255.255")


@dataclass(frozen=True, slots=True)
class OfferPolicy:
    max_candidates: int = MAX_REMOTE_CANDIDATES
    # Empty: any address a peer could have; else only addresses inside these ranges.
    networks: tuple[IPNetwork, ...] = ()
    connect_timeout: float = CONNECT_TIMEOUT

    @classmethod
    def of(cls, settings: object) -> OfferPolicy:
        """The policy from server.settings.Settings (or anything with some of its fields)."""
        return cls(
            max_candidates=int(getattr(settings, "max_candidates", MAX_REMOTE_CANDIDATES)),
            networks=parse_networks(getattr(settings, "media_networks", ()) or ()),
            connect_timeout=float(getattr(settings, "media_connect_timeout", CONNECT_TIMEOUT)),
        )


def parse_networks(ranges: Iterable[str | IPNetwork]) -> tuple[IPNetwork, ...]:
    """CIDR ranges ("10.0.0.0/8", "::1/128"); raises ValueError for a bad one."""
    return tuple(r if isinstance(r, IPNetwork) else ipaddress.ip_network(r.strip(), strict=False)
                 for r in ranges)


def screen_offer(sdp: str, policy: OfferPolicy = OfferPolicy()) -> str:
    """The offer with only the candidates the server will check; raises ValueError (the
    message fit for a `bad_request` reply) for an offer that must not be answered."""
    # Imported here: server.settings takes this module's defaults and must stay light.
    from aiortc import sdp as aiortc_sdp

    try:
        parsed = aiortc_sdp.SessionDescription.parse(sdp)
    except Exception as exc:  # aiortc's parser raises what it meets: all mean "bad SDP"
        raise ValueError(f"cannot parse the offer: {exc}") from None
    for media in parsed.media:
        if media.port == 0:
            continue  # rejected by the offerer itself: no transport is made for it
        if media.dtls is None or not media.dtls.fingerprints:
            raise ValueError(f"the {media.kind} section has no DTLS fingerprint "
                             "(a=fingerprint and a=setup are required)")
    lines = sdp.splitlines()
    kept: list[str] = []
    offered = taken = 0
    for line in lines:
        if not line.startswith(_CANDIDATE):
            kept.append(line)
            continue
        offered += 1
        if taken < policy.max_candidates and candidate_allowed(line, policy.networks):
            taken += 1
            kept.append(line)
    if offered and not taken:
        raise ValueError(f"none of the offer's {offered} ICE candidates is usable"
                         + (" (outside the allowed networks)" if policy.networks else ""))
    return "\r\n".join(kept) + "\r\n"


def candidate_allowed(line: str, networks: Sequence[IPNetwork]) -> bool:
    """Whether one `a=candidate:` line names an address the server may send checks to."""
    from aiortc import sdp as aiortc_sdp

    try:
        candidate = aiortc_sdp.candidate_from_sdp(line[len(_CANDIDATE):])
    except (AssertionError, ValueError, IndexError):
        return False  # malformed: aiortc would fail on it
    if not 0 < candidate.port < 65536:
        return False
    try:
        address = ipaddress.ip_address(candidate.ip)
    except ValueError:
        # A host name (mDNS `.local`): resolved later, so it can only be taken on trust.
        return not networks
    if address.is_unspecified or address.is_multicast or address == _BROADCAST:
        return False
    return not networks or any(address in network for network in networks)
