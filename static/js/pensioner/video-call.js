// @ts-check
// The video call with an agent: join when the window is open, read the code aloud, leave.
import { joinCall } from "../call.js";
import { loadHome, onAppointment } from "./home.js";
import { $, api, fail, keepCamera, setError, show, stopCamera, t } from "./page.js";

/** @type {{ leave: () => void } | null} */
let call = null;

/** @param {string} text */
function setCallState(text) { $("call-state").textContent = text; }

/** @param {import("./page.js").Appointment} a */
async function joinAppointment(a) {
  const room = await api("POST", `/appointments/${a.id}/room-token`);
  show("screen-call");
  $("call-code").hidden = true;
  setCallState(t("call.connecting"));
  stopCamera();
  /** @type {MediaStream} */
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "user" }, audio: true })
      .catch(() => navigator.mediaDevices.getUserMedia({ video: { facingMode: "user" }, audio: false }));
  } catch (err) {
    setError(t(err && err.name === "NotAllowedError" ? "err.camera_denied" : "err.no_camera"));
    return;
  }
  keepCamera(stream);
  $("call-local", HTMLVideoElement).srcObject = stream;
  let ended = false;
  call = joinCall({
    room, role: "pensioner", stream, remoteVideo: $("remote-video", HTMLVideoElement),
    onState: (s, reason) => {
      if (ended) return;
      if (s === "waiting") setCallState(t("call.waiting"));
      else if (s === "peer-present") setCallState(t("call.connecting"));
      else if (s === "connected") setCallState(t("call.connected"));
      else if (s === "peer-left") setCallState(t("call.peer_left"));
      else if (s === "closed" || s === "error") setCallState(t("call.closed", { reason: reason || s }));
    },
    onMessage: (m) => {
      if (m.type === "read-code") {
        $("call-code-digits").textContent = m.code;
        $("call-code").hidden = false;
      } else if (m.type === "call-ended") {
        ended = true;
        $("call-code").hidden = true;
        setCallState(t(`call.ended.${m.outcome}`));
        stopCamera();
        $("leave-call").textContent = t("back_home");
      }
    },
  });
}
onAppointment("join", joinAppointment);

$("leave-call").addEventListener("click", async () => {
  if (call) call.leave();
  call = null;
  stopCamera();
  $("leave-call").textContent = t("call.leave");
  await loadHome().catch(fail);
});
