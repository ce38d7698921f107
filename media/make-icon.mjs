// Draws the extension icon (media/icon.png, 128x128 RGBA) from simple shapes:
// a dark rounded tile, a chip with pins, and a three-step staircase on the
// die. Every pixel is 4x4 supersampled so edges are smooth. Run with
//   node media/make-icon.mjs
// and commit the PNG; the same shapes are written as media/icon.svg.
// `--check` only compares: it exits 1 if the committed files are stale.
import { deflateSync } from 'node:zlib';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const SIZE = 128;
const SS = 4; // samples per pixel side

const colors = {
  tileTop: [0x23, 0x27, 0x3a],
  tileBottom: [0x14, 0x16, 0x22],
  chip: [0x2c, 0x32, 0x4a],
  chipEdge: [0x38, 0xbd, 0xf8],
  pin: [0x7d, 0xd3, 0xfc],
  stepLow: [0xf5, 0x9e, 0x0b],
  stepHigh: [0xfb, 0xbf, 0x24],
};

/** Signed distance to a rounded rectangle (negative inside). */
function roundRect(x, y, x0, y0, x1, y1, r) {
  const cx = (x0 + x1) / 2;
  const cy = (y0 + y1) / 2;
  const hx = (x1 - x0) / 2 - r;
  const hy = (y1 - y0) / 2 - r;
  const dx = Math.abs(x - cx) - hx;
  const dy = Math.abs(y - cy) - hy;
  const ox = Math.max(dx, 0);
  const oy = Math.max(dy, 0);
  return Math.hypot(ox, oy) + Math.min(Math.max(dx, dy), 0) - r;
}

const inRect = (x, y, [x0, y0, x1, y1]) => x >= x0 && x < x1 && y >= y0 && y < y1;

const chip = [30, 30, 98, 98];
const pins = [];
for (let i = 0; i < 4; i++) {
  const p = 38 + i * 15; // pin centres along each side
  pins.push([p - 3, 18, p + 3, 30], [p - 3, 98, p + 3, 110], [18, p - 3, 30, p + 3], [98, p - 3, 110, p + 3]);
}
// Three steps rising to the right: [x0, y0, x1, y1].
const steps = [
  [38, 72, 55, 86],
  [55, 56, 72, 86],
  [72, 40, 89, 86],
];

function mix(a, b, t) {
  return a.map((v, i) => v + (b[i] - v) * t);
}

/** Colour and coverage of one sample point, painted back to front. */
function sample(x, y) {
  let rgb = [0, 0, 0];
  let alpha = 0;
  if (roundRect(x, y, 0, 0, SIZE, SIZE, 24) <= 0) {
    rgb = mix(colors.tileTop, colors.tileBottom, y / SIZE);
    alpha = 1;
  }
  if (pins.some((p) => inRect(x, y, p))) rgb = colors.pin;
  const d = roundRect(x, y, ...chip, 9);
  if (d <= 0) rgb = d > -3 ? colors.chipEdge : colors.chip;
  for (const s of steps) {
    // Plain rectangles that touch, so together they read as one staircase.
    if (inRect(x, y, s)) rgb = mix(colors.stepHigh, colors.stepLow, (y - 40) / 46);
  }
  return { rgb, alpha };
}

function render() {
  const out = Buffer.alloc(SIZE * SIZE * 4);
  for (let py = 0; py < SIZE; py++) {
    for (let px = 0; px < SIZE; px++) {
      let r = 0, g = 0, b = 0, a = 0;
      for (let sy = 0; sy < SS; sy++) {
        for (let sx = 0; sx < SS; sx++) {
          const s = sample(px + (sx + 0.5) / SS, py + (sy + 0.5) / SS);
          r += s.rgb[0] * s.alpha;
          g += s.rgb[1] * s.alpha;
          b += s.rgb[2] * s.alpha;
          a += s.alpha;
        }
      }
      const o = (py * SIZE + px) * 4;
      // Colour is averaged over covered samples only (straight alpha).
      out[o] = a ? Math.round(r / a) : 0;
      out[o + 1] = a ? Math.round(g / a) : 0;
      out[o + 2] = a ? Math.round(b / a) : 0;
      out[o + 3] = Math.round((a / (SS * SS)) * 255);
    }
  }
  return out;
}

const crcTable = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(buf) {
  let c = 0xffffffff;
  for (const byte of buf) c = crcTable[(c ^ byte) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}

function encodePng(rgba, width, height) {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bit depth
  header[9] = 6; // RGBA
  // Each scanline is prefixed with filter type 0 (none).
  const raw = Buffer.alloc((width * 4 + 1) * height);
  for (let y = 0; y < height; y++) rgba.copy(raw, y * (width * 4 + 1) + 1, y * width * 4, (y + 1) * width * 4);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(raw, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

const hex = (c) => '#' + c.map((v) => Math.round(v).toString(16).padStart(2, '0')).join('');

/** The union of the steps as one SVG path, traced along the top edges. */
function staircase() {
  const first = steps[0];
  const last = steps[steps.length - 1];
  let d = `M${first[0]} ${first[3]}`;
  for (const [x0, y0, x1] of steps) d += ` L${x0} ${y0} L${x1} ${y0}`;
  return `${d} L${last[2]} ${last[3]} Z`;
}

function svg() {
  const rect = ([x0, y0, x1, y1], fill, r = 0) =>
    `<rect x="${x0}" y="${y0}" width="${x1 - x0}" height="${y1 - y0}" rx="${r}" fill="${fill}"/>`;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${SIZE}" height="${SIZE}" viewBox="0 0 ${SIZE} ${SIZE}">`,
    '<defs>',
    `<linearGradient id="tile" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="${hex(colors.tileTop)}"/><stop offset="1" stop-color="${hex(colors.tileBottom)}"/></linearGradient>`,
    `<linearGradient id="step" gradientUnits="userSpaceOnUse" x1="0" y1="40" x2="0" y2="86"><stop offset="0" stop-color="${hex(colors.stepHigh)}"/><stop offset="1" stop-color="${hex(colors.stepLow)}"/></linearGradient>`,
    '</defs>',
    rect([0, 0, SIZE, SIZE], 'url(#tile)', 24),
    ...pins.map((p) => rect(p, hex(colors.pin))),
    rect(chip, hex(colors.chipEdge), 9),
    rect([chip[0] + 3, chip[1] + 3, chip[2] - 3, chip[3] - 3], hex(colors.chip), 6),
    `<path d="${staircase()}" fill="url(#step)"/>`,
    '</svg>',
    '',
  ].join('\n');
}

const here = dirname(fileURLToPath(import.meta.url));
const outputs = () => [
  [join(here, 'icon.png'), encodePng(render(), SIZE, SIZE)],
  [join(here, 'icon.svg'), Buffer.from(svg(), 'utf8')],
];

if (process.argv.includes('--check')) {
  // Exit 1 when the committed files differ from what the shapes draw now.
  const stale = outputs().filter(([path, bytes]) => !existsSync(path) || !readFileSync(path).equals(bytes));
  for (const [path] of stale) console.error(`${path} is out of date: run node media/make-icon.mjs`);
  process.exit(stale.length ? 1 : 0);
} else {
  for (const [path, bytes] of outputs()) writeFileSync(path, bytes);
  console.log('wrote media/icon.png and media/icon.svg');
}
