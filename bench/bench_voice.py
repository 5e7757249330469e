"""Voice: the offline transcriber's accuracy and speed, and /ws/voice latencies with fakes at zero latency.

1. `nexus-asr` (pocketsphinx, the model in its wheel) on espeak-ng speech of SENTENCES: word error rate
   (jiwer) and CPU seconds per second of audio, for Nexus's pruned decoder and pocketsphinx's defaults.
2. /ws/voice on the real gateway (in-process, loopback), a FakeOpenAI chat model answering at once:
   speech streamed in real time; latency from the end of speech (the last voiced audio sent) to the
   first answer token, split into the end-of-utterance silence the VAD waits for, the final transcript,
   and the chat turn to its first token.
3. Barge-in: speech over a slowly streaming answer; from the client receiving `speech_started` to the
   fake upstream seeing its stream abandoned.

Usage: python bench/bench_voice.py [--runs 8]   (needs espeak-ng: apt-get install espeak-ng)
Timings are wall-clock on whatever else the machine is doing: quote them with the machine's load.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

SENTENCES = [
    "what is the weather like in paris today",
    "please stop and tell me a joke instead",
    "turn on the lights in the kitchen",
    "how many people live in new york city",
    "set a timer for ten minutes",
    "what time is it",
    "play some music please",
    "tell me about the history of the roman empire",
    "send an email to my manager",
    "what is two plus two",
    "call my mother on her phone",
    "open the door",
    "good morning how are you",
    "book a table for two at eight tonight",
    "how far is the moon from the earth",
    "remind me to buy milk tomorrow morning",
]


def wer_section() -> None:
    import jiwer
    from tests.voice.audio import say, silence

    from nexus.voice.sphinx import DECODER_OPTIONS, DecoderPool, _decode

    print("== nexus-asr (pocketsphinx en-us) on espeak-ng speech, 16 sentences")
    audio = [silence(300) + say(s) + silence(300) for s in SENTENCES]
    seconds = sum(len(a) for a in audio) / 32000
    shown: list[str] = []
    for name, opts in (("nexus (pruned)", DECODER_OPTIONS), ("pocketsphinx defaults", {"samprate": 16000})):
        decoder = DecoderPool({**opts, "loglevel": "FATAL"}).take()
        cpu = time.process_time()
        hyps = [_decode(decoder, a) for a in audio]
        cpu = time.process_time() - cpu
        wer = jiwer.wer(SENTENCES, hyps)
        print(f"  {name:22s} WER {wer:.2f}   CPU {cpu / seconds:.2f} s per s of audio")
        shown = shown or hyps
    print("  examples, pruned (reference | heard):")
    for ref, hyp in list(zip(SENTENCES, shown, strict=True))[:4]:
        print(f"    {ref} | {hyp}")


async def _utterance(base: str, key: str, text: str) -> dict[str, float]:
    import websockets
    from tests.voice.audio import VoiceClient, say, silence

    ws = await websockets.connect(
        base.replace("http://", "ws://") + "/ws/voice", additional_headers={"Authorization": f"Bearer {key}"}
    )
    c = await VoiceClient(ws).start()
    lead = silence(300)
    t0 = time.monotonic()
    await c.stream(lead + say(text) + silence(1200))
    first = await c.wait_for(lambda e: e["type"] == "token")
    stopped = c.of("speech_stopped")[0]
    transcript = c.of("transcript")[0]
    await c.wait_for(lambda e: e["type"] == "final")
    await c.close()
    end_sent = t0 + stopped["data"]["at_ms"] / 1000  # when the client sent the end of the speech
    return {
        "total": (first["t"] - end_sent) * 1000,
        "vad": (stopped["t"] - end_sent) * 1000,
        "transcript": (transcript["t"] - stopped["t"]) * 1000,
        "turn": (first["t"] - transcript["t"]) * 1000,
    }


async def _barge_in(base: str, key: str, fake: object) -> float:
    import websockets
    from tests.voice.audio import VoiceClient, say, silence

    from nexus.testing import Reply

    fake.push(Reply(text=" ".join(f"w{i}" for i in range(80)), chunk_delay=0.05))  # type: ignore[attr-defined]
    ws = await websockets.connect(
        base.replace("http://", "ws://") + "/ws/voice", additional_headers={"Authorization": f"Bearer {key}"}
    )
    c = await VoiceClient(ws).start()
    await c.stream(silence(200) + say(SENTENCES[0]) + silence(900))
    await c.wait_for(lambda e: e["type"] == "token")
    await c.stream(silence(200) + say(SENTENCES[1]) + silence(900))
    detected = await c.wait_for(lambda e: e["type"] == "speech_started" and e["data"]["utterance"] == 2)
    await c.wait_for(lambda e: e["type"] == "barge_in")
    await asyncio.sleep(0.3)
    await c.close()
    cancelled = fake.cancellations[-1].at  # type: ignore[attr-defined]
    return (cancelled - detected["t"]) * 1000


def latency_section(runs: int) -> None:
    from tests.pipeline.harness import TEST_KEY, make_app

    from nexus.config.settings import Settings
    from nexus.service.keys import create_api_key
    from nexus.testing import FakeOpenAI
    from nexus.testing.gateway import GatewayServer, write_catalogue
    from nexus.voice.sphinx import POOL

    os.environ["NEXUS_TEST_KEY"] = TEST_KEY
    with FakeOpenAI() as fake, tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        cat = write_catalogue(d / "c.yaml", [{"id": "general", "base_url": fake.base_url}])  # type: ignore[attr-defined]
        settings = Settings(data_dir=d, config=cat, auth="on", voice_model="general")
        with GatewayServer(settings, app=make_app(settings)) as gw:
            key, _ = gw.call(create_api_key(gw.services.store, tenant="bench", role="member"))
            POOL.warm()
            rows = [asyncio.run(_utterance(gw.base_url, key, SENTENCES[i % 4])) for i in range(runs)]
            print(f"== /ws/voice, end of speech → first answer token ({runs} utterances, real-time audio)")
            for k, label in (
                ("total", "end of speech → first token"),
                (
                    "vad",
                    f"  of which end-of-utterance silence (voice_end_silence_ms={settings.voice_end_silence_ms})",
                ),
                ("transcript", "  of which final transcript"),
                ("turn", "  of which chat turn → first token"),
            ):
                vals = sorted(r[k] for r in rows)
                print(f"  {label:72s} median {statistics.median(vals):7.1f} ms   max {vals[-1]:7.1f} ms")
            cancels = sorted(asyncio.run(_barge_in(gw.base_url, key, fake)) for _ in range(max(3, runs // 2)))
            print(f"== barge-in: speech_started received → upstream stream abandoned ({len(cancels)} runs)")
            print(f"  median {statistics.median(cancels):.1f} ms   max {cancels[-1]:.1f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=8)
    ap.add_argument("--skip-wer", action="store_true")
    args = ap.parse_args()
    print(f"load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    if not args.skip_wer:
        wer_section()
    latency_section(args.runs)


if __name__ == "__main__":
    main()
