"""The pure rules of content planning: countdown texts and times, campaign hashtags per platform,
and the content checks (flagged words, alt text, sources, CamelCase hashtags)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from types import SimpleNamespace

import pytest
from siar_platforms import Content, extract_hashtags, validate
from siar_scheduler import checks
from siar_scheduler.checks import ChecksConfig, Term, fold, load_terms
from siar_scheduler.countdown import Event, TemplateError, check_template, posts, render
from siar_scheduler.hashtags import is_hashtag, with_hashtags
from siar_scheduler.schemas import MediaIn

# -- countdown --------------------------------------------------------------------------------


def test_countdown_posts_have_the_days_remaining_and_go_out_at_the_post_time():
    event = Event(title="Lomba Mendongeng Anak", starts=datetime(2026, 12, 12, 10, 0), timezone="Asia/Jakarta",
                  place="Aula Perpustakaan", days_before=(0, 7, 1, 3))
    made = posts(event)
    assert [p.key for p in made] == ["D-7", "D-3", "D-1", "D-0"]
    assert [p.local for p in made] == [datetime(2026, 12, 5, 9), datetime(2026, 12, 9, 9),
                                       datetime(2026, 12, 11, 9), datetime(2026, 12, 12, 9)]
    assert made[0].at == datetime(2026, 12, 5, 2, tzinfo=UTC)
    assert made[0].text.startswith("7 hari lagi: Lomba Mendongeng Anak!")
    assert "Sabtu, 12 Desember 2026, pukul 10.00 WIB" in made[0].text
    assert made[2].text.startswith("Besok: ")
    assert made[3].text.startswith("Hari ini: ")
    assert "Aula Perpustakaan" in made[3].text
    assert "\n\n" not in made[0].text  # the empty {link} line is left out


def test_on_the_day_an_early_event_is_announced_an_hour_before_it():
    event = Event(title="Senam pagi", starts=datetime(2026, 12, 12, 7, 0), timezone="Asia/Makassar", days_before=(1, 0))
    assert [p.local for p in posts(event)] == [datetime(2026, 12, 11, 9), datetime(2026, 12, 12, 6)]
    event = Event(title="Malam puisi", starts=datetime(2026, 12, 12, 0, 30), timezone="Asia/Jakarta", days_before=(0,))
    [day] = posts(event)
    assert day.local == datetime(2026, 12, 12, 0, 0)
    assert day.at == datetime(2026, 12, 11, 17, 0, tzinfo=UTC)


def test_templates_per_day_and_in_english():
    event = Event(title="Book fair", starts=datetime(2026, 12, 12, 10, 0), timezone="Asia/Jayapura",
                  link="https://perpus.example/fair", days_before=(3, 0), language="en",
                  template="{countdown} until {title}: {date} {time}\n{place}\n{link}",
                  templates={0: "{title} is today!"})
    three, today = posts(event)
    assert three.text == "3 days to go until Book fair: Saturday 12 December 2026 10:00 WIT\nhttps://perpus.example/fair"
    assert today.text == "Book fair is today!"


def test_a_template_with_an_unknown_placeholder_is_refused():
    with pytest.raises(TemplateError, match=r"\{hari\}"):
        check_template("{hari} hari lagi")
    with pytest.raises(TemplateError, match="well formed"):
        check_template("{days hari lagi")
    assert render("{days} hari lagi\nLokasi: {place}", {"days": "3", "place": ""}) == "3 hari lagi"


@pytest.mark.parametrize("template", ["{title:d} {countdown}", "{title!r}", "{days:>5} hari lagi", "{}", "{title.upper}"])
def test_a_placeholder_with_a_format_or_an_attribute_is_refused(template):
    # {title:d} passed the check and failed only when the post was written: a 500.
    with pytest.raises(TemplateError):
        check_template(template)


# -- campaign hashtags ------------------------------------------------------------------------


def test_campaign_hashtags_are_added_once_in_any_case():
    content = Content("")
    text = with_hashtags("Ayo membaca! #palembangbaca", ["PalembangBaca", "MingguBuku"], "mastodon", content)
    assert text == "Ayo membaca! #palembangbaca\n\n#MingguBuku"
    assert with_hashtags("", ["A1"], "telegram", Content("", ())) == "#A1"


def test_campaign_hashtags_stop_where_the_platform_would_refuse_the_post():
    text = "x" * 270
    added = with_hashtags(text, ["Baca", "PerpustakaanPalembangYangSangatPanjang"], "x", Content(""))
    assert added == text + "\n\n#Baca"  # the second tag would pass X's 280
    assert not validate("x", Content(added))
    many = " ".join(f"#t{i}" for i in range(29))
    media = (SimpleNamespace(kind="image", url="https://e.org/a.jpg", alt_text="a", size_bytes=None,
                             duration_seconds=None, mime_type=None),)
    content = Content("", media)  # Instagram needs an image
    assert extract_hashtags(with_hashtags(many, ["Satu", "Dua"], "instagram", content))[-1] == "Satu"  # 30 at most


def test_what_counts_as_a_hashtag():
    assert is_hashtag("PalembangBaca")
    assert not is_hashtag("2026")
    assert not is_hashtag("dua kata")


# -- content checks ---------------------------------------------------------------------------

CONFIG = ChecksConfig(
    modes={"flagged_words": "block", "alt_text": "warn", "link_source": "warn", "hashtag_case": "warn",
           "campaign_dates": "warn"},
    terms=(Term("kafir harbi", "religion"), Term("nigger", "race"), Term("bodoh", "library")),
    exempt_domains=("perpusnas.go.id",),
)


def run(text: str, **kw):
    return checks.run(CONFIG, text=text, **kw)


def test_flagged_words_match_on_word_boundaries_ignoring_case_and_diacritics():
    text = "Mereka itu KÁFIR-harbi semua. Dasar bodoh!"
    found = [f for f in run(text) if f.check == "flagged_words"]
    assert [(f.rule, f.start, f.end, f.match) for f in found] == [
        ("kafir harbi", 11, 22, "KÁFIR-harbi"), ("bodoh", 36, 41, "bodoh")]
    assert found[0].severity == "block"
    assert found[0].category == "religion"
    assert "at 11\u201322" in found[0].message
    assert not [f for f in run("Kebodohan dan pembodohan bukan kata itu") if f.check == "flagged_words"]


def test_the_title_and_alt_text_are_checked_too_with_their_own_offsets():
    media = [MediaIn(url="https://e.org/a.png", alt_text="Poster bodoh")]
    found = run("Halo", title="Judul Bodoh", media=media)
    assert [(f.field, f.start) for f in found if f.check == "flagged_words"] == [("title", 6), ("media[0].alt_text", 7)]


def test_images_without_alt_text_are_named():
    media = [MediaIn(url="https://e.org/a.png", alt_text="Anak membaca"), MediaIn(url="https://e.org/b.png"),
             MediaIn(url="https://e.org/c.mp4", kind="video")]
    [finding] = [f for f in run("Halo", media=media) if f.check == "alt_text"]
    assert finding.field == "media[1]"
    assert "image 2" in finding.message


def test_links_need_a_source_on_their_line_unless_on_an_exempt_domain():
    text = ("Data baru: https://bps.go.id/x\nSumber: https://kompas.com/y\n"
            "Katalog: https://perpusnas.go.id/koleksi dan via @detik https://detik.com/z")
    found = [f for f in run(text) if f.check == "link_source"]
    assert [(f.match, f.start) for f in found] == [("https://bps.go.id/x", 11)]


def test_hashtags_not_in_camel_case_are_flagged_with_a_suggestion():
    text = "Ayo #palembangbaca #MingguBuku #PERPUSTAKAANKOTA #HUT #أهلا"
    found = [f for f in run(text, campaign_hashtags=["PalembangBaca"]) if f.check == "hashtag_case"]
    assert [(f.match, f.start, f.suggestion) for f in found] == [
        ("#palembangbaca", 4, "#PalembangBaca"), ("#PERPUSTAKAANKOTA", 31, None)]
    assert found[0].message.endswith("; write #PalembangBaca")
    assert "in capitals" in found[1].message and "#perpustakaankota" not in found[1].message
    # Where its words begin is not guessed: #Bacabukuyuk would be no better than #bacabukuyuk.
    [unknown] = [f for f in run("Ayo #bacabukuyuk") if f.check == "hashtag_case"]
    assert unknown.suggestion is None and "begin each word with a capital letter" in unknown.message


def test_a_post_outside_its_campaign_dates_is_warned_about():
    found = run("Halo", local_date=date(2026, 12, 20), campaign_window=(date(2026, 12, 1), date(2026, 12, 14)),
                campaign_name="Minggu Buku")
    assert [f.check for f in found] == ["campaign_dates"]
    assert not run("Halo", local_date=date(2026, 12, 5), campaign_window=(date(2026, 12, 1), None))


def test_checks_that_are_off_say_nothing():
    quiet = ChecksConfig(modes={}, terms=CONFIG.terms)
    assert checks.run(quiet, text="bodoh https://x.com #abc", media=[MediaIn(url="https://e.org/a.png")]) == []


def test_the_shipped_list_covers_indonesian_and_english_and_folds_cleanly():
    terms = load_terms()
    assert {t.language for t in terms} == {"id", "en"}
    assert {t.category for t in terms} >= {"ethnicity", "religion", "race", "incitement"}
    config = ChecksConfig(modes={"flagged_words": "block"}, terms=tuple(terms))
    assert [f.rule for f in checks.run(config, text="Usir Cina dari sini!")] == ["usir cina"]
    # Everyday library words are not flagged.
    clean = ("Pameran buku anak di Perpustakaan Kota Palembang: dongeng tentang monyet, anjing dan babi hutan; "
             "diskusi sejarah Tionghoa, Papua dan agama-agama di Indonesia. Sweeping changes to our catalogue!")
    assert checks.run(config, text=clean) == []


def test_fold_keeps_offsets_through_decomposition():
    folded, where = fold("Ǆé")
    assert folded == "dze"
    assert where == [0, 0, 1]


def test_modes_come_from_the_settings():
    from siar_scheduler.settings import SchedulerSettings

    s = SchedulerSettings(check_alt_text="block", flagged_words_file="", flagged_words="hoaks, fitnah keji",
                          source_exempt_domains="www.perpus.example", environment="test")
    config = checks.config_from_settings(s)
    assert config.mode("alt_text") == "block"
    assert [t.term for t in config.terms] == ["hoaks", "fitnah keji"]
    assert config.exempt_domains == ("perpus.example",)
