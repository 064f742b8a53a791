// Checks the QR encoder of resources/js/wa-sidecar-qr.js without a browser: each text is encoded,
// drawn into a pixel buffer, and decoded back with jsQR. Prints one line per text; exit 1 on any
// mismatch. Run by tests/Unit/QrModuleTest.php.
import jsQR from 'jsqr';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const here = dirname(fileURLToPath(import.meta.url));
const { encodeQr } = await import(join(here, '../../resources/js/wa-sidecar-qr.js'));
const texts = [
  'hello',
  '2@' + 'A'.repeat(60) + ',' + 'b'.repeat(44) + ',' + 'c'.repeat(44) + ',' + 'd'.repeat(44),
  'https://wa.me/settings/linked_devices#' + 'x1Y/+='.repeat(40),
  'ünïcode ✓ 👋',
  'z'.repeat(1200),
];
let failed = 0;
for (const text of texts) {
  const { size, dark } = encodeQr(text);
  const scale = 3;
  const margin = 4;
  const full = (size + 2 * margin) * scale;
  const px = new Uint8ClampedArray(full * full * 4).fill(255);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      if (!dark[y][x]) continue;
      for (let dy = 0; dy < scale; dy++) {
        for (let dx = 0; dx < scale; dx++) {
          const o = (((y + margin) * scale + dy) * full + (x + margin) * scale + dx) * 4;
          px[o] = px[o + 1] = px[o + 2] = 0;
        }
      }
    }
  }
  const found = jsQR(px, full, full);
  const ok = found !== null && found.data === text;
  if (!ok) failed++;
  console.log(`${ok ? 'OK' : 'FAIL'} version ${(size - 17) / 4} bytes ${new TextEncoder().encode(text).length}`);
}
process.exit(failed === 0 ? 0 : 1);
