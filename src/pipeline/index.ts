// Pipeline steps over a folder of images: decode into the cache, embed (training lives in src/ssl).
export { prepareImages, prepareCrops, imageCacheOptions, type PrepareImagesOptions, type PrepareCropsOptions } from "./dataset.js";
export {
  embedImages, readEmbeddings, l2NormalizeRows, csvField, embeddingsCsvHeader, embeddingsCsvRows, EMBEDDINGS_FORMAT,
  type EmbedOptions, type EmbedResult, type EmbeddingsMeta,
} from "./embed.js";
