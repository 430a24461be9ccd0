"""The labelled examples the shipped category model learns from, and how they are made.

Two kinds, per category: sentences written whole (`WRITTEN`), and sentences composed from
phrase parts written for this purpose: what is wrong (`PROBLEMS`), where (`PLACES`), how a
citizen opens and ends a chat message (`OPENERS`, `ENDINGS`, and endings of the category's
own, `CONSEQUENCES`). Composition then roughs them up the way phones and thumbs do: chat
abbreviations (tidak -> gak, sudah -> udh), a dropped or doubled letter, a stretched last
letter, capitals, no punctuation.

The composition is seeded, so the same parts give the same examples:
`python -m lapor.routing.examples` rewrites `data/category_examples.tsv`, and a test checks
the committed file is what the parts make. The held-out set that measures the model
(bench/data/suggest_heldout.tsv) was written separately, by hand, and is never read here.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

PER_CATEGORY = 360
SEED = 20261204

# Phrase lists are kept as written, several to a line.
# fmt: off
OPENERS = [
    "", "", "", "", "pak ", "bu ", "min ", "admin, ", "lapor pak, ", "lapor, ", "tolong ",
    "mohon ", "permisi, ", "selamat pagi, ", "siang pak, ", "malam min, ", "pak lurah, ",
    "mau lapor ", "izin melaporkan ", "assalamualaikum, ", "halo, ", "tolong dong ",
    "mohon bantuannya, ", "saya mau lapor ", "warga sini mau lapor, ",
]
PLACES = [
    "di depan sekolah", "di gang 3", "di RT 05 RW 02", "dekat pasar", "di pinggir jalan",
    "depan masjid", "di jl kebon jeruk", "samping kantor kelurahan", "di ujung gang",
    "dekat stasiun", "di perempatan", "depan rumah saya", "di jalan raya", "dekat halte",
    "di komplek perumahan", "belakang puskesmas", "di sebelah minimarket", "dekat jembatan",
    "di bantaran kali", "depan sd negeri", "di jalan utama kampung", "dekat pos ronda",
    "di RW 07", "depan gereja", "di jalan menuju terminal", "dekat terminal",
    "di samping rel kereta", "depan ruko", "di gang buntu", "dekat lapangan", "di kampung kami",
    "di jalan masuk perumahan", "depan kantor pos", "dekat flyover", "di tanah abang",
    "di daerah cempaka putih", "di kelapa gading", "dekat pintu tol", "di bawah jembatan",
    "di dekat rusun", "sekitar taman", "depan kantor kecamatan", "di jalan kecil belakang pasar",
]
ENDINGS = [
    "", "", "", "", "", " tolong ditindak", " mohon segera", " mohon ditindaklanjuti",
    " sudah lama", " dari kemarin", " sejak minggu lalu", " terima kasih", " makasih pak",
    " udah berhari hari", " tolong cepat ya", " warga resah", " sudah dilaporkan tapi belum",
    " kapan ditangani?", " tiap hari begini", " mohon perhatiannya", " sudah 3 hari",
    " please", " ditunggu tindakannya", " sudah sering", " parah", " bahaya",
]

# What is wrong, as citizens put it: the signal of each category.
PROBLEMS: dict[str, list[str]] = {
    "sampah": [
        "sampah menumpuk", "tumpukan sampah", "sampah berserakan", "sampah tidak diangkut",
        "bau sampah menyengat", "orang buang sampah sembarangan", "tong sampah penuh",
        "sampah plastik di saluran", "sampah rumah tangga dibuang di lahan kosong",
        "tempat pembuangan sampah liar", "gerobak sampah tidak datang", "sampah belum diangkut",
        "petugas sampah tidak lewat", "karung sampah ditaruh di trotoar",
        "sampah dibakar warga", "sampah numpuk bau", "sampah menggunung",
        "sampah di kali menyumbat", "sampah bekas pasar dibiarkan", "bak sampah meluber",
        "sampah dedaunan dan plastik tidak disapu", "buangan sampah dari truk",
        "sampah berceceran dimakan kucing", "sampah popok dibuang ke sungai",
        "tps penuh sampai ke jalan", "kotoran dan sampah di got", "sampah puing bangunan",
        "banyak lalat dari sampah", "sampah kardus dan botol", "tumpukan kantong plastik",
        "sampah elektronik dibuang", "sampah tidak dipilah dan berserakan",
        "truk sampah belum angkut", "sampah bikin kotor", "depo sampah bau",
        "sampah kiriman di pinggir kali",
    ],
    "parkir-liar": [
        "parkir liar", "mobil parkir di trotoar", "motor parkir sembarangan",
        "juru parkir liar", "tukang parkir minta uang", "parkir di bahu jalan",
        "mobil parkir menghalangi jalan", "truk parkir di jalan", "parkir dua lapis",
        "kendaraan parkir di area dilarang parkir", "ojek online ngetem di pinggir jalan",
        "angkot ngetem lama", "mobil parkir depan gerbang orang", "parkiran liar makan jalan",
        "jukir liar pungut tarif", "mobil diparkir berhari hari di jalan",
        "bus parkir di pinggir jalan", "parkir motor di atas trotoar",
        "mobil parkir di tikungan", "parkir sembarangan bikin sempit jalan",
        "kendaraan parkir di rambu dilarang parkir", "mobil parkir menutup akses",
        "parkir liar di depan toko", "motor parkir di jalur sepeda", "mobil box parkir",
        "parkir liar pengunjung kafe", "tukang parkir liar di minimarket",
        "mobil parkir di depan hidran", "parkir menutup jalan kampung", "bajaj ngetem",
        "mobil mangkrak diparkir di jalan", "kendaraan parkir di trotoar pejalan kaki",
        "parkir liar di depan rumah sakit", "mobil parkir makan setengah jalan",
        "jukir liar maksa bayar parkir", "parkir berjejer di badan jalan",
    ],
    "pelanggaran": [
        "bangunan liar", "bangunan tanpa izin", "reklame liar", "spanduk ilegal dipasang",
        "pengendara lawan arah", "vandalisme coret coret tembok", "tempat hiburan tanpa izin",
        "jual minuman keras", "perjudian", "pabrik buang limbah ke sungai",
        "bangunan melanggar garis sempadan", "motor naik trotoar",
        "sambungan air ilegal", "balap liar", "knalpot bising", "tebang pohon tanpa izin",
        "pagar rumah makan jalan", "usaha tanpa izin di permukiman", "tawuran pelajar",
        "pengemis dan pengamen di lampu merah", "prostitusi terselubung", "pungutan liar",
        "menerobos lampu merah", "kabel fiber dipasang tanpa izin", "gelandangan",
        "orang mabuk bikin keributan", "pembakaran kabel ilegal", "pencurian besi",
        "pelanggaran perda", "bangunan di atas saluran air", "penyalahgunaan fasilitas umum",
        "selebaran ditempel di tiang", "pemotor tidak pakai helm", "kos kosan tanpa izin",
        "penyerobotan lahan", "manusia silver di perempatan",
    ],
    "fasilitas-umum": [
        "halte rusak", "toilet umum rusak", "taman bermain rusak", "bangku taman patah",
        "jembatan penyeberangan rusak", "jpo berlubang", "pagar taman roboh",
        "rambu lalu lintas rusak", "tutup gorong gorong hilang", "trotoar rusak",
        "ubin trotoar lepas", "lift jpo mati", "eskalator halte mati", "papan nama jalan hilang",
        "cctv mati", "keran air taman rusak", "fasilitas rptra rusak", "lapangan rusak",
        "wifi publik mati", "tempat duduk halte hilang", "pintu air macet",
        "jalur pemandu tunanetra rusak", "atap halte bocor", "ayunan anak rusak",
        "taman tidak terawat", "air mancur mati", "toilet umum kotor dan bau",
        "pembatas jalan rusak", "tangga jpo keropos", "hidran rusak", "ramp kursi roda rusak",
        "marka jalan pudar", "fasilitas umum rusak", "mushola umum tidak terurus",
        "penutup saluran trotoar pecah", "tiang rambu miring",
    ],
    "kemacetan": [
        "macet parah", "kemacetan panjang", "jalan macet total", "lalu lintas padat",
        "antrian kendaraan panjang", "lampu merah mati jadi macet", "macet karena putar balik",
        "kendaraan tidak bergerak", "macet tiap jam pulang kerja", "macet di pintu tol",
        "tidak ada polisi yang mengatur lalu lintas", "lalu lintas semrawut",
        "arus lalu lintas tersendat", "macet akibat proyek galian", "macet karena angkot ngetem",
        "macet di perlintasan kereta", "penumpukan kendaraan di persimpangan",
        "kendaraan saling serobot", "macet parah pagi hari", "jalan padat merayap",
        "macet karena pasar tumpah", "traffic light rusak bikin macet", "macet berjam jam",
        "antrian panjang di putaran", "macet total di bundaran", "jalan macet karena kecelakaan",
        "mobil mogok bikin macet", "macet jam sekolah", "pengalihan arus bikin macet",
        "jalur busway diserobot", "kemacetan tiap sore", "kendaraan menumpuk", "macet horor",
        "macet gara gara pak ogah", "perlu rekayasa lalu lintas", "lampu lalu lintas tidak sinkron",
    ],
    "banjir": [
        "banjir", "banjir setinggi lutut", "air masuk rumah", "jalan tergenang",
        "genangan air tidak surut", "kali meluap", "banjir rob", "tanggul jebol",
        "pompa air tidak berfungsi", "saluran mampet jadi banjir", "warga kebanjiran",
        "banjir sepinggang", "air got meluap", "genangan di underpass",
        "banjir kiriman", "hujan sebentar langsung banjir", "air tidak mengalir dan menggenang",
        "drainase tersumbat", "gorong gorong mampet", "rumah terendam",
        "motor mogok kena banjir", "perlu perahu karet", "banjir setinggi paha",
        "warga mengungsi karena banjir", "air sungai naik", "banjir tiap hujan",
        "genangan air setelah hujan", "selokan meluber", "air banjir masuk sekolah",
        "banjir semata kaki", "luapan air kali", "jalan terendam air",
        "saluran air tidak bisa menampung", "air pasang masuk kampung", "banjir lumpur",
        "pintu air tidak dibuka", "kebanjiran",
    ],
    "jalan-rusak": [
        "jalan rusak", "jalan berlubang", "lubang besar di jalan", "aspal mengelupas",
        "jalan bergelombang", "jalan amblas", "jalan retak", "paving block rusak",
        "bekas galian tidak ditutup", "jalan rusak parah", "banyak lubang di jalan",
        "jalan berlubang bahaya untuk motor", "aspal hancur", "lubang jalan tergenang air",
        "jalan ambles dekat saluran", "jalan cor retak", "polisi tidur rusak",
        "jalan belum diaspal", "jalan berbatu", "aspal rusak dilewati truk",
        "lubang di tikungan", "jalan rusak bikin motor jatuh", "tambalan jalan lepas lagi",
        "jalan kompleks rusak", "sambungan jembatan rusak", "jalan rusak bekas proyek",
        "jalan berlumpur", "jalan longsor", "lubang makin besar", "jalan ancur",
        "aspal terkelupas dan berkerikil", "permukaan jalan tidak rata",
        "jalan rusak belum diperbaiki", "lubang menganga di badan jalan", "jalan lubang lubang",
        "jalan rusak sering kecelakaan",
    ],
    "lampu-jalan": [
        "lampu jalan mati", "pju mati", "lampu penerangan jalan padam", "lampu jalan kedip kedip",
        "tiang lampu miring", "jalan gelap", "lampu jalan tidak menyala",
        "lampu jalan menyala siang hari", "kabel lampu jalan menjuntai", "lampu gang mati",
        "lampu taman mati", "penerangan jalan kurang", "lampu jalan rusak", "lampu pju dicuri",
        "lampu jalan redup", "tiang pju roboh", "lampu jpo mati", "jalan gelap gulita",
        "lampu jalan pecah", "lampu jalan putus", "lampu sorot mati", "butuh lampu jalan",
        "lampu penerangan jalan umum rusak", "lampu jalan mati sebagian", "gelap tidak ada lampu",
        "lampu jalan sering padam", "lampu jalan korslet", "tiang lampu karatan",
        "lampu jalan ditabrak", "lampu di jalan setapak mati", "lampu underpass mati",
        "panel lampu jalan terbuka", "lampu jalan baru tapi mati", "lampu jalan nyala mati",
        "lampu penerangan mati total", "pju tidak berfungsi",
    ],
    "pohon-tumbang": [
        "pohon tumbang", "pohon roboh", "dahan patah", "pohon miring mau roboh",
        "pohon tumbang menutup jalan", "pohon tumbang menimpa mobil", "ranting besar jatuh",
        "pohon besar tumbang", "pohon rawan tumbang", "pohon tumbang kena kabel listrik",
        "batang pohon patah", "pohon ambruk", "dahan menggantung", "pohon keropos",
        "pohon tumbang kena angin", "perlu pemangkasan pohon", "pohon tua lapuk",
        "pohon tumbang menimpa rumah", "dahan pohon kena kabel", "pohon tumbang ke jalan",
        "pohon tercabut akarnya", "cabang pohon jatuh", "pohon tumbang belum dibersihkan",
        "pohon doyong", "pohon mau tumbang", "ranting kering rapuh", "pohon tumbang menimpa motor",
        "pohon rubuh", "pohon patah", "pohon tumbang nutup jalan", "pohon tumbang saat hujan",
        "pohon tumbang menghalangi", "dahan pohon menjuntai", "pohon tumbang di taman",
        "sisa pohon tumbang", "pohon angsana tumbang",
    ],
    "pkl-liar": [
        "pkl liar", "pedagang kaki lima di trotoar", "pedagang jualan di bahu jalan",
        "lapak pedagang di trotoar", "gerobak pedagang di trotoar", "pkl berjualan di jpo",
        "pedagang makan badan jalan", "warung tenda di atas saluran", "pedagang asongan",
        "lapak liar", "pedagang mangkal di pinggir jalan", "kios liar",
        "pedagang gelar dagangan di trotoar", "pasar tumpah", "pkl kembali lagi",
        "pedagang liar di halte", "bangunan semi permanen pedagang", "lapak jualan liar",
        "pedagang di jalur sepeda", "penertiban pkl", "pkl menghalangi pejalan kaki",
        "gerobak jualan di jalan", "pedagang kaki lima berjualan sembarangan", "lapak pkl",
        "pedagang berjejer di trotoar", "pedagang di bawah flyover", "warung liar",
        "pedagang kaki lima di depan sekolah", "pkl pakai fasum", "pedagang buah di trotoar",
        "pedagang pasar tumpah ke jalan", "lapak pedagang di taman", "pkl bikin kumuh",
        "tenda jualan di trotoar", "pedagang gorengan di trotoar", "pedagang kaki lima liar",
    ],
    "kebakaran": [
        "kebakaran", "rumah terbakar", "api besar", "asap hitam tebal", "korsleting listrik",
        "ada api", "kebakaran rumah warga", "gudang terbakar", "lahan terbakar",
        "tiang listrik terbakar", "mobil terbakar", "kebakaran pemukiman", "api merembet",
        "tolong damkar", "butuh pemadam kebakaran", "kebakaran pasar", "kompor meledak",
        "tabung gas bocor terbakar", "motor terbakar", "kebakaran ruko", "kebakaran pabrik",
        "api belum padam", "bau asap kebakaran", "gardu listrik terbakar",
        "rumah dilalap api", "ilalang terbakar", "kebakaran lahan kosong", "kebakaran hebat",
        "api dari meteran listrik", "kabel terbakar", "kios terbakar", "kebakaran gedung",
        "si jago merah", "ledakan dan api", "kebakaran di kontrakan", "terbakar habis",
    ],
    "lainnya": [
        "anjing liar", "banyak nyamuk", "minta fogging", "ular masuk rumah",
        "air pam tidak mengalir", "listrik padam", "tanya cara urus ktp", "orang hilang",
        "monyet lepas", "bau kandang ternak", "hewan mati", "bansos belum cair",
        "suara musik keras tengah malam", "sarang tawon", "air sumur tercemar",
        "tanya surat pindah", "warga terlantar", "banyak tikus", "sinyal hilang",
        "minta posyandu", "orang gangguan jiwa", "pemadaman listrik", "jadwal vaksin",
        "burung peliharaan kotor", "buaya di kali", "tembok retak gempa", "air pdam keruh",
        "kucing terjebak", "tanya layanan kelurahan", "info pendaftaran sekolah",
        "jenazah terlantar", "wabah demam berdarah", "bau menyengat dari pabrik",
        "permintaan surat keterangan", "kucing liar banyak", "minta bantuan warga sakit",
    ],
}

# How a citizen ends a message about this category: what it does to them.
CONSEQUENCES: dict[str, list[str]] = {
    "sampah": [" bau banget", " banyak lalat", " kotor sekali", " jorok", " bikin jijik"],
    "parkir-liar": [
        " susah lewat", " pejalan kaki terganggu", " jalan jadi sempit", " menghalangi",
    ],
    "pelanggaran": [" meresahkan warga", " melanggar aturan", " mohon ditertibkan", " ilegal"],
    "fasilitas-umum": [" tidak bisa dipakai", " membahayakan", " mohon diperbaiki", " rusak"],
    "kemacetan": [" tidak bergerak", " telat kerja", " antri panjang", " padat sekali"],
    "banjir": [" air makin tinggi", " belum surut", " rumah kerendem", " tidak bisa lewat"],
    "jalan-rusak": [" bahaya buat motor", " sering ada yang jatuh", " mohon ditambal"],
    "lampu-jalan": [" gelap kalau malam", " rawan begal", " takut lewat malam"],
    "pohon-tumbang": [" jalan tertutup", " bahaya", " menimpa kabel", " mohon dipangkas"],
    "pkl-liar": [" trotoar penuh", " pejalan kaki turun ke jalan", " mohon ditertibkan"],
    "kebakaran": [" api makin besar", " tolong cepat", " warga panik", " asap kemana mana"],
    "lainnya": [" mohon info", " bagaimana ini", " mohon bantuan", " meresahkan"],
}

# Sentences written whole, as citizens send them.
WRITTEN: dict[str, list[str]] = {
    "sampah": [
        "sampahnya udah seminggu gak diangkut, baunya sampe ke dalam rumah",
        "tiap pagi ada yang lempar kresek sampah dari motor ke lahan kosong",
        "pak tolong dong tempat sampah di taman udah penuh banget",
        "got depan rumah mampet isinya sampah plastik semua",
        "di pojokan gang jadi tempat buang sampah, banyak tikus",
        "sampah sisa dagangan pasar dibiarin aja sama pedagangnya",
        "ada yang buang sampah ke kali tiap malam",
        "tpst sementara udah meluber, mohon dikirim truk",
        "sampah bekas hajatan ditinggal di pinggir jalan",
        "ada tumpukan sampah segede gunung di belakang ruko",
    ],
    "parkir-liar": [
        "tiap sore mobil pengunjung resto parkir di trotoar, kami jalan di aspal",
        "ada tukang parkir ngaku ngaku petugas, minta duit di depan apotek",
        "mobil tetangga parkir di jalan umum tiap malam, ambulans gak bisa masuk",
        "truk pasir parkir di pinggir jalan sejak kemarin",
        "motor ojol ngetem berjejer di depan stasiun nutup jalan",
        "mobil parkir depan garasi saya, saya gak bisa keluar",
        "parkir liar di pinggir jalan bikin cuma satu mobil yang bisa lewat",
        "jalan dijadikan parkiran showroom mobil",
        "bus karyawan parkir di bahu jalan tiap pagi",
        "ada mobil rongsok ditinggal di jalan berbulan bulan",
    ],
    "pelanggaran": [
        "ada bangunan baru di atas trotoar tanpa izin",
        "tembok sekolah dicoret coret geng motor",
        "tempat biliar buka sampai pagi dan jual miras",
        "banyak motor lewat trotoar tiap jam sibuk",
        "tetangga bangun kios di atas saluran, airnya jadi mampet",
        "ada pungli di jembatan timbang",
        "spanduk iklan sedot wc ditempel di tiang listrik",
        "anak muda balapan liar tiap malam di jalan ini",
        "pabrik tahu buang limbah ke selokan warga",
        "gudang di tengah permukiman tanpa izin, truk keluar masuk",
    ],
    "fasilitas-umum": [
        "kursi halte patah, orang tua jadi berdiri",
        "lift jembatan penyeberangan gak pernah nyala",
        "pintu toilet umum di taman rusak gak bisa dikunci",
        "perosotan di taman anak retak bahaya",
        "tutup manhole di trotoar hilang, ada lubang dalam",
        "rambu dilarang berhenti roboh ketabrak",
        "jembatan penyeberangan lantainya berkarat dan bolong",
        "lapangan basket rptra ringnya patah",
        "keran wudhu di masjid raya bocor",
        "pagar pembatas taman sudah bengkok dan tajam",
    ],
    "kemacetan": [
        "tiap pagi jalan ke arah kantor walikota macet parah gak gerak",
        "lampu merah di simpang mati, semua kendaraan saling serobot",
        "macet panjang dari lampu merah sampai ke pasar",
        "tolong ada petugas yang ngatur lalin di perempatan ini",
        "sejak ada galian pipa jalan jadi satu lajur, macetnya parah",
        "putaran balik depan mall bikin antrian panjang",
        "jalan arteri padat merayap dari jam enam",
        "angkot berhenti sembarangan bikin macet",
        "jalan ke sekolah macet total tiap jam masuk",
        "lalu lintas semrawut di depan stasiun",
    ],
    "banjir": [
        "air udah masuk ke rumah sebetis, tolong pompa",
        "tiap hujan jalan depan sekolah jadi kolam",
        "kali meluap lagi, air sampai ke jalan raya",
        "banjir rob tiap air laut pasang di kampung nelayan",
        "genangan air di jalan gak surut surut dari kemarin",
        "warga di bantaran kali sudah mengungsi, air setinggi dada",
        "saluran air kecil banget, hujan dikit langsung banjir",
        "rumah pompa gak jalan, air makin naik",
        "underpass kerendem, mobil mogok di tengah",
        "ada tanggul bocor, air rembes ke permukiman",
    ],
    "jalan-rusak": [
        "lubang di jalan depan sekolah makin dalam, udah ada anak jatuh dari motor",
        "aspal jalan kampung kami hancur sejak dilewati truk proyek",
        "jalan ambles di pinggir kali, bahaya kalau malam",
        "bekas galian kabel ditutup asal asalan, jalan jadi bergelombang",
        "jalan rusak berlubang, pas hujan gak keliatan lubangnya",
        "paving di gang udah pada copot dan goyang",
        "tambal sulam jalan udah rusak lagi",
        "jalan retak memanjang dan turun",
        "tolong perbaiki jalan rusak di depan pasar",
        "jalanan penuh lubang kayak sawah",
    ],
    "lampu-jalan": [
        "lampu jalan di gang kami mati sudah sebulan, gelap banget",
        "pju depan sekolah mati, anak pulang les takut",
        "lampu jalan di jalan raya nyala mati nyala mati",
        "tiang lampu jalan hampir roboh kena tabrak",
        "jalan menuju masjid gelap tidak ada penerangan",
        "lampu jalan baru diganti sudah padam lagi",
        "lampu penerangan di jembatan mati semua",
        "kabel lampu jalan putus menggantung",
        "lampu jalan depan rumah malah nyala siang, malamnya mati",
        "tolong dipasang lampu jalan, sering ada jambret",
    ],
    "pohon-tumbang": [
        "pohon besar tumbang habis hujan deras, jalan tertutup total",
        "ada pohon roboh menimpa kabel listrik, percikan api",
        "dahan pohon patah gantung di atas jalan, bahaya buat pengendara",
        "pohon di depan sekolah miring banget takut roboh",
        "pohon tumbang menimpa atap rumah warga",
        "batang pohon tumbang masih di pinggir jalan belum diangkut",
        "mohon dipangkas pohon yang dahannya sudah keropos",
        "pohon tumbang menutup separuh jalan raya",
        "angin kencang bikin dua pohon roboh di taman",
        "akar pohon sudah terangkat, pohon doyong ke jalan",
    ],
    "pkl-liar": [
        "trotoar dipenuhi pedagang kaki lima, pejalan kaki jalan di aspal",
        "pedagang buka lapak di jembatan penyeberangan, sempit",
        "gerobak pedagang parkir permanen di trotoar depan kantor",
        "pkl balik lagi jualan di bahu jalan padahal sudah ditertibkan",
        "pedagang sayur gelar dagangan di jalan tiap subuh",
        "warung tenda makan trotoar sampai ke jalan",
        "pedagang mainan mangkal di depan sekolah menghalangi jalan",
        "lapak pedagang berdiri di atas saluran air",
        "pedagang kaki lima jualan di halte, penumpang gak bisa duduk",
        "pasar malam liar nutup jalan kampung",
    ],
    "kebakaran": [
        "tolong ada kebakaran di rumah warga, api sudah besar",
        "asap hitam keluar dari gudang, sepertinya kebakaran",
        "tiang listrik terbakar ada percikan api",
        "lahan kosong dibakar, api merembet ke rumah",
        "kebakaran di pasar, kios kios habis terbakar",
        "mobil terbakar di jalan tol",
        "ada rumah kebakaran, damkar belum datang",
        "korsleting listrik bikin rumah tetangga terbakar",
        "api dari sampah yang dibakar menjalar ke pagar",
        "kebakaran di kontrakan padat, tolong segera",
    ],
    "lainnya": [
        "air pam mati sudah dua hari di rt kami",
        "banyak anjing liar menggonggong dan mengejar anak",
        "mohon dilakukan fogging, banyak warga kena demam berdarah",
        "ada ular kobra masuk rumah warga",
        "listrik mati dari pagi belum nyala",
        "mau tanya cara membuat kartu keluarga",
        "sinyal internet hilang di seluruh rw",
        "bantuan sosial belum sampai ke warga",
        "ada orang dengan gangguan jiwa berkeliaran",
        "warga lansia sakit tidak ada yang mengurus",
    ],
}

# Chat spellings of standard words, for roughing up composed sentences.
SPELLINGS: dict[str, list[str]] = {
    "tidak": ["gak", "ga", "nggak", "gk", "tdk", "kagak", "enggak"],
    "sudah": ["udah", "udh", "sdh", "dah"],
    "banget": ["bgt", "bngt", "bangettt"],
    "yang": ["yg"],
    "dengan": ["dgn"],
    "jalan": ["jln", "jl", "jalanan"],
    "depan": ["dpn"],
    "dekat": ["dkt", "deket"],
    "sekolah": ["sklh"],
    "rumah": ["rmh"],
    "karena": ["krn", "gara2"],
    "belum": ["blm", "blom"],
    "pohon": ["phn"],
    "lampu": ["lmp"],
    "tolong": ["tlg"],
    "mohon": ["mhn"],
    "sampai": ["sampe", "ampe"],
    "besar": ["gede"],
    "banyak": ["byk", "bnyk"],
    "terima": ["trima"],
    "sama": ["sm"],
    "malam": ["malem", "mlm"],
    "hitam": ["item"],
    "lubang": ["lobang"],
    "berlubang": ["bolong", "berlobang"],
    "menumpuk": ["numpuk"],
    "hilang": ["ilang"],
    "roboh": ["rubuh"],
    "jatuh": ["jatoh"],
    "kemarin": ["kemaren", "kmrn"],
}

# fmt: on


def _typo(word: str, rng: random.Random) -> str:
    """One slip of the thumb: a letter dropped, doubled or swapped with its neighbour."""
    if len(word) < 4:
        return word
    i = rng.randrange(1, len(word) - 1)
    kind = rng.randrange(3)
    if kind == 0:
        return word[:i] + word[i + 1 :]
    if kind == 1:
        return word[:i] + word[i] + word[i:]
    return word[: i - 1] + word[i] + word[i - 1] + word[i + 1 :]


def _roughen(sentence: str, rng: random.Random) -> str:
    words = []
    for word in sentence.split(" "):
        if word in SPELLINGS and rng.random() < 0.5:
            word = rng.choice(SPELLINGS[word])
        elif word.isalpha() and rng.random() < 0.06:
            word = _typo(word, rng)
        words.append(word)
    text = " ".join(words)
    if rng.random() < 0.15 and text[-1:].isalpha():
        text += text[-1] * rng.randint(1, 3)  # "parahhh"
    mark = rng.random()
    if mark < 0.1:
        text = text.upper()
    elif mark < 0.4:
        text = text[:1].upper() + text[1:]
    return text + rng.choice(["", "", "", ".", "!", "!!", "..", " ?", " 🙏"])


def compose(per_category: int = PER_CATEGORY, seed: int = SEED) -> list[tuple[str, str]]:
    """Every (slug, text) example: the written ones, then composed ones up to
    `per_category`, without repeats. Deterministic for a given seed."""
    rng = random.Random(seed)
    examples: list[tuple[str, str]] = []
    for slug in PROBLEMS:
        seen: set[str] = set()
        for sentence in WRITTEN[slug]:
            seen.add(sentence)
            examples.append((slug, sentence))
        endings = ENDINGS + CONSEQUENCES[slug]
        attempts = 0
        while len(seen) < per_category and attempts < per_category * 50:
            attempts += 1
            problem = rng.choice(PROBLEMS[slug])
            place = rng.choice(PLACES)
            opener = rng.choice(OPENERS)
            ending = rng.choice(endings)
            shape = rng.randrange(5)
            if shape == 0:
                sentence = f"{opener}{problem} {place}{ending}"
            elif shape == 1:
                sentence = f"{place} {problem}{ending}"
            elif shape == 2:
                sentence = f"{opener}{problem}{ending}"
            elif shape == 3:
                sentence = f"{opener}ada {problem} {place}{ending}"
            else:
                sentence = f"{problem} {place},{rng.choice(CONSEQUENCES[slug])}"
            text = _roughen(sentence.strip(), rng)
            if text not in seen:
                seen.add(text)
                examples.append((slug, text))
    return examples


HEADER = (
    "# Labelled examples for the shipped category model: slug<TAB>text.\n"
    "# Made by lapor/routing/examples.py (python -m lapor.routing.examples); edit the parts\n"
    "# there, not this file.\n"
)


def render(examples: list[tuple[str, str]]) -> str:
    return HEADER + "".join(f"{slug}\t{text}\n" for slug, text in examples)


DATA_FILE = Path(__file__).parent / "data" / "category_examples.tsv"


def main() -> None:
    """Rewrite the examples file from the parts above."""
    DATA_FILE.parent.mkdir(exist_ok=True)
    DATA_FILE.write_text(render(compose()), encoding="utf-8")
    sys.stdout.write(f"{DATA_FILE}: {len(compose())} examples\n")


if __name__ == "__main__":
    main()
