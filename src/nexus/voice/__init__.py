"""nexus.voice: audio signal handling for the voice doors — PCM and WAV, container sniffing, and
voice-activity segmentation (WebRTC's VAD). No model calls here: transcription and speech are on the
provider seam (providers/audio.py), the voice turn is a use case (service/voice.py)."""
