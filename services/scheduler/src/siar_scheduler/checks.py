"""Content checks run when a post is submitted: flagged words and phrases, images without alt
text, links without a cited source, hashtags not written in CamelCase, and a post outside its
campaign's dates. Each check is set to ``block`` (the post is refused), ``warn`` (it is kept, with
the finding shown to the reviewer) or ``off``. A finding names the check, the word or rule, and
where: the field and the offset (in characters, Unicode code points) of the match in it.

Pure functions; the configuration comes from the settings (:func:`config_from_settings`)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Literal

from siar_platforms import extract_hashtags, extract_urls

Mode = Literal["block", "warn", "off"]
CHECKS = ("flagged_words", "alt_text", "link_source", "hashtag_case", "campaign_dates", "media_links")


@dataclass(frozen=True)
class Term:
    term: str
    category: str = "library"
    language: str | None = None


@dataclass(frozen=True)
class Finding:
    check: str
    severity: Literal["block", "warn"]
    message: str
    field: str = "text"
    start: int | None = None
    end: int | None = None
    match: str | None = None
    rule: str | None = None
    """The flagged term, or the rule broken (``alt_text_missing``, ``source_missing``, …)."""
    category: str | None = None
    suggestion: str | None = None

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v is not None}


def fold(text: str) -> tuple[str, list[int]]:
    """``text`` without case and diacritics, with the original offset of every character."""
    out: list[str] = []
    where: list[int] = []
    for i, ch in enumerate(text):
        for c in unicodedata.normalize("NFKD", ch):
            if unicodedata.combining(c):
                continue
            for f in c.casefold():
                out.append(f)
                where.append(i)
    return "".join(out), where


def load_terms(path: Path | None = None) -> list[Term]:
    """Terms from a list file (``term | category | language`` a line, ``#`` comments);
    the shipped starting list without a path."""
    if path is None:
        text = resources.files("siar_scheduler").joinpath("data/flagged_words.txt").read_text("utf-8")
    else:
        text = Path(path).read_text("utf-8")
    terms = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = [p.strip() for p in line.split("|")]
        terms.append(Term(parts[0], parts[1] if len(parts) > 1 and parts[1] else "library",
                          parts[2] if len(parts) > 2 and parts[2] else None))
    return terms


@dataclass(frozen=True)
class ChecksConfig:
    modes: dict[str, Mode] = field(default_factory=dict)
    terms: tuple[Term, ...] = ()
    source_markers: tuple[str, ...] = ("sumber", "source", "via", "dikutip dari", "quoted from", "kredit", "credit")
    exempt_domains: tuple[str, ...] = ()

    def mode(self, check: str) -> Mode:
        return self.modes.get(check, "off")

    @cached_property
    def _terms_re(self) -> tuple[re.Pattern[str] | None, dict[str, Term]]:
        by_folded: dict[str, Term] = {}
        for t in self.terms:
            words = [w for w in re.split(r"[\W_]+", fold(t.term)[0]) if w]
            if words:
                by_folded.setdefault(" ".join(words), t)
        if not by_folded:
            return None, {}
        alternatives = sorted(by_folded, key=len, reverse=True)
        body = "|".join(r"[\W_]+".join(re.escape(w) for w in key.split(" ")) for key in alternatives)
        return re.compile(rf"(?<!\w)(?:{body})(?!\w)"), by_folded

    @cached_property
    def _markers_re(self) -> re.Pattern[str] | None:
        folded = [fold(m)[0].strip() for m in self.source_markers if m.strip()]
        if not folded:
            return None
        return re.compile(r"(?<!\w)(?:" + "|".join(re.escape(m) for m in sorted(folded, key=len, reverse=True)) + r")(?!\w)")

    def flagged(self, text: str) -> Iterable[tuple[int, int, Term]]:
        pattern, by_folded = self._terms_re
        if pattern is None or not text:
            return
        folded, where = fold(text)
        for m in pattern.finditer(folded):
            key = " ".join(w for w in re.split(r"[\W_]+", m.group(0)) if w)
            yield where[m.start()], where[m.end() - 1] + 1, by_folded[key]


def _label(category: str) -> str:
    return {"ethnicity": "SARA: suku/ethnicity", "religion": "SARA: agama/religion", "race": "SARA: ras/race",
            "group": "SARA: antargolongan/group", "incitement": "hate speech/incitement"}.get(category, category)


def _flagged_words(config: ChecksConfig, severity, texts: Sequence[tuple[str, str]]) -> list[Finding]:
    found = []
    for where, text in texts:
        for start, end, term in config.flagged(text):
            found.append(Finding(
                check="flagged_words", severity=severity, field=where, start=start, end=end,
                match=text[start:end], rule=term.term, category=term.category,
                message=f"{where}: \u201c{text[start:end]}\u201d at {start}\u2013{end} is on the list of flagged words "
                        f"({_label(term.category)})",
            ))
    return found


def _alt_text(severity, media: Sequence) -> list[Finding]:
    found = []
    for i, m in enumerate(media):
        if m.kind in ("image", "gif") and not (m.alt_text or "").strip():
            noun = "GIF" if m.kind == "gif" else "image"
            found.append(Finding(
                check="alt_text", severity=severity, field=f"media[{i}]", rule="alt_text_missing",
                message=f"{noun} {i + 1} has no description (alt text) for people who use a screen reader",
            ))
    return found


def _spans(text: str, pieces: Iterable[str], prefix: str = "") -> Iterable[tuple[int, int, str]]:
    """Each piece's position in ``text``, searching on from the previous one."""
    at = 0
    for piece in pieces:
        i = text.find(prefix + piece, at)
        if i < 0:
            continue
        yield i, i + len(prefix + piece), piece
        at = i + len(prefix + piece)


def _host(url: str) -> str:
    rest = url.split("://", 1)[-1]
    return re.split(r"[/?#:]", rest, maxsplit=1)[0].lower().removeprefix("www.")


def _link_source(config: ChecksConfig, severity, text: str) -> list[Finding]:
    found = []
    markers = config._markers_re
    for start, end, url in _spans(text, extract_urls(text)):
        host = _host(url)
        if any(host == d or host.endswith("." + d) for d in config.exempt_domains):
            continue
        line_start = text.rfind("\n", 0, start) + 1
        line_end = text.find("\n", end)
        line = text[line_start: len(text) if line_end < 0 else line_end]
        if markers is not None and markers.search(fold(line)[0]):
            continue
        found.append(Finding(
            check="link_source", severity=severity, start=start, end=end, match=url, rule="source_missing",
            message=f"the link {url} at {start}\u2013{end} has no cited source on its line "
                    f"(write for example \u201cSumber: \u2026\u201d or \u201cvia \u2026\u201d)",
        ))
    return found


def _hashtag_case(severity, text: str, known: Sequence[str]) -> list[Finding]:
    """A hashtag starting in lower case or SHOUTING. The spelling suggested is a known one (the
    campaign's) only: where a hashtag's words begin cannot be guessed (#palembangbaca is not
    #Palembangbaca), so otherwise the message says what to do."""
    found = []
    by_fold = {k.casefold(): k for k in known}
    for start, end, tag in _spans(text, extract_hashtags(text), "#"):
        cased = [c for c in tag if c.isalpha() and (c.isupper() or c.islower())]
        if not cased:
            continue  # a script without case
        lower_start = cased[0].islower()
        shouting = len(cased) > 5 and all(c.isupper() for c in cased)
        if not (lower_start or shouting):
            continue
        suggestion = by_fold.get(tag.casefold())
        what = (f"#{tag} at {start}\u2013{end} starts in lower case: screen readers read #PalembangBaca as "
                "words but a hashtag in lower case as one word" if lower_start else
                f"#{tag} at {start}\u2013{end} is written in capitals: screen readers may spell it out letter "
                "by letter")
        found.append(Finding(
            check="hashtag_case", severity=severity, start=start, end=end, match="#" + tag, rule="camel_case",
            suggestion=("#" + suggestion) if suggestion else None,
            message=what + (f"; write #{suggestion}" if suggestion and suggestion != tag
                            else "; begin each word with a capital letter, as in #PalembangBaca"),
        ))
    return found


def run(
    config: ChecksConfig,
    *,
    text: str,
    title: str | None = None,
    media: Sequence = (),
    campaign_hashtags: Sequence[str] = (),
    local_date: date | None = None,
    campaign_window: tuple[date | None, date | None] | None = None,
    campaign_name: str | None = None,
) -> list[Finding]:
    """Every finding of every check that is not off, in check order."""
    found: list[Finding] = []
    mode = config.mode
    if mode("flagged_words") != "off":
        texts = [("text", text)] + ([("title", title)] if title else [])
        texts += [(f"media[{i}].alt_text", m.alt_text) for i, m in enumerate(media) if m.alt_text]
        if campaign_hashtags:  # added to what goes out (targets[].text), so checked as part of it
            texts.append(("campaign_hashtags", " ".join("#" + t for t in campaign_hashtags)))
        found += _flagged_words(config, mode("flagged_words"), texts)
    if mode("alt_text") != "off":
        found += _alt_text(mode("alt_text"), media)
    if mode("link_source") != "off":
        found += _link_source(config, mode("link_source"), text)
    if mode("hashtag_case") != "off":
        found += _hashtag_case(mode("hashtag_case"), text, campaign_hashtags)
    if mode("campaign_dates") != "off" and campaign_window and local_date:
        first, last = campaign_window
        if (first and local_date < first) or (last and local_date > last):
            found.append(Finding(
                check="campaign_dates", severity=mode("campaign_dates"), field="scheduled_at", rule="outside_campaign",
                message=f"the post is on {local_date.isoformat()}, outside the campaign {campaign_name or ''} "
                        f"({first.isoformat() if first else '…'} to {last.isoformat() if last else '…'})".replace("  ", " "),
            ))
    return found


def blocking(findings: Iterable[Finding | dict]) -> list:
    return [f for f in findings if (f.severity if isinstance(f, Finding) else f["severity"]) == "block"]


def config_from_settings(settings) -> ChecksConfig:
    terms: list[Term] = []
    source = settings.flagged_words_file
    if source is None:
        terms = load_terms()
    elif source.strip():
        terms = load_terms(Path(source))
    terms += [Term(t.strip(), "library") for t in settings.flagged_words.split(",") if t.strip()]
    return ChecksConfig(
        modes={
            "flagged_words": settings.check_flagged_words,
            "alt_text": settings.check_alt_text,
            "link_source": settings.check_link_source,
            "hashtag_case": settings.check_hashtag_case,
            "campaign_dates": settings.check_campaign_dates,
            "media_links": settings.check_media_links,  # siar_scheduler.media_links: they need the network
        },
        terms=tuple(terms),
        source_markers=tuple(m.strip() for m in settings.source_markers.split(",") if m.strip()),
        exempt_domains=tuple(d.strip().lower().removeprefix("www.") for d in settings.source_exempt_domains.split(",") if d.strip()),
    )
