"""PCM/WAV handling and VAD segmentation on espeak-ng speech."""

from __future__ import annotations

import pytest
from tests.voice.audio import say, silence

from nexus.voice.pcm import AudioError, read_wav, sniff, wav_bytes, wav_seconds
from nexus.voice.vad import Segmenter, SpeechEnd, SpeechStart


def events(pcm: bytes, chunk: int = 1234) -> list[object]:
    seg = Segmenter()
    out: list[object] = []
    for i in range(0, len(pcm), chunk):  # odd chunk sizes: frames straddle messages
        out += seg.feed(pcm[i : i + chunk])
    return out


def test_one_utterance_is_one_start_and_one_end_with_its_onset_kept() -> None:
    speech = say("what is the weather like")
    evs = events(silence(500) + speech + silence(1000))
    starts = [e for e in evs if isinstance(e, SpeechStart)]
    ends = [e for e in evs if isinstance(e, SpeechEnd)]
    assert len(starts) == 1 and len(ends) == 1
    assert 400 <= starts[0].at_ms <= 700  # speech begins after the 500 ms of silence
    assert len(starts[0].audio) >= 3 * 640  # the pre-roll and the voiced frames that started it
    # It ends where the silence begins: within espeak's clip (which trails some silence of its own).
    assert 0.6 * len(speech) / 32 <= ends[0].at_ms - starts[0].at_ms <= len(speech) / 32


def test_two_utterances_apart_and_silence_none() -> None:
    pcm = say("turn on the lights") + silence(1200) + say("open the door") + silence(1000)
    assert sum(isinstance(e, SpeechStart) for e in events(pcm)) == 2
    assert events(silence(3000)) == []


def test_flush_ends_an_utterance_and_max_length_cuts_one() -> None:
    seg = Segmenter()
    seg.feed(say("good morning how are you"))
    assert seg.speaking and isinstance(seg.flush()[0], SpeechEnd)
    long = Segmenter(max_s=0.5).feed(say("tell me about the history of the roman empire"))
    assert any(isinstance(e, SpeechEnd) and e.reason == "max_length" for e in long)


def test_wav_round_trip_resampling_and_sniffing() -> None:
    pcm = say("hello")
    wav = wav_bytes(pcm)
    assert sniff(wav) == "wav" and read_wav(wav).data == pcm
    assert wav_seconds(wav) == pytest.approx(len(pcm) / 32000)
    # 8 kHz stereo → 16 kHz mono, same duration.
    import io
    import wave

    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(bytes(8000 * 4))
    assert read_wav(buf.getvalue()).seconds == pytest.approx(1.0, abs=0.01)
    assert sniff(b"ID3\x04") == "mp3" and sniff(b"fLaC....") == "flac" and sniff(b"OggS") == "ogg"
    assert sniff(b"hello world") is None
    with pytest.raises(AudioError):
        read_wav(b"RIFF\x00\x00\x00\x00WAVEjunk")
