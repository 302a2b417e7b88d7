// Camera + microphone, and the one RTCPeerConnection to the SFU per join.
//
// Assumptions (docs/protocol.md): the server makes exactly one offer per video join, with
// one audio and one video m-line, both sendrecv; it puts all its candidates in the offer
// and never renegotiates. Matching, Next and re-matching only re-wire what the server's
// outbound tracks carry, so the peer connection and the remote MediaStream live for the
// whole join.

/** Ask for camera and microphone. Rejects with the browser's DOMException. */
export function openCamera() {
  if (!navigator.mediaDevices?.getUserMedia) {
    return Promise.reject(new DOMException("getUserMedia is unavailable", "NotSupportedError"));
  }
  return navigator.mediaDevices.getUserMedia({
    audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true },
    video: {
      width: { ideal: 640 },
      height: { ideal: 480 },
      frameRate: { ideal: 30, max: 30 },
      facingMode: "user",
    },
  });
}

/** Stop every track of `stream` (turns the camera light off). */
export function stopStream(stream) {
  for (const track of stream?.getTracks() ?? []) track.stop();
}

/** A sentence for the user explaining why the camera could not be opened. */
export function describeCameraError(error) {
  switch (error?.name) {
    case "NotAllowedError":
    case "SecurityError":
      return "Camera and microphone access was blocked. Allow it, or try Text chat.";
    case "NotFoundError":
    case "OverconstrainedError":
      return "No camera or microphone was found. Plug one in, or try Text chat.";
    case "NotReadableError":
    case "AbortError":
      return "Your camera is busy in another app. Close it there, or try Text chat.";
    case "NotSupportedError":
      return "This browser cannot do video chat here. Try Text chat.";
    default:
      return "The camera could not be started. Try again, or try Text chat.";
  }
}

/**
 * The browser side of one video join.
 *
 * Events (CustomEvent): "remotetrack" {track} when the SFU's track arrives,
 * "state" {state} on every RTCPeerConnection connectionState change.
 */
export class MediaSession extends EventTarget {
  /**
   * @param {RTCConfiguration} configuration from /api/ice, used as is
   * @param {MediaStream} localStream camera + microphone
   * @param {(message: object) => boolean} send sends one protocol message
   */
  constructor(configuration, localStream, send) {
    super();
    this.localStream = localStream;
    this.send = send;
    this.pc = new RTCPeerConnection(configuration);
    /** One stream holding both remote tracks; stays the same for the whole join. */
    this.remoteStream = new MediaStream();
    this.answered = false;
    this.endSent = false;
    this.pendingCandidates = [];
    this.closed = false;

    this.pc.addEventListener("icecandidate", (event) => this.#onCandidate(event.candidate));
    this.pc.addEventListener("track", (event) => this.#onTrack(event.track));
    this.pc.addEventListener("connectionstatechange", () => {
      this.#emit("state", { state: this.pc.connectionState });
    });
  }

  get connectionState() {
    return this.pc.connectionState;
  }

  /** Answer the server's offer, sending our camera and microphone on its transceivers. */
  async acceptOffer(sdp) {
    if (this.closed) return;
    await this.pc.setRemoteDescription({ type: "offer", sdp });
    if (this.closed) return;
    const unused = [...(this.localStream?.getTracks() ?? [])];
    for (const transceiver of this.pc.getTransceivers()) {
      const kind = transceiver.receiver.track.kind;
      const index = unused.findIndex((track) => track.kind === kind);
      if (index === -1) {
        // No local track of this kind (e.g. no microphone): receive only.
        transceiver.direction = "recvonly";
        continue;
      }
      const [track] = unused.splice(index, 1);
      await transceiver.sender.replaceTrack(track);
      transceiver.sender.setStreams?.(this.localStream);
      transceiver.direction = "sendrecv";
    }
    if (this.closed) return;
    const answer = await this.pc.createAnswer();
    await this.pc.setLocalDescription(answer);
    if (this.closed) return;
    this.send({ type: "answer", sdp: this.pc.localDescription.sdp });
    // The server refuses candidates that come before the answer: flush the ones we held.
    this.answered = true;
    for (const candidate of this.pendingCandidates.splice(0)) this.#sendCandidate(candidate);
  }

  /** Close the peer connection. The local stream is left running (its owner stops it). */
  close() {
    if (this.closed) return;
    this.closed = true;
    this.pendingCandidates = [];
    this.pc.close();
    for (const track of this.remoteStream.getTracks()) {
      this.remoteStream.removeTrack(track);
    }
  }

  /** The candidate type of the selected ICE pair ("relay", "host", ...), for diagnostics. */
  async selectedCandidateType() {
    const stats = await this.pc.getStats();
    for (const report of stats.values()) {
      if (report.type !== "transport" || !report.selectedCandidatePairId) continue;
      const pair = stats.get(report.selectedCandidatePairId);
      return stats.get(pair?.localCandidateId)?.candidateType ?? null;
    }
    return null;
  }

  #onCandidate(candidate) {
    if (this.closed) return;
    // null, or an empty candidate string, marks the end of gathering: send null once.
    const json = candidate && candidate.candidate ? candidate.toJSON() : null;
    if (!this.answered) {
      this.pendingCandidates.push(json);
      return;
    }
    this.#sendCandidate(json);
  }

  #sendCandidate(json) {
    if (json === null) {
      if (this.endSent) return;
      this.endSent = true;
    }
    this.send({ type: "candidate", candidate: json });
  }

  #onTrack(track) {
    if (this.closed) return;
    if (!this.remoteStream.getTrackById(track.id)) this.remoteStream.addTrack(track);
    this.#emit("remotetrack", { track });
  }

  #emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}
