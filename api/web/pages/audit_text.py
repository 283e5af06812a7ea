"""The audit page's messages, Bahasa Indonesia first (registered by :mod:`api.web.pages.audit`)."""

from __future__ import annotations

MESSAGES: dict[str, dict[str, str]] = {
    "id": {
        "audit.title": "Audit",
        "audit.intro": "Bukti antirusak buku besar: setiap peristiwa diikat ke rantai hash saat ditulis. Di sini "
                       "Anda memverifikasi rantai, menyegel kepalanya, membaca jejak satu subjek dan "
                       "membandingkan laporan sebagaimana diketahui pada dua waktu. Semua ini bacaan: tidak ada "
                       "yang dicatat.",
        "audit.head.now": "Kepala rantai saat ini: posisi {position}, batch {batch}.",
        "audit.verify.title": "Verifikasi rantai hash",
        "audit.verify.text": "Memeriksa setiap peristiwa tersimpan terhadap rantai, dan rantai terhadap dirinya "
                             "sendiri, dari byte yang tersimpan saja (jamsos audit verify).",
        "audit.verify.head": "Hash kepala yang pernah disegel (opsional)",
        "audit.verify.head.help": "64 digit heksadesimal dari surat segel: rantai harus memuatnya.",
        "audit.verify.submit": "Verifikasi",
        "audit.verify.status.ok": "OK · rantai utuh",
        "audit.verify.status.failed": "GAGAL · rantai rusak",
        "audit.verify.ok": "{checked} peristiwa diperiksa, semuanya cocok dengan rantai ({batches} batch). "
                           "Kepala: posisi {position}, hash",
        "audit.verify.sealed": "Kepala yang disegel ada di rantai.",
        "audit.verify.failed": "Rantai tidak utuh: masalah pertama pada posisi {position}.",
        "audit.verify.findings": "Temuan (dari jamsos audit verify)",
        "audit.head.long": "terlalu panjang (paling banyak {n} karakter)",
        "audit.seal.title": "Segel kepala rantai",
        "audit.seal.text": "Memverifikasi rantai lalu menyusun kepalanya sebagai surat untuk dicetak dan disimpan "
                           "di luar sistem (jamsos audit seal). Menyegel adalah bacaan: tidak ada yang dicatat di "
                           "buku besar.",
        "audit.seal.submit": "Buat surat segel",
        "audit.seal.refused": "Tidak ada surat segel: rantai tidak utuh (masalah pertama pada posisi {position}). "
                              "Segel hanya menjamin rantai yang terverifikasi.",
        "audit.letter.title": "Surat segel kepala rantai hash",
        "audit.letter.date": "Tanggal",
        "audit.letter.subject": "Perihal",
        "audit.letter.subject.text": "Segel kepala rantai hash buku besar pada posisi {position}",
        "audit.letter.body": "Pada tanggal {date} rantai hash buku besar diverifikasi dari data yang tersimpan: "
                             "{checked} peristiwa diperiksa dan semuanya cocok dengan rantai. Kepala rantai pada "
                             "saat itu:",
        "audit.letter.position": "Posisi log",
        "audit.letter.batch": "Batch",
        "audit.letter.hash": "Hash kepala (SHA-256)",
        "audit.letter.recorded": "Batch kepala ditautkan pada (jam server)",
        "audit.letter.sealed_by": "Disegel oleh",
        "audit.letter.meaning.title": "Arti segel ini",
        "audit.letter.meaning": "Hash ini mengikat seluruh riwayat buku besar sampai posisi {position}: setiap "
                                "peristiwa, isinya, urutannya dan batch-nya. Bila kelak satu peristiwa sampai "
                                "posisi itu diubah, dihapus atau disisipkan — bahkan bila rantainya ikut ditulis "
                                "ulang — verifikasi terhadap hash ini gagal dan menyebut posisinya. Simpan surat "
                                "ini di luar sistem.",
        "audit.letter.check": "Cara memeriksa: formulir verifikasi di halaman Audit dengan hash ini, atau",
        "audit.letter.read": "Segel ini adalah bacaan, bukan peristiwa: membuatnya tidak mencatat apa pun di buku "
                             "besar. Ia hanya menjamin rantai yang terverifikasi; surat ini dibuat setelah "
                             "verifikasi berhasil.",
        "audit.letter.signature": "Tanda tangan",
        "audit.back": "Kembali ke Audit",
        "audit.trail.title": "Jejak audit",
        "audit.trail.text": "Peristiwa satu anggota, klaim atau perjanjian, berurutan. Isi tepat satu. NIK hanya "
                            "dikirim dalam isi formulir, tidak pernah di alamat (URL), dan tidak ditampilkan "
                            "kembali.",
        "audit.trail.member": "Anggota (NIK)",
        "audit.trail.member.help": "16 digit. Anggota tampil dengan ID pseudonimnya saja.",
        "audit.trail.claim": "ID klaim",
        "audit.trail.agreement": "Perjanjian",
        "audit.trail.agreement.none": "— tidak ada —",
        "audit.trail.submit": "Tampilkan jejak",
        "audit.trail.kind.member": "anggota",
        "audit.trail.kind.claim": "klaim",
        "audit.trail.kind.agreement": "perjanjian",
        "audit.trail.caption": "Peristiwa {kind} {subject}, menurut posisi log",
        "audit.trail.none": "Tidak ada peristiwa tercatat untuk {kind} ini.",
        "audit.trail.count": "{total} peristiwa.",
        "audit.trail.more": "Ditampilkan {shown} pertama dari {total} peristiwa; jejak lengkap: jamsos audit "
                            "trail atau /api/v1/audit/trail.",
        "audit.trail.one": "isi tepat satu dari anggota (NIK), klaim atau perjanjian",
        "audit.trail.nik_in_url": "NIK tidak diterima di alamat (URL): ia akan tercatat di riwayat peramban dan di "
                                  "log. Gunakan formulir jejak.",
        "audit.id.long": "terlalu panjang (paling banyak {n} karakter)",
        "audit.agreement.unknown": "tidak ada perjanjian «{code}» dalam cakupan Anda",
        "audit.col.position": "Posisi",
        "audit.col.recorded_at": "Dicatat pada",
        "audit.col.effective_on": "Tanggal efektif",
        "audit.col.event_type": "Jenis peristiwa",
        "audit.col.actor": "Pelaku (principal)",
        "audit.col.command_id": "ID perintah",
        "audit.col.summary": "Ringkasan",
        "audit.compare.title": "Per tanggal D, sebagaimana diketahui pada T1 dan T2",
        "audit.compare.text": "Satu laporan dibangun dua kali untuk tanggal bisnis yang sama: dengan peristiwa "
                              "yang tercatat sampai T1, dan sampai T2. Sel yang berbeda ditandai.",
        "audit.compare.on": "Per tanggal (D)",
        "audit.compare.on.help": "Kosong: hari ini.",
        "audit.compare.known_1": "Diketahui pada (T1)",
        "audit.compare.known_2": "Diketahui pada (T2)",
        "audit.compare.known.help": "Waktu pencatatan, WIB bila tanpa zona; T2 tidak sebelum T1.",
        "audit.compare.name": "Laporan",
        "audit.compare.agreement": "Perjanjian (wajib untuk rekonsiliasi)",
        "audit.compare.agreement.all": "— semua —",
        "audit.compare.only_diff": "Hanya sel yang berbeda",
        "audit.compare.submit": "Bandingkan",
        "audit.compare.caption": "Laporan {name} per {on}: diketahui pada T1 ({first}) dan pada T2 ({second})",
        "audit.compare.summary": "{differ} dari {total} sel berbeda.",
        "audit.compare.same": "Tidak ada sel yang berbeda: yang tercatat di antara T1 dan T2 tidak mengubah "
                              "laporan ini.",
        "audit.compare.positions": "Posisi log yang diketahui: {first} pada T1, {second} pada T2.",
        "audit.compare.missing": "wajib diisi: tanggal dan waktu, mis. 2026-11-30T17:00",
        "audit.compare.unparsable": "bukan waktu yang dapat dibaca: «{value}» (contoh: 2026-11-30T17:00)",
        "audit.compare.future": "{value} masih di masa depan (sekarang {now}): buku besar hanya menunjukkan yang "
                                "sudah tercatat",
        "audit.compare.order": "T2 tidak boleh sebelum T1",
        "audit.compare.needs_agreement": "laporan rekonsiliasi memerlukan satu perjanjian",
        "audit.compare.report": "laporan tidak dikenal; pilih salah satu: {known}",
        "audit.report.balances": "Saldo iuran (balances)",
        "audit.report.members": "Anggota (members)",
        "audit.report.claims": "Klaim (claims)",
        "audit.report.reconciliation": "Rekonsiliasi (reconciliation)",
        "audit.col.section": "Bagian",
        "audit.col.row": "Baris",
        "audit.col.column": "Kolom",
        "audit.col.first": "Diketahui pada T1",
        "audit.col.second": "Diketahui pada T2",
        "audit.col.diff": "Perbedaan",
        "audit.diff": "berbeda",
        "audit.same": "sama",
        "audit.totals": "jumlah",
    },
    "en": {
        "audit.title": "Audit",
        "audit.intro": "The ledger's tamper evidence: every event is linked into a hash chain when it is written. "
                       "Here you verify the chain, seal its head, read one subject's trail and compare a report as "
                       "known at two times. All of these are reads: nothing is recorded.",
        "audit.head.now": "The chain's head now: position {position}, batch {batch}.",
        "audit.verify.title": "Verify the hash chain",
        "audit.verify.text": "Checks every stored event against the chain, and the chain against itself, from the "
                             "stored bytes alone (jamsos audit verify).",
        "audit.verify.head": "A head hash sealed earlier (optional)",
        "audit.verify.head.help": "The 64 hexadecimal digits of a seal letter: the chain must hold it.",
        "audit.verify.submit": "Verify",
        "audit.verify.status.ok": "OK · the chain is intact",
        "audit.verify.status.failed": "FAILED · the chain is broken",
        "audit.verify.ok": "{checked} events checked, every one matches the chain ({batches} batches). Head: "
                           "position {position}, hash",
        "audit.verify.sealed": "The sealed head is in the chain.",
        "audit.verify.failed": "The chain is not intact: the first problem is at position {position}.",
        "audit.verify.findings": "Findings (as jamsos audit verify names them)",
        "audit.head.long": "too long (at most {n} characters)",
        "audit.seal.title": "Seal the chain's head",
        "audit.seal.text": "Verifies the chain, then sets out its head as a letter to print and keep outside the "
                           "system (jamsos audit seal). Sealing is a read: nothing is recorded in the ledger.",
        "audit.seal.submit": "Make the seal letter",
        "audit.seal.refused": "No seal letter: the chain is not intact (the first problem is at position "
                              "{position}). A seal vouches only for a chain that verified.",
        "audit.letter.title": "Seal of the hash chain's head",
        "audit.letter.date": "Date",
        "audit.letter.subject": "Subject",
        "audit.letter.subject.text": "Seal of the ledger's hash chain head at position {position}",
        "audit.letter.body": "On {date} the ledger's hash chain was verified from the stored data: {checked} "
                             "events were checked and every one matches the chain. The chain's head then was:",
        "audit.letter.position": "Log position",
        "audit.letter.batch": "Batch",
        "audit.letter.hash": "Head hash (SHA-256)",
        "audit.letter.recorded": "Head batch linked at (server clock)",
        "audit.letter.sealed_by": "Sealed by",
        "audit.letter.meaning.title": "What this seal means",
        "audit.letter.meaning": "This hash binds the whole history of the ledger up to position {position}: every "
                                "event, its content, its order and its batch. If one event up to that position is "
                                "ever edited, removed or slipped in — even with the chain rewritten to match — "
                                "verifying against this hash fails and names the position. Keep this letter "
                                "outside the system.",
        "audit.letter.check": "How to check: the verify form of the Audit page with this hash, or",
        "audit.letter.read": "This seal is a read, not an event: making it recorded nothing in the ledger. It "
                             "vouches only for a chain that verified; this letter was made after a verification "
                             "that succeeded.",
        "audit.letter.signature": "Signature",
        "audit.back": "Back to Audit",
        "audit.trail.title": "Audit trail",
        "audit.trail.text": "The events of one member, claim or agreement, in order. Fill in exactly one. A NIK is "
                            "sent only in the form's body, never in the address (URL), and is not shown back.",
        "audit.trail.member": "Member (NIK)",
        "audit.trail.member.help": "16 digits. The member appears by its pseudonymous id only.",
        "audit.trail.claim": "Claim id",
        "audit.trail.agreement": "Agreement",
        "audit.trail.agreement.none": "— none —",
        "audit.trail.submit": "Show the trail",
        "audit.trail.kind.member": "member",
        "audit.trail.kind.claim": "claim",
        "audit.trail.kind.agreement": "agreement",
        "audit.trail.caption": "Events of {kind} {subject}, by log position",
        "audit.trail.none": "No event is recorded for this {kind}.",
        "audit.trail.count": "{total} events.",
        "audit.trail.more": "The first {shown} of {total} events are shown; the whole trail: jamsos audit trail or "
                            "/api/v1/audit/trail.",
        "audit.trail.one": "fill in exactly one of member (NIK), claim or agreement",
        "audit.trail.nik_in_url": "a NIK is not taken in the address (URL): it would stay in the browser's history "
                                  "and in logs. Use the trail form.",
        "audit.id.long": "too long (at most {n} characters)",
        "audit.agreement.unknown": "no agreement «{code}» in your scope",
        "audit.col.position": "Position",
        "audit.col.recorded_at": "Recorded at",
        "audit.col.effective_on": "Effective on",
        "audit.col.event_type": "Event type",
        "audit.col.actor": "Actor (principal)",
        "audit.col.command_id": "Command id",
        "audit.col.summary": "Summary",
        "audit.compare.title": "As it stood on D, as known at T1 and at T2",
        "audit.compare.text": "One report built twice for the same business day: with the events recorded by T1, "
                              "and by T2. The cells that differ are marked.",
        "audit.compare.on": "As it stood on (D)",
        "audit.compare.on.help": "Empty: today.",
        "audit.compare.known_1": "As known at (T1)",
        "audit.compare.known_2": "As known at (T2)",
        "audit.compare.known.help": "Recorded time, WIB without a zone; T2 not before T1.",
        "audit.compare.name": "Report",
        "audit.compare.agreement": "Agreement (required for the reconciliation)",
        "audit.compare.agreement.all": "— all —",
        "audit.compare.only_diff": "Only the cells that differ",
        "audit.compare.submit": "Compare",
        "audit.compare.caption": "The {name} report on {on}: as known at T1 ({first}) and at T2 ({second})",
        "audit.compare.summary": "{differ} of {total} cells differ.",
        "audit.compare.same": "No cell differs: what was recorded between T1 and T2 does not change this report.",
        "audit.compare.positions": "Log positions known: {first} at T1, {second} at T2.",
        "audit.compare.missing": "required: a date and time, e.g. 2026-11-30T17:00",
        "audit.compare.unparsable": "not a time that can be read: «{value}» (e.g. 2026-11-30T17:00)",
        "audit.compare.future": "{value} is in the future (now is {now}): the ledger shows only what has been "
                                "recorded",
        "audit.compare.order": "T2 must not be before T1",
        "audit.compare.needs_agreement": "the reconciliation report needs one agreement",
        "audit.compare.report": "unknown report; choose one of: {known}",
        "audit.report.balances": "Contribution balances (balances)",
        "audit.report.members": "Members (members)",
        "audit.report.claims": "Claims (claims)",
        "audit.report.reconciliation": "Reconciliation (reconciliation)",
        "audit.col.section": "Section",
        "audit.col.row": "Row",
        "audit.col.column": "Column",
        "audit.col.first": "As known at T1",
        "audit.col.second": "As known at T2",
        "audit.col.diff": "Difference",
        "audit.diff": "differs",
        "audit.same": "same",
        "audit.totals": "totals",
    },
}
