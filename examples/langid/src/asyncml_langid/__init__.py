"""``text.language``: which language a text is written in, with langid.py's model.

An asyncml task that lives outside asyncml, as a user's would: this package declares it
under the ``asyncml.tasks`` entry-point group, and an unchanged asyncml serves it.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

import asyncml


class Text(BaseModel):
    text: str = Field(min_length=1, max_length=10_000, description="the text to identify")
    languages: list[str] | None = Field(
        default=None,
        min_length=2,
        description="ISO 639-1 codes to choose among (e.g. ['en', 'fr']); all 97 if unset",
    )


class Language(BaseModel):
    language: str = Field(description="ISO 639-1 code, e.g. 'fr'")
    confidence: float = Field(ge=0, le=1, description="the model's probability for it")


@asyncml.task("text.language", queue="text", version="1")
class DetectLanguage:
    """The language of a text (97 languages), with langid.py's naive Bayes model."""

    identifier: Any

    def setup(self) -> None:
        # Loading the model takes about a second: once per worker process, not per job.
        from langid.langid import LanguageIdentifier, model

        self.identifier = LanguageIdentifier.from_modelstring(model, norm_probs=True)

    def run(self, input: Text, ctx: asyncml.Context) -> Language:
        ctx.progress(0, total=1, message="classifying")
        if input.languages:
            unknown = sorted(set(input.languages) - set(self.identifier.nb_classes))
            if unknown:
                raise asyncml.TaskError(
                    "unknown_language", f"the model does not know {', '.join(unknown)}"
                )
            self.identifier.set_languages(input.languages)
        else:
            self.identifier.set_languages(None)
        language, confidence = self.identifier.classify(input.text)
        ctx.log.info("identified %s (%.2f)", language, confidence)
        return Language(language=language, confidence=round(float(confidence), 4))
