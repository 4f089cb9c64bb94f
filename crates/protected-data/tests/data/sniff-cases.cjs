// Makes sniff-cases.tsv: inputs and the MIME type iExec's DataProtector SDK records for them,
// computed with magic-bytes.js itself and the SDK's rule (first guessed MIME type in its
// supported list, else application/octet-stream). From the repository's root, with
// interop/node_modules installed (`npm ci --prefix interop`: magic-bytes.js 1.13.1):
//   NODE_PATH=interop/node_modules node crates/protected-data/tests/data/sniff-cases.cjs \
//     > crates/protected-data/tests/data/sniff-cases.tsv
// Deterministic: the "random" inputs come from a fixed xorshift seed.
const { filetypeinfo } = require('magic-bytes.js');
const version = require('magic-bytes.js/package.json').version;
const SUPPORTED = [
  'application/octet-stream', 'application/pdf', 'application/xml', 'application/zip',
  'audio/midi', 'audio/mpeg', 'audio/x-wav', 'image/bmp', 'image/gif', 'image/jpeg',
  'image/png', 'image/webp', 'video/mp4', 'video/mpeg', 'video/x-msvideo',
];
const sdkMime = (bytes) => {
  const m = filetypeinfo(bytes).map((g) => g.mime).find((x) => SUPPORTED.includes(x));
  return m || 'application/octet-stream';
};
let state = 0x2545f491;
const rand = () => { state ^= state << 13; state >>>= 0; state ^= state >>> 17; state ^= state << 5; state >>>= 0; return state & 0xff; };

// Every signature registered in magic-bytes.js, read back from its tree.
const tree = require('magic-bytes.js/dist/model/pattern-tree').createTree();
const sigs = [];
const collect = (node, path, offset) => {
  if (node.matches) sigs.push({ offset, path: [...path] });
  for (const [k, child] of Object.entries(node.bytes)) collect(child, [...path, k], offset);
};
if (tree.noOffset) collect(tree.noOffset, [], 0);
for (const [k, node] of Object.entries(tree.offset)) collect(node, [], Number(k));

const cases = new Map();
const add = (bytes) => { const u = Uint8Array.from(bytes); cases.set(Buffer.from(u).toString('hex'), u); };
const fill = (path, any) => path.map((t) => (t === '?' ? any() : parseInt(t, 16)));
for (const { offset, path } of sigs) {
  const pre = () => Array.from({ length: offset }, rand);
  // signatures far into the input (tar, dcm, class) have no supported type: once is enough
  if (offset > 4) { add([...pre(), ...fill(path, () => 0)]); continue; }
  const full = [...pre(), ...fill(path, () => 0)];
  add(full);
  add([...pre(), ...fill(path, rand)]);
  add([...full, ...Array.from({ length: 8 }, rand)]);
  for (let cut = 1; cut < full.length; cut += 1) add(full.slice(0, cut));
  // one byte changed after the first: shows how far the walk goes
  for (let i = offset + 1; i < full.length; i += 1) { const m = [...full]; m[i] ^= 0x5a; add(m); }
}
for (let n = 0; n < 200; n += 1) add(Array.from({ length: rand() % 40 }, rand));
add([]);
add(Buffer.from('plain text, no magic'));
add(Buffer.from('Go home'));
add(Buffer.from('BMW'));
add([0, 0, 0, 0x18, ...Buffer.from('ftypqt  ')]);
add([0, 0, 0, 0x18, ...Buffer.from('ftypisom')]);
add([0x47, 0x49, 0x46, 0x38, 0x39]);

console.log(`# magic-bytes.js ${version}: hex input, then the SDK's MIME type`);
for (const [hex, bytes] of cases) console.log(`${hex}\t${sdkMime(bytes)}`);
