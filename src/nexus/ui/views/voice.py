"""Voice: speak to Nexus with the browser's microphone (Streamlit's audio input).

The recording goes to WS /ws/voice as 16 kHz PCM16 frames, exactly as a live voice client sends it;
the page shows the gateway's events as they come: partial transcripts, the transcript, the answer
streaming in, and its cost. Only the gateway's API is used (WebSocket and HTTP), like every page.
"""

from __future__ import annotations

import io
import json
import wave
from collections.abc import Callable, Iterator
from typing import Any

import streamlit as st

from nexus.ui import common

FRAME = 3200  # 100 ms of 16 kHz PCM16 per message


def pcm16k(wav: bytes) -> bytes:
    """A browser recording (WAV, any rate, mono or stereo) as 16 kHz mono PCM16."""
    import numpy as np

    with wave.open(io.BytesIO(wav)) as w:
        rate, channels, width = w.getframerate(), w.getnchannels(), w.getsampwidth()
        frames = w.readframes(w.getnframes())
    if width != 2:
        raise ValueError("the recording is not 16-bit PCM")
    x = np.frombuffer(frames, dtype="<i2").astype(np.float32)
    if channels > 1:
        x = x.reshape(-1, channels).mean(axis=1)
    if rate != 16_000:
        n = int(len(x) * 16_000 / rate)
        x = np.interp(np.linspace(0, len(x) - 1, n), np.arange(len(x)), x).astype(np.float32)
    return np.clip(x, -32768, 32767).astype("<i2").tobytes()


def converse(
    base_url: str, api_key: str | None, wav: bytes, *, transcriber: str | None = None, timeout: float = 120
) -> Iterator[dict[str, Any]]:
    """Send one recording to /ws/voice and yield the server's events until the answer is final."""
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    url = base_url.replace("http://", "ws://").replace("https://", "wss://") + "/ws/voice"
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    pcm = pcm16k(wav) + b"\x00\x00" * 16_000  # a second of silence ends the utterance
    with connect(url, additional_headers=headers, open_timeout=30, close_timeout=2) as ws:
        try:
            ws.send(json.dumps({"type": "start", **({"transcriber": transcriber} if transcriber else {})}))
            for i in range(0, len(pcm), FRAME):
                ws.send(pcm[i : i + FRAME])
            ws.send(json.dumps({"type": "flush"}))
        except ConnectionClosed:
            pass  # refused (a bad key): the error message is still there to read
        heard = False  # a recording with no speech in it gets no events after `ready`
        while True:
            try:
                ev = json.loads(ws.recv(timeout=timeout if heard else 5.0))
            except (TimeoutError, ConnectionClosed):
                return
            yield ev
            kind = ev.get("type")
            heard = heard or kind == "speech_started"
            if kind in ("final", "error") or (kind == "transcript" and not ev["data"].get("text")):
                return


def render(events: Iterator[dict[str, Any]], show: Callable[[str, str], object]) -> dict[str, Any]:
    """Fold the events into what the page shows; `show(slot, text)` updates one slot as they come."""
    state: dict[str, Any] = {"partial": "", "transcript": None, "answer": "", "final": None, "error": None}
    for ev in events:
        kind, data = ev.get("type"), ev.get("data") or {}
        if kind == "partial_transcript":
            state["partial"] = data.get("text", "")
            show("you", f"🎙️ _{state['partial']}…_")
        elif kind == "transcript":
            state["transcript"] = data.get("text", "")
            show("you", f"🎙️ **{state['transcript'] or '(nothing heard)'}**")
        elif kind == "token":
            state["answer"] += data.get("text", "")
            show("answer", state["answer"] + " ▌")
        elif kind == "final":
            state["final"] = data
            state["answer"] = data.get("answer", state["answer"])
            show("answer", state["answer"])
        elif kind == "error":
            state["error"] = data.get("message") or "error"
    return state


c = common.page("Voice", "🎙️")
st.caption(
    "Record a question; Nexus transcribes it (live, with partial transcripts), answers it through the "
    "same chat path as every door, and streams the answer back. The offline transcriber `nexus-asr` "
    "is rough (see docs/voice.md); a catalogue transcription model does much better."
)
models = common.call(c.get, "/v1/models") or {}
choices = ["nexus-asr"] + [
    m["id"] for m in models.get("data", []) if "audio_in" in (m.get("nexus") or {}).get("capabilities", [])
]
transcriber = st.selectbox("Transcriber", choices)
recording = st.audio_input("Ask a question")
if recording is not None:
    you, answer = st.chat_message("user").empty(), st.chat_message("assistant").empty()
    slots = {"you": you, "answer": answer}
    try:
        state = render(
            converse(c.base_url, c.api_key, recording.getvalue(), transcriber=transcriber),
            lambda slot, text: slots[slot].markdown(text),
        )
    except Exception as exc:  # the gateway down, a refused key, an unreadable recording
        st.error(f"Voice request failed: {exc}", icon="⚠️")
    else:
        if state["error"]:
            st.error(state["error"], icon="⚠️")
        elif state["transcript"] == "":
            st.info("Nothing was heard in that recording.")
        final = state["final"]
        if final:
            tokens = (final.get("tokens") or {}).get("total", 0)
            st.markdown(
                f":violet-badge[🤖 {final.get('model') or '—'}] :blue-badge[🔢 {tokens} tokens] "
                f":green-badge[💲 {common.fmt_cost(final.get('cost_usd'))}]"
            )
