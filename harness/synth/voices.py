"""Who speaks in the synthetic corpus (espeak-ng voice + variant + rate) and how it is rendered.

A speaker is an espeak-ng accent voice, a voice variant (`f1`..`f5`, `m1`..`m7`: pitch, formants,
breathiness) and a speaking rate in words per minute. Only the built-in `gmw/` English voices are
used; the `mb/` MBROLA voices are listed by `espeak-ng --voices=en` but need the mbrola program,
which is not installed. British English is named `en`, not `en-gb`: espeak-ng 1.51 silently
ignores a variant on `en-gb` (`en-gb+f1` renders exactly as `en-gb`), while `en+f1` applies it.

Rendering: the corpus calls libespeak-ng in-process (see _Library for why, and how the audio
stays independent of scheduling); `render` runs the espeak-ng program, for probes and tests.

Pools: `main` is what the suites train and test on (6 training speakers, 3 held-out ones for the
held-out-voice test set); `standin` pretrains the stand-in checkpoint, shares no (voice,
variant) pair with `main` and reads only the stand-in lexicon, without half the content words
(tests/test_synth.py checks all three, and that every speaker sounds different).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import io
import json
import os
import shutil
import struct
import subprocess
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soxr

from harness.errors import UserError

SAMPLE_RATE = 16000
ESPEAK = "espeak-ng"

ACCENTS = {
    "en-us": "American",
    "en-us-nyc": "American, New York City",
    "en": "British (espeak's en-gb)",
    "en-gb-x-rp": "British, Received Pronunciation",
    "en-gb-scotland": "Scottish",
    "en-gb-x-gbclan": "British, Lancaster",
    "en-gb-x-gbcwmd": "British, West Midlands",
    "en-029": "Caribbean",
}


@dataclass(frozen=True)
class Speaker:
    """One synthetic speaker: `Speaker("en-us", "m1", 165).name == "en-us+m1@165"`."""

    voice: str
    variant: str
    rate: int  # words per minute; espeak-ng's default is 175

    @property
    def name(self) -> str:
        return f"{self.voice}+{self.variant}@{self.rate}"

    @property
    def espeak_args(self) -> list[str]:
        return ["-v", f"{self.voice}+{self.variant}", "-s", str(self.rate)]

    def describe(self) -> dict:
        """The speaker as recorded in corpus.json."""
        return {"voice": self.voice, "variant": self.variant, "rate_wpm": self.rate,
                "accent": ACCENTS[self.voice]}


@dataclass(frozen=True)
class VoicePool:
    """Training speakers and held-out speakers (never in the training split), and the lexicon
    (harness.synth.sentences.LEXICONS) their sentences are drawn from."""

    name: str
    train: tuple[Speaker, ...]
    held_out: tuple[Speaker, ...]
    lexicon: str = "full"


# Rates span 145-185 wpm so that speaking rate varies within each pool as accents do.
POOLS = {
    "main": VoicePool(
        "main",
        train=(Speaker("en-us", "m1", 165), Speaker("en-us", "f2", 150),
               Speaker("en", "m3", 175), Speaker("en-gb-scotland", "f1", 160),
               Speaker("en-gb-x-rp", "m2", 185), Speaker("en-029", "f4", 155)),
        held_out=(Speaker("en-us-nyc", "m5", 170), Speaker("en-gb-x-gbclan", "f3", 160),
                  Speaker("en-gb-x-gbcwmd", "m4", 145)),
    ),
    "standin": VoicePool(
        "standin",
        # 16 speakers over all 8 accents: a stand-in that has heard more voices adapts to the
        # main pool's new ones faster, as pretraining on many speakers does.
        train=(Speaker("en-us", "m6", 170), Speaker("en-us-nyc", "f1", 155),
               Speaker("en", "f5", 165), Speaker("en-gb-x-gbcwmd", "f2", 180),
               Speaker("en-029", "m7", 160), Speaker("en-gb-x-rp", "f3", 150),
               Speaker("en-us", "f4", 180), Speaker("en-us", "m3", 150),
               Speaker("en-us-nyc", "m2", 175), Speaker("en", "m1", 155),
               Speaker("en", "f2", 185), Speaker("en-gb-x-rp", "m6", 165),
               Speaker("en-029", "f1", 170), Speaker("en-gb-x-gbcwmd", "m5", 160),
               Speaker("en-gb-scotland", "f2", 155), Speaker("en-gb-x-gbclan", "f1", 180)),
        held_out=(Speaker("en-gb-scotland", "m4", 175), Speaker("en-gb-x-gbclan", "m2", 165)),
        lexicon="standin",
    ),
}


def require_espeak() -> str:
    """espeak-ng's version (`"1.51"`); a UserError saying how to install it if it is missing."""
    if shutil.which(ESPEAK) is None:
        raise UserError("the synthetic corpus needs espeak-ng, which is not installed: "
                        "apt-get install espeak-ng")
    try:
        ctypes.CDLL(_library_name())
    except OSError as error:
        raise UserError(f"espeak-ng's library cannot be loaded ({error}): "
                        "apt-get install libespeak-ng1") from error
    line = subprocess.run([ESPEAK, "--version"], capture_output=True, text=True).stdout
    # "eSpeak NG text-to-speech: 1.51  Data at: /usr/lib/..." -> "1.51" (the path is per machine)
    return line.split("Data at:")[0].split(":")[-1].strip()


def check_speakers(speakers: list[Speaker]) -> None:
    """Render a probe with every speaker first, so a missing voice is one clear error."""
    for speaker in speakers:
        try:
            render(speaker, "Testing.")
        except RuntimeError as error:
            raise UserError(f"espeak-ng cannot speak as {speaker.name}: {error}") from error


def render(speaker: Speaker, text: str) -> np.ndarray:
    """`text` spoken by `speaker` through the espeak-ng program: 16 kHz mono int16 (its 22,050 Hz
    output resampled by soxr). The corpus renders through the library instead (render_batch),
    sample-identical for the first utterance of a batch; this is the reference and the probe."""
    # Text on stdin, not argv: a sentence can never be mistaken for an option.
    result = subprocess.run([ESPEAK, *speaker.espeak_args, "--stdout"], input=text.encode(),
                            capture_output=True)
    if result.returncode != 0 or len(result.stdout) <= 44:
        message = result.stderr.decode(errors="replace").strip().splitlines()
        raise RuntimeError(message[-1] if message else f"no audio (exit {result.returncode})")
    rate, pcm = _parse_wav(result.stdout)
    return soxr.resample(pcm, rate, SAMPLE_RATE)


def _parse_wav(data: bytes) -> tuple[int, np.ndarray]:
    """Rate and int16 samples of espeak-ng's stdout WAV.

    Written to a pipe, its RIFF and data sizes are placeholders (0x7ffff000), so the standard
    readers' size checks do not apply: the samples are everything after the data chunk header.
    """
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise RuntimeError("espeak-ng did not write a WAV file")
    position, rate = 12, None
    while position + 8 <= len(data):
        chunk = data[position:position + 4]
        (size,) = struct.unpack("<I", data[position + 4:position + 8])
        body = position + 8
        if chunk == b"fmt ":
            audio_format, channels, rate = struct.unpack("<HHI", data[body:body + 8])
            bits = struct.unpack("<H", data[body + 14:body + 16])[0]
            if (audio_format, channels, bits) != (1, 1, 16):
                raise RuntimeError(f"espeak-ng wrote format {audio_format}/{channels}ch/{bits}bit")
        elif chunk == b"data":
            if rate is None:
                raise RuntimeError("espeak-ng's WAV has data before its format")
            samples = data[body:]
            return rate, np.frombuffer(samples[: len(samples) // 2 * 2], dtype="<i2")
        position = body + size + (size & 1)
    raise RuntimeError("espeak-ng's WAV has no data chunk")


def wav_bytes(audio: np.ndarray) -> bytes:
    """A 16 kHz mono PCM16 WAV file (stdlib `wave`: the same samples give the same bytes)."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(SAMPLE_RATE)
        writer.writeframes(np.asarray(audio, dtype="<i2").tobytes())
    return buffer.getvalue()


class _Library:
    """libespeak-ng through ctypes, initialized once per worker process.

    In-process synthesis skips the ~13 ms that starting the espeak-ng program costs per
    utterance (measured: 4.5 ms vs 17 ms for a 4.5 s sentence). But the library keeps state
    across utterances (pitch flutter phase, resonators, rand()), so an utterance would sound
    slightly different depending on what the same process spoke before. `render_batch`
    therefore forks a child per batch from this never-used state: every batch starts like a
    fresh espeak-ng process, and batches are fixed by utterance id, so the audio does not depend
    on the worker count or the order batches run in.
    """

    SYNCHRONOUS, DONT_EXIT = 2, 0x8000  # AUDIO_OUTPUT_SYNCHRONOUS, espeakINITIALIZE_DONT_EXIT
    RATE = 1  # espeakRATE
    # espeakCHARS_UTF8 | espeakPHONEMES | espeakENDPAUSE: what the espeak-ng program passes, so
    # the first utterance of a batch is sample-identical to `render` (tests check it).
    FLAGS = 0x1101
    POS_CHARACTER = 1
    UTF8, IPA = 1, 0x02  # espeakCHARS_UTF8; phonememode bit 1: IPA instead of ASCII names
    _callback_type = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                                      ctypes.c_void_p)

    def __init__(self):
        lib = ctypes.CDLL(_library_name())
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                                     ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
        lib.espeak_TextToPhonemes.argtypes = [ctypes.POINTER(ctypes.c_char_p), ctypes.c_int,
                                              ctypes.c_int]
        lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
        self.rate = lib.espeak_Initialize(self.SYNCHRONOUS, 0, None, self.DONT_EXIT)
        if self.rate <= 0:
            raise RuntimeError(f"espeak_Initialize failed ({self.rate})")
        self._chunks: list[bytes] = []
        self._callback = self._callback_type(self._collect)  # kept alive: the library holds it
        lib.espeak_SetSynthCallback(self._callback)
        self._lib = lib

    def _collect(self, samples, count, events) -> int:
        if count > 0 and samples:
            self._chunks.append(ctypes.string_at(samples, count * 2))
        return 0  # 0 = go on

    def speak(self, speaker: Speaker, text: str) -> np.ndarray:
        """int16 samples at the library's rate (22,050 Hz)."""
        self._chunks.clear()
        if self._lib.espeak_SetVoiceByName(f"{speaker.voice}+{speaker.variant}".encode()) != 0:
            raise RuntimeError(f"espeak-ng has no voice {speaker.voice}+{speaker.variant}")
        self._lib.espeak_SetParameter(self.RATE, speaker.rate, 0)
        data = text.encode() + b"\0"
        status = self._lib.espeak_Synth(data, len(data), 0, self.POS_CHARACTER, 0, self.FLAGS,
                                        None, None)
        self._lib.espeak_Synchronize()
        if status != 0 or not self._chunks:
            raise RuntimeError(f"espeak_Synth failed (status {status})")
        return np.frombuffer(b"".join(self._chunks), dtype=np.int16)

    def phonemes(self, speaker: Speaker, text: str) -> str:
        """What the speaker's accent says, in IPA without stress marks, a space between words:
        en-us "Why? I'm sure!" -> "waɪ aɪm ʃʊɹ" (en: "waɪ aɪm ʃʊə")."""
        if self._lib.espeak_SetVoiceByName(speaker.voice.encode()) != 0:
            raise RuntimeError(f"espeak-ng has no voice {speaker.voice}")
        buffer = ctypes.create_string_buffer(text.encode())
        pointer = ctypes.c_char_p(ctypes.addressof(buffer))
        clauses = []
        while pointer.value:  # one clause per call; the library advances the pointer
            clauses.append(self._lib.espeak_TextToPhonemes(ctypes.byref(pointer), self.UTF8,
                                                           self.IPA).decode())
        return " ".join(" ".join(clauses).translate(_NO_STRESS).split())


# Primary and secondary stress: a phone transcription, as phone recognizers are scored.
_NO_STRESS = str.maketrans("", "", "ˈˌ")
_library: _Library | None = None


def _library_name() -> str:
    return ctypes.util.find_library("espeak-ng") or "libespeak-ng.so.1"


def render_batch(jobs: list[tuple[str, str, str, Speaker]],
                 root: str) -> list[tuple[str, int, str, str]]:
    """Speak each (id, relative path, text, speaker) into root/path; (id, samples, sha256, IPA
    phonemes) each.

    Runs in a worker process: a forked child renders the batch from the library's fresh state
    (see _Library) and writes the files itself, so only a few bytes travel back.
    """
    global _library
    if _library is None:
        _library = _Library()
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns, never runs the parent's cleanup
        os.close(reader)
        try:
            reply = {"rendered": _render_jobs(_library, jobs, Path(root))}
        except BaseException as error:  # reported to the parent, which raises it
            reply = {"error": f"{type(error).__name__}: {error}"}
        with os.fdopen(writer, "w") as pipe:
            json.dump(reply, pipe)
        os._exit(0)
    os.close(writer)
    with os.fdopen(reader) as pipe:
        text = pipe.read()
    _, status = os.waitpid(pid, 0)
    if status != 0 or not text:
        raise RuntimeError(f"the espeak-ng child process died (wait status {status})")
    reply = json.loads(text)
    if "error" in reply:
        raise RuntimeError(reply["error"])
    return [tuple(row) for row in reply["rendered"]]


def _render_jobs(library: _Library, jobs, root: Path) -> list[tuple[str, int, str, str]]:
    rendered = []
    for utterance_id, relative, text, speaker in jobs:
        try:
            audio = soxr.resample(library.speak(speaker, text), library.rate, SAMPLE_RATE)
        except RuntimeError as error:
            raise RuntimeError(f"{utterance_id} ({speaker.name}, {text!r}): {error}") from error
        data = wav_bytes(audio)
        (root / relative).write_bytes(data)
        rendered.append((utterance_id, len(audio), hashlib.sha256(data).hexdigest()))
    # Transcribed only after the whole batch is spoken: this child is thrown away afterwards, so
    # the translator state phonemization leaves behind never reaches any audio.
    return [(*row, library.phonemes(speaker, text))
            for row, (_, _, text, speaker) in zip(rendered, jobs, strict=True)]
