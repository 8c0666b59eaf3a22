// The GPU machine only reads a carried image cache: decoding (sharp) is never called there.
const sharp = () => { throw new Error("sharp is not available in the GPU bundle"); };
sharp.cache = () => {};
sharp.concurrency = () => 1;
export default sharp;
