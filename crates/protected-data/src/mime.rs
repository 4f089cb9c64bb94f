//! The MIME type the SDK records for a binary leaf, sniffed from its first bytes.
//!
//! The SDK (`extractDataSchema` in `utils/data.ts`) asks magic-bytes.js's `filetypeinfo` for
//! its guesses and keeps the first whose MIME type is in its supported list ([`MIME_TYPES`]),
//! else `application/octet-stream`. This module reproduces magic-bytes.js **1.13.1**, the
//! version the SDK's `^1.0.15` resolves to today (the test vectors were made with it):
//!
//! - its signatures (below, in its order; `??` matches any byte) go into one prefix tree per
//!   offset, each signature's MIME type added to the node where it ends;
//! - a walk from the offset takes, at each byte, the child for that byte, else the `??` child,
//!   else stops (no backtracking), stops at the end of the input, and returns the matches of the
//!   deepest node it passed that had any;
//! - the guesses are the walks of every offset tree the input reaches (offset 4 first, the
//!   order magic-bytes.js registered them), then the offset-0 walk.
//!
//! Older magic-bytes.js versions (up to 1.10 at least) returned the first offset walk with a
//! match instead of all of them, and walked past the end of the input through `??` nodes; for
//! the supported types only the offset-4 `ftyp` (MP4) signature has an offset, so the result
//! differs only for inputs whose offset-4 walk yields no supported type while offset 0 would.
//!
//! Consequences worth knowing (all as the SDK does): any input starting with `G` (0x47, an
//! MPEG transport stream sync byte) that is not a full GIF header is `video/mpeg`; any input
//! starting with `BM` is `image/bmp`, with `ID3` `audio/mpeg`; an input with `ftyp` at offset
//! 4 is `video/mp4` unless a longer signature there (QuickTime `ftypqt`, AVIF, HEIF) takes it;
//! documents built on zip (docx, odt, jar, apk…) are `application/zip`; an empty input is
//! `application/octet-stream`.

use std::sync::OnceLock;

/// The MIME types the SDK can record for a binary leaf, in the SDK's order. The first is the
/// fallback.
pub const MIME_TYPES: [&str; 15] = [
    "application/octet-stream",
    "application/pdf",
    "application/xml",
    "application/zip",
    "audio/midi",
    "audio/mpeg",
    "audio/x-wav",
    "image/bmp",
    "image/gif",
    "image/jpeg",
    "image/png",
    "image/webp",
    "video/mp4",
    "video/mpeg",
    "video/x-msvideo",
];

/// The MIME type the SDK would record for a binary leaf with these bytes: one of
/// [`MIME_TYPES`].
pub fn sniff_mime(bytes: &[u8]) -> &'static str {
    let trees = trees();
    let offset_walks = trees.offsets.iter().filter(|(offset, _)| *offset < bytes.len());
    for (offset, root) in offset_walks.chain(std::iter::once(&(0, trees.no_offset))) {
        for mime in trees.walk(*root, &bytes[*offset..]).iter().flatten() {
            if let Some(supported) = MIME_TYPES.iter().find(|m| *m == mime) {
                return supported;
            }
        }
    }
    MIME_TYPES[0]
}

/// One signature of magic-bytes.js: where it starts, its bytes (`??` for any), its MIME type.
struct Signature {
    offset: usize,
    pattern: &'static str,
    mime: Option<&'static str>,
}

const fn sig(offset: usize, pattern: &'static str, mime: Option<&'static str>) -> Signature {
    Signature { offset, pattern, mime }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Step {
    Byte(u8),
    Any,
}

#[derive(Default)]
struct Node {
    children: Vec<(Step, usize)>,
    /// The MIME types of the signatures ending here (`None` for those without one).
    matches: Vec<Option<&'static str>>,
}

struct Trees {
    /// Invariant: every index points into `nodes`.
    nodes: Vec<Node>,
    /// Roots of the trees at an offset other than 0, in the order magic-bytes.js made them.
    offsets: Vec<(usize, usize)>,
    no_offset: usize,
}

impl Trees {
    fn child(&self, node: usize, step: Step) -> Option<usize> {
        self.nodes[node]
            .children
            .iter()
            .find(|(s, _)| *s == step)
            .map(|(_, n)| *n)
    }

    fn walk(&self, root: usize, bytes: &[u8]) -> &[Option<&'static str>] {
        let mut node = root;
        let mut found: &[Option<&'static str>] = &[];
        for &byte in bytes {
            let Some(next) = self
                .child(node, Step::Byte(byte))
                .or_else(|| self.child(node, Step::Any))
            else {
                break;
            };
            node = next;
            if !self.nodes[node].matches.is_empty() {
                found = &self.nodes[node].matches;
            }
        }
        found
    }

    fn add(&mut self, signature: &Signature) {
        let root = if signature.offset == 0 {
            self.no_offset
        } else if let Some((_, root)) = self.offsets.iter().find(|(o, _)| *o == signature.offset) {
            *root
        } else {
            self.nodes.push(Node::default());
            self.offsets.push((signature.offset, self.nodes.len() - 1));
            self.nodes.len() - 1
        };
        let mut node = root;
        for token in signature.pattern.split(' ') {
            let step = match token {
                "??" => Step::Any,
                hex => Step::Byte(u8::from_str_radix(hex, 16).expect("invariant: signatures are hex bytes")),
            };
            node = match self.child(node, step) {
                Some(next) => next,
                None => {
                    self.nodes.push(Node::default());
                    let next = self.nodes.len() - 1;
                    self.nodes[node].children.push((step, next));
                    next
                }
            };
        }
        self.nodes[node].matches.push(signature.mime);
    }
}

fn trees() -> &'static Trees {
    static TREES: OnceLock<Trees> = OnceLock::new();
    TREES.get_or_init(|| {
        let mut trees = Trees {
            nodes: vec![Node::default()],
            offsets: Vec::new(),
            no_offset: 0,
        };
        for signature in SIGNATURES {
            trees.add(signature);
        }
        trees
    })
}

/// magic-bytes.js 1.13.1's signatures (`dist/model/pattern-tree.js`, after Wikipedia's "List of
/// file signatures"), in its order, with their type names as comments. Signatures without a
/// supported MIME type still matter: a longer one hides a shorter supported one on its path.
#[rustfmt::skip]
static SIGNATURES: &[Signature] = &[
    sig(0, "47 49 46 38 37 61", Some("image/gif")), // gif
    sig(0, "47 49 46 38 39 61", Some("image/gif")), // gif
    sig(0, "ff d8 ff", Some("image/jpeg")), // jpg
    sig(0, "52 49 46 46 ?? ?? ?? ?? 57 45 42 50", Some("image/webp")), // webp
    sig(4, "66 74 79 70 6d 69 66 31", Some("image/heif")), // heif
    sig(4, "66 74 79 70 68 65 69 63", Some("image/heif")), // heif
    sig(0, "ed ab ee db", None), // rpm
    sig(0, "53 50 30 31", Some("application/octet-stream")), // bin
    sig(0, "00", None), // pic
    sig(0, "00", None), // pif
    sig(0, "00", None), // sea
    sig(0, "00", None), // ytr
    sig(4, "66 74 79 70", Some("video/mp4")), // mp4
    sig(0, "00 01 00 00 00", Some("font/ttf")), // ttf
    sig(0, "4f 54 54 4f", Some("font/otf")), // otf
    sig(0, "50 4c", Some("application/vnd.ms-fontobject")), // eot
    sig(0, "77 4f 46 46", Some("font/woff")), // woff
    sig(0, "77 4f 46 32", Some("font/woff2")), // woff2
    sig(0, "00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00", None), // pdb
    sig(0, "be ba fe ca", None), // dba
    sig(0, "00 01 42 44", None), // dba2
    sig(0, "00 01 44 54", None), // tda
    sig(0, "00 01 00 00", None), // tda2
    sig(0, "00 00 01 00", Some("image/x-icon")), // ico
    sig(0, "66 74 79 70 33 67", None), // 3gp
    sig(0, "1f 9d", None), // z
    sig(0, "1f a0", None), // tar.z
    sig(0, "42 41 43 4b 4d 49 4b 45 44 49 53 4b", None), // bac
    sig(0, "42 5a 68", Some("application/x-bzip2")), // bz2
    sig(0, "49 49 2a 00", Some("image/tiff")), // tif
    sig(0, "4d 4d 00 2a", Some("image/tiff")), // tiff
    sig(0, "49 49 2a 00 10 00 00 00 43 52", None), // cr2
    sig(0, "80 2a 5f d7", None), // cin
    sig(0, "52 4e 43 01", None), // cin1
    sig(0, "52 4e 43 02", None), // cin2
    sig(0, "53 44 50 58", None), // dpx
    sig(0, "58 50 44 53", None), // dpx2
    sig(0, "76 2f 31 01", None), // exr
    sig(0, "42 50 47 fb", None), // bpg
    sig(0, "46 4f 52 4d ?? ?? ?? ?? 49 4c 42 4d", None), // ilbm
    sig(0, "46 4f 52 4d ?? ?? ?? ?? 38 53 56 58", None), // 8svx
    sig(0, "46 4f 52 4d ?? ?? ?? ?? 41 43 42 4d", None), // acbm
    sig(0, "46 4f 52 4d ?? ?? ?? ?? 41 4e 42 4d", None), // anbm
    sig(0, "46 4f 52 4d ?? ?? ?? ?? 41 4e 49 4d", None), // anim
    sig(0, "46 4f 52 4d ?? ?? ?? ?? 46 41 58 58", None), // faxx
    sig(0, "46 4f 52 4d ?? ?? ?? ?? 46 54 58 54", None), // ftxt
    sig(0, "46 4f 52 4d ?? ?? ?? ?? 53 4d 55 53", None), // smus
    sig(0, "46 4f 52 4d ?? ?? ?? ?? 43 4d 55 53", None), // cmus
    sig(0, "46 4f 52 4d ?? ?? ?? ?? 59 55 56 4e", None), // yuvn
    sig(0, "46 4f 52 4d ?? ?? ?? ?? 46 41 4e 54", None), // iff
    sig(0, "46 4f 52 4d ?? ?? ?? ?? 41 49 46 46", Some("audio/x-aiff")), // aiff
    sig(0, "49 4e 44 58", None), // idx
    sig(0, "4c 5a 49 50", None), // lz
    sig(0, "4d 5a", None), // exe
    sig(0, "50 4b 03 04", Some("application/zip")), // zip
    sig(0, "50 4b 05 06", Some("application/zip")), // zip
    sig(0, "50 4b 07 08", Some("application/zip")), // zip
    sig(0, "50 4b 03 04", Some("application/java-archive")), // jar
    sig(0, "50 4b 05 06", Some("application/java-archive")), // jar
    sig(0, "50 4b 07 08", Some("application/java-archive")), // jar
    sig(0, "50 4b 03 04", Some("application/vnd.oasis.opendocument.text")), // odt
    sig(0, "50 4b 05 06", Some("application/vnd.oasis.opendocument.text")), // odt
    sig(0, "50 4b 07 08", Some("application/vnd.oasis.opendocument.text")), // odt
    sig(0, "50 4b 03 04", Some("application/vnd.oasis.opendocument.spreadsheet")), // ods
    sig(0, "50 4b 05 06", Some("application/vnd.oasis.opendocument.spreadsheet")), // ods
    sig(0, "50 4b 07 08", Some("application/vnd.oasis.opendocument.spreadsheet")), // ods
    sig(0, "50 4b 03 04", Some("application/vnd.oasis.opendocument.presentation")), // odp
    sig(0, "50 4b 05 06", Some("application/vnd.oasis.opendocument.presentation")), // odp
    sig(0, "50 4b 07 08", Some("application/vnd.oasis.opendocument.presentation")), // odp
    sig(0, "50 4b 03 04", Some("application/vnd.openxmlformats-officedocument.wordprocessingml.document")), // docx
    sig(0, "50 4b 05 06", Some("application/vnd.openxmlformats-officedocument.wordprocessingml.document")), // docx
    sig(0, "50 4b 07 08", Some("application/vnd.openxmlformats-officedocument.wordprocessingml.document")), // docx
    sig(0, "50 4b 03 04", Some("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")), // xlsx
    sig(0, "50 4b 05 06", Some("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")), // xlsx
    sig(0, "50 4b 07 08", Some("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")), // xlsx
    sig(0, "50 4b 03 04", Some("application/vnd.openxmlformats-officedocument.presentationml.presentation")), // pptx
    sig(0, "50 4b 05 06", Some("application/vnd.openxmlformats-officedocument.presentationml.presentation")), // pptx
    sig(0, "50 4b 07 08", Some("application/vnd.openxmlformats-officedocument.presentationml.presentation")), // pptx
    sig(0, "50 4b 03 04", Some("application/vnd.ms-visio.drawing")), // vsdx
    sig(0, "50 4b 05 06", Some("application/vnd.ms-visio.drawing")), // vsdx
    sig(0, "50 4b 07 08", Some("application/vnd.ms-visio.drawing")), // vsdx
    sig(0, "50 4b 03 04", Some("application/vnd.android.package-archive")), // apk
    sig(0, "50 4b 05 06", Some("application/vnd.android.package-archive")), // apk
    sig(0, "50 4b 07 08", Some("application/vnd.android.package-archive")), // apk
    sig(0, "50 4b 03 04", Some("application/vnd.android.package-archive")), // aar
    sig(0, "50 4b 05 06", Some("application/vnd.android.package-archive")), // aar
    sig(0, "50 4b 07 08", Some("application/vnd.android.package-archive")), // aar
    sig(0, "52 61 72 21 1a 07 00", Some("application/vnd.rar")), // rar
    sig(0, "52 61 72 21 1a 07 01 00", Some("application/vnd.rar")), // rar
    sig(0, "89 50 4e 47 0d 0a 1a 0a", Some("image/png")), // png
    sig(0, "89 50 4e 47 0d 0a 1a 0a", Some("image/apng")), // apng
    sig(0, "ca fe ba be", None), // class
    sig(0, "ef bb bf", None), // class
    sig(4096, "fe ed fa ce", None), // class
    sig(4096, "fe ed fa cf", None), // class
    sig(0, "ce fa ed fe", None), // class
    sig(0, "cf fa ed fe", None), // class
    sig(0, "ff fe", None), // class
    sig(0, "ff fe", None), // class
    sig(0, "ff fe 00 00", None), // class
    sig(0, "25 21 50 53", Some("application/postscript")), // ps
    sig(0, "25 50 44 46", Some("application/pdf")), // pdf
    sig(0, "ef bb bf 25 50 44 46", Some("application/pdf")), // pdf
    sig(0, "30 26 b2 75 8e 66 cf 11 a6 d9 00 aa 00 62 ce 6c", None), // asf
    sig(0, "30 26 b2 75 8e 66 cf 11 a6 d9 00 aa 00 62 ce 6c", None), // wma
    sig(0, "30 26 b2 75 8e 66 cf 11 a6 d9 00 aa 00 62 ce 6c", None), // wmv
    sig(0, "24 53 44 49 30 30 30 31", None), // deploymentimage
    sig(0, "4f 67 67 53 ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? 80 74 68 65 6f 72 61", Some("video/ogg")), // ogv
    sig(0, "4f 67 67 53 ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? 01 76 69 64 65 6f 00", Some("video/ogg")), // ogm
    sig(0, "4f 67 67 53 ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? 7f 46 4c 41 43", Some("audio/ogg")), // oga
    sig(0, "4f 67 67 53 ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? 53 70 65 65 78 20 20", Some("audio/ogg")), // spx
    sig(0, "4f 67 67 53 ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? ?? 01 76 6f 72 62 69 73", Some("audio/ogg")), // ogg
    sig(0, "4f 67 67 53", Some("application/ogg")), // ogx
    sig(0, "38 42 50 53", Some("application/x-photoshop")), // psd
    sig(0, "43 53 46 43 48 55 4e 4b", None), // clip
    sig(0, "52 49 46 46 ?? ?? ?? ?? 57 41 56 45", Some("audio/x-wav")), // wav
    sig(0, "52 49 46 46 ?? ?? ?? ?? 41 56 49 20", Some("video/x-msvideo")), // avi
    sig(0, "ff fb", Some("audio/mpeg")), // mp3
    sig(0, "ff f3", Some("audio/mpeg")), // mp3
    sig(0, "ff f2", Some("audio/mpeg")), // mp3
    sig(0, "49 44 33", Some("audio/mpeg")), // mp3
    sig(0, "ff f1", Some("audio/aac")), // aac
    sig(0, "ff f9", Some("audio/aac")), // aac
    sig(0, "42 4d", Some("image/bmp")), // bmp
    sig(0, "43 44 30 30 31", None), // iso
    sig(0, "66 4c 61 43", Some("audio/flac")), // flac
    sig(0, "4d 54 68 64", Some("audio/midi")), // mid
    sig(0, "4d 54 68 64", Some("audio/midi")), // midi
    sig(0, "d0 cf 11 e0 a1 b1 1a e1", Some("application/msword")), // doc
    sig(0, "d0 cf 11 e0 a1 b1 1a e1", Some("application/vnd.ms-excel")), // xls
    sig(0, "d0 cf 11 e0 a1 b1 1a e1", Some("application/vnd.ms-powerpoint")), // ppt
    sig(0, "d0 cf 11 e0 a1 b1 1a e1", None), // msg
    sig(0, "64 65 78 0a 30 33 35 00", None), // dex
    sig(0, "4b 44 4d", None), // vmdk
    sig(0, "43 72 32 34", None), // crx
    sig(0, "41 47 44 33", None), // fh8
    sig(0, "05 07 00 00 42 4f 42 4f 05 07 00 00 00 00 00 00 00 00 00 00 00 01", None), // cwk
    sig(0, "06 07 e1 00 42 4f 42 4f 06 07 e1 00 00 00 00 00 00 00 00 00 00 01", None), // cwk
    sig(0, "45 52 02 00 00 00", None), // toast
    sig(0, "8b 45 52 02 00 00 00", None), // toast
    sig(0, "78 01 73 0d 62 62 60", None), // dmg
    sig(0, "78 61 72 21", None), // xar
    sig(0, "50 4d 4f 43 43 4d 4f 43", None), // dat
    sig(0, "4e 45 53 1a", None), // nes
    sig(257, "75 73 74 61 72 00 30 30", Some("application/x-tar")), // tar
    sig(257, "75 73 74 61 72 20 20 00", Some("application/x-tar")), // tar
    sig(0, "74 6f 78 33", None), // tox
    sig(0, "4d 4c 56 49", None), // mlv
    sig(0, "44 43 4d 01 50 41 33 30", None), // windowsupdate
    sig(0, "37 7a bc af 27 1c", Some("application/x-7z-compressed")), // 7z
    sig(0, "1f 8b", Some("application/gzip")), // gz
    sig(0, "1f 8b", Some("application/gzip")), // tar.gz
    sig(0, "fd 37 7a 58 5a 00 00", Some("application/gzip")), // xz
    sig(0, "fd 37 7a 58 5a 00 00", Some("application/gzip")), // tar.xz
    sig(0, "04 22 4d 18", None), // lz2
    sig(0, "4d 53 43 46", None), // cab
    sig(0, "1a 45 df a3", Some("video/x-matroska")), // mkv
    sig(0, "1a 45 df a3", Some("audio/x-matroska")), // mka
    sig(0, "1a 45 df a3", Some("video/x-matroska")), // mks
    sig(0, "1a 45 df a3", None), // mk3d
    sig(0, "1a 45 df a3", Some("audio/webm")), // webm
    sig(128, "44 49 43 4d", None), // dcm
    sig(0, "3c 3f 78 6d 6c 20", Some("application/xml")), // xml
    sig(0, "00 61 73 6d", Some("application/wasm")), // wasm
    sig(0, "cf 84 01", None), // lep
    sig(0, "43 57 53", Some("application/x-shockwave-flash")), // swf
    sig(0, "46 57 53", Some("application/x-shockwave-flash")), // swf
    sig(0, "21 3c 61 72 63 68 3e", None), // deb
    sig(0, "7b 5c 72 74 66 31", Some("application/rtf")), // rtf
    sig(0, "00 00 01 ba", None), // m2p
    sig(0, "00 00 01 ba", None), // vob
    sig(0, "00 00 01 ba", Some("video/mpeg")), // mpg
    sig(0, "00 00 01 ba", Some("video/mpeg")), // mpeg
    sig(0, "47", Some("video/mpeg")), // mpeg
    sig(0, "00 00 01 b3", Some("video/mpeg")), // mpeg
    sig(4, "66 72 65 65", Some("video/quicktime")), // mov
    sig(4, "6d 64 61 74", Some("video/quicktime")), // mov
    sig(4, "6d 6f 6f 76", Some("video/quicktime")), // mov
    sig(4, "77 69 64 65", Some("video/quicktime")), // mov
    sig(4, "66 74 79 70 71 74", Some("video/quicktime")), // mov
    sig(0, "48 4c 32 44 45 4d 4f", None), // hl2demo
    sig(0, "ef bb bf", Some("text/plain; charset=UTF-8")), // txt
    sig(0, "ff fe", Some("text/plain; charset=UTF-16LE")), // txt
    sig(0, "fe ff", Some("text/plain; charset=UTF-16BE")), // txt
    sig(0, "ff fe 00 00", Some("text/plain; charset=UTF-32LE")), // txt
    sig(0, "00 00 fe ff", Some("text/plain; charset=UTF-32BE")), // txt
    sig(0, "31 0d 0a 30 30 3a", Some("application/x-subrip")), // SubRip
    sig(0, "ef bb bf 57 45 42 56 54 54 0a", Some("text/vtt")), // WebVTT
    sig(0, "ef bb bf 57 45 42 56 54 54 0d", Some("text/vtt")), // WebVTT
    sig(0, "ef bb bf 57 45 42 56 54 54 20", Some("text/vtt")), // WebVTT
    sig(0, "ef bb bf 57 45 42 56 54 54 09", Some("text/vtt")), // WebVTT
    sig(0, "57 45 42 56 54 54 0a", Some("text/vtt")), // WebVTT
    sig(0, "57 45 42 56 54 54 0d", Some("text/vtt")), // WebVTT
    sig(0, "57 45 42 56 54 54 20", Some("text/vtt")), // WebVTT
    sig(0, "57 45 42 56 54 54 09", Some("text/vtt")), // WebVTT
    sig(0, "7b", Some("application/json")), // Json
    sig(0, "5b", Some("application/json")), // Json
    sig(0, "7f 45 4c 46", Some("application/x-executable")), // ELF
    sig(0, "fe ed fa 0c", Some("application/x-mach-binary")), // Mach-O
    sig(0, "fe ed fa cf", Some("application/x-executable")), // Mach-O
    sig(0, "53 51 4c 69 74 65 20 66 6f 72 6d 61 74 20 33 00", Some("application/vnd.sqlite3")), // sqlite
    sig(0, "53 51 4c 69 74 65 20 66 6f 72 6d 61 74 20 33 00", Some("application/vnd.sqlite3")), // sqlite
    sig(0, "52 65 63 65 69 76 65 64 3a", Some("message/rfc822")), // EML
    sig(0, "3c 73 76 67", Some("image/svg+xml")), // SVG
    sig(4, "66 74 79 70 61 76 69 66", Some("image/avif")), // avif
];

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(hex: &str) -> Vec<u8> {
        (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect()
    }

    /// Inputs built around every magic-bytes.js signature (whole, cut short, one byte changed,
    /// with a tail) and random ones, with the MIME type the SDK records for each, computed by
    /// magic-bytes.js 1.13.1 itself (`tests/data/sniff-cases.cjs`).
    #[test]
    fn matches_magic_bytes_js_as_the_sdk_uses_it() {
        let cases = include_str!("../tests/data/sniff-cases.tsv");
        let mut checked = 0;
        for line in cases.lines().filter(|l| !l.starts_with('#')) {
            let (hex, expected) = line.split_once('\t').unwrap();
            assert_eq!(sniff_mime(&unhex(hex)), expected, "input {hex}");
            checked += 1;
        }
        assert!(checked > 1000, "{checked} cases");
    }

    #[test]
    fn known_types() {
        assert_eq!(sniff_mime(b""), "application/octet-stream");
        assert_eq!(sniff_mime(b"\x89PNG\r\n\x1a\n...."), "image/png");
        assert_eq!(sniff_mime(b"%PDF-1.7"), "application/pdf");
        assert_eq!(sniff_mime(b"GIF89a"), "image/gif");
        assert_eq!(sniff_mime(b"GIF89"), "video/mpeg", "'G' alone is an MPEG-TS sync byte");
        assert_eq!(sniff_mime(b"Go home"), "video/mpeg");
        assert_eq!(sniff_mime(b"BMW"), "image/bmp");
        assert_eq!(sniff_mime(b"PK\x03\x04\x14\x00\x06\x00"), "application/zip");
        assert_eq!(sniff_mime(b"\0\0\0\x18ftypisom"), "video/mp4");
        assert_eq!(sniff_mime(b"\0\0\0\x18ftypqt  "), "application/octet-stream");
        assert_eq!(sniff_mime(b"RIFF\0\0\0\0WEBPVP8 "), "image/webp");
        assert_eq!(sniff_mime(b"RIFF\0\0\0\0WAVEfmt "), "audio/x-wav");
        assert_eq!(sniff_mime(b"RIFF\0\0\0\0AVI LIST"), "video/x-msvideo");
        assert_eq!(sniff_mime(b"<?xml version"), "application/xml");
        assert_eq!(sniff_mime(b"<?xml"), "application/octet-stream");
        assert_eq!(sniff_mime(b"plain text"), "application/octet-stream");
        for mime in MIME_TYPES {
            assert!(
                mime == "application/octet-stream" || SIGNATURES.iter().any(|s| s.mime == Some(mime)),
                "{mime}"
            );
        }
    }
}
