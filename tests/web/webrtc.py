"""What a test can see of a page's WebRTC calls: an init script that keeps every
RTCPeerConnection the page makes (and can force options on them, such as
iceTransportPolicy "relay"), and the statistics of the live ones."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from playwright.sync_api import Page


def trace_peer_connections(**forced: str) -> str:
    """An init script: the page's RTCPeerConnections are kept in window.__lifecertPeers and made
    with `forced` over the page's own configuration (e.g. iceTransportPolicy="relay")."""
    return (
        "(() => {"
        "  const Native = window.RTCPeerConnection;"
        f"  const forced = {json.dumps(forced)};"
        "  const peers = [];"
        "  Object.defineProperty(window, '__lifecertPeers', { value: peers });"
        "  class Traced extends Native {"
        "    constructor(config, ...rest) {"
        "      super(Object.assign({}, config || {}, forced), ...rest);"
        "      peers.push(this);"
        "    }"
        "  }"
        "  window.RTCPeerConnection = Traced;"
        "})();"
    )


_STATS = """async () => {
  const out = [];
  for (const pc of window.__lifecertPeers || []) {
    if (pc.connectionState === "closed") continue;
    const stats = await pc.getStats();
    const byId = new Map();
    stats.forEach((s) => byId.set(s.id, s));
    let frames = 0, bytes = 0, pair = null;
    stats.forEach((s) => {
      if (s.type === "inbound-rtp" && s.kind === "video") {
        frames += s.framesDecoded || 0;
        bytes += s.bytesReceived || 0;
      }
      if (s.type === "transport" && s.selectedCandidatePairId) {
        pair = byId.get(s.selectedCandidatePairId);
      }
    });
    const local = pair ? byId.get(pair.localCandidateId) : null;
    const remote = pair ? byId.get(pair.remoteCandidateId) : null;
    out.push({
      state: pc.connectionState,
      policy: pc.getConfiguration().iceTransportPolicy,
      frames, bytes,
      local: local ? local.candidateType : null,
      remote: remote ? remote.candidateType : null,
      remote_address: remote ? (remote.address || remote.ip) : null,
      ice_servers: (pc.getConfiguration().iceServers || []).map((server) => ({
        urls: [].concat(server.urls),
        username: server.username || null,
      })),
    });
  }
  return out;
}"""


@dataclass
class CallStats:
    state: str  # the peer connection's connectionState
    policy: str  # its iceTransportPolicy
    frames: int  # video frames decoded from the other side
    bytes: int  # bytes of video received
    local: str | None  # the selected candidate pair's local candidate type (host, relay, ...)
    remote: str | None
    remote_address: str | None
    ice_servers: list[dict[str, Any]]  # the configuration's servers: urls, username


def call_stats(page: Page) -> list[CallStats]:
    """The page's peer connections that are not closed, with their statistics now."""
    rows: list[dict[str, Any]] = page.evaluate(_STATS)
    return [CallStats(**row) for row in rows]
