// Reference for tools/build_detector_package.py --tfjs-check: run a TensorFlow.js
// graph model with TensorFlow.js's own pure-JavaScript CPU backend (no native
// binaries), on one float32 NCHW input, and write each output as raw float32.
// usage: NODE_PATH=<node_modules> node tfjs_reference.js model.json input.f32 H W out_prefix
const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs-core');
require('@tensorflow/tfjs-backend-cpu');
const converter = require('@tensorflow/tfjs-converter');

(async () => {
  const [modelJson, input, h, w, outPrefix] = process.argv.slice(2);
  await tf.setBackend('cpu');
  const model = JSON.parse(fs.readFileSync(modelJson));
  const shards = model.weightsManifest.flatMap((g) => g.paths)
    .map((p) => fs.readFileSync(path.join(path.dirname(modelJson), p)));
  const buf = Buffer.concat(shards);
  const handler = {
    load: async () => ({
      modelTopology: model.modelTopology,
      weightSpecs: model.weightsManifest.flatMap((g) => g.weights),
      weightData: buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length),
      format: model.format,
      signature: model.signature,
    }),
  };
  const graph = await converter.loadGraphModel(handler);
  const raw = fs.readFileSync(input);
  const x = tf.tensor(new Float32Array(raw.buffer, raw.byteOffset, raw.length / 4),
    [1, 3, Number(h), Number(w)]);
  const names = Object.keys(model.signature.outputs);
  const outs = await graph.executeAsync(x, names);
  names.forEach((name, i) => {
    fs.writeFileSync(outPrefix + name.split(':')[0] + '.f32', Buffer.from(outs[i].dataSync().buffer));
  });
})();
