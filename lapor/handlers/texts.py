"""Every text a user reads, Bahasa Indonesia first, English second.

`t(language, key, **values)` formats one entry. Channels add only platform hints
(how to share a location in WhatsApp); everything else comes from here.
"""

from __future__ import annotations

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
        "The previous conversation ended after {minutes} minutes without a reply, so its "
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
    "photo.received": ("Foto diterima ({count}/{max}).", "Photo received ({count}/{max})."),
    "photo.full": (
        "Sudah {max} foto; foto tambahan tidak disimpan.",
        "You already have {max} photos; extra photos are not kept.",
    ),
    "location.prompt": (
        "Bagikan lokasi masalahnya: tekan tombol “📍 Kirim lokasi”, atau kirim pin lewat "
        "lampiran (📎 → Lokasi) dan geser ke titik yang tepat.",
        "Share the problem's location: press “📍 Send location”, or send a pin through the "
        "attachment menu (📎 → Location) and move it to the exact spot.",
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
        "The note is too long ({length} characters). At most {max} characters.",
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
        "The message is too long ({length} characters). At most {max} characters.",
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
    # -- my reports -------------------------------------------------------------------------
    "mine.none": (
        "Anda belum punya laporan. Pilih “Buat laporan” untuk memulai.",
        "You have no reports yet. Choose “New report” to start.",
    ),
    "mine.header": ("Laporan terakhir Anda:", "Your latest reports:"),
    "mine.line": ("{ticket} · {what} · {status} · {date}", "{ticket} · {what} · {status} · {date}"),
}

MONTHS = {
    "id": ("Jan", "Feb", "Mar", "Apr", "Mei", "Jun", "Jul", "Agu", "Sep", "Okt", "Nov", "Des"),
    "en": ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
}


def t(language: str, key: str, **values: object) -> str:
    """The text for `key` in `language` (English when asked, Indonesian otherwise)."""
    indonesian, english = CATALOGUE[key]
    text = english if language == "en" else indonesian
    return text.format(**values) if values else text
