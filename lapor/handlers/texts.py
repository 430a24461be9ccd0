"""Every text a user reads, Bahasa Indonesia first, English second.

`t(language, key, **values)` formats one entry. Channels add only rendering (a numbered
list's "reply with the number"); everything else, including how each channel shares a
location, comes from here.
"""

from __future__ import annotations

import re
from datetime import date

LANGUAGES = ("id", "en")

CATALOGUE: dict[str, tuple[str, str]] = {
    # -- menu and general -------------------------------------------------------------------
    "greeting": (
        "Halo{name}! Ini lapor, kanal laporan warga untuk masalah kota. Apa yang ingin Anda "
        "lakukan?",
        "Hello{name}! This is lapor, the citizens' channel for city problems. What would you "
        "like to do?",
    ),
    "menu.prompt": ("Apa yang ingin Anda lakukan?", "What would you like to do?"),
    "menu.report": ("Buat laporan", "New report"),
    "menu.saran": ("Saran", "Suggestion"),
    "menu.apresiasi": ("Apresiasi", "Appreciation"),
    "menu.mine": ("Laporan saya", "My reports"),
    "menu.help": ("Bantuan", "Help"),
    "menu.language": ("Bahasa", "Language"),
    "menu.back": ("Kembali ke menu", "Back to the menu"),
    "cancel": ("Batal", "Cancel"),
    "cancelled": (
        "Dibatalkan. Tidak ada yang disimpan.",
        "Cancelled. Nothing was saved.",
    ),
    "nothing_to_cancel": ("Tidak ada yang sedang berjalan.", "There is nothing to cancel."),
    "expired": (
        "Percakapan sebelumnya berakhir karena tidak ada balasan selama {minutes} menit, "
        "jadi drafnya tidak disimpan. Silakan mulai lagi.",
        "The previous conversation ended after {minutes} {minutes|minute|minutes} without a "
        "reply, so its "
        "draft was not saved. Please start again.",
    ),
    "stale_choice": (
        "Tombol itu sudah tidak berlaku.",
        "That button is no longer active.",
    ),
    "unsupported": (
        "Maaf, saya belum bisa membaca {what}.",
        "Sorry, I cannot read {what} yet.",
    ),
    "unsupported.sticker": ("stiker", "stickers"),
    "unsupported.voice": ("pesan suara", "voice messages"),
    "unsupported.video": ("video", "videos"),
    "unsupported.audio": ("audio", "audio"),
    "unsupported.document": ("berkas selain foto", "files other than photos"),
    "unsupported.contact": ("kontak", "contacts"),
    "unsupported.poll": ("polling", "polls"),
    "unsupported.other": ("jenis pesan ini", "this kind of message"),
    "help": (
        "lapor meneruskan laporan Anda tentang masalah kota ke petugas.\n"
        "• Buat laporan: pilih kategori, kirim foto (1–3), bagikan lokasi, tambahkan "
        "keterangan, lalu kirim. Anda menerima nomor tiket.\n"
        "• Saran / Apresiasi: tulis pesan Anda (foto dan lokasi boleh ditambahkan).\n"
        "• Laporan saya: lihat status laporan Anda.\n"
        "Setiap perubahan status dikabarkan ke sini.\n"
        "Perintah: /lapor, /saran, /apresiasi, /laporansaya, /bahasa, /batal, /bantuan.",
        "lapor takes your reports of city problems to the officers in charge.\n"
        "• New report: pick a category, send a photo (1–3), share the location, add a note, "
        "then send. You get a ticket number.\n"
        "• Suggestion / Appreciation: write your message (a photo and a location are "
        "optional).\n"
        "• My reports: see the status of your reports.\n"
        "You are told here every time a status changes.\n"
        "Commands: /lapor, /saran, /apresiasi, /laporansaya, /bahasa, /batal, /bantuan.",
    ),
    # -- language ---------------------------------------------------------------------------
    "language.prompt": ("Pilih bahasa / Choose a language:", "Choose a language / Pilih bahasa:"),
    "language.set": ("Bahasa diubah ke Bahasa Indonesia.", "Language set to English."),
    "language.invalid": (
        "Pilih salah satu bahasa dengan tombol atau nomornya.",
        "Pick one of the languages with its button or number.",
    ),
    # -- report flow ------------------------------------------------------------------------
    "category.prompt": ("Pilih kategori laporan:", "Choose the report's category:"),
    "category.invalid": (
        "Pilih salah satu kategori dengan menekan tombol atau mengetik nomornya.",
        "Pick one of the categories by pressing its button or typing its number.",
    ),
    "category.none": (
        "Maaf, belum ada kategori laporan yang aktif. Silakan coba lagi nanti.",
        "Sorry, no report category is active yet. Please try again later.",
    ),
    "photo.prompt": (
        "Kategori: {category}. Sekarang kirim foto masalahnya (1–3 foto).",
        "Category: {category}. Now send a photo of the problem (1–3 photos).",
    ),
    "photo.expected": (
        "Saya perlu foto masalahnya. Kirim foto lewat tombol kamera atau lampiran.",
        "I need a photo of the problem. Send one with the camera or attachment button.",
    ),
    "photo.expected.console": (
        "Saya perlu foto masalahnya. Kirim dengan /photo PATH, misalnya /photo jalan.jpg.",
        "I need a photo of the problem. Send one with /photo PATH, e.g. /photo road.jpg.",
    ),
    "photo.bad": (
        "Maaf, gambar itu tidak bisa dipakai ({reason}). Kirim foto JPEG, PNG atau WEBP.",
        "Sorry, that image cannot be used ({reason}). Send a JPEG, PNG or WEBP photo.",
    ),
    "photo.bad.format": ("bukan foto yang didukung", "not a supported photo"),
    "photo.bad.too_large": ("ukurannya terlalu besar", "it is too large"),
    "photo.bad.bomb": ("resolusinya terlalu besar", "its resolution is too large"),
    "photo.bad.truncated": ("berkasnya rusak atau terpotong", "the file is damaged or cut off"),
    "photo.bad.empty": ("berkasnya kosong", "the file is empty"),
    "photo.bad.download": ("gagal diunduh", "it could not be downloaded"),
    "photo.bad.missing": ("berkasnya tidak ditemukan", "the file was not found"),
    "photo.received": ("Foto diterima ({count}/{max}).", "Photo received ({count}/{max})."),
    "photo.full": (
        "Sudah {max} foto; foto tambahan tidak disimpan.",
        "You already have {max} {max|photo|photos}; extra photos are not kept.",
    ),
    # Each channel says what it can do: only Telegram has a location button.
    "location.prompt": ("Bagikan lokasi masalahnya: {how}", "Share the problem's location: {how}"),
    "location.how.telegram": (
        "tekan tombol “📍 Kirim lokasi” di bawah, atau kirim pin lewat lampiran (📎 → Lokasi) "
        "dan geser ke titik yang tepat.",
        "press “📍 Send location” below, or send a pin through the attachment menu "
        "(📎 → Location) and move it to the exact spot.",
    ),
    "location.how.whatsapp": (
        "tekan 📎 (lampiran) → Lokasi, lalu kirim lokasi Anda saat ini atau geser peta ke "
        "titik masalahnya dan kirim.",
        "tap 📎 (attach) → Location, then send your current location, or move the map to the "
        "problem's spot and send it.",
    ),
    "location.how.console": (
        "ketik /loc LINTANG BUJUR, misalnya /loc -6.1754 106.8272.",
        "type /loc LAT LON, e.g. /loc -6.1754 106.8272.",
    ),
    "location.button": ("📍 Kirim lokasi", "📍 Send location"),
    "location.use_photo": ("Pakai lokasi dari foto", "Use the photo's location"),
    "location.expected": (
        "Saya perlu lokasi, bukan teks.",
        "I need a location, not text.",
    ),
    "location.invalid": (
        "Lokasi itu tidak valid. Coba bagikan lagi.",
        "That location is not valid. Please share it again.",
    ),
    "note.prompt": (
        "Tambahkan keterangan singkat (opsional), misalnya patokan atau sejak kapan. "
        "Atau tekan Lewati.",
        "Add a short note (optional), such as a landmark or since when. Or press Skip.",
    ),
    "note.current": (
        "Keterangan saat ini: “{note}”. Kirim teks baru untuk menggantinya, atau tekan Lewati.",
        "Current note: “{note}”. Send new text to replace it, or press Skip.",
    ),
    "note.skip": ("Lewati", "Skip"),
    "note.expected": (
        "Di langkah ini saya perlu keterangan berupa teks, atau tekan Lewati.",
        "At this step I need a text note, or press Skip.",
    ),
    "note.too_long": (
        "Keterangan terlalu panjang ({length} karakter). Maksimal {max} karakter.",
        "The note is too long ({length} characters). At most {max} {max|character|characters}.",
    ),
    "confirm.summary": (
        "Periksa laporan Anda:\n"
        "Kategori: {category}\nFoto: {photos}\nLokasi: {location}\nKeterangan: {note}\n\n"
        "Kirim laporan ini?",
        "Check your report:\n"
        "Category: {category}\nPhotos: {photos}\nLocation: {location}\nNote: {note}\n\n"
        "Send this report?",
    ),
    "confirm.yes": ("Kirim laporan", "Send report"),
    "confirm.expected": (
        "Tekan “Kirim laporan” untuk mengirim, atau “Batal”.",
        "Press “Send report” to send it, or “Cancel”.",
    ),
    "none": ("-", "-"),
    "report.done": (
        "Terima kasih! Laporan Anda tercatat dengan nomor tiket {ticket}.\n"
        "Petugas akan memverifikasinya, lalu meneruskannya ke kelurahan setempat. "
        "Anda akan diberi kabar di sini setiap kali statusnya berubah. "
        "Lihat perkembangannya di menu Laporan saya.",
        "Thank you! Your report is recorded with ticket number {ticket}.\n"
        "An officer will verify it and pass it to the local kelurahan. "
        "You will be told here every time its status changes. "
        "Follow it under My reports.",
    ),
    # -- saran / apresiasi ------------------------------------------------------------------
    "feedback.prompt.saran": (
        "Tulis saran Anda untuk kota. Foto dan lokasi boleh ditambahkan.",
        "Write your suggestion for the city. You may add a photo and a location.",
    ),
    "feedback.prompt.apresiasi": (
        "Tulis apresiasi Anda (misalnya untuk petugas atau layanan yang baik). Foto dan "
        "lokasi boleh ditambahkan.",
        "Write your appreciation (for an officer or a service that did well, say). You may "
        "add a photo and a location.",
    ),
    "feedback.need_text": (
        "Saya perlu pesan Anda dalam bentuk teks.",
        "I need your message as text.",
    ),
    "feedback.photo_added": (
        "Foto ditambahkan ({count}/{max}).",
        "Photo added ({count}/{max}).",
    ),
    "feedback.location_added": ("Lokasi ditambahkan.", "Location added."),
    "feedback.text_updated": ("Pesan diperbarui.", "Message updated."),
    "feedback.summary": (
        "{kind}: “{text}”\nFoto: {photos}\nLokasi: {location}\n\n"
        "Anda masih bisa menambahkan foto atau lokasi. Kirim sekarang?",
        "{kind}: “{text}”\nPhotos: {photos}\nLocation: {location}\n\n"
        "You can still add a photo or a location. Send it now?",
    ),
    "feedback.send": ("Kirim", "Send"),
    "feedback.expected": (
        "Tekan “Kirim” untuk mengirim, atau “Batal”. Anda juga bisa menambahkan foto atau "
        "lokasi, atau mengirim teks baru untuk mengganti pesan.",
        "Press “Send” to send it, or “Cancel”. You can also add a photo or a location, or "
        "send new text to replace the message.",
    ),
    "feedback.too_long": (
        "Pesan terlalu panjang ({length} karakter). Maksimal {max} karakter.",
        "The message is too long ({length} characters). At most {max} {max|character|characters}.",
    ),
    "feedback.done.saran": (
        "Terima kasih atas saran Anda! Tercatat dengan nomor {ticket} dan akan dibaca petugas.",
        "Thank you for your suggestion! It is recorded as {ticket} and will be read by the staff.",
    ),
    "feedback.done.apresiasi": (
        "Terima kasih atas apresiasi Anda! Tercatat dengan nomor {ticket} dan akan disampaikan.",
        "Thank you for your appreciation! It is recorded as {ticket} and will be passed on.",
    ),
    "kind.laporan": ("Laporan", "Report"),
    "kind.saran": ("Saran", "Suggestion"),
    "kind.apresiasi": ("Apresiasi", "Appreciation"),
    # -- routing at the location step ------------------------------------------------------
    "location.in": (
        "📍 Lokasi: Kel. {kelurahan}, Kec. {kecamatan}.",
        "📍 Location: Kel. {kelurahan}, Kec. {kecamatan}.",
    ),
    "location.outside": (
        "Maaf, lokasi itu berada di luar wilayah layanan kami. Bagikan lokasi lain di dalam "
        "wilayah layanan.",
        "Sorry, that location is outside our service area. Please share a location inside it.",
    ),
    "location.which": (
        "Titik itu berada di perbatasan. Masalahnya ada di kelurahan mana?",
        "That spot is on a border. Which kelurahan is the problem in?",
    ),
    "location.pick": ("Pilih kelurahannya dengan tombol.", "Pick the kelurahan with a button."),
    # -- duplicates before confirm ---------------------------------------------------------
    "dup.header": (
        "Sudah ada laporan serupa di dekat lokasi ini:",
        "There are similar reports near this spot:",
    ),
    "dup.line": (
        "{ticket} · {category} · {distance} · {status}",
        "{ticket} · {category} · {distance} · {status}",
    ),
    "dup.question": (
        "Ikuti salah satunya (Anda akan diberi kabar perkembangannya), atau tetap kirim "
        "laporan Anda?",
        "Follow one of them (you will be told how it goes), or send your report anyway?",
    ),
    "dup.follow": ("Ikuti {ticket}", "Follow {ticket}"),
    "dup.new": ("Tetap kirim laporan saya", "Send my report anyway"),
    "dup.followed": (
        "Anda sekarang mengikuti laporan {ticket}. Setiap perubahan statusnya akan dikabarkan "
        "ke sini. Terima kasih!",
        "You now follow report {ticket}. You will be told here whenever its status changes. "
        "Thank you!",
    ),
    "dup.same_photo": ("foto sama", "same photo"),
    # -- confirm: public or private --------------------------------------------------------
    "confirm.public": ("Kirim (boleh ditampilkan publik)", "Send (may be shown publicly)"),
    "confirm.private": ("Kirim (rahasia)", "Send (private)"),
    "confirm.visibility": (
        "Laporan publik dapat ditampilkan (tanpa nama dan nomor Anda) di dasbor kota; "
        "laporan rahasia hanya dilihat petugas.",
        "A public report may be shown (without your name or number) on the city's dashboard; "
        "a private one is seen by the officers only.",
    ),
    # -- limits and blocks -----------------------------------------------------------------
    "limit.hour": (
        "Anda sudah mengirim {count} laporan dalam satu jam terakhir. Silakan coba lagi nanti; "
        "terima kasih atas kepedulian Anda.",
        "You have sent {count} {count|report|reports} in the last hour. Please try again "
        "later; thank you for caring.",
    ),
    "limit.day": (
        "Anda sudah mengirim {count} laporan hari ini, batas hariannya. Silakan lanjutkan besok; "
        "terima kasih atas kepedulian Anda.",
        "You have sent {count} {count|report|reports} today, the daily limit. Please continue "
        "tomorrow; thank you for caring.",
    ),
    "blocked": (
        "Maaf, akun Anda sedang dibatasi oleh petugas sehingga laporan tidak dapat diteruskan"
        "{reason}. Jika ini keliru, hubungi kantor kelurahan setempat.",
        "Sorry, your account has been restricted by the officers, so reports cannot be passed "
        "on{reason}. If this is a mistake, contact your local kelurahan office.",
    ),
    # -- status updates to citizens --------------------------------------------------------
    "public.link": ("Lihat laporan di web", "See the report on the web"),
    "status.update": ("Kabar laporan {ticket}: {status}.", "Update on report {ticket}: {status}."),
    "status.forwarded": (
        "Laporan diteruskan ke Kelurahan {kelurahan}.",
        "The report was passed to Kelurahan {kelurahan}.",
    ),
    "status.rejected": ("Alasan: {reason}", "Reason: {reason}"),
    "status.duplicate": (
        "Laporan ini sama dengan {original}; Anda akan menerima kabar perkembangan {original}.",
        "This report is the same as {original}; you will be told how {original} goes.",
    ),
    "status.duplicate_private": (
        "Laporan ini sama dengan laporan lain yang sudah ditangani petugas.",
        "This report is the same as another one the officers are already handling.",
    ),
    "status.officer_note": ("Catatan petugas: “{note}”", "The officers' note: “{note}”"),
    "status.reply": (
        "💬 {who} membalas tentang laporan {ticket}:\n“{note}”",
        "💬 {who} replied about report {ticket}:\n“{note}”",
    ),
    "status.progress": (
        "📷 Foto progres dari {who} untuk laporan {ticket}. Laporan masih ditangani.",
        "📷 A progress photo from {who} for report {ticket}. The work goes on.",
    ),
    "signature.kelurahan": ("Petugas Kelurahan {kelurahan}", "Kelurahan {kelurahan} officers"),
    "signature.city": ("Petugas verifikasi kota", "The city's verification staff"),
    "status.acknowledged": (
        "Pesan Anda sudah dibaca petugas. Terima kasih!",
        "Your message has been read by the staff. Thank you!",
    ),
    "status.in_progress": (
        "Petugas kelurahan sedang menanganinya.",
        "The kelurahan officers are working on it.",
    ),
    "status.reopened": (
        "Laporan dibuka kembali dan dikembalikan ke kelurahan.",
        "The report was reopened and sent back to the kelurahan.",
    ),
    "status.resolved": (
        "Petugas melaporkan masalahnya sudah selesai. Ini foto sesudahnya.",
        "The officers report the problem is fixed. Here is the photo after.",
    ),
    "status.returned": (
        "Laporan sedang diarahkan ulang ke kelurahan yang tepat.",
        "The report is being re-routed to the right kelurahan.",
    ),
    "rate.prompt": (
        "Seberapa puas Anda dengan penanganannya? (1 = sangat tidak puas, 5 = sangat puas)",
        "How satisfied are you with the fix? (1 = very unsatisfied, 5 = very satisfied)",
    ),
    "rate.thanks": (
        "Terima kasih atas penilaian Anda ({rating}/5)!",
        "Thank you for your rating ({rating}/5)!",
    ),
    "rate.comment": (
        "Maaf hasilnya belum memuaskan. Apa yang masih kurang? Tulis singkat; laporan akan "
        "dibuka kembali untuk kelurahan.",
        "Sorry it is not right yet. What is still wrong? Write briefly; the report will be "
        "reopened for the kelurahan.",
    ),
    "rate.not_yours": (
        "Penilaian hanya dapat diberikan oleh pelapor, untuk laporan yang sudah selesai.",
        "Only the reporter can rate, and only a resolved report.",
    ),
    "rate.comment_expected": (
        "Tulis komentar Anda dalam bentuk teks.",
        "Please write your comment as text.",
    ),
    # -- the admin chat (verifiers) --------------------------------------------------------
    "card.admin": (
        "🆕 {ticket} · {kind}\nKategori: {category}\nKeterangan: {note}\nLokasi: {kelurahan}\n"
        "Peta: {map}\nSaluran: {channel} · Laporan sebelumnya dari pelapor ini: {history}{similar}",
        "🆕 {ticket} · {kind}\nCategory: {category}\nNote: {note}\nLocation: {kelurahan}\n"
        "Map: {map}\nChannel: {channel} · Earlier reports by this reporter: {history}{similar}",
    ),
    "card.private": (
        "🔒 RAHASIA: hanya untuk petugas; jangan dibagikan ke warga lain.",
        "🔒 RAHASIA (private): for the officers only; do not share with other citizens.",
    ),
    "card.similar": ("\n⚠️ Mungkin sama dengan: {tickets}", "\n⚠️ Possibly the same as: {tickets}"),
    "card.verify": ("✅ Verifikasi", "✅ Verify"),
    "card.reject": ("❌ Tolak", "❌ Reject"),
    "card.recategorise": ("🏷 Ubah kategori", "🏷 Change category"),
    "card.duplicate": ("🔁 Duplikat", "🔁 Duplicate"),
    "card.block": ("⛔ Blokir pelapor", "⛔ Block reporter"),
    "card.acknowledge": ("👍 Tandai sudah dibaca", "👍 Mark as read"),
    "card.reroute": ("↪️ Teruskan ke kelurahan lain", "↪️ Send to another kelurahan"),
    "card.reply": ("💬 Balas warga", "💬 Reply to citizen"),
    "card.decided": ("\n\n— {decision} oleh {who}", "\n\n— {decision} by {who}"),
    "decision.verified": ("Terverifikasi", "Verified"),
    "decision.forwarded": (
        "Terverifikasi, diteruskan ke Kel. {kelurahan}",
        "Verified, sent to Kel. {kelurahan}",
    ),
    "decision.waiting": (
        "Terverifikasi; menunggu grup Kel. {kelurahan} terhubung",
        "Verified; waiting for the Kel. {kelurahan} group to be connected",
    ),
    "decision.unrouted": (
        "Terverifikasi; belum ada kelurahan tujuan (pilih ↪️)",
        "Verified; no kelurahan to send it to yet (use ↪️)",
    ),
    "decision.rejected": ("Ditolak ({reason})", "Rejected ({reason})"),
    "decision.duplicate": ("Duplikat dari {original}", "Duplicate of {original}"),
    "decision.acknowledged": ("Sudah dibaca", "Read"),
    "decision.blocked": ("Pelapor diblokir ({reason})", "Reporter blocked ({reason})"),
    "decision.recategorised": ("Kategori diubah ke {category}", "Category changed to {category}"),
    "decision.too_late": (
        "Laporan {ticket} sudah diputuskan sebelumnya ({status}); tidak ada yang diubah.",
        "Report {ticket} was already decided ({status}); nothing was changed.",
    ),
    "review.bad_button": (
        "Tombol itu tidak dikenali atau sudah tidak berlaku; tidak ada yang diubah.",
        "That button is not recognised or no longer active; nothing was changed.",
    ),
    "review.not_verifier": (
        "Maaf {name}, hanya verifikator terdaftar yang dapat memutuskan laporan.",
        "Sorry {name}, only registered verifiers can decide on reports.",
    ),
    "review.reason_prompt": (
        "Alasan penolakan {ticket}? Pilih, atau balas (reply) pesan ini dengan alasan singkat "
        "(pelapor akan membacanya).",
        "Why reject {ticket}? Pick one, or reply to this message with a short reason (the "
        "reporter will read it).",
    ),
    "review.reasons": (
        "Foto tidak jelas|Bukan masalah kota atau bukan kewenangan kelurahan|"
        "Lokasi tidak sesuai|Isi laporan tidak pantas",
        "The photo is not clear|Not a city problem or not the kelurahan's job|"
        "The location does not match|Inappropriate content",
    ),
    "review.duplicate_prompt": (
        "Nomor tiket laporan asli untuk {ticket}? (contoh: JKT-2611-00042) "
        "Balas pesan ini; /batal untuk membatalkan.",
        "The original report's ticket for {ticket}? (e.g. JKT-2611-00042) "
        "Reply to this message; /batal to cancel.",
    ),
    "review.duplicate_bad": (
        "Tiket {given} tidak ditemukan atau tidak bisa dijadikan laporan asli. Ketik tiket lain, "
        "atau Batal.",
        "Ticket {given} was not found or cannot be the original. Type another, or Cancel.",
    ),
    "review.category_prompt": ("Kategori baru untuk {ticket}:", "New category for {ticket}:"),
    "review.block_prompt": (
        "Alasan memblokir pelapor {ticket}? (disimpan di riwayat dan disampaikan dengan sopan) "
        "Balas pesan ini; /batal untuk membatalkan.",
        "Why block the reporter of {ticket}? (kept in the history and told politely) "
        "Reply to this message; /batal to cancel.",
    ),
    "review.route_prompt": (
        "Ke kelurahan mana {ticket} diteruskan? Ketik kode atau nama kelurahan. "
        "Balas pesan ini; /batal untuk membatalkan.",
        "Which kelurahan should {ticket} go to? Type the kelurahan's code or name. "
        "Reply to this message; /batal to cancel.",
    ),
    "review.route_bad": (
        "Kelurahan “{given}” tidak ditemukan. Ketik kode atau nama lain, atau Batal.",
        "Kelurahan “{given}” was not found. Type another code or name, or Cancel.",
    ),
    "review.route_close": ("Mungkin maksudnya: {names}?", "Did you mean: {names}?"),
    "review.route_ambiguous": (
        "“{given}” cocok dengan beberapa kelurahan: {names}. Ketik nama lengkap atau kodenya, "
        "atau Batal.",
        "“{given}” matches several kelurahan: {names}. Type the full name or the code, or Cancel.",
    ),
    "review.help": (
        "Di grup verifikator: tekan tombol pada kartu laporan (di konsol: ketik nomornya; "
        "nomor menjawab kartu terakhir). /buka NOMOR-TIKET menampilkan kartu laporan mana pun "
        "lagi, dengan tombol yang masih berlaku. /batal membatalkan jawaban yang sedang "
        "diminta.",
        "In the verifiers' chat: press the buttons on a report's card (in the console: type "
        "the number; numbers answer the latest card). /buka TICKET shows any report's card "
        "again, with the buttons that still apply. /batal cancels an answer being asked for.",
    ),
    "review.console_hint": (
        "Tidak ada jawaban yang sedang diminta. Ketik nomor tombol kartu terakhir, "
        "/buka NOMOR-TIKET untuk kartu lain, atau /bantuan.",
        "No answer is being asked for. Type a button's number on the latest card, "
        "/buka TICKET for another card, or /bantuan.",
    ),
    "review.open_bad": ("Tiket {given} tidak ditemukan.", "Ticket {given} was not found."),
    "card.status": ("\n\nStatus: {status}", "\n\nStatus: {status}"),
    "review.cancelled": (
        "Dibatalkan; laporan tidak diubah.",
        "Cancelled; the report is unchanged.",
    ),
    "review.returned": (
        "↩️ {ticket} dikembalikan oleh Kel. {kelurahan}: {reason}. "
        "Teruskan ke kelurahan yang tepat.",
        "↩️ {ticket} was sent back by Kel. {kelurahan}: {reason}. Send it to the right kelurahan.",
    ),
    "review.forwarded": (
        "↪️ {ticket} diteruskan ke Kel. {kelurahan}.",
        "↪️ {ticket} sent to Kel. {kelurahan}.",
    ),
    "review.waiting": (
        "⏳ {ticket} menunggu: Kel. {kelurahan} belum punya grup terhubung "
        "(lapor kelurahan invite {code}).",
        "⏳ {ticket} is waiting: Kel. {kelurahan} has no connected group yet "
        "(lapor kelurahan invite {code}).",
    ),
    # -- kelurahan groups ------------------------------------------------------------------
    "group.card": (
        "📋 {ticket} · {category}\nKeterangan: {note}\nLokasi: {place}\nPeta: {map}\n"
        "Dukungan warga: {support}",
        "📋 {ticket} · {category}\nNote: {note}\nLocation: {place}\nMap: {map}\n"
        "Citizens' support: {support}",
    ),
    "group.progress": ("🔧 Proses", "🔧 In progress"),
    "group.done": ("✅ Selesai", "✅ Done"),
    "group.not_ours": ("🚫 Bukan wilayah kami", "🚫 Not our area"),
    "group.reply": ("💬 Balas warga", "💬 Reply to citizen"),
    "group.progress_photo": ("📷 Foto progres", "📷 Progress photo"),
    "group.reply_prompt": (
        "{name}, tulis balasan untuk pelapor {ticket} (dan warga yang mengikutinya). Nama dan "
        "nomor Anda tidak ikut terkirim; balasan ditandatangani “{who}”. Balas pesan ini; "
        "/batal untuk membatalkan.",
        "{name}, write the reply to the reporter of {ticket} (and the citizens following it). "
        "Your name and number are not sent; the reply is signed “{who}”. Reply to this "
        "message; /batal to cancel.",
    ),
    "group.reply_expected": (
        "Balasan untuk {ticket} perlu berupa teks. Tulis lagi, atau /batal.",
        "The reply to {ticket} needs to be text. Write it again, or /batal.",
    ),
    "group.reply_sent": (
        "💬 Balasan untuk {ticket} terkirim ke {count} warga.",
        "💬 The reply to {ticket} went to {count} {count|citizen|citizens}.",
    ),
    "group.cut": (
        "Teksnya lebih dari {max} karakter, jadi dipotong.",
        "The text was over {max} characters, so it was cut.",
    ),
    "group.progress_prompt": (
        "{name}, kirim foto progres untuk {ticket}, boleh dengan keterangan untuk pelapor. "
        "Laporan tetap terbuka. Balas pesan ini; /batal untuk membatalkan.",
        "{name}, send a progress photo for {ticket}, with a caption for the reporter if you "
        "like. The report stays open. Reply to this message; /batal to cancel.",
    ),
    "group.progress_expected": (
        "Untuk foto progres {ticket} saya perlu foto.",
        "For the progress photo of {ticket} I need a photo.",
    ),
    "group.progress_sent": (
        "📷 Foto progres {ticket} terkirim ke {count} warga.",
        "📷 The progress photo of {ticket} went to {count} {count|citizen|citizens}.",
    ),
    "group.addition": (
        "📎 Pelapor {ticket} menambahkan: {note}",
        "📎 The reporter of {ticket} adds: {note}",
    ),
    "group.addition_photo": ("(foto)", "(photo)"),
    "group.bound": (
        "Grup ini sekarang menerima laporan terverifikasi untuk Kel. {kelurahan}, Kec. "
        "{kecamatan}.",
        "This group now receives verified reports for Kel. {kelurahan}, Kec. {kecamatan}.",
    ),
    "group.bind_bad": (
        "Kode itu tidak berlaku (salah, kedaluwarsa, atau sudah dipakai). Minta kode baru ke "
        "admin.",
        "That code is not valid (wrong, expired or used). Ask the admin for a new one.",
    ),
    "group.not_member": (
        "Maaf {name}, laporan {ticket} bukan untuk grup ini.",
        "Sorry {name}, report {ticket} is not for this group.",
    ),
    "group.after_photo_prompt": (
        "{name}, kirim foto sesudah perbaikan untuk {ticket} (wajib), boleh dengan keterangan "
        "untuk pelapor. Balas pesan ini; /batal untuk membatalkan.",
        "{name}, send the photo after the fix for {ticket} (required), with a caption for the "
        "reporter if you like. Reply to this message; /batal to cancel.",
    ),
    "group.after_photo_expected": (
        "Untuk menyelesaikan {ticket} saya perlu foto sesudah perbaikan.",
        "To close {ticket} I need a photo after the fix.",
    ),
    "group.note_kept": (
        "Catatan Anda disimpan dan akan disampaikan ke pelapor bersama fotonya.",
        "Your note is kept and will go to the reporter with the photo.",
    ),
    "group.bounce_prompt": (
        "{name}, mengapa {ticket} bukan wilayah Anda? (misalnya wilayah kelurahan lain) "
        "Balas pesan ini; /batal untuk membatalkan.",
        "{name}, why is {ticket} not your area? (e.g. it belongs to another kelurahan) "
        "Reply to this message; /batal to cancel.",
    ),
    "group.reopened": (
        "🔁 {ticket} dibuka kembali: pelapor menilai {rating}/5 — “{comment}”",
        "🔁 {ticket} reopened: the reporter rated it {rating}/5 — “{comment}”",
    ),
    "group.decided": ("\n\n— {decision} oleh {who}", "\n\n— {decision} by {who}"),
    "group.in_progress": ("Diproses", "In progress"),
    "group.resolved": ("Selesai", "Done"),
    "group.returned": (
        "Dikembalikan ke verifikator ({reason})",
        "Sent back to the verifiers ({reason})",
    ),
    "group.digest": (
        "📋 {count} laporan baru untuk kelurahan ini (digabung agar tidak melebihi batas pesan "
        "grup):\n{lines}\nKetik /buka NOMOR-TIKET untuk menampilkan kartunya.",
        "📋 {count} new {count|report|reports} for this kelurahan (combined to stay within the "
        "group message "
        "limit):\n{lines}\nType /buka TICKET to show its card.",
    ),
    "group.help": (
        "Di grup kelurahan: tekan 🔧 Proses saat mulai menangani, ✅ Selesai lalu kirim foto "
        "sesudah perbaikan (keterangan untuk pelapor boleh ditulis), atau 🚫 Bukan wilayah kami "
        "dengan alasannya. 💬 Balas warga mengirim pesan ke pelapor tanpa nama Anda; 📷 Foto "
        "progres mengirim foto pekerjaan tanpa menutup laporan. /buka NOMOR-TIKET menampilkan "
        "kartu laporan grup ini; /batal membatalkan.",
        "In a kelurahan group: press 🔧 In progress when work starts, ✅ Done and then send the "
        "photo after the fix (a note for the reporter is welcome), or 🚫 Not our area with the "
        "reason. 💬 Reply to citizen sends the reporter a message without your name; 📷 "
        "Progress photo sends a photo of the work without closing the report. /buka TICKET "
        "shows a card of this group's; /batal cancels.",
    ),
    "group.open_bad": (
        "Tiket {given} tidak ada di grup ini.",
        "Ticket {given} is not in this group.",
    ),
    # -- RT/RW heads ------------------------------------------------------------------------
    "menu.quota": ("Kuota saya", "My quota"),
    "head.linked": (
        "Terhubung! Akun ini sekarang tercatat sebagai Ketua {unit}, Kel. {kelurahan}. "
        "Laporan Anda yang terverifikasi dihitung untuk kuota; lihat dengan /kuota. "
        "Pengingat dikirim bila kuota hari ini belum tercapai (/jeda untuk menghentikan).",
        "Linked! This account is now recorded as the head of {unit}, Kel. {kelurahan}. Your "
        "verified reports count toward the quota; see it with /kuota. Reminders come when "
        "today's quota is not met yet (/jeda to pause them).",
    ),
    "head.code_unknown": (
        "Kode pendaftaran itu tidak dikenal. Periksa lagi kodenya, atau minta kode baru ke "
        "kelurahan.",
        "That registration code is not known. Check it again, or ask the kelurahan for a new one.",
    ),
    "head.code_expired": (
        "Kode pendaftaran itu sudah kedaluwarsa. Minta kode baru ke kelurahan.",
        "That registration code has expired. Ask the kelurahan for a new one.",
    ),
    "head.code_used": (
        "Kode pendaftaran itu sudah dipakai. Jika bukan Anda yang memakainya, hubungi kelurahan.",
        "That registration code has been used already. If it was not you, contact the kelurahan.",
    ),
    "head.code_slow": (
        "Terlalu banyak kode yang salah. Silakan coba lagi dalam {minutes} menit.",
        "Too many wrong codes. Please try again in {minutes} {minutes|minute|minutes}.",
    ),
    "head.already": (
        "Akun ini sudah terhubung sebagai Ketua {unit}, Kel. {kelurahan}.",
        "This account is already linked as the head of {unit}, Kel. {kelurahan}.",
    ),
    "head.not_head": (
        "Fitur ini untuk Ketua RT/RW yang sudah terhubung. Daftar dengan kode dari kelurahan: "
        "ketik DAFTAR KODE.",
        "This is for linked RT/RW heads. Register with the code from your kelurahan: type "
        "DAFTAR CODE.",
    ),
    "head.quota": (
        "Kuota Ketua {unit}, Kel. {kelurahan}:\n"
        "Hari ini: {today} terhitung, {today_waiting} menunggu verifikasi, {today_rejected} "
        "ditolak/duplikat.{shortfall}\n"
        "Bulan ini: {month} terhitung (dibayar maks. {cap}), {month_waiting} menunggu, "
        "{month_rejected} ditolak/duplikat.\n"
        "Perkiraan tunjangan bulan ini: {allowance} ({paid} × {rate} + {fixed}).\n"
        "Hanya laporan yang sudah diverifikasi yang dihitung.",
        "Quota of the head of {unit}, Kel. {kelurahan}:\n"
        "Today: {today} counted, {today_waiting} awaiting verification, {today_rejected} "
        "rejected/duplicate.{shortfall}\n"
        "This month: {month} counted (paid up to {cap}), {month_waiting} waiting, "
        "{month_rejected} rejected/duplicate.\n"
        "Estimated allowance this month: {allowance} ({paid} × {rate} + {fixed}).\n"
        "Only verified reports count.",
    ),
    "head.shortfall": (" Kurang {n} lagi dari minimal {minimum}.", " {n} more to reach {minimum}."),
    "head.met": (
        " Minimal {minimum} sudah tercapai, terima kasih!",
        " The minimum of {minimum} is met, thank you!",
    ),
    "head.paused": (
        "Pengingat dijeda. Ketik /lanjut untuk menerimanya lagi.",
        "Reminders paused. Type /lanjut to receive them again.",
    ),
    "head.resumed": ("Pengingat dilanjutkan.", "Reminders resumed."),
    "reminder.daily": (
        "Halo {name}, terima kasih atas {done} laporan terverifikasi hari ini. Untuk minimal "
        "{minimum} laporan, masih perlu {n} lagi. Laporan yang menunggu verifikasi: {waiting}. "
        "Ketik /lapor untuk melapor, /jeda untuk menghentikan pengingat.",
        "Hello {name}, thank you for today's {done} verified {done|report|reports}. To reach the "
        "minimum of {minimum}, {n} more {n|is|are} needed. Reports awaiting verification: "
        "{waiting}. Type /lapor to report, /jeda to pause reminders.",
    ),
    "reminder.monthly": (
        "Ringkasan {month} untuk Ketua {unit}: {counted} laporan terverifikasi, {paid} dibayar; "
        "perkiraan tunjangan {allowance}. Terima kasih atas kerja Anda untuk warga!",
        "Summary of {month} for the head of {unit}: {counted} verified {counted|report|reports}, "
        "{paid} paid; "
        "estimated allowance {allowance}. Thank you for your work for the residents!",
    ),
    # -- WhatsApp rendering -----------------------------------------------------------------
    "wa.reply_number": (
        "Balas dengan angka pilihan Anda (atau ketik BATAL).",
        "Reply with the number of your choice (or type BATAL).",
    ),
    # -- opting out of unsolicited messages ------------------------------------------------
    "optout.done": (
        "Baik, Anda tidak akan menerima pesan yang tidak Anda minta (pengingat, siaran). Kabar "
        "tentang laporan Anda tetap dikirim. Ketik MULAI untuk menerimanya lagi.",
        "All right, you will not get messages you did not ask for (reminders, broadcasts). "
        "Updates on your reports still come. Type MULAI to receive them again.",
    ),
    "optin.done": (
        "Baik, pengingat dan siaran akan dikirim lagi. Ketik BERHENTI untuk menghentikannya.",
        "All right, reminders and broadcasts will be sent again. Type BERHENTI to stop them.",
    ),
    # -- my reports -------------------------------------------------------------------------
    "mine.none": (
        "Anda belum punya laporan. Pilih “Buat laporan” untuk memulai.",
        "You have no reports yet. Choose “New report” to start.",
    ),
    "mine.header": ("Laporan terakhir Anda:", "Your latest reports:"),
    "mine.line": ("{ticket} · {what} · {status} · {date}", "{ticket} · {what} · {status} · {date}"),
    "mine.followed": (" · (diikuti)", " · (followed)"),
    "mine.rate": ("⭐ Beri nilai {ticket}", "⭐ Rate {ticket}"),
    "mine.add": ("📝 Tambah keterangan/foto {ticket}", "📝 Add a note/photo to {ticket}"),
    "add.prompt": (
        "Tulis keterangan tambahan atau kirim foto untuk {ticket} (foto boleh dengan "
        "keterangan). Petugas menerimanya tanpa nama dan nomor Anda.",
        "Write an extra note or send a photo for {ticket} (a photo may have a caption). The "
        "officers receive it without your name or number.",
    ),
    "add.expected": (
        "Untuk menambah laporan {ticket}, kirim teks atau foto.",
        "To add to report {ticket}, send text or a photo.",
    ),
    "add.done": (
        "Terima kasih, tambahan Anda untuk {ticket} sudah diteruskan ke petugas.",
        "Thank you, what you added to {ticket} has been passed to the officers.",
    ),
    "add.cut": (
        "Keterangan Anda lebih dari {max} karakter, jadi dipotong.",
        "Your note was over {max} characters, so it was cut.",
    ),
    "add.closed": (
        "Laporan {ticket} sudah berstatus {status}, jadi tidak bisa ditambah lagi. Bila "
        "masalahnya muncul lagi, silakan buat laporan baru.",
        "Report {ticket} is already {status}, so nothing more can be added. If the problem "
        "comes back, please file a new report.",
    ),
    "add.not_yours": (
        "Keterangan hanya bisa ditambahkan pada laporan Anda sendiri yang masih terbuka.",
        "A note can only be added to your own report while it is open.",
    ),
    "mine.feedback.submitted": ("Diterima", "Received"),
    "mine.feedback.acknowledged": ("Sudah dibaca", "Read"),
    # -- deadlines (SP4N-LAPOR!): staff chats, in the deployment's language ---------------------
    "sla.days": ("{n} hari kerja", "{n} working days"),
    "sla.day": ("{n} hari kerja", "{n} working day"),
    "sla.verify.half": (
        "⏰ Laporan {ticket} ({category}, {place}) menunggu verifikasi sejak {since}, sudah "
        "{waited}. Batas verifikasi: {deadline}.",
        "⏰ Report {ticket} ({category}, {place}) has been awaiting verification since {since}, "
        "{waited} so far. Verification deadline: {deadline}.",
    ),
    "sla.verify.breach": (
        "🚨 Batas verifikasi terlewati: laporan {ticket} ({category}, {place}) menunggu "
        "verifikasi sejak {since} ({waited}); batasnya {deadline}. Laporan ini ditandai "
        "terlambat di dasbor.",
        "🚨 Verification deadline missed: report {ticket} ({category}, {place}) has been "
        "awaiting verification since {since} ({waited}); the deadline was {deadline}. It is "
        "marked as late on the dashboard.",
    ),
    "sla.followup.half": (
        "⏰ Laporan {ticket} ({category}, {place}) diteruskan ke grup ini pada {since} dan "
        "belum diproses, sudah {waited}. Batas tindak lanjut: {deadline}. Tekan 🔧 Proses "
        "pada kartunya, atau ketik /buka {ticket}.",
        "⏰ Report {ticket} ({category}, {place}) was sent to this group on {since} and is not "
        "in progress yet, {waited} so far. Follow-up deadline: {deadline}. Press 🔧 In progress "
        "on its card, or type /buka {ticket}.",
    ),
    "sla.followup.half_admin": (
        "⏰ Laporan {ticket} ({category}, {place}) diteruskan ke Kel. {kelurahan} pada {since} "
        "dan belum diproses, sudah {waited}; kelurahan ini tidak punya grup terhubung. Batas "
        "tindak lanjut: {deadline}.",
        "⏰ Report {ticket} ({category}, {place}) was sent to Kel. {kelurahan} on {since} and "
        "is not in progress yet, {waited} so far; this kelurahan has no connected group. "
        "Follow-up deadline: {deadline}.",
    ),
    "sla.followup.breach": (
        "🚨 Batas tindak lanjut terlewati: laporan {ticket} ({category}, {place}) diteruskan "
        "ke Kel. {kelurahan} pada {since} dan belum diproses setelah {waited}; batasnya "
        "{deadline}. Laporan ini ditandai terlambat di dasbor.",
        "🚨 Follow-up deadline missed: report {ticket} ({category}, {place}) was sent to Kel. "
        "{kelurahan} on {since} and is not in progress after {waited}; the deadline was "
        "{deadline}. It is marked as late on the dashboard.",
    ),
}

MONTHS = {
    "id": ("Jan", "Feb", "Mar", "Apr", "Mei", "Jun", "Jul", "Agu", "Sep", "Okt", "Nov", "Des"),
    "en": ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
}


def month_name(month: int, language: str) -> str:
    """'Des': the month's short name (English when asked, Indonesian otherwise)."""
    return MONTHS["en" if language == "en" else "id"][month - 1]


def day_text(day: date, language: str) -> str:
    """'3 Des 2026'."""
    return f"{day.day} {month_name(day.month, language)} {day.year}"


def thousands(value: int) -> str:
    """'1.234': Indonesian thousands separators."""
    return f"{value:,}".replace(",", ".")


# English nouns agree with their number: "{count|report|reports}" reads "1 report" or
# "2 reports" (Indonesian needs no such form: "1 laporan", "2 laporan").
_PLURAL = re.compile(r"\{(\w+)\|([^|{}]*)\|([^|{}]*)\}")


def _agree(text: str, values: dict[str, object]) -> str:
    return _PLURAL.sub(lambda m: m.group(2) if values.get(m.group(1)) == 1 else m.group(3), text)


def t(language: str, key: str, **values: object) -> str:
    """The text for `key` in `language` (English when asked, Indonesian otherwise)."""
    indonesian, english = CATALOGUE[key]
    text = english if language == "en" else indonesian
    return _agree(text, values).format(**values) if values else text
