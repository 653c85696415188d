/**
 * Int8 weight quantisation with one float32 scale per weight row. Saved models store weights this way
 * (a quarter of float32's size); the trainer snaps its weights to the same grid before calibrating, so
 * the model in memory and the model loaded from its file are bit-for-bit the same.
 */

export interface QuantizedRows {
  scales: Float32Array;
  levels: Int8Array;
}

export function quantizeRows(weights: Float32Array, rowLength: number): QuantizedRows {
  const rowCount = weights.length / rowLength;
  const scales = new Float32Array(rowCount);
  const levels = new Int8Array(weights.length);
  for (let row = 0; row < rowCount; row++) {
    const base = row * rowLength;
    let largest = 0;
    for (let c = 0; c < rowLength; c++) largest = Math.max(largest, Math.abs(weights[base + c] as number));
    const scale = Math.fround(largest / 127);
    scales[row] = scale;
    if (scale === 0) continue;
    for (let c = 0; c < rowLength; c++) levels[base + c] = Math.round((weights[base + c] as number) / scale);
  }
  return { scales, levels };
}

export function dequantizeRows({ scales, levels }: QuantizedRows, rowLength: number): Float32Array {
  const weights = new Float32Array(levels.length);
  for (let row = 0; row < scales.length; row++) {
    const base = row * rowLength;
    const scale = scales[row] as number;
    for (let c = 0; c < rowLength; c++) weights[base + c] = (levels[base + c] as number) * scale;
  }
  return weights;
}
