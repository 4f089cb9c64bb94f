// Test vectors for Confide's protected-data format, made by iExec's own DataProtector SDK.
//
//   node interop/protected-data-vectors.mjs OUTDIR
//
// For each vector, the SDK's own `extractDataSchema` and `createZipFromObject` (the two steps
// `protectData` runs before encrypting) turn an input object into NAME.zip and NAME.schema.json;
// OUTDIR/vectors.json then describes every vector: the input object in a JSON form (bigints as
// {"$i128": "..."}, binaries as {"$base64": "..."}), the zip's sha256 and its entries, in order.
//
// JSZip stamps every entry with the current time (UTC, 2-second resolution), so the SDK's output
// depends on when it ran. With SOURCE_DATE_EPOCH=SECONDS in the environment, the clock that JSZip
// reads is pinned to that instant, and the output is reproducible byte for byte.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const sdkDir = join(here, 'node_modules', '@iexec', 'dataprotector');
// The package's exports map exposes only its entry point: its utilities are imported by path.
const { extractDataSchema, createZipFromObject } = await import(
  pathToFileURL(join(sdkDir, 'dist', 'src', 'utils', 'data.js')).href
);
const versionOf = (dir) => JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).version;

const outDir = process.argv[2];
if (!outDir) {
  console.error('usage: node protected-data-vectors.mjs OUTDIR');
  process.exit(2);
}

const epoch = process.env.SOURCE_DATE_EPOCH;
if (epoch !== undefined) {
  const pinned = Number(epoch) * 1000;
  const RealDate = Date;
  // `new Date()` (no argument) is the only clock JSZip reads; every other use is left alone.
  globalThis.Date = class extends RealDate {
    constructor(...args) {
      super(...(args.length ? args : [pinned]));
    }
    static now() {
      return pinned;
    }
  };
}

// ---------------------------------------------------------------------------------------------
// Small binary files, built here from their published formats.

const bytes = (...parts) =>
  Uint8Array.from(
    parts.flatMap((p) => (typeof p === 'string' ? [...Buffer.from(p, 'latin1')] : Array.from(p))),
  );
const u16le = (n) => [n & 0xff, (n >>> 8) & 0xff];
const u32le = (n) => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
const u32be = (n) => [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
const crc32 = (data) => {
  let c = 0xffffffff;
  for (const b of data) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
};

// A complete 1x1 PNG: one opaque red RGBA pixel.
const pngChunk = (type, data) => {
  const td = bytes(type, data);
  return [...u32be(data.length), ...td, ...u32be(crc32(td))];
};
const png = bytes(
  '\x89PNG\r\n\x1a\n',
  pngChunk('IHDR', bytes(u32be(1), u32be(1), [8, 6, 0, 0, 0])),
  pngChunk('IDAT', deflateSync(Buffer.from([0, 0xff, 0, 0, 0xff]))),
  pngChunk('IEND', []),
);
// A complete 1x1 GIF89a: a 2-colour table, one pixel of colour 0.
const gif = bytes(
  'GIF89a',
  u16le(1),
  u16le(1),
  [0x80, 0, 0],
  [0, 0, 0, 0xff, 0xff, 0xff],
  ',',
  u16le(0),
  u16le(0),
  u16le(1),
  u16le(1),
  [0],
  [2, 2, 0x44, 0x01, 0],
  ';',
);
// A complete 1x1 24-bit BMP: one white pixel (its row padded to 4 bytes).
const bmp = bytes(
  'BM',
  u32le(58),
  u32le(0),
  u32le(54),
  u32le(40),
  u32le(1),
  u32le(1),
  u16le(1),
  u16le(24),
  u32le(0),
  u32le(4),
  u32le(2835),
  u32le(2835),
  u32le(0),
  u32le(0),
  [0xff, 0xff, 0xff, 0],
);
// A complete WAV of no sample: 8 kHz mono 8-bit PCM.
const wav = bytes(
  'RIFF',
  u32le(36),
  'WAVEfmt ',
  u32le(16),
  u16le(1),
  u16le(1),
  u32le(8000),
  u32le(8000),
  u16le(1),
  u16le(8),
  'data',
  u32le(0),
);
// A complete standard MIDI file: format 0, one track holding only its end.
const midi = bytes('MThd', u32be(6), [0, 0], [0, 1], [0, 96], 'MTrk', u32be(4), [0, 0xff, 0x2f, 0]);
// Headers only, enough for the SDK's sniffing (magic-bytes.js), not complete files.
const jpeg = bytes([0xff, 0xd8, 0xff, 0xe0], u16le(0x1000), 'JFIF\0', [1, 1, 0], [0, 1, 0, 1, 0, 0]);
const webp = bytes('RIFF', u32le(12), 'WEBPVP8L', u32le(0));
const avi = bytes('RIFF', u32le(16), 'AVI LIST', u32le(4), 'hdrl');
const mp4 = bytes(u32be(24), 'ftypisom', u32be(0x200), 'isomiso2');
const mp3 = bytes('ID3', [4, 0, 0], [0, 0, 0, 0]);
const mpeg = bytes([0, 0, 1, 0xba, 0x44, 0, 4, 0, 4, 1, 1, 0x89, 0xc3, 0xf8]);
const pdf = bytes('%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n');
const xml = bytes('<?xml version="1.0" encoding="UTF-8"?>\n<note>hi</note>\n');
// Kinds the SDK does not support (Ogg, QuickTime) or cannot sniff (plain text, nothing).
const ogg = bytes('OggS', [0, 2], new Uint8Array(22));
const quicktime = bytes(u32be(20), 'ftypqt  ', u32be(0x200), 'qt  ');
const text = bytes('plain text, no magic');
// Fixed bytes that no signature matches.
const random = bytes([0x13, 0x37, 0xc0, 0xde, 0x5e, 0xed, 0x0b, 0xad, 0xf0, 0x0d, 0x99, 0x42, 0x7a, 0x11, 0xe2, 0x3c]);

// ---------------------------------------------------------------------------------------------
// The vectors.

const I128_MIN = -(2n ** 127n);
const I128_MAX = 2n ** 127n - 1n;

async function innerZip() {
  // A real zip file (its own entry dated at a fixed instant), as one binary leaf.
  const JSZip = (await import(pathToFileURL(join(here, 'node_modules', 'jszip', 'lib', 'index.js')).href)).default;
  const z = new JSZip();
  z.file('hello.txt', 'hello', { date: new Date(Date.UTC(2020, 0, 1)) });
  return z.generateAsync({ type: 'uint8array' });
}

const vectors = [
  {
    name: 'nested',
    description: 'A nested object: strings, f64, i128, bool, binaries at several depths.',
    input: {
      email: 'alice@example.com',
      profile: {
        age: 42.5,
        score: 12345678901234567890123n,
        verified: true,
        name: 'Ålice ✓',
      },
      photo: png,
      doc: { pdf },
      empty: '',
      neg: -7n,
      zero: 0,
    },
  },
  {
    name: 'types',
    description: 'One top-level field per leaf type, and binaries sniffed as each MIME type.',
    input: {
      bool_true: true,
      bool_false: false,
      f64: 3.141592653589793,
      f64_negative: -0.5,
      f64_integral: 1,
      f64_large: 1e300,
      f64_tiny: 5e-324,
      i128_zero: 0n,
      i128_one: 1n,
      i128_minus_one: -1n,
      i128_min: I128_MIN,
      i128_max: I128_MAX,
      string: 'hello',
      string_empty: '',
      string_unicode: 'héllo wörld ✓ 🦀',
      png,
      jpeg,
      gif,
      webp,
      bmp,
      zip: await innerZip(),
      wav,
      avi,
      mp4,
      mp3,
      midi,
      xml,
      pdf,
      mpeg,
      random,
      text,
      empty_binary: new Uint8Array(0),
      ogg,
      quicktime,
      array_buffer: png.slice().buffer,
    },
  },
  {
    name: 'edge',
    description:
      'Key order (integer-like keys first), empty nested objects, deep nesting, allowed key characters.',
    input: {
      zeta: 'z',
      10: true,
      alpha: 'a',
      2: false,
      '01': 'not an array index',
      '-1': 'neither',
      'Key-with_dash-and_UNDERSCORE': 'ok',
      empty_object: {},
      deep: { a: { b: { c: { d: 'leaf' } } }, empty: {} },
      mixed: { z: 1n, 3: 2n, b: 3n, 1: 4n },
    },
  },
  {
    name: 'empty',
    description: 'The empty object: a zip with no entry.',
    input: {},
  },
];

// ---------------------------------------------------------------------------------------------
// JSON form of an input, and a reader of the produced zips' central directory.

const isBinary = (v) => v instanceof Uint8Array || v instanceof ArrayBuffer;
const toJsonForm = (v) => {
  if (typeof v === 'bigint') return { $i128: v.toString() };
  if (isBinary(v)) {
    const buf = Buffer.from(v instanceof ArrayBuffer ? new Uint8Array(v) : v);
    return v instanceof ArrayBuffer ? { $base64: buf.toString('base64'), $arrayBuffer: true } : { $base64: buf.toString('base64') };
  }
  if (typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toJsonForm(x)]));
  return v;
};

const METHODS = { 0: 'stored', 8: 'deflated' };
function readEntries(zip) {
  const buf = Buffer.from(zip);
  let eocd = buf.length - 22;
  while (eocd >= 0 && buf.readUInt32LE(eocd) !== 0x06054b50) eocd--;
  if (eocd < 0) throw new Error('no end of central directory');
  const count = buf.readUInt16LE(eocd + 10);
  let p = buf.readUInt32LE(eocd + 16);
  const entries = [];
  for (let i = 0; i < count; i++) {
    if (buf.readUInt32LE(p) !== 0x02014b50) throw new Error('bad central directory header');
    const method = buf.readUInt16LE(p + 10);
    const time = buf.readUInt16LE(p + 12);
    const date = buf.readUInt16LE(p + 14);
    const compressedSize = buf.readUInt32LE(p + 20);
    const size = buf.readUInt32LE(p + 24);
    const nameLen = buf.readUInt16LE(p + 28);
    const extraLen = buf.readUInt16LE(p + 30);
    const commentLen = buf.readUInt16LE(p + 32);
    const localOffset = buf.readUInt32LE(p + 42);
    const name = buf.subarray(p + 46, p + 46 + nameLen).toString('utf8');
    const localNameLen = buf.readUInt16LE(localOffset + 26);
    const localExtraLen = buf.readUInt16LE(localOffset + 28);
    const dataStart = localOffset + 30 + localNameLen + localExtraLen;
    const data = buf.subarray(dataStart, dataStart + compressedSize);
    const entry = {
      name,
      folder: name.endsWith('/'),
      method,
      method_name: METHODS[method] ?? 'other',
      flags: buf.readUInt16LE(p + 8),
      version_made_by: buf.readUInt16LE(p + 4),
      version_needed: buf.readUInt16LE(p + 6),
      external_attributes: buf.readUInt32LE(p + 38),
      extra_field_length: extraLen,
      dos_datetime_utc: `${((date >> 9) & 0x7f) + 1980}-${String((date >> 5) & 0xf).padStart(2, '0')}-${String(date & 0x1f).padStart(2, '0')}T${String(time >> 11).padStart(2, '0')}:${String((time >> 5) & 0x3f).padStart(2, '0')}:${String((time & 0x1f) * 2).padStart(2, '0')}Z`,
      crc32: buf.readUInt32LE(p + 16).toString(16).padStart(8, '0'),
      compressed_size: compressedSize,
      size,
    };
    if (!entry.folder && method === 0) {
      if (crc32(data) !== buf.readUInt32LE(p + 16)) throw new Error(`crc mismatch in ${name}`);
      entry.content_sha256 = createHash('sha256').update(data).digest('hex');
      if (data.length <= 64) entry.content_hex = data.toString('hex');
    }
    entries.push(entry);
    p += 46 + nameLen + extraLen + commentLen;
  }
  return entries;
}

// ---------------------------------------------------------------------------------------------

mkdirSync(outDir, { recursive: true });
const described = [];
for (const { name, description, input } of vectors) {
  const schema = await extractDataSchema(input);
  const zip = await createZipFromObject(input);
  writeFileSync(join(outDir, `${name}.zip`), zip);
  writeFileSync(join(outDir, `${name}.schema.json`), `${JSON.stringify(schema, null, 2)}\n`);
  const entries = readEntries(zip);
  described.push({
    name,
    description,
    zip: `${name}.zip`,
    schema: `${name}.schema.json`,
    // The exact string that protectData registers on chain (createDatasetWithSchema).
    schema_onchain: JSON.stringify(schema),
    zip_sha256: createHash('sha256').update(zip).digest('hex'),
    zip_size: zip.length,
    folder_entries: entries.some((e) => e.folder),
    compression_methods: [...new Set(entries.map((e) => e.method_name))],
    input: toJsonForm(input),
    entry_names: entries.map((e) => e.name),
    entries,
  });
  console.log(`${name}.zip ${zip.length} bytes, ${entries.length} entries`);
}

const doc = {
  produced_by: 'interop/protected-data-vectors.mjs',
  sdk: {
    '@iexec/dataprotector': versionOf(sdkDir),
    jszip: versionOf(join(here, 'node_modules', 'jszip')),
    borsh: versionOf(join(here, 'node_modules', 'borsh')),
    'magic-bytes.js': versionOf(join(here, 'node_modules', 'magic-bytes.js')),
  },
  node: process.version,
  source_date_epoch: epoch === undefined ? null : Number(epoch),
  json_form: {
    '{"$i128": "DECIMAL"}': 'a JS bigint (schema type i128)',
    '{"$base64": "..."}': 'a Uint8Array (a binary leaf, schema type a MIME type)',
    '{"$base64": "...", "$arrayBuffer": true}': 'an ArrayBuffer (a binary leaf too)',
    number: 'a JS number (schema type f64)',
    'string, boolean': 'as they are (schema types string, bool)',
    object: 'a nested object; its keys are in JS order, as the SDK walked them',
  },
  vectors: described,
};
writeFileSync(join(outDir, 'vectors.json'), `${JSON.stringify(doc, null, 2)}\n`);
