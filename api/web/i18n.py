"""The dashboard's two languages (Bahasa Indonesia by default, English by a switch) and how it writes numbers and
dates where people read them: ``Rp1.234.567``, ``12.200``, ``40,37 %``, ``31 Januari 2026``.

Invariants:
- Every message id has a text in every language (:func:`register` refuses a catalogue that lacks one), so a page
  never shows an id or falls back silently.
- Money is whole rupiah and is written only by :func:`rupiah` (``ledger.values.format_rp``): the same
  digits as the CLI and the workbooks.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from ledger.business_time import WIB
from ledger.values import format_count, format_rp

LANGUAGES = ("id", "en")
DEFAULT_LANGUAGE = "id"
LANGUAGE_COOKIE = "jamsos_lang"

MONTHS: dict[str, tuple[str, ...]] = {
    "id": ("Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus", "September", "Oktober",
           "November", "Desember"),
    "en": ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"),
}

MESSAGES: dict[str, dict[str, str]] = {"id": {}, "en": {}}
"""Message id → text, per language: the shell's own (below) and every page's (:func:`register`)."""


def register(catalogue: Mapping[str, Mapping[str, str]]) -> None:
    """Add a page's messages (``{"id": {...}, "en": {...}}``); refuses one whose languages differ in their ids, or
    that redefines an id with another text."""
    ids = {lang: set(catalogue.get(lang, {})) for lang in LANGUAGES}
    if ids["id"] != ids["en"]:
        missing = sorted(ids["id"] ^ ids["en"])
        raise AssertionError(f"messages without a text in both languages: {missing[:5]}")
    for lang in LANGUAGES:
        for key, text in catalogue[lang].items():
            if MESSAGES[lang].get(key, text) != text:
                raise AssertionError(f"message {key!r} defined twice with different texts")
            MESSAGES[lang][key] = text


def language_of(value: str | None) -> str:
    return value if value in LANGUAGES else DEFAULT_LANGUAGE


class Translator:
    """``t("overview.title")`` in one language; ``t("x", n=3)`` fills ``{n}``. An unknown id is a programming
    error (KeyError), caught by the page tests, never shown."""

    def __init__(self, lang: str) -> None:
        self.lang = language_of(lang)

    def __call__(self, key: str, **values: Any) -> str:
        text = MESSAGES[self.lang][key]
        return text.format(**values) if values else text


def rupiah(amount: int | None) -> str:
    """``Rp1.234.567``, ``-Rp16.800``; ``–`` for none."""
    return "–" if amount is None else format_rp(int(amount))


def number(n: int | None) -> str:
    return "–" if n is None else format_count(int(n))


def decimal(value: float | str | Decimal, places: int = 2, lang: str = DEFAULT_LANGUAGE) -> str:
    """``40,37`` (Indonesian decimal comma) or ``40.37``: ``places`` decimals, rounded half up."""
    quantum = Decimal(1).scaleb(-places)
    text = str(Decimal(str(value)).quantize(quantum, rounding=ROUND_HALF_UP))
    return text.replace(".", ",") if lang == "id" else text


def percent(value: float | str | Decimal | None, places: int = 2, lang: str = DEFAULT_LANGUAGE) -> str:
    """``40,37 %`` (Indonesian decimal comma) or ``40.37 %``."""
    if value is None or value == "":
        return "–"
    return decimal(value, places, lang) + " %"


def long_date(value: date | str | None, lang: str = DEFAULT_LANGUAGE) -> str:
    """``31 Januari 2026`` / ``31 January 2026``; ``–`` for none. A timestamp is written in WIB with its time."""
    if value is None or value == "":
        return "–"
    if isinstance(value, str):
        value = datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
    months = MONTHS[language_of(lang)]
    if isinstance(value, datetime):
        local = value.astimezone(WIB) if value.tzinfo else value
        return f"{local.day} {months[local.month - 1]} {local.year}, {local:%H.%M} WIB"
    return f"{value.day} {months[value.month - 1]} {value.year}"


def month_name(period: str, lang: str = DEFAULT_LANGUAGE) -> str:
    """``2026-05`` → ``Mei 2026``."""
    year, month = period.split("-")
    return f"{MONTHS[language_of(lang)][int(month) - 1]} {year}"


register({
    "id": {
        "app.name": "Buku Besar Jamsos",
        "app.tagline": "Buku besar klaim dan iuran BPJS Ketenagakerjaan (BPU)",
        "nav.label": "Menu utama",
        "nav.overview": "Ringkasan",
        "nav.agreements": "Perjanjian",
        "nav.reconciliation": "Rekonsiliasi",
        "nav.claims": "Klaim",
        "nav.audit": "Audit",
        "nav.coverage": "Cakupan",
        "skip": "Lewati ke isi",
        "lang.switch": "English",
        "lang.label": "Bahasa",
        "logout": "Keluar",
        "signed_in_as": "Masuk sebagai {name} ({roles}; cakupan {scope})",
        "pickers.legend": "Waktu laporan",
        "pickers.on": "Per tanggal (on)",
        "pickers.on.help": "Keadaan bisnis pada tanggal ini (zona wilayah: WIB, WITA atau WIT).",
        "pickers.as_of": "Sebagaimana diketahui pada (as of)",
        "pickers.as_of.help": "Hanya peristiwa yang tercatat sampai saat ini (WIB). Kosong: sekarang.",
        "pickers.apply": "Terapkan",
        "report.on": "Per {on}",
        "report.as_of": "sebagaimana diketahui pada {as_of}",
        "report.as_of.now": "sebagaimana diketahui sekarang",
        "report.position": "posisi log {position}",
        "print": "Cetak",
        "error.title": "Tidak dapat ditampilkan",
        "error.field": "Kolom",
        "error.reason": "Alasan",
        "error.403": "Akses ditolak",
        "error.403.text": "Peran atau cakupan Anda tidak mengizinkan halaman atau tindakan ini.",
        "error.404": "Tidak ditemukan",
        "error.422": "Masukan ditolak",
        "error.409": "Bertentangan dengan keadaan saat ini",
        "error.500": "Kesalahan server",
        "error.500.text": "Terjadi kesalahan. Sebutkan nomor permintaan ini kepada operator: {request_id}.",
        "error.back": "Kembali ke ringkasan",
        "login.title": "Masuk",
        "login.name": "Nama pengguna",
        "login.password": "Kata sandi",
        "login.submit": "Masuk",
        "login.failed": "Nama pengguna atau kata sandi salah.",
        "login.locked": "Terlalu banyak percobaan gagal. Coba lagi setelah {minutes} menit.",
        "login.expired": "Sesi Anda telah berakhir. Silakan masuk kembali.",
        "login.signed_out": "Anda telah keluar.",
        "login.csrf": "Formulir kedaluwarsa atau tidak sah. Muat ulang halaman dan coba lagi.",
        "csrf.refused": "Token formulir (CSRF) tidak sah atau kedaluwarsa: tindakan tidak dijalankan.",
        "chart.table": "Angka grafik ini",
        "chart.below": "lihat tabel di bawah",
        "none": "Tidak ada",
        "yes": "Ya",
        "no": "Tidak",
    },
    "en": {
        "app.name": "Jamsos Ledger",
        "app.tagline": "Claims and contributions ledger of BPJS Ketenagakerjaan (BPU)",
        "nav.label": "Main menu",
        "nav.overview": "Overview",
        "nav.agreements": "Agreements",
        "nav.reconciliation": "Reconciliation",
        "nav.claims": "Claims",
        "nav.audit": "Audit",
        "nav.coverage": "Coverage",
        "skip": "Skip to content",
        "lang.switch": "Bahasa Indonesia",
        "lang.label": "Language",
        "logout": "Sign out",
        "signed_in_as": "Signed in as {name} ({roles}; scope {scope})",
        "pickers.legend": "Report time",
        "pickers.on": "As it stood on (on)",
        "pickers.on.help": "The business as it stood on this day (the region's zone: WIB, WITA or WIT).",
        "pickers.as_of": "As known at (as of)",
        "pickers.as_of.help": "Only events recorded by then (WIB). Empty: now.",
        "pickers.apply": "Apply",
        "report.on": "On {on}",
        "report.as_of": "as known at {as_of}",
        "report.as_of.now": "as known now",
        "report.position": "log position {position}",
        "print": "Print",
        "error.title": "Cannot be shown",
        "error.field": "Field",
        "error.reason": "Reason",
        "error.403": "Forbidden",
        "error.403.text": "Your roles or scope do not allow this page or action.",
        "error.404": "Not found",
        "error.422": "Input refused",
        "error.409": "Conflicts with the present state",
        "error.500": "Server error",
        "error.500.text": "Something went wrong. Give the operator this request number: {request_id}.",
        "error.back": "Back to the overview",
        "login.title": "Sign in",
        "login.name": "User name",
        "login.password": "Password",
        "login.submit": "Sign in",
        "login.failed": "Wrong user name or password.",
        "login.locked": "Too many failed attempts. Try again in {minutes} minutes.",
        "login.expired": "Your session has ended. Please sign in again.",
        "login.signed_out": "You have signed out.",
        "login.csrf": "The form expired or is not valid. Reload the page and try again.",
        "csrf.refused": "The form token (CSRF) is not valid or has expired: nothing was done.",
        "chart.table": "The figures of this chart",
        "chart.below": "see the table below",
        "none": "None",
        "yes": "Yes",
        "no": "No",
    },
})
