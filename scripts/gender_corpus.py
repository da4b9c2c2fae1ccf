# ruff: noqa: RUF001  (the Russian sentences are Cyrillic on purpose)
"""The gender model's data: synthetic speech from Debian's TTS voices (training), real
recordings from Debian's Asterisk prompt packages (test), and non-speech (gating checks).

Every voice carries a ``speaker`` key: two voices with the same key are one underlying
speaker (flite's ``slt`` is festival's CMU ARCTIC ``slt``; flite's ``kal16`` is festival's
``kal_diphone``; espeak-ng's ``belinda`` and ``linda`` share every parameter), so they are
always held out together.

Debian packages this module needs (``scripts/train_gender.py --apt`` prints the command):
espeak-ng, festival, flite and the festvox voices below; asterisk prompt and music packages.
"""

from __future__ import annotations

import hashlib
import subprocess
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

APT_PACKAGES = (
    "espeak-ng",
    "festival",
    "flite",
    "festvox-kallpc16k",
    "festvox-kdlpc16k",
    "festvox-us-slt-hts",
    "festvox-italp16k",
    "festvox-itapc16k",
    "festvox-suopuhe-lj",
    "festvox-suopuhe-mv",
    "festvox-czech-dita",
    "festvox-czech-machac",
    "festvox-czech-ph",
    "festvox-czech-krb",
    "festvox-ca-ona-hts",
    "festvox-ru",
    "asterisk-core-sounds-en-wav",
    "asterisk-core-sounds-es-wav",
    "asterisk-core-sounds-fr-wav",
    "asterisk-core-sounds-it-wav",
    "asterisk-core-sounds-ru-wav",
    "asterisk-prompt-it-menardi-wav",
    "asterisk-moh-opsound-wav",
)

ASTERISK = Path("/usr/share/asterisk/sounds")
MUSIC = Path("/usr/share/asterisk/moh")


@dataclass(frozen=True)
class Voice:
    engine: str  # espeak-ng | festival | flite
    name: str  # the engine's voice (espeak-ng: variant)
    sex: str  # female | male
    speaker: str  # underlying speaker: held out as one
    langs: tuple[str, ...]
    role: str = "train"  # train | probe (evaluated, never trained on)

    @property
    def key(self) -> str:
        return f"{self.engine}:{self.name}"


def _espeak(variants: str, sex: str) -> list[Voice]:
    langs = ("en", "de", "es", "fr", "it", "pt")
    voices = []
    for i, item in enumerate(variants.split()):
        name, _, group = item.partition("=")
        two = (langs[i % len(langs)], langs[(i + 2) % len(langs)])
        voices.append(Voice("espeak-ng", name, sex, f"espeak-{group or name}", two))
    return voices


VOICES: tuple[Voice, ...] = (
    Voice("festival", "cmu_us_slt_arctic_hts", "female", "slt", ("en",)),
    Voice("festival", "kal_diphone", "male", "kal", ("en",)),
    Voice("festival", "ked_diphone", "male", "ked", ("en",)),
    Voice("festival", "lp_diphone", "female", "lp", ("it",)),
    Voice("festival", "pc_diphone", "male", "pc", ("it",)),
    Voice("festival", "suo_fi_lj_diphone", "female", "lj", ("fi",)),
    Voice("festival", "hy_fi_mv_diphone", "male", "mv", ("fi",)),
    Voice("festival", "czech_dita", "female", "dita", ("cs",)),
    Voice("festival", "czech_machac", "male", "machac", ("cs",)),
    Voice("festival", "czech_ph", "male", "ph", ("cs",)),
    Voice("festival", "upc_ca_ona_hts", "female", "ona", ("ca",)),
    Voice("festival", "msu_ru_nsh_clunits", "male", "nsh", ("ru",)),
    Voice("festival", "czech_krb", "male", "krb", ("cs",), role="probe"),  # a boy
    Voice("flite", "slt", "female", "slt", ("en",)),
    Voice("flite", "kal16", "male", "kal", ("en",)),
    Voice("flite", "awb", "male", "awb", ("en",)),
    Voice("flite", "rms", "male", "rms", ("en",)),
    *_espeak(
        "Alicia Andrea Annie aunty belinda=linda linda steph=steph steph3=steph anika f1 f2 "
        "f3 f4 f5 grandma",
        "female",
    ),
    *_espeak(
        "m1 m2 m3 m4 m5 m6 m7 m8 Alex adam Andy boris caleb david edward john klatt max "
        "michel paul quincy robert travis victor",
        "male",
    ),
)

# Festival's diphone voices read 8-bit text in their language's legacy encoding.
FESTIVAL_ENCODING = {"cs": "iso-8859-2", "fi": "iso-8859-1", "it": "iso-8859-1"}

TEXTS: dict[str, tuple[str, ...]] = {
    "en": (
        "Good morning, and thank you for calling.",
        "The train to the city leaves at half past seven.",
        "Please leave your message after the tone.",
        "We walked along the river until the sun went down.",
        "Could you tell me where the nearest library is?",
        "The weather will be cold and windy tomorrow.",
        "My brother bought a new bicycle last week.",
        "Thank you, your order has been received.",
        "The children were playing in the garden all afternoon.",
        "I would like a cup of coffee with a little milk.",
        "Turn left at the second traffic light.",
        "The meeting has been moved to Thursday afternoon.",
    ),
    "de": (
        "Guten Morgen, wie geht es Ihnen heute?",
        "Der Zug nach Berlin fährt um acht Uhr ab.",
        "Bitte hinterlassen Sie eine Nachricht nach dem Signalton.",
        "Wir sind am Fluss entlang spazieren gegangen.",
        "Das Wetter wird morgen kalt und windig.",
        "Ich hätte gern eine Tasse Kaffee mit Milch.",
        "Die Kinder spielen den ganzen Nachmittag im Garten.",
        "Biegen Sie an der zweiten Ampel links ab.",
    ),
    "es": (
        "Buenos días, gracias por llamar.",
        "El tren a la ciudad sale a las siete y media.",
        "Por favor, deje su mensaje después de la señal.",
        "Caminamos junto al río hasta que se puso el sol.",
        "Mañana hará frío y mucho viento.",
        "Quisiera una taza de café con un poco de leche.",
        "Los niños jugaron en el jardín toda la tarde.",
        "Gire a la izquierda en el segundo semáforo.",
    ),
    "fr": (
        "Bonjour, merci de votre appel.",
        "Le train pour la ville part à sept heures et demie.",
        "Veuillez laisser votre message après le signal sonore.",
        "Nous avons marché le long de la rivière jusqu'au coucher du soleil.",
        "Demain, il fera froid et venteux.",
        "Je voudrais une tasse de café avec un peu de lait.",
        "Les enfants ont joué dans le jardin tout l'après-midi.",
        "Tournez à gauche au deuxième feu.",
    ),
    "it": (
        "Buongiorno, grazie per aver chiamato.",
        "Il treno per la città parte alle sette e mezza.",
        "Per favore, lasciate un messaggio dopo il segnale acustico.",
        "Abbiamo camminato lungo il fiume fino al tramonto.",
        "Domani farà freddo e ci sarà molto vento.",
        "Vorrei una tazza di caffè con un po' di latte.",
        "I bambini hanno giocato in giardino tutto il pomeriggio.",
        "Al secondo semaforo girate a sinistra.",
    ),
    "pt": (
        "Bom dia, obrigado pela sua chamada.",
        "O comboio para a cidade parte às sete e meia.",
        "Por favor, deixe a sua mensagem depois do sinal.",
        "Caminhámos ao longo do rio até o sol se pôr.",
        "Amanhã vai estar frio e com muito vento.",
        "Queria uma chávena de café com um pouco de leite.",
        "As crianças brincaram no jardim a tarde toda.",
        "Vire à esquerda no segundo semáforo.",
    ),
    "fi": (
        "Hyvää huomenta ja kiitos soitostanne.",
        "Juna kaupunkiin lähtee puoli kahdeksalta.",
        "Jättäkää viesti äänimerkin jälkeen.",
        "Kävelimme joen rantaa pitkin auringonlaskuun asti.",
        "Huomenna on kylmää ja tuulista.",
        "Haluaisin kupin kahvia ja vähän maitoa.",
        "Lapset leikkivät puutarhassa koko iltapäivän.",
        "Kääntykää vasemmalle toisista liikennevaloista.",
    ),
    "cs": (
        "Dobré ráno a děkujeme za zavolání.",
        "Vlak do města odjíždí v půl osmé.",
        "Zanechte prosím vzkaz po zaznění signálu.",
        "Procházeli jsme se podél řeky až do západu slunce.",
        "Zítra bude chladno a větrno.",
        "Dal bych si šálek kávy s trochou mléka.",
        "Děti si celé odpoledne hrály na zahradě.",
        "Na druhém semaforu odbočte doleva.",
    ),
    "ca": (
        "Bon dia i gràcies per trucar.",
        "El tren cap a la ciutat surt a dos quarts de vuit.",
        "Si us plau, deixeu el vostre missatge després del senyal.",
        "Vam caminar vora el riu fins a la posta de sol.",
        "Demà farà fred i molt de vent.",
        "Voldria una tassa de cafè amb una mica de llet.",
        "Els nens han jugat al jardí tota la tarda.",
        "Gireu a l'esquerra al segon semàfor.",
    ),
    "ru": (
        "Доброе утро, спасибо за ваш звонок.",
        "Поезд в город отправляется в половине восьмого.",
        "Пожалуйста, оставьте сообщение после сигнала.",
        "Мы гуляли вдоль реки до самого заката.",
        "Завтра будет холодно и ветрено.",
        "Я бы хотел чашку кофе с молоком.",
        "Дети весь день играли в саду.",
        "На втором светофоре поверните налево.",
    ),
}


@dataclass(frozen=True)
class Clip:
    path: Path
    voice: Voice
    lang: str
    text: str


def plan(voice: Voice, index: int, clips_per_voice: int, root: Path) -> list[Clip]:
    """``clips_per_voice`` clips of two consecutive sentences each, languages alternating."""
    out = []
    for k in range(clips_per_voice):
        lang = voice.langs[k % len(voice.langs)]
        sentences = TEXTS[lang]
        first = (index * 3 + k * 2) % len(sentences)
        text = f"{sentences[first]} {sentences[(first + 1) % len(sentences)]}"
        tag = hashlib.sha1(f"{voice.key}|{lang}|{text}".encode()).hexdigest()[:10]
        safe = voice.key.replace(":", "-")
        out.append(Clip(root / safe / f"{k:02d}-{lang}-{tag}.wav", voice, lang, text))
    return out


def _speak(clip: Clip) -> None:
    clip.path.parent.mkdir(parents=True, exist_ok=True)
    tmp = clip.path.with_suffix(".part.wav")
    voice = clip.voice
    if voice.engine == "espeak-ng":
        # A per-clip speaking rate, so that no voice has one tempo.
        rate = 145 + int(hashlib.sha1(clip.path.name.encode()).hexdigest(), 16) % 40
        cmd = ["espeak-ng", "-v", f"{clip.lang}+{voice.name}", "-s", str(rate), "-w", str(tmp)]
        subprocess.run([*cmd, clip.text], check=True, capture_output=True, timeout=60)
    elif voice.engine == "flite":
        cmd = ["flite", "-voice", voice.name, "-t", clip.text, "-o", str(tmp)]
        subprocess.run(cmd, check=True, capture_output=True, timeout=60)
    else:
        encoding = FESTIVAL_ENCODING.get(clip.lang, "utf-8")
        with tempfile.NamedTemporaryFile("wb", suffix=".txt") as text:
            text.write(clip.text.encode(encoding))
            text.flush()
            cmd = ["text2wave", "-eval", f"(voice_{voice.name})", text.name, "-o", str(tmp)]
            subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    tmp.replace(clip.path)


def synthesise(clips: list[Clip], workers: int = 2) -> int:
    """Write every clip not already on disk (the corpus directory is a cache); how many."""
    todo = [c for c in clips if not c.path.exists()]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(_speak, todo))
    return len(todo)


# ---- real speech: Asterisk prompts, the speaker's sex in the directory name ---------------


@dataclass(frozen=True)
class RealClip:
    name: str
    speaker: str
    sex: str
    samples: np.ndarray
    rate: int


REAL_SPEAKERS = {
    # directory: (speaker, sex); Allison Smith recorded both the English and Spanish sets.
    "en_US_f_Allison": ("allison", "female"),
    "es_MX_f_Allison": ("allison", "female"),
    "fr_CA_f_June": ("june", "female"),
    "it_IT_f_Menardi": ("menardi", "female"),
    "ru_RU_f_IvrvoiceRU": ("ivrvoice-ru", "female"),
    "it_IT_m_Carlo": ("carlo", "male"),
}


def real_clips(
    min_seconds: float = 4.0, max_per_dir: int = 30, gap_s: float = 0.25
) -> Iterator[RealClip]:
    """Prompts of each speaker, in name order, joined with short gaps into clips of at least
    ``min_seconds`` (a prompt alone is often a single word)."""
    for directory, (speaker, sex) in REAL_SPEAKERS.items():
        files = sorted((ASTERISK / directory).glob("*.wav"))
        parts: list[np.ndarray] = []
        made = 0
        rate = 8000
        for path in files:
            data, rate = sf.read(path, dtype="float32", always_2d=False)
            if data.ndim == 2:
                data = data.mean(axis=1)
            parts += [data, np.zeros(int(gap_s * rate), dtype=np.float32)]
            if sum(len(p) for p in parts) >= min_seconds * rate:
                name = f"{directory}/{made:02d}"
                yield RealClip(name, speaker, sex, np.concatenate(parts), rate)
                parts, made = [], made + 1
                if made >= max_per_dir:
                    break


def music_excerpts(
    seconds: float = 8.0, per_file: int = 3
) -> Iterator[tuple[str, np.ndarray, int]]:
    """Instrumental music-on-hold tracks (CC BY-SA), a few excerpts of each."""
    for path in sorted(MUSIC.glob("*.wav")):
        data, rate = sf.read(path, dtype="float32", always_2d=False)
        if data.ndim == 2:
            data = data.mean(axis=1)
        step = max(1, (len(data) - int(seconds * rate)) // per_file)
        for k in range(per_file):
            start = k * step
            yield (
                f"{path.stem}@{start / rate:.0f}s",
                data[start : start + int(seconds * rate)],
                rate,
            )


# ---- the telephone channel: training augmentation and a test condition ------------------


def telephone(samples: np.ndarray, rate: int) -> tuple[np.ndarray, int]:
    """8 kHz, 300-3400 Hz band, 8-bit mu-law: what a phone line leaves of a voice."""
    x = soxr.resample(samples.astype(np.float32), rate, 8000)
    spectrum = np.fft.rfft(x)
    freqs = np.fft.rfftfreq(len(x), 1 / 8000)
    gain = np.clip((freqs - 200) / 100, 0, 1) * np.clip((3500 - freqs) / 100, 0, 1)
    x = np.fft.irfft(spectrum * gain, n=len(x))
    peak = float(np.max(np.abs(x))) or 1.0
    x = x / peak * 0.7
    mu = 255.0
    coded = np.round(np.sign(x) * np.log1p(mu * np.abs(x)) / np.log1p(mu) * 127) / 127
    decoded = np.sign(coded) * np.expm1(np.abs(coded) * np.log1p(mu)) / mu
    return decoded.astype(np.float32), 8000


# ---- non-speech: what must get no answer --------------------------------------------------


def nonspeech(rate: int = 16000, seconds: float = 6.0) -> list[tuple[str, np.ndarray]]:
    """Silence, noises, steady tones and a synthetic melody with harmonics."""
    rng = np.random.default_rng(7)
    n = int(rate * seconds)
    t = np.arange(n) / rate
    white = rng.standard_normal(n).astype(np.float32) * 0.1
    brown = np.cumsum(rng.standard_normal(n)).astype(np.float32)
    brown = brown / np.max(np.abs(brown)) * 0.3
    notes = np.array([220, 247, 262, 294, 330, 294, 262, 247, 196, 220, 262, 330])
    f = np.repeat(notes, -(-n // len(notes)))[:n]
    phase = 2 * np.pi * np.cumsum(f) / rate
    melody = sum(np.sin(k * phase) / k for k in range(1, 6)) * 0.2
    return [
        ("silence", np.zeros(n, dtype=np.float32)),
        ("white-noise", white),
        ("brown-noise", brown),
        ("tone-120hz", 0.3 * np.sin(2 * np.pi * 120 * t)),
        ("tone-220hz", 0.3 * np.sin(2 * np.pi * 220 * t)),
        ("tone-440hz", 0.3 * np.sin(2 * np.pi * 440 * t)),
        ("melody", melody),
        ("hum-with-noise", 0.2 * np.sin(2 * np.pi * 100 * t) + white * 0.3),
    ]
