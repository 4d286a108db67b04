"""The survey page's own words in Indonesian and English, and choosing the patron's language."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from .schemas import TEXT_MAX

LANGUAGES = ("id", "en")
DEFAULT = "id"

TEXTS: dict[str, dict[str, str]] = {
    "id": {
        "required": "wajib",
        "optional": "boleh dikosongkan",
        "submit": "Kirim jawaban",
        "error_title": "Ada jawaban yang perlu diperbaiki",
        "error_prefix": "Kesalahan",
        "rating_low": "sangat tidak puas",
        "rating_high": "sangat puas",
        "nps_low": "sama sekali tidak mungkin",
        "nps_high": "sangat mungkin",
        "choose_any": "Boleh pilih lebih dari satu.",
        "identifying": "Jawaban ini dapat mengenali Anda. Isi hanya jika Anda bersedia; "
        "perpustakaan menyimpannya bersama jawaban Anda.",
        "honeypot": "Jangan isi kolom ini",
        "privacy": "Survei ini tidak menyimpan alamat IP Anda.",
        "thanks_title": "Terima kasih!",
        "thanks_default": "Jawaban Anda sudah kami terima. Masukan Anda membantu perpustakaan menjadi lebih baik.",
        "thanks_close": "Anda boleh menutup halaman ini.",
        "already_title": "Anda sudah mengisi survei ini",
        "already_body": "Terima kasih, jawaban Anda sudah tercatat. Survei ini hanya menerima satu jawaban per orang.",
        "not_found_title": "Survei tidak ditemukan",
        "not_found_body": "Periksa kembali tautan yang Anda buka.",
        "not_yet_title": "Survei belum dibuka",
        "not_yet_body": "Survei ini dibuka pada {when}.",
        "not_yet_soon": "Survei ini akan segera dibuka.",
        "closed_title": "Survei sudah ditutup",
        "closed_body": "Terima kasih atas minat Anda. Survei ini tidak menerima jawaban lagi.",
        "busy": "Saat ini terlalu banyak jawaban masuk. Jawaban Anda belum terkirim; "
        "tunggu sebentar lalu tekan Kirim lagi.",
        "form_invalid": "Formulir ini tidak dapat kami periksa, jadi jawaban Anda belum terkirim. "
        "Periksa jawaban Anda lalu tekan Kirim lagi.",
        "form_expired": "Halaman ini sudah terlalu lama terbuka, jadi jawaban Anda belum terkirim. "
        "Periksa jawaban Anda lalu tekan Kirim lagi.",
        "form_too_fast": "Jawaban dikirim terlalu cepat setelah halaman dibuka, jadi belum tersimpan. "
        "Periksa jawaban Anda lalu tekan Kirim lagi.",
        "closes": "Survei ditutup pada {when}.",
        "switch": "English",
        "too_large_title": "Jawaban terlalu panjang",
        "too_large_body": "Jawaban yang dikirim terlalu besar untuk diterima. Persingkat lalu coba lagi.",
        "unsupported_title": "Jawaban tidak dapat dibaca",
        "unsupported_body": "Kirim jawaban Anda melalui formulir di halaman survei ini.",
        "e_required": "Pertanyaan ini wajib dijawab.",
        "e_required_choice": "Pilih salah satu jawaban.",
        "e_not_a_number": "Pilih salah satu angka.",
        "e_out_of_range": "Pilih angka yang ada di skala.",
        "e_unknown_option": "Pilih dari pilihan yang tersedia.",
        "e_one_only": "Pilih satu jawaban saja.",
        "e_not_text": "Tulis jawaban dalam bentuk teks.",
        "e_too_long": "Jawaban terlalu panjang (paling banyak {max} karakter).",
    },
    "en": {
        "required": "required",
        "optional": "optional",
        "submit": "Send answers",
        "error_title": "Some answers need fixing",
        "error_prefix": "Error",
        "rating_low": "very dissatisfied",
        "rating_high": "very satisfied",
        "nps_low": "not at all likely",
        "nps_high": "extremely likely",
        "choose_any": "You may choose more than one.",
        "identifying": "This answer can identify you. Fill it in only if you are happy to; "
        "the library keeps it with your answers.",
        "honeypot": "Leave this field empty",
        "privacy": "This survey does not store your IP address.",
        "thanks_title": "Thank you!",
        "thanks_default": "We have received your answers. Your feedback helps the library get better.",
        "thanks_close": "You may close this page.",
        "already_title": "You have already answered this survey",
        "already_body": "Thank you, your answers are recorded. This survey takes one response per person.",
        "not_found_title": "Survey not found",
        "not_found_body": "Please check the link you opened.",
        "not_yet_title": "This survey is not open yet",
        "not_yet_body": "This survey opens on {when}.",
        "not_yet_soon": "This survey opens soon.",
        "closed_title": "This survey is closed",
        "closed_body": "Thank you for your interest. This survey takes no more answers.",
        "busy": "Too many answers are arriving right now. Yours has not been sent yet; "
        "wait a moment and press Send again.",
        "form_invalid": "We could not verify this form, so your answers have not been sent yet. "
        "Please check them and press Send again.",
        "form_expired": "This page was open for a long time, so your answers have not been sent yet. "
        "Please check them and press Send again.",
        "form_too_fast": "The answers were sent very quickly after the page opened, so they have not been saved "
        "yet. Please check them and press Send again.",
        "closes": "The survey closes on {when}.",
        "switch": "Bahasa Indonesia",
        "too_large_title": "Answers too long",
        "too_large_body": "What was sent is too large to accept. Please shorten it and try again.",
        "unsupported_title": "Answers could not be read",
        "unsupported_body": "Please send your answers with the form on this survey's page.",
        "e_required": "Please answer this question.",
        "e_required_choice": "Please choose an answer.",
        "e_not_a_number": "Please choose one of the numbers.",
        "e_out_of_range": "Please choose a number on the scale.",
        "e_unknown_option": "Please choose from the options given.",
        "e_one_only": "Please choose only one answer.",
        "e_not_text": "Please write your answer as text.",
        "e_too_long": "This answer is too long (at most {max} characters).",
    },
}

API_MESSAGES = {
    "required": "an answer is required",
    "not_a_number": "must be a whole number",
    "out_of_range": "is outside the question's scale",
    "unknown_option": "is not one of the question's option keys",
    "one_only": "takes exactly one option",
    "not_text": "must be a string",
    "too_long": "is too long",
    "unknown_question": "names no question of this survey",
}

_MONTHS = {
    "id": ["Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus", "September",
           "Oktober", "November", "Desember"],
    "en": ["January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December"],
}
_ZONES = {"Asia/Jakarta": "WIB", "Asia/Pontianak": "WIB", "Asia/Makassar": "WITA", "Asia/Jayapura": "WIT"}


def negotiate(query_lang: str | None, accept_language: str | None) -> tuple[str, bool]:
    """The page's language and whether the patron chose it explicitly (``?lang=``).

    ``?lang=id|en`` wins; else the best of Indonesian and English in ``Accept-Language`` by
    its q-values; else Indonesian."""
    if query_lang in LANGUAGES:
        return query_lang, True
    best, best_q = DEFAULT, 0.0
    for position, part in enumerate((accept_language or "").split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        primary = tag.strip().lower().split("-")[0]
        primary = "id" if primary == "in" else primary  # the old code for Indonesian
        if primary not in LANGUAGES:
            continue
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        q -= position * 1e-6  # equal q-values: the first listed wins
        if q > best_q:
            best, best_q = primary, q
    return best, False


def words(lang: str) -> dict[str, str]:
    return TEXTS.get(lang, TEXTS[DEFAULT])


def error_message(code: str, lang: str, kind: str) -> str:
    t = words(lang)
    if code == "required" and kind in ("single_choice", "multiple_choice", "rating", "nps"):
        return t["e_required_choice"]
    return t.get(f"e_{code}", t["e_required"]).format(max=TEXT_MAX)


def format_when(instant: datetime, timezone: str, lang: str) -> str:
    local = instant.astimezone(ZoneInfo(timezone))
    zone = _ZONES.get(timezone) or local.tzname() or timezone
    month = _MONTHS.get(lang, _MONTHS[DEFAULT])[local.month - 1]
    time = local.strftime("%H.%M" if lang == "id" else "%H:%M")
    return f"{local.day} {month} {local.year}, {time} {zone}"
