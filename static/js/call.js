// @ts-check
// One side of a video call: the service's signalling WebSocket and a WebRTC peer connection.
// The agent makes the offer whenever both sides are present; the pensioner answers. A side
// that leaves and comes back gets a fresh connection (see README, "The call").

/**
 * @typedef {object} Room the service's answer to a room-token request
 * @property {string} signal_path
 * @property {string} token
 * @property {RTCIceServer[]} [ice_servers]
 */

/**
 * @param {object} options
 * @param {Room} options.room
 * @param {"agent" | "pensioner"} options.role
 * @param {MediaStream} options.stream
 * @param {HTMLVideoElement} options.remoteVideo
 * @param {(state: string, reason?: string, code?: number) => void} options.onState
 * @param {(message: Record<string, any>) => void} options.onMessage messages not about the connection
 * @returns {{ leave: () => void }}
 */
export function joinCall({ room, role, stream, remoteVideo, onState, onMessage }) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  // The room token goes in the first message, never the URL (access logs keep URLs); it
  // opens this one connection, so a rejoin asks for a new one.
  const ws = new WebSocket(`${scheme}//${location.host}${room.signal_path}`);
  ws.onopen = () => ws.send(JSON.stringify({ type: "auth", token: room.token }));
  /** @type {RTCPeerConnection | null} */
  let pc = null;
  let closedByUs = false;
  const ping = setInterval(() => send({ type: "ping" }), 20000);

  /** @param {Record<string, unknown>} message */
  function send(message) {
    if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(message));
  }

  function freshConnection() {
    if (pc) pc.close();
    pc = new RTCPeerConnection({ iceServers: room.ice_servers || [] });
    for (const track of stream.getTracks()) pc.addTrack(track, stream);
    pc.onicecandidate = (e) => send({ type: "ice", candidate: e.candidate ? e.candidate.toJSON() : null });
    pc.ontrack = (e) => {
      if (remoteVideo.srcObject !== e.streams[0]) {
        remoteVideo.srcObject = e.streams[0];
        remoteVideo.play().catch(() => {});
      }
    };
    pc.onconnectionstatechange = () => onState(pc.connectionState);
    return pc;
  }

  async function offer() {
    const connection = freshConnection();
    await connection.setLocalDescription(await connection.createOffer());
    send({ type: "offer", sdp: connection.localDescription.sdp });
  }

  ws.onmessage = async (event) => {
    let m;
    try { m = JSON.parse(event.data); } catch (e) { return; }
    try {
      switch (m.type) {
        case "joined":
          onState(m.peer_present ? "peer-present" : "waiting");
          if (role === "agent" && m.peer_present) await offer();
          else if (role === "pensioner" && m.peer_present) send({ type: "ready" });
          break;
        case "peer-joined":
          onState("peer-present");
          if (role === "agent") await offer();
          break;
        case "ready":
          if (role === "agent") await offer();
          break;
        case "peer-left":
          onState("peer-left");
          if (pc) { pc.close(); pc = null; }
          remoteVideo.srcObject = null;
          break;
        case "offer": {
          const connection = freshConnection();
          await connection.setRemoteDescription({ type: "offer", sdp: m.sdp });
          await connection.setLocalDescription(await connection.createAnswer());
          send({ type: "answer", sdp: connection.localDescription.sdp });
          break;
        }
        case "answer":
          if (pc) await pc.setRemoteDescription({ type: "answer", sdp: m.sdp });
          break;
        case "ice":
          if (pc && m.candidate) await pc.addIceCandidate(m.candidate);
          break;
        default:
          onMessage(m);
      }
    } catch (err) {
      onState("error", err.message);
    }
  };
  ws.onclose = (event) => {
    clearInterval(ping);
    if (pc) { pc.close(); pc = null; }
    if (!closedByUs) onState("closed", event.reason || String(event.code), event.code);
  };

  return {
    leave() {
      closedByUs = true;
      send({ type: "bye" });
      ws.close(1000, "left");
    },
  };
}

/**
 * A still of the remote <video> as a JPEG, for the face check.
 * @param {HTMLVideoElement} video
 * @returns {Promise<Blob | null>}
 */
export function captureFrame(video, quality = 0.92) {
  const canvas = document.createElement("canvas");
  canvas.width = video.videoWidth;
  canvas.height = video.videoHeight;
  canvas.getContext("2d").drawImage(video, 0, 0);
  return new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", quality));
}
